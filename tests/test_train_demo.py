#!/usr/bin/python3
"""tests/test_train_demo.py: the demo-model trainer's pair augmentation
(tools/train_demo.py dihedral_pair) and neighbour sampling.  TAP.

A pair must stay a true pair after it is mirrored or turned: whatever the
tile shows at bearing b from its centre, the panorama must show in the
column that looks at azimuth b.  The panorama convention is the world
renderer's (src/world/render.c: column u looks at azimuth
360 (u + 0.5) / W - 180 clockwise from grid north; tests/test_world.c checks
it against buildings).  Each of the 8 symmetries is applied to a tile with
one marked pixel and to a panorama with one marked column at the marker's
bearing, for markers in 12 directions; the marker's bearing in the new tile
must be the azimuth of the marked column in the new panorama.  Also: the 8
symmetries give 8 different tiles, and the identity changes nothing.  And
the batch sampler's neighbour order (candidate_order).

Then the trainer end to end, on a tiny world made by `transgeo world`
(192 m, 24 training pairs, 6 held-out panoramas): a few steps of stage 1
(--device cpu) and stage 2 (--device auto, which is the CPU unless PyTorch
sees a GPU), export, evaluate.  Checked: the log names the device used, the
saved checkpoints hold CPU tensors (they load on any machine), two stage-1
runs with the same seed give bit-identical weights, --device cuda without a
GPU stops with an error that says so before anything is written, and
Pillow's read of aerial.tif (the path for a machine without GDAL's Python
bindings) equals GDAL's, pixels and geotransform.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import json
import math
import os
import shutil
import subprocess
import tempfile

import numpy as np

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP_BUILDDIR = os.environ.get("TOP_BUILDDIR") or TOP_SRCDIR
TOOLS = os.path.join(TOP_SRCDIR, "tools")
sys.path.insert(0, os.path.join(TOOLS, "reference"))
sys.path.insert(0, TOOLS)
from taplib import Tap  # noqa: E402
import train_demo as td  # noqa: E402
import demo_dataset as dd  # noqa: E402
import torch  # noqa: E402

T = 128            # tile pixels (north-up: row 0 is north, column 0 west)
PH, PW = 64, 256   # panorama (the demo's ground input size)


def column_azimuth(u):
    return 360.0 * (u + 0.5) / PW - 180.0


def azimuth_column(az):
    """The column whose centre looks nearest to azimuth az."""
    return int(round((az + 180.0) * PW / 360.0 - 0.5)) % PW


def bearing(row, col):
    """Bearing (deg clockwise from north) of a tile pixel from the tile centre."""
    c = (T - 1) / 2.0
    return math.degrees(math.atan2(col - c, c - row)) % 360.0


def angle_diff(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


t = Tap()
bad = []
for k in range(12):
    b = 30.0 * k + 7.0                      # not on a symmetry axis
    r = int(round((T - 1) / 2.0 - 40 * math.cos(math.radians(b))))
    c = int(round((T - 1) / 2.0 + 40 * math.sin(math.radians(b))))
    tile = np.zeros((T, T, 3), np.uint8)
    tile[r, c] = 255
    pano = np.zeros((PH, PW, 3), np.uint8)
    pano[:, azimuth_column(bearing(r, c))] = 255
    for turns in range(4):
        for mirror in (False, True):
            p2, t2 = td.dihedral_pair(pano, tile, turns, mirror)
            rr, cc = np.argwhere(t2[:, :, 0] == 255)[0]
            cols = np.nonzero(p2[0, :, 0] == 255)[0]
            if p2.shape != pano.shape or t2.shape != tile.shape or len(cols) != 1:
                bad.append("b=%g turns=%d mirror=%d: shapes or marks changed" % (b, turns, mirror))
                continue
            got, want = column_azimuth(cols[0]), bearing(rr, cc)
            # one panorama column is 1.4 deg; the pixel grid adds < 1 deg
            if angle_diff(got, want) > 2.5:
                bad.append("b=%g turns=%d mirror=%d: tile marker at %.1f deg, panorama column at %.1f deg"
                           % (b, turns, mirror, want, got))
t.ok(not bad, "8 symmetries x 12 bearings: the panorama column of the tile's marker follows it", "\n".join(bad))

rng = np.random.default_rng(5)
tile = rng.integers(0, 256, (T, T, 3), dtype=np.uint8)
pano = rng.integers(0, 256, (PH, PW, 3), dtype=np.uint8)
p0, t0 = td.dihedral_pair(pano, tile, 0, False)
t.ok(np.array_equal(p0, pano) and np.array_equal(t0, tile), "identity leaves the pair unchanged")
tiles = {td.dihedral_pair(pano, tile, k, m)[1].tobytes() for k in range(4) for m in (False, True)}
t.ok(len(tiles) == 8, "the 8 symmetries give 8 different tiles (%d)" % len(tiles))
p1, t1 = td.dihedral_pair(pano, tile, 1, False)
t.ok(p1.flags["C_CONTIGUOUS"] and t1.flags["C_CONTIGUOUS"], "outputs are contiguous arrays")

# Neighbour sampling (candidate_order): panoramas on a 10 m lattice over
# 640 m; with near_m the first offered are those within near_m of one anchor
# (all of them, then the rest), without it the order is a plain permutation.
xs = np.arange(5.0, 640.0, 10.0)
en = np.array([[x, y] for x in xs for y in xs])
ok_near, ok_plain = True, True
for seed in range(20):
    r = np.random.default_rng(seed)
    o = td.candidate_order(en, r, 150.0)
    n_near = 0
    # the anchor is within 150 m of the first panorama offered: try those
    for cand in np.nonzero(np.hypot(*(en - en[o[0]]).T) <= 150.0)[0]:
        d = np.hypot(*(en - en[cand]).T)
        n_in = int(np.sum(d <= 150.0))
        if set(o[:n_in]) == set(np.nonzero(d <= 150.0)[0]):
            n_near = n_in
            break
    ok_near &= sorted(o) == list(range(len(en))) and n_near > 100
    p = td.candidate_order(en, np.random.default_rng(seed), 0.0)
    ok_plain &= sorted(p) == list(range(len(en))) and np.mean(np.hypot(*(en[p[:20]] - en[p[0]]).T)) > 150.0
t.ok(ok_near, "near_m 150: every panorama within 150 m of an anchor comes first, then the rest (a permutation)")
t.ok(ok_plain, "near_m 0: a plain permutation, spread over the world")


# ---- the trainer end to end on a tiny world ----
def trainer(*args):
    """(exit status, stdout + stderr) of tools/train_demo.py ARGS."""
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "train_demo.py")] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


def read_log(state):
    """The trainer's log in a state directory ("" when there is none)."""
    path = os.path.join(state, "train.log")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def state_dict(path):
    return torch.load(path, map_location="cpu")["state_dict"]


