#!/usr/bin/python3
"""tests/test_ground_canvas.py: tools/ground_canvas.py, the trainer's
placement of a pinhole photo in the ground canvas (docs/ground-canvas.md),
against hand arithmetic.  TAP.

Canvas 64 x 256, span 360, elevation 90..-90 (the demo preset's), unless
said otherwise.  Column u looks at azimuth 360 u / 256 - 180, so heading 90
(east) is u = 192 = 3W/4, and one column is 1.40625 degrees; row v looks at
elevation 90 - 180 v / 64 (2.8125 degrees a row).  A 640 x 480 photo of
hfov 90 has f = 320 px and tan(vfov / 2) = 0.75; it is pre-resampled to
w' = 256 * 90 / 360 = 64 columns, h' = 48 rows.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import math
import os

import numpy as np

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(TOP_SRCDIR, "tools")
sys.path.insert(0, os.path.join(TOOLS, "reference"))
sys.path.insert(0, TOOLS)
from taplib import Tap  # noqa: E402
import ground_canvas as gc  # noqa: E402

H, W = 64, 256
HORIZON = H // 2          # row 32: centre at elevation -1.40625
t = Tap()


def covered_cols(mask, row):
    return [int(c) for c in np.nonzero(mask[row])[0]]


# ---- coverage: width, position, wrap, vertical extent ----
m = gc.coverage(H, W, 90.0, gc.vfov_of(90.0, 640, 480), 90.0)
# |d| < 45 deg around heading 90: azimuth (45, 135) = u in (160, 224): centres 160.5 .. 223.5
t.ok(covered_cols(m, HORIZON) == list(range(160, 224)),
     "90-degree photo at heading 90: columns 160..223 at the horizon (W/4 = 64 wide, centred on 3W/4)",
     covered_cols(m, HORIZON))
t.ok(covered_cols(gc.coverage(H, W, 90.0, 73.0, 0.0), HORIZON) == list(range(96, 160)),
     "heading 0 (north): columns 96..159, centred on W/2")
t.ok(covered_cols(gc.coverage(H, W, 90.0, 73.0, 180.0), HORIZON) == list(range(0, 32)) + list(range(224, 256)),
     "heading 180 (south): wraps over the canvas edges, 0..31 and 224..255")
t.ok(covered_cols(gc.coverage(H, W, 90.0, 73.0, -90.0), HORIZON) == list(range(32, 96)),
     "heading -90 (west): columns 32..95")
# vertical: |tan e| < 0.75 cos d; at the photo's centre columns (|d| = 0.70 deg)
# |e| < 36.87 deg: 90 - 2.8125 (r + 0.5) in (-36.87, 36.87) -> r = 19 .. 44
rows = [int(r) for r in np.nonzero(m[:, 192])[0]]
t.ok(rows == list(range(19, 45)), "4:3 photo: rows 19..44 covered at the centre column (|elevation| < 36.87 deg)",
     rows)
# at the photo's edge column (d = 44.3 deg) the extent is |tan e| < 0.75 cos d = 0.5369:
# |e| < 28.24 deg -> 2.8125 (r + 0.5) in (61.76, 118.24) -> r = 22 .. 41
rows = [int(r) for r in np.nonzero(m[:, 223])[0]]
t.ok(rows == list(range(22, 42)), "the pinhole's bow: rows 22..41 at the edge column 223 (|e| < 28.24 deg)", rows)
# heading shifted by k columns (k * 1.40625 deg, exact in binary) = the mask rolled by k
t.ok(all(np.array_equal(gc.coverage(H, W, 70.0, 50.0, 30.0 + 1.40625 * k), np.roll(gc.coverage(H, W, 70.0, 50.0, 30.0), k, 1))
         for k in (1, 7, 100, 255)), "a heading k columns further is the same mask rolled by k columns")
# |d| < 30 deg: u in (106.67, 149.33), centres 107.5 .. 148.5
t.ok(covered_cols(gc.coverage(H, W, 60.0, 45.0, 0.0), HORIZON) == list(range(107, 149)),
     "60-degree photo at heading 0: columns 107..148 (42 of them)")
# a narrower canvas: W 128 spanning 180 deg, elevation 45..-45 (0.703125 deg a row at H 128)
m2 = gc.coverage(128, 128, 90.0, 60.0, 0.0, fov_deg=180.0, elev_deg=(45.0, -45.0))
t.ok(covered_cols(m2, 64) == list(range(32, 96)),
     "canvas W 128 over 180 deg: a 90-degree photo covers 64 columns (W * 90 / F), 32..95")
try:
    gc.coverage(H, W, 180.0, 90.0, 0.0)
    err = ""
except ValueError as e:
    err = str(e)
t.ok("0 < fov < 180" in err, "hfov 180 is refused (no pinhole camera sees a half-space)", err)

# ---- placement of pixels ----
t.ok(gc.presample_size(640, 480, 90.0, 256) == (64, 48) and gc.presample_size(40, 30, 90.0, 256) == (40, 30)
     and gc.presample_size(4000, 3000, 60.0, 256) == (43, 32),
     "pre-resample: 640x480 -> 64x48, never up (40x30 stays), 4000x3000 at 60 deg -> 43x32 (round half up)")

grey = np.full((480, 640, 3), (200, 100, 50), np.uint8)
cv, mk = gc.place_photo(grey, 90.0, 90.0, H, W)
want = np.array([200, 100, 50], np.float32) / 255
fill = np.array(gc.IMAGENET_MEAN, np.float32)
t.ok(np.array_equal(mk, gc.coverage(H, W, 90.0, gc.vfov_of(90.0, 640, 480), 90.0)),
     "place_photo's mask is coverage() with vfov from the aspect (64x48 after pre-resampling)")
t.ok(np.allclose(cv[mk], want, atol=1e-6) and np.array_equal(cv[~mk], np.broadcast_to(fill, cv[~mk].shape)),
     "covered pixels carry the photo's colour, uncovered ones exactly the ImageNet mean")
norm = (cv - fill) / np.array([0.229, 0.224, 0.225], np.float32)
t.ok(np.all(norm[~mk] == 0.0), "after normalisation the uncovered pixels are exactly 0")

# left half black, right half white: the photo's centre line lands at u = 192;
# canvas columns 191 / 192 look 0.70 deg left / right of it and (the photo being
# antisymmetric) hold complementary values
half = np.zeros((480, 640, 3), np.uint8)
half[:, 320:] = 255
cv, mk = gc.place_photo(half, 90.0, 90.0, H, W)
a, b = float(cv[HORIZON, 191, 0]), float(cv[HORIZON, 192, 0])
t.ok(a < 0.5 < b and abs(a + b - 1.0) < 0.01 and cv[HORIZON, 185, 0] < 0.01 and cv[HORIZON, 198, 0] > 0.99,
     "photo centre at heading 90 -> between columns 191 and 192 (u = 3W/4): %.3f | %.3f" % (a, b))

# a white vertical stripe at photo column 480 (= 3w/4: tan d = 160 / 320 = 0.5,
# d = 26.565 deg) at heading 0: azimuth 26.565 -> u = 256 (0.5 + 26.565/360) = 146.89,
# the canvas column whose centre is nearest is 146
stripe = np.zeros((480, 640, 3), np.uint8)
stripe[:, 475:485] = 255
cv, _ = gc.place_photo(stripe, 90.0, 0.0, H, W)
peak = int(np.argmax(cv[HORIZON, :, 0]))
t.ok(peak == 146, "photo column 3w/4 (26.57 deg right of centre) -> canvas column 146 (u = 146.89): %d" % peak)
# a white horizontal stripe at photo row 120 (120 px above centre: tan e = 120 / 320,
# e = 20.56 deg) -> v = (90 - 20.56) / 2.8125 = 24.69, the row whose centre is nearest is 24
hs = np.zeros((480, 640, 3), np.uint8)
hs[115:125] = 255
cv, _ = gc.place_photo(hs, 90.0, 0.0, H, W)
peak = int(np.argmax(cv[:, 128, 0]))
t.ok(peak == 24, "photo row h/4 (20.56 deg up) -> canvas row 24 (v = 24.69): %d" % peak)
# mirrored heading: the same stripe at heading 180 lands 128 columns further (wrapped)
cv180, _ = gc.place_photo(stripe, 90.0, 180.0, H, W)
t.ok(int(np.argmax(cv180[HORIZON, :, 0])) == (146 + 128) % W, "heading 180: the stripe moves 128 columns (to 18)")

print("1..%d" % t.n)
sys.exit(1 if t.failed else 0)
