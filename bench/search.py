#!/usr/bin/python3
"""bench/search.py - the numpy side of bench/search.sh (same data, same run).

    search.py DATA ROWS DIM QUERIES K [wall|cpu]

DATA is the raw float32 file written by `search_bench --write-data`: ROWS x DIM
unit vectors, then QUERIES x DIM queries; DATA.top1 holds the C top-1 id of each
query (int64). Times top-k the usual numpy way (scores = M @ q, argpartition,
sort of the k), best and median of 3 rounds over the queries after one warm-up, checks that the
top-1 ids agree with the C search, and prints `numpy_ms=... agree=N/Q`.
Thread count: OPENBLAS_NUM_THREADS, set by the caller. Clock: wall time, or
with "cpu" this thread's CPU time (time.thread_time; single thread only), as
the C side.
"""
import sys
import time

import numpy as np


def topk(m, q, k):
    s = m @ q
    idx = np.argpartition(-s, k - 1)[:k] if k < s.shape[0] else np.arange(s.shape[0])
    return idx[np.argsort(-s[idx], kind="stable")], s


def main():
    path, rows, dim, n_q, k = sys.argv[1], *map(int, sys.argv[2:6])
    clock = time.thread_time if len(sys.argv) > 6 and sys.argv[6] == "cpu" else time.perf_counter
    data = np.fromfile(path, dtype="<f4")
    m = data[: rows * dim].reshape(rows, dim)
    qs = data[rows * dim:].reshape(n_q, dim)
    top1_c = np.fromfile(path + ".top1", dtype="<i8")
    topk(m, qs[0], k)  # warm-up
    times, agree = [], 0
    for r in range(3):  # 3 rounds, as the C side
        for i in range(n_q):
            t0 = clock()
            idx, s = topk(m, qs[i], k)
            times.append(clock() - t0)
            # Equal up to float rounding: same id, or a tie within 1e-6.
            if r == 0 and (idx[0] == top1_c[i] or abs(s[idx[0]] - s[top1_c[i]]) < 1e-6):
                agree += 1
    print(f"numpy_ms={min(times) * 1e3:.4f} numpy_median_ms={np.median(times) * 1e3:.4f} "
          f"agree={agree}/{n_q}")


if __name__ == "__main__":
    main()
