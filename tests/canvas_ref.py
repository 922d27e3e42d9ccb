#!/usr/bin/python3
"""canvas_ref.py - an independent numpy computation of the ground canvas
(docs/ground-canvas.md), for tests/test_canvas.c.

    canvas_ref.py IMAGE.u8 h w CANVAS.f32 H W F top bottom proj hfov ctop cbottom
                  pitch roll heading centre

IMAGE.u8: the photo, h x w x 3 bytes (RGB, row-major); CANVAS.f32: what the
engine made, 3 x H x W float32 (CHW). proj 0 = perspective, 1 = equirect.
Prints one line "maxdiff D mismatched M covered C" (M: pixels whose coverage
differs: only possible for a pixel centre on the photo's border, within
rounding) and, when tools/ground_canvas.py exists (the trainer's copy of the
same page), "trainer maxdiff D" for a level perspective photo.

Independent of src/photo/canvas.c by construction: the camera is a rotation
matrix built from heading, pitch and roll in an east-north-up world frame
(not the step-by-step undoing of canvas.c), the resampling is Pillow's, the
bilinear sampling numpy's own.
"""
import sys
sys.dont_write_bytecode = True
import math
import os

import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def c_round(x):
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def normalise(u8):
    """ToTensor + Normalize in float32: [3,H,W]."""
    x = u8.astype(np.float32) / np.float32(255.0)
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def bilinear(img, px, py):
    h, w = img.shape[:2]
    px = np.clip(px, 0, w - 1)
    py = np.clip(py, 0, h - 1)
    x0 = np.floor(px).astype(int)
    y0 = np.floor(py).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (px - x0)[:, None]
    fy = (py - y0)[:, None]
    a, b, c, d = img[y0, x0], img[y0, x1], img[y1, x0], img[y1, x1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def camera_axes(heading, pitch, roll):
    """right, down, forward unit vectors of the camera in (east, north, up)."""
    h, p, r = (math.radians(v) for v in (heading, pitch, roll))
    f0 = np.array([math.sin(h), math.cos(h), 0.0])
    r0 = np.array([math.cos(h), -math.sin(h), 0.0])
    u0 = np.array([0.0, 0.0, 1.0])
    f = math.cos(p) * f0 + math.sin(p) * u0       # pitched up by p
    u = math.cos(p) * u0 - math.sin(p) * f0
    right = math.cos(r) * r0 - math.sin(r) * u     # rolled clockwise by r
    up = math.cos(r) * u + math.sin(r) * r0
    return right, -up, f


def main(a):
    img_path, h, w, out_path = a[0], int(a[1]), int(a[2]), a[3]
    H, W = int(a[4]), int(a[5])
    F, top, bottom = float(a[6]), float(a[7]), float(a[8])
    proj, hfov, ctop, cbot = int(a[9]), float(a[10]), float(a[11]), float(a[12])
    pitch, roll, heading, centre = (float(v) for v in a[13:17])
    photo = np.fromfile(img_path, np.uint8).reshape(h, w, 3)
    got = np.fromfile(out_path, np.float32).reshape(3, H, W)
    pil = Image.fromarray(photo)
    if proj == 1 and hfov == 360.0:
        Wp = max(W, c_round(W * 360.0 / F))
        full = normalise(np.asarray(pil.resize((Wp, H), Image.BILINEAR)))
        off = c_round((Wp - W) / 2.0 - Wp * (heading - centre) / 360.0)
        want = full[:, :, (np.arange(W) + off) % Wp]
        print("maxdiff %.9g mismatched 0 covered %d" % (np.abs(got - want).max(), H * W))
        if F < 360:
            # TransGeo's own limited-view input (dataset/CVUSA.py LimitedFoV,
            # read not copied): the normalised panorama shifted right by
            # rotate_index columns, then its first int(fov / 360 * width).
            r = (-off) % Wp
            shifted = np.concatenate([full[:, :, Wp - r:], full[:, :, :Wp - r]], axis=2) if r else full
            official = shifted[:, :, :int(F / 360.0 * Wp)]
            print("official maxdiff %.9g" % (np.abs(got - official).max() if official.shape == got.shape else 1e9))
        return
    w2 = min(w, max(1, c_round(W * hfov / F)))
    h2 = max(1, c_round(h * w2 / w))
    small = pil if (w2, h2) == (w, h) else pil.resize((w2, h2), Image.BILINEAR)
    src = np.asarray(small, np.float64) / 255.0
    az = centre + F * ((np.arange(W) + 0.5) / W - 0.5)
    el = top - (top - bottom) * (np.arange(H) + 0.5) / H
    AZ, EL = np.meshgrid(np.radians(az), np.radians(el))
    if proj == 0:
        v = np.stack([np.cos(EL) * np.sin(AZ), np.cos(EL) * np.cos(AZ), np.sin(EL)], -1)
        R, D, Fw = camera_axes(heading, pitch, roll)
        x, y, z = v @ R, v @ D, v @ Fw
        f2 = (w2 / 2.0) / math.tan(math.radians(hfov) / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            px = w2 / 2.0 + f2 * x / z
            py = h2 / 2.0 + f2 * y / z
        cov = (z > 0) & (np.abs(px - w2 / 2.0) < w2 / 2.0) & (np.abs(py - h2 / 2.0) < h2 / 2.0)
    else:
        d = (np.degrees(AZ) - heading + 180.0) % 360.0 - 180.0
        px = w2 * (d / hfov + 0.5)
        py = h2 * (ctop - np.degrees(EL)) / (ctop - cbot)
        cov = (np.abs(px - w2 / 2.0) < w2 / 2.0) & (np.abs(py - h2 / 2.0) < h2 / 2.0)
    want = np.zeros((H, W, 3), np.float32)
    vals = bilinear(src, px[cov] - 0.5, py[cov] - 0.5).astype(np.float32)
    want[cov] = (vals - MEAN) / STD
    want = want.transpose(2, 0, 1)
    diff = np.abs(got - want)
    mism = (diff > 1e-4).any(axis=0)  # coverage decided differently: a centre on the border
    print("maxdiff %.9g mismatched %d covered %d" % (diff[:, ~mism].max(), int(mism.sum()), int(cov.sum())))
    tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
    if proj == 0 and pitch == 0 and roll == 0 and os.path.exists(os.path.join(tools, "ground_canvas.py")):
        sys.path.insert(0, tools)
        import ground_canvas as gc
        canvas, _ = gc.place_photo(photo, hfov, heading_deg=heading, H=H, W=W, fov_deg=F,
                                   elev_deg=(top, bottom), h0_deg=centre)
        tr = ((canvas - MEAN) / STD).transpose(2, 0, 1)
        print("trainer maxdiff %.9g" % np.abs(np.where(mism[None], 0, got - tr)).max())


if __name__ == "__main__":
    main(sys.argv[1:])
