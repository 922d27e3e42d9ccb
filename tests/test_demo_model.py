#!/usr/bin/python3
"""tests/test_demo_model.py: the shipped demo model, models/demo.safetensors
(trained by tools/train_demo.py, described in models/MODEL_CARD.md).  TAP.

Checks: size <= 20 MB; the data-section sha256 equals metadata "sha256" and
the one in the model card; the metadata is the "demo" preset's (zoom model:
ground, aerial and aerial_scan nets); the file loads with the PyTorch
reference and every tensor is finite; and a held-out mini evaluation: a
small world (seed 500, never used in training: training seeds are >= 1000,
validation 900, card test worlds 7 and 42) generated with `transgeo world`,
its panoramas ranked against every tile of its 64 m / 32 m-stride tiling
grid, in PyTorch with the reference model (attend and zoom in).

Mini evaluation (256 m world, 7x7 = 49 tiles, 24 panoramas), measured
with the shipped model (2026-12-04, run D): R@1 62.5% (15 of 24; chance 2%),
R@5 87.5%, R@10 95.8% (chance 20.4%), mean rank of the true tile 3.3% of the
list (chance 50%), median error 15.8 m (oracle 13.6 m).  Thresholds:
R@1 >= 30% (8 hits, under half the measurement; chance expects 0.5), mean
rank <= 20% (about 5 standard deviations of chance below 50% for 24
queries, 16.7 points above the measurement).  The evaluation is deterministic (fixed world, fixed
weights), so the margin only covers float differences between machines; a
broken or mismatched model file lands at chance.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import torch

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR") or TOP_SRCDIR
TOOLS = os.path.join(TOP_SRCDIR, "tools")
sys.path.insert(0, os.path.join(TOOLS, "reference"))
sys.path.insert(0, TOOLS)
import safetensors_io as sio  # noqa: E402
import transgeo_ref as ref  # noqa: E402
import demo_dataset as dd  # noqa: E402
from taplib import Tap  # noqa: E402

MODEL = os.path.join(TOP_SRCDIR, "models", "demo.safetensors")
CARD = os.path.join(TOP_SRCDIR, "models", "MODEL_CARD.md")
MAX_BYTES = 20 * 1000 * 1000

# Mini evaluation world and thresholds (see the docstring).
MINI_SEED, MINI_SIZE_M, MINI_PANOS = 500, 256, 24
MIN_R1 = 30.0         # percent; measured 62.5, chance 100/49 = 2
MAX_RANK_PCT = 20.0   # mean rank of the true tile, % of the list; measured 3.3, chance 50

torch.set_num_threads(1)
t = Tap()

if not t.ok(os.path.exists(MODEL), "models/demo.safetensors exists"):
    sys.exit(1)
size = os.path.getsize(MODEL)
t.ok(size <= MAX_BYTES, "model file is %d bytes (<= 20 MB)" % size)

header, _start = sio.read_header(MODEL)
meta = header.get("__metadata__", {})
digest = sio.data_sha256(MODEL)
t.ok(meta.get("sha256") == digest, "metadata sha256 matches the data section",
     "metadata %s, data %s" % (meta.get("sha256"), digest))
t.ok(meta.get("format") == sio.FORMAT, "format is %s" % sio.FORMAT)

card = open(CARD).read() if os.path.exists(CARD) else ""
t.ok(digest in card, "MODEL_CARD.md names the file's sha256")

want = ref.config_to_metadata(ref.make_config("demo", "zoom"))
bad = ["%s=%r (preset: %r)" % (k, meta.get(k), v) for k, v in sorted(want.items())
       if k != "source" and meta.get(k) != v]
t.ok(not bad, "metadata is the 'demo' preset with zoom (%d keys)" % (len(want) - 1), "; ".join(bad))
t.ok(meta.get("source", "").startswith("transgeo convert_checkpoint.py"),
     "written by tools/convert_checkpoint.py")

try:
    model = ref.load_model(MODEL)
    loaded = True
except Exception as e:  # noqa: BLE001
    model, loaded = None, False
    t.diag(repr(e))
t.ok(loaded, "loads with the PyTorch reference (all tensors, shapes)")
if not loaded:
    sys.exit(1)
t.ok(model.aerial_scan is not None and ref.zooms(model.cfg), "zoom model: aerial_scan + aerial + ground")
t.ok(all(torch.isfinite(p).all() for p in model.parameters()), "every weight is finite")

# ---- held-out mini evaluation ----
tg = os.path.join(TOP_BUILDDIR, "transgeo")
have_world = os.path.exists(tg) and subprocess.call([tg, "world", "--help"], stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.DEVNULL) == 0
if not have_world:
    t.skip("mini evaluation R@1", "no 'transgeo world' command in %s" % TOP_BUILDDIR)
    t.skip("mini evaluation mean rank", "no 'transgeo world' command")
else:
    base = os.environ.get("TG_TMPDIR")
    if base:
        os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="test_demo_model.", dir=base or None)
    wd = os.path.join(tmp, "world")
    rc = subprocess.call([tg, "world", "--seed", str(MINI_SEED), "--size-m", str(MINI_SIZE_M),
                          "--panos", str(MINI_PANOS), "--photos", "0", "--threads", "1", "--quiet",
                          "--out", wd])
    if t.ok(rc == 0, "transgeo world made the %d m held-out world (seed %d)" % (MINI_SIZE_M, MINI_SEED)):
        w = dd.World(wd, model.cfg["ground_hw"], "truth")
        r = dd.evaluate_world(w, model.ground, model, model.cfg, True, 64.0, 32.0)
        t.diag("mini evaluation: %s" % r)
        t.ok(r["n_tiles"] == 49 and r["n_queries"] == MINI_PANOS, "49 tiles, %d panoramas" % MINI_PANOS)
        t.ok(r["R@1"] >= MIN_R1, "R@1 %.1f%% >= %.0f%% (chance 2%%)" % (r["R@1"], MIN_R1))
        t.ok(r["mean_rank_pct"] <= MAX_RANK_PCT, "mean rank of the true tile %.1f%% <= %.0f%% (chance 50%%)"
             % (r["mean_rank_pct"], MAX_RANK_PCT))
    shutil.rmtree(tmp, ignore_errors=True)

print("1..%d" % t.n)
sys.exit(1 if t.failed else 0)
