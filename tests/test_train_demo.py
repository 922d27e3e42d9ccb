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


# Partial views (partial_masks): each mask is what a pinhole photo of
# hfov 60..120 degrees and 4:3 aspect covers at some heading, i.e. exactly
# ground_canvas.coverage at one of the canvas's headings; prob 0 -> all seen.
import ground_canvas as gc  # noqa: E402
r = np.random.default_rng(3)
m = td.partial_masks(r, 40, (PH, PW), 1.0, (60.0, 120.0), 0.75)
widths = m[:, 0, PH // 2].sum(axis=1)      # columns seen at the horizon row
ok_match = True
for i in range(len(m)):
    # recover the heading from the centre of the seen columns at the horizon, then compare
    # the whole mask with coverage() at that heading for some hfov in the range
    cols = np.nonzero(m[i, 0, PH // 2])[0]
    ang = np.radians(360.0 * (cols + 0.5) / PW - 180.0)
    head = math.degrees(math.atan2(np.sin(ang).mean(), np.cos(ang).mean()))
    best = min(np.sum(gc.coverage(PH, PW, hf, gc.vfov_of(hf, 4, 3), head) != (m[i, 0] > 0))
               for hf in np.arange(60.0, 120.5, 0.5))
    ok_match &= best <= 2 * PH     # heading recovered to a column: at most the two edge columns differ
t.ok(m.shape == (40, 1, PH, PW) and np.all((m == 0) | (m == 1))
     and widths.min() >= math.floor(60 / 1.40625) and widths.max() <= math.ceil(120 / 1.40625) + 1,
     "partial views: 0/1 masks, %d..%d of 256 columns seen at the horizon (60..120 degrees)"
     % (widths.min(), widths.max()))
t.ok(ok_match, "each partial view is ground_canvas.coverage of a 4:3 pinhole at its heading")
t.ok(np.all(td.partial_masks(r, 5, (PH, PW), 0.0, (60.0, 120.0), 0.75) == 1), "--partial 0: panoramas stay whole")
mixed = td.partial_masks(np.random.default_rng(4), 400, (PH, PW), 0.5, (60.0, 120.0), 0.75)
n_part = int(np.sum(mixed.reshape(400, -1).min(axis=1) == 0))
t.ok(150 <= n_part <= 250, "--partial 0.5: %d of 400 panoramas became partial views" % n_part)

# colour jitter fused into to_tensor: ((u - mean) ct + mean) br, clamped to [0,1], normalised
u8 = np.random.default_rng(6).integers(0, 256, (3, 8, 16, 3), dtype=np.uint8)
br, ct = np.array([0.9, 1.1, 1.0]), np.array([1.1, 0.9, 1.0])
u = u8.astype(np.float64) / 255
mu = u.reshape(3, -1).mean(axis=1)[:, None, None, None]
want = (np.clip(((u - mu) * ct[:, None, None, None] + mu) * br[:, None, None, None], 0, 1) - dd.MEAN) / dd.STD
got = dd.to_tensor(u8, br, ct).permute(0, 2, 3, 1).numpy()
plain = dd.to_tensor(u8).permute(0, 2, 3, 1).numpy()
t.ok(np.abs(got - want).max() < 1e-5 and np.abs(plain - (u - dd.MEAN) / dd.STD).max() < 1e-5,
     "to_tensor: normalisation and the brightness/contrast jitter as in numpy (float64)")

# symmetric InfoNCE: against the cross-entropy written out in numpy
qn = np.random.default_rng(8).normal(size=(5, 4))
kn = np.random.default_rng(9).normal(size=(5, 4))
ls = torch.tensor(math.log(1 / 0.07))
loss, _p, _n = td.info_nce(torch.tensor(qn), torch.tensor(kn), ls, 0.1)
s_ = (qn / np.linalg.norm(qn, axis=1, keepdims=True)) @ (kn / np.linalg.norm(kn, axis=1, keepdims=True)).T / 0.07


def ce_smooth(lg, eps):
    lp = lg - np.log(np.exp(lg - lg.max(1, keepdims=True)).sum(1, keepdims=True)) - lg.max(1, keepdims=True)
    n = len(lg)
    return np.mean(-(1 - eps) * np.diag(lp) - eps / n * lp.sum(1))


t.ok(abs(loss.item() - 0.5 * (ce_smooth(s_, 0.1) + ce_smooth(s_.T, 0.1))) < 1e-6,
     "info_nce = mean of the two directions' label-smoothed cross-entropies (numpy)")


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
small_val = [x if x != "0" else "3" for x in small]      # 3 perspective photos
rc2 = subprocess.call([tg, "world", "--seed", "2", "--panos", "6", "--out", os.path.join(tmp, "val")] + small_val)
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

    rc, out = trainer("evaluate", "--model", model, "--source", "photos", os.path.join(tmp, "val"))
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {}
    t.ok(rc == 0 and r.get("n_queries") == 3 and r.get("source") == "photos",
         "evaluate --source photos: the 3 perspective photos placed at their heading", out)

    # InfoNCE with partial views; stopped after 2 steps and resumed to 4: the
    # learnable temperature is part of the saved state, not of the model
    nce = os.path.join(tmp, "run_nce")
    opts = ["--loss", "infonce", "--partial", "0.5", "--hfov", "60,100", "--val-every", "0", "--log-every", "1",
            "--device", "cpu"] + common
    rc_a, out_a = trainer("stage1", "--state", nce, "--max-steps", "2", *opts)
    st2 = torch.load(os.path.join(nce, "stage1.pt"), map_location="cpu")
    rc_b, out_b = trainer("stage1", "--state", nce, "--max-steps", "4", *opts)
    log = read_log(nce)
    st4 = torch.load(os.path.join(nce, "stage1.pt"), map_location="cpu")
    t.ok(rc_a == 0 and rc_b == 0 and "resumed at step 2" in log and "stage 1: done, 4 steps" in log
         and "temp 0.07" in log, "stage 1 --loss infonce --partial 0.5: 2 steps, resumed, 4 steps", out_a + out_b + log)
    t.ok(st2["logit_scale"] is not None and st4["step"] == 4
         and float(st4["logit_scale"]) != float(st2["logit_scale"]),
         "the temperature is learnt and saved with the state (%.4f -> %.4f)"
         % (math.exp(-float(st2["logit_scale"])), math.exp(-float(st4["logit_scale"]))))
    sdn = state_dict(os.path.join(nce, "stage1.pth.tar"))
    t.ok(sorted(sdn) == sorted(sd1), "the InfoNCE run's checkpoint holds the same tensors (no temperature)")
    rc, out = trainer("stage1", "--state", os.path.join(tmp, "bad"), "--hfov", "60,200", *common)
    t.ok(rc != 0 and "0 < MIN <= MAX < 180" in out, "--hfov 60,200 is refused (a pinhole sees < 180 degrees)", out)

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
