#!/usr/bin/python3
"""bench/store.py - the numpy side of bench/store.sh (same matrix, same run).

    store.py MATRIX QUERIES TOP1 K [wall|cpu]

MATRIX is a tileset's matrix file (src/store/matrix.h: the float32 rows are
read from the offset its header gives, into memory, as numpy users load a
matrix), QUERIES the bench's float32 queries, TOP1 the C exact search's
top-1 row per query (int64). Times top-k the usual numpy way (scores = M @ q,
argpartition, sort of the k), best and median of 3 rounds after one warm-up,
and prints `numpy_ms=... numpy_median_ms=... agree=N/Q` (top-1 equal to the
C float32 search, or a tie within 1e-6). Threads: OPENBLAS_NUM_THREADS (the
caller sets 1). Clock: this thread's CPU time with "cpu", as the C side.
"""
import struct
import sys
import time

import numpy as np


def topk(m, q, k):
    s = m @ q
    idx = np.argpartition(-s, k - 1)[:k]
    return idx[np.argsort(-s[idx], kind="stable")], s


def main():
    mat, qpath, tpath, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    clock = time.thread_time if len(sys.argv) > 5 and sys.argv[5] == "cpu" else time.perf_counter
    with open(mat, "rb") as f:
        h = f.read(4096)
    assert h[:8] == b"TGMATRX\0", "not a transgeo matrix file"
    dim, = struct.unpack_from("<i", h, 16)
    n, = struct.unpack_from("<Q", h, 24)
    off_rows, = struct.unpack_from("<Q", h, 168)
    m = np.fromfile(mat, dtype="<f4", count=n * dim, offset=off_rows).reshape(n, dim)
    qs = np.fromfile(qpath, dtype="<f4").reshape(-1, dim)
    top1_c = np.fromfile(tpath, dtype="<i8")
    topk(m, qs[0], k)
    times, agree = [], 0
    for r in range(3):
        for i in range(len(qs)):
            t0 = clock()
            idx, s = topk(m, qs[i], k)
            times.append(clock() - t0)
            if r == 0 and (idx[0] == top1_c[i] or abs(s[idx[0]] - s[top1_c[i]]) < 1e-6):
                agree += 1
    print(f"numpy_ms={min(times) * 1e3:.4f} numpy_median_ms={np.median(times) * 1e3:.4f} "
          f"agree={agree}/{len(qs)}")


if __name__ == "__main__":
    main()