base = os.environ.get("TG_TMPDIR")
if base:
    os.makedirs(base, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="test_train_demo.", dir=base or None)
tg = os.path.join(TOP_BUILDDIR, "transgeo")
os.makedirs(os.path.join(tmp, "worlds"))
small = ["--size-m", "192", "--photos", "0", "--supersample", "1", "--threads", "1", "--quiet"]
rc1 = subprocess.call([tg, "world", "--seed", "1", "--panos", "0", "--pairs", "24", "--out",
                       os.path.join(tmp, "worlds", "world_1")] + small)
rc2 = subprocess.call([tg, "world", "--seed", "2", "--panos", "6", "--out", os.path.join(tmp, "val")] + small)
if t.ok(rc1 == 0 and rc2 == 0, "transgeo world made a 192 m training world and a held-out one"):
    common = ["--worlds", os.path.join(tmp, "worlds"), "--val", os.path.join(tmp, "val"), "--budget-s", "1e9",
              "--batch", "8", "--per-world", "8", "--min-sep-m", "16", "--seed", "7", "--threads", "1"]
    run = os.path.join(tmp, "run")
    rc, out = trainer("stage1", "--state", run, "--max-steps", "3", "--near-m", "64", "--val-every", "2",
                      "--device", "cpu", *common)
    log = read_log(run)
    t.ok(rc == 0 and "stage 1: done, 3 steps" in log and "stage 1 step 2  VAL" in log,
         "stage 1: 3 steps with a validation at step 2", out + log)
    t.ok("stage 1: device cpu (" in log, "stage 1 logs the device it ran on (--device cpu)", log)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    rc, out = trainer("stage2", "--state", run, "--max-steps", "2", "--val-every", "0", *common)
    log = read_log(run)
    t.ok(rc == 0 and "stage 2: done, 2 steps" in log, "stage 2 (attend and zoom in): 2 steps", out + log)
    t.ok("stage 2: device %s (" % auto in log, "--device auto ran stage 2 on %s (what PyTorch sees)" % auto, log)
    sd1, sd2 = state_dict(os.path.join(run, "stage1.pth.tar")), state_dict(os.path.join(run, "stage2.pth.tar"))
    t.ok(all(v.device.type == "cpu" for v in list(sd1.values()) + list(sd2.values()))
         and all(bool(torch.isfinite(v).all()) for v in sd2.values() if v.is_floating_point()),
         "official-format checkpoints hold finite CPU tensors (%d + %d)" % (len(sd1), len(sd2)))
    st = torch.load(os.path.join(run, "stage2.pt"), map_location="cpu")
    t.ok(st["step"] == 2 and st["done"], "resumable stage-2 state records step 2, done")

    model = os.path.join(tmp, "m.safetensors")
    rc, out = trainer("export", "--state", run, "-o", model)
    t.ok(rc == 0 and os.path.exists(model), "export converts both stages into a model file", out)
    rc, out = trainer("evaluate", "--model", model, os.path.join(tmp, "val"))
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {}
    t.ok(rc == 0 and r.get("n_queries") == 6 and r.get("n_tiles") == 25 and r.get("zoom") is True,
         "evaluate: 6 panoramas against 5x5 tiles with the zoom pass", out)

    rc, out = trainer("stage1", "--state", os.path.join(tmp, "run_again"), "--max-steps", "3", "--near-m", "64",
                      "--val-every", "0", "--device", "cpu", *common)
    again = state_dict(os.path.join(tmp, "run_again", "stage1.pth.tar")) if rc == 0 else {}
    t.ok(rc == 0 and sorted(again) == sorted(sd1) and all(torch.equal(again[k], sd1[k]) for k in sd1),
         "the same seed gives bit-identical stage-1 weights (batches, offsets, symmetries, jitter)", out)

    if torch.cuda.is_available():
        rc, out = trainer("stage1", "--state", os.path.join(tmp, "run_cuda"), "--max-steps", "1",
                          "--val-every", "0", "--device", "cuda", *common)
        t.ok(rc == 0, "--device cuda trains on the GPU PyTorch sees", out)
    else:
        nogpu = os.path.join(tmp, "run_cuda")
        rc, out = trainer("stage1", "--state", nogpu, "--max-steps", "1", "--device", "cuda", *common)
        t.ok(rc != 0 and "sees no CUDA GPU" in out and not os.path.exists(nogpu),
             "--device cuda without a GPU: an error that says so, nothing written", out)

    wd = os.path.join(tmp, "val")
    a_gdal, gt_gdal, _i = dd.read_aerial(wd, use_gdal=True)
    a_pil, gt_pil, _i = dd.read_aerial(wd, use_gdal=False)
    t.ok(np.array_equal(a_gdal, a_pil) and tuple(gt_gdal) == tuple(gt_pil) and a_pil.shape == (384, 384, 3),
         "aerial.tif read by Pillow + world.json equals GDAL's read (pixels, geotransform)")
    with open(os.path.join(wd, "world.json")) as f:
        info = json.load(f)
    info["width"] = 400
    with open(os.path.join(wd, "world.json"), "w") as f:
        json.dump(info, f)
    try:
        dd.read_aerial(wd, use_gdal=False)
        msg = ""
    except ValueError as e:
        msg = str(e)
    t.ok("384x384 px, world.json says 400x384" in msg, "Pillow path: a world.json that disagrees is refused", msg)
shutil.rmtree(tmp, ignore_errors=True)
sys.exit(t.done())
