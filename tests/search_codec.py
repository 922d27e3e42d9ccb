#!/usr/bin/python3
"""search_codec.py - tg_index's compact codecs against numpy.

libtransgeo is called through ctypes, numpy is the independent side:
  - float16: every one of the 65536 binary16 values decodes as
    numpy.float16 does; floats at and around every rounding boundary (the
    midpoints between neighbouring halves, one float32 ulp either side) and
    random floats encode as numpy's float32 -> float16 cast (round to
    nearest even, overflow to inf, subnormals);
  - int8: tg_i8_encode's scale and codes equal numpy's
    scale = float32(max|v|) / 127, codes = clip(rint(v / scale), -127, 127);
  - the int8 and float16 scans rank as numpy's quantised scores do (R = k:
    the returned set is numpy's top k by quantised score, re-ranked with the
    exact float32 dot), and with the default R the top-10 agrees with
    numpy's exact float32 search (matvec + argpartition) on synthetic 1000-d
    unit vectors; the returned scores are numpy's float32 dots.
"""
import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import ctypes as C
import os

import numpy as np

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR") or os.path.join(TOP_SRCDIR, "build")
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tools", "reference"))
from taplib import Tap  # noqa: E402

LIB = os.path.join(TOP_BUILDDIR, ".libs", "libtransgeo.so")


def sanitizer_reexec():
    """A sanitizer build's libtransgeo links the ASan/UBSan runtimes, which
    must come first in the process that loads it: run this script again with
    them preloaded (leak checking off: the interpreter's own would be
    reported at exit)."""
    if os.environ.get("TG_SANITIZER_REEXEC"):
        return
    import subprocess
    out = subprocess.run(["ldd", LIB], capture_output=True, text=True).stdout
    rt = [ln.split("=>")[1].split()[0] for ln in out.splitlines()
          if "=>" in ln and ("libasan.so" in ln or "libubsan.so" in ln)]
    if rt:
        env = dict(os.environ, LD_PRELOAD=":".join(rt), ASAN_OPTIONS="detect_leaks=0",
                   TG_SANITIZER_REEXEC="1")
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


sanitizer_reexec()
t = Tap()
lib = C.CDLL(LIB)


class Hit(C.Structure):
    _fields_ = [("id", C.c_int64), ("row", C.c_size_t), ("score", C.c_float)]


lib.tg_f16_from_f32.restype = C.c_uint16
lib.tg_f16_from_f32.argtypes = [C.c_float]
lib.tg_f32_from_f16.restype = C.c_float
lib.tg_f32_from_f16.argtypes = [C.c_uint16]
lib.tg_i8_encode.restype = C.c_float
lib.tg_i8_encode.argtypes = [C.c_void_p, C.c_int, C.c_void_p]
lib.tg_ctx_create.argtypes = [C.POINTER(C.c_void_p)]
lib.tg_ctx_set_threads.argtypes = [C.c_void_p, C.c_int]
lib.tg_ctx_free.argtypes = [C.c_void_p]
lib.tg_index_create.argtypes = [C.c_void_p, C.c_int, C.POINTER(C.c_void_p)]
lib.tg_index_wrap.argtypes = [C.c_void_p, C.c_int, C.c_size_t, C.c_void_p, C.c_void_p, C.c_int,
                              C.c_void_p, C.c_void_p, C.POINTER(C.c_void_p)]
lib.tg_index_set_codec.argtypes = [C.c_void_p, C.c_void_p, C.c_int]
lib.tg_index_set_rerank.argtypes = [C.c_void_p, C.c_int, C.c_int]
lib.tg_index_search.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p, C.c_int, C.POINTER(Hit),
                                C.POINTER(C.c_int)]
lib.tg_index_free.argtypes = [C.c_void_p]
F32, F16, I8 = 0, 1, 2

# ---- float16 -------------------------------------------------------------
halves = np.arange(65536, dtype=np.uint16)
ref = halves.view(np.float16).astype(np.float32)
dec = np.array([lib.tg_f32_from_f16(int(h)) for h in halves], dtype=np.float32)
same = (dec.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(dec) & np.isnan(ref))
t.ok(same.all(), "every binary16 value decodes as numpy.float16",
     f"{(~same).sum()} differ, first 0x{int(halves[~same][0]):04x}" if not same.all() else None)

fin = ref[np.isfinite(ref)]
fin = np.unique(fin)  # sorted, -0 merged into 0
mids = ((fin[:-1].astype(np.float64) + fin[1:]) / 2).astype(np.float32)  # exact: halves have 11 bits
xs = np.concatenate([fin, mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
                     np.float32([65504, 65519.996, 65520, 1e6, np.inf, -np.inf, 2.0**-25, 2.0**-26,
                                 3 * 2.0**-25, -0.0]),
                     np.random.default_rng(5).standard_normal(20000).astype(np.float32) * 0.05])
enc = np.array([lib.tg_f16_from_f32(float(x)) for x in xs], dtype=np.uint16)
with np.errstate(over="ignore"):  # 1e6 -> inf is the case being checked
    want = xs.astype(np.float16).view(np.uint16)
