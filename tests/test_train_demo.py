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
import train_demo as td  # noqa: E402

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
sys.exit(t.done())
