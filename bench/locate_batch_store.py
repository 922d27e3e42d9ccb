#!/usr/bin/python3
"""Stores for bench/locate_batch.sh (offline; not a test).

    locate_batch_store.py model DEMO.safetensors OUT.safetensors [--out-dim 1000]
        The demo model (models/demo.safetensors) with heads widened to
        --out-dim outputs, TransGeo's official embedding size: the encoders
        (and so a photo's embedding cost) are the demo model's; the extra
        head rows are random (seeded), so embeddings stay unit vectors made
        by the C engine. Metadata out_dim and sha256 are rewritten.

    locate_batch_store.py pad DB N [--seed S]
        Add synthetic tiles to DB (made by `transgeo index` with that model)
        until its one model has N tiles: copies of the indexed tiles' rows
        (raster, footprint, window) with new (col, row) keys, centres
        jittered within 50 m, and random unit-vector embeddings (float32,
        Gaussian then L2-normalised). They are inserted through SQL with
        SpatiaLite loaded, so the spatial index and the per-model counters
        (triggers) see them as indexed tiles and the store loads them as it
        loads real ones.
"""
import sys
sys.dont_write_bytecode = True

import argparse
import os
import sqlite3

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                                "reference"))
import safetensors_io  # noqa: E402


def widen(src, dst, out_dim):
    tensors, meta = safetensors_io.read_safetensors(src)
    old = int(meta["out_dim"])
    rng = np.random.default_rng(20261205)
    out = {}
    for name, t in tensors.items():
        t = np.asarray(t, dtype=np.float32)
        if name.endswith(("head.weight", "head_dist.weight")) and t.shape[0] == old:
            extra = rng.standard_normal((out_dim - old, t.shape[1])).astype(np.float32)
            t = np.concatenate([t, extra * float(t.std())])
        elif name.endswith(("head.bias", "head_dist.bias")) and t.shape[0] == old:
            t = np.concatenate([t, np.zeros(out_dim - old, np.float32)])
        out[name] = t
    meta = {k: v for k, v in meta.items() if k not in ("sha256", "format")}
    meta["out_dim"] = str(out_dim)
    meta["source"] = meta.get("source", "") + "; heads widened to %d by bench/locate_batch_store.py" % out_dim
    safetensors_io.write_safetensors(dst, out, meta)


def pad(db, n, seed):
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension("mod_spatialite")
    dim = c.execute("SELECT length(embedding) / 4 FROM tg_tiles LIMIT 1").fetchone()[0]
    have = c.execute("SELECT count(*) FROM tg_tiles").fetchone()[0]
    base = c.execute("SELECT id FROM tg_tiles ORDER BY id").fetchall()
    if have >= n:
        return
    rng = np.random.default_rng(seed)
    add = n - have
    chunk = 20000
    c.execute("BEGIN")
    for s in range(0, add, chunk):
        m = min(chunk, add - s)
        e = rng.standard_normal((m, dim)).astype(np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        jit = rng.uniform(-50, 50, (m, 2)) / np.array([74000.0, 111000.0])
        rows = []
        for i in range(m):
            src = base[(s + i) % len(base)][0]
            rows.append((1000000 + s + i, float(jit[i, 0]), float(jit[i, 1]),
                         e[i].astype("<f4").tobytes(), src))
        c.executemany(
            "INSERT INTO tg_tiles (raster_id, model_id, col, row, center_lon, center_lat, win_x,"
            " win_y, win_w, win_h, crs, embedding, geom) SELECT raster_id, model_id, ?1, 0,"
            " center_lon + ?2, center_lat + ?3, win_x, win_y, win_w, win_h, crs, ?4, geom"
            " FROM tg_tiles WHERE id = ?5", rows)
    c.execute("COMMIT")
    c.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model")
    m.add_argument("src")
    m.add_argument("dst")
    m.add_argument("--out-dim", type=int, default=1000)
    p = sub.add_parser("pad")
    p.add_argument("db")
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "model":
        widen(a.src, a.dst, a.out_dim)
    else:
        pad(a.db, a.n, a.seed)


if __name__ == "__main__":
    main()