bad = enc != want
t.ok(not bad.any(), f"{len(xs)} floats (every rounding boundary +-1 ulp, random) encode as numpy's float16 cast",
     f"{bad.sum()} differ: x={xs[bad][:3]} got {enc[bad][:3]} want {want[bad][:3]}" if bad.any() else None)
t.ok(lib.tg_f16_from_f32(float("nan")) & 0x7c00 == 0x7c00 and lib.tg_f16_from_f32(float("nan")) & 0x3ff,
     "NaN encodes as a NaN")

# ---- int8 ----------------------------------------------------------------
rng = np.random.default_rng(23)
ok = True
for dim in (1, 3, 64, 1000):
    for _ in range(50):
        v = rng.standard_normal(dim).astype(np.float32)
        v /= np.linalg.norm(v)
        codes = np.zeros(dim, dtype=np.int8)
        s = lib.tg_i8_encode(v.ctypes.data, dim, codes.ctypes.data)
        s_ref = np.float32(np.abs(v).max()) / np.float32(127)
        c_ref = np.clip(np.rint(v / s_ref), -127, 127).astype(np.int8)
        ok &= np.float32(s) == s_ref and (codes == c_ref).all()
t.ok(ok, "int8 scale and codes equal numpy's (200 unit vectors, dims 1..1000)")

# ---- searches --------------------------------------------------------------
ctx = C.c_void_p()
lib.tg_ctx_create(C.byref(ctx))
lib.tg_ctx_set_threads(ctx, 1)
N, D, K, NQ = 20000, 1000, 10, 200
M = rng.standard_normal((N, D)).astype(np.float32)
M /= np.linalg.norm(M, axis=1, keepdims=True)
ids = np.arange(1, N + 1, dtype=np.int64) * 2
# queries near rows (a retrieval task has a clear best match) and pure noise
Q = np.concatenate([M[rng.integers(0, N, NQ // 2)] + 0.9 * rng.standard_normal((NQ // 2, D)).astype(np.float32) / np.sqrt(D),
                    rng.standard_normal((NQ - NQ // 2, D)).astype(np.float32)])
Q /= np.linalg.norm(Q, axis=1, keepdims=True)
Q = np.ascontiguousarray(Q, dtype=np.float32)
exact = M @ Q.T  # N x NQ, float32 (numpy's BLAS)


def quantised_scores(codec):
    if codec == F16:
        return M.astype(np.float16).astype(np.float32) @ Q.T
    sm = np.abs(M).max(axis=1) / np.float32(127)
    cm = np.clip(np.rint(M / sm[:, None]), -127, 127).astype(np.int32)
    sq = np.abs(Q).max(axis=1) / np.float32(127)
    cq = np.clip(np.rint(Q / sq[:, None]), -127, 127).astype(np.int32)
    return (cm @ cq.T).astype(np.float32) * sm[:, None] * sq[None, :]


hits = (Hit * K)()
nh = C.c_int()
for codec, name in ((F16, "f16"), (I8, "int8")):
    ix = C.c_void_p()
    lib.tg_index_wrap(ctx, D, N, ids.ctypes.data, M.ctypes.data, codec, None, None, C.byref(ix))
    approx = quantised_scores(codec)
    # R = k: the candidates are exactly numpy's quantised top k
    lib.tg_index_set_rerank(ix, 1, 1)
    same_set, same_score = 0, True
    for q in range(NQ):
        lib.tg_index_search(ctx, ix, Q[q].ctypes.data, K, hits, C.byref(nh))
        got = {hits[i].row for i in range(nh.value)}
        top = np.argpartition(-approx[:, q], K)[:K]
        same_set += got == set(top.tolist())
        for i in range(nh.value):
            same_score &= abs(hits[i].score - exact[hits[i].row, q]) <= 2e-6
    t.ok(same_set >= NQ - 2, f"{name} scan, R = k: the {K} candidates are numpy's quantised top {K} "
         f"({same_set}/{NQ} queries; a near tie in the quantised score may swap the k-th)")
    t.ok(same_score, f"{name}: the returned scores are the exact float32 dots (numpy, 2e-6)")
    # default R: agreement with numpy's exact float32 top k
    lib.tg_index_set_rerank(ix, 4, 64)
    top1 = topk = 0
    for q in range(NQ):
        lib.tg_index_search(ctx, ix, Q[q].ctypes.data, K, hits, C.byref(nh))
        ex = np.argpartition(-exact[:, q], K)[:K]
        best = int(np.argmax(exact[:, q]))
        top1 += hits[0].row == best
        topk += {hits[i].row for i in range(nh.value)} == set(ex.tolist())
    t.ok(top1 == NQ and topk == NQ, f"{name}, R = max(4k, 64): top-1 {top1}/{NQ}, top-{K} set {topk}/{NQ} "
         f"queries equal numpy's exact float32 search")
    lib.tg_index_free(ix)
lib.tg_ctx_free(ctx)
t.done()
