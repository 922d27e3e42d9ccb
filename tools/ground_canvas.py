#!/usr/bin/python3
"""The ground canvas (docs/ground-canvas.md) in numpy: where a pinhole photo
of a given field of view and heading lands in a model's ground input.

Used by tools/train_demo.py (partial views: a panorama masked to what a
photo at a random heading would cover) and by the evaluation of
perspective photos (tools/train_demo.py evaluate --photos), and as the
independent reference that the engine's canvas (src/photo/canvas.c) is
tested against.  Example:

    import ground_canvas as gc
    canvas, mask = gc.place_photo(photo_u8, 90.0, heading_deg=45.0, H=64, W=256)
    # canvas: float32 [64,256,3] in [0,1] (photo / 255), uncovered pixels =
    # ImageNet mean (0 after normalisation); mask: bool [64,256], True = covered

Every function returns new arrays that the caller owns; nothing is cached.

Canvas coordinates (the page's): column u in [0, W), row v in [0, H), pixel
(r, c) sampled at its centre (u = c + 0.5, v = r + 0.5);
    azimuth(u)   = h0 + F (u / W - 1/2)       clockwise from north, degrees
    elevation(v) = top - (top - bottom) v / H
A direction at azimuth difference d from the photo's heading and elevation
e is, in the camera frame (x right, y down, z forward),
    x = cos(e) sin(d),  y = -sin(e),  z = cos(e) cos(d)
and is covered iff z > 0, |x / z| < w' / (2 f') and |y / z| < h' / (2 f'),
i.e. (pre-resampled photo w' x h', focal length f' pixels) within the
horizontal half-angle hfov / 2 and the vertical extent the photo's aspect
gives.  Pitch and roll are 0 (a level camera, as the generated worlds'
photos).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import math

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)


def c_round(x):
    """C's round() (half away from zero), as the engine rounds sizes."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def canvas_angles(H, W, fov_deg=360.0, elev_deg=(90.0, -90.0), h0_deg=0.0):
    """(azimuth [W], elevation [H]) in degrees of the canvas pixel centres."""
    top, bottom = float(elev_deg[0]), float(elev_deg[1])
    u = np.arange(W, dtype=np.float64) + 0.5
    v = np.arange(H, dtype=np.float64) + 0.5
    az = h0_deg + fov_deg * (u / W - 0.5)
    el = top - (top - bottom) * v / H
    return az, el


def camera_rays(H, W, heading_deg, fov_deg=360.0, elev_deg=(90.0, -90.0), h0_deg=0.0):
    """(x, y, z) [H,W] of each canvas pixel centre's direction in the frame
    of a level camera looking at heading_deg (x right, y down, z forward)."""
    az, el = canvas_angles(H, W, fov_deg, elev_deg, h0_deg)
    # wrapping d to (-180, 180] does not change sin / cos
    d = np.radians(az - heading_deg)[None, :]
    e = np.radians(el)[:, None]
    x = np.cos(e) * np.sin(d)
    y = -np.sin(e) * np.ones_like(d)
    z = np.cos(e) * np.cos(d)
    return x, y, z


def coverage(H, W, hfov_deg, vfov_deg, heading_deg, fov_deg=360.0, elev_deg=(90.0, -90.0), h0_deg=0.0):
    """bool [H,W]: canvas pixels whose centre a level pinhole camera of
    horizontal / vertical field of view hfov_deg / vfov_deg looking at
    heading_deg sees (strictly inside its image)."""
    if not 0.0 < hfov_deg < 180.0 or not 0.0 < vfov_deg < 180.0:
        raise ValueError("a pinhole camera needs 0 < fov < 180 degrees (hfov %g, vfov %g)" % (hfov_deg, vfov_deg))
    return _covered(camera_rays(H, W, heading_deg, fov_deg, elev_deg, h0_deg),
                    math.tan(math.radians(hfov_deg) / 2), math.tan(math.radians(vfov_deg) / 2))


def _covered(rays, tx, ty):
    x, y, z = rays
    with np.errstate(divide="ignore", invalid="ignore"):
        return (z > 0) & (np.abs(x) < tx * z) & (np.abs(y) < ty * z)


def vfov_of(hfov_deg, width, height):
    """Vertical field of view (degrees) of a w x h photo of horizontal field
    of view hfov_deg with square pixels and a centred principal point."""
    return math.degrees(2 * math.atan(math.tan(math.radians(hfov_deg) / 2) * height / width))


def presample_size(w, h, hfov_deg, W, fov_deg=360.0):
    """(w', h'): the photo's size after step 1 of the page (pixel density of
    the canvas; a downscale only)."""
    w2 = max(1, c_round(W * hfov_deg / fov_deg))
    w2 = min(w2, w)
    h2 = max(1, c_round(h * w2 / w))
    return w2, h2


def place_photo(photo, hfov_deg, heading_deg, H, W, fov_deg=360.0, elev_deg=(90.0, -90.0), h0_deg=0.0,
                fill=IMAGENET_MEAN):
    """(canvas float32 [H,W,3] in [0,1], mask bool [H,W]) of a level pinhole
    photo (uint8 [h,w,3] array or PIL image) of horizontal field of view
    hfov_deg looking at heading_deg, on the canvas (H, W, F = fov_deg,
    elevation top/bottom = elev_deg, centred on h0_deg); uncovered pixels
    hold `fill` (the model's normalize_mean, so they normalise to 0).

    1. pre-resample (Pillow bilinear, antialiased) to presample_size;
    2. project each canvas pixel centre into it: px = w'/2 + f' x / z,
       py = h'/2 + f' y / z, f' = (w'/2) / tan(hfov/2);
    3. sample bilinearly at (px - 0.5, py - 0.5), edges clamped."""
    im = photo if isinstance(photo, Image.Image) else Image.fromarray(np.asarray(photo, dtype=np.uint8))
    im = im.convert("RGB")
    w, h = im.size
    w2, h2 = presample_size(w, h, hfov_deg, W, fov_deg)
    if (w2, h2) != (w, h):
        im = im.resize((w2, h2), Image.BILINEAR)
    img = np.asarray(im, dtype=np.float32) / 255.0
    f2 = (w2 / 2.0) / math.tan(math.radians(hfov_deg) / 2)
    x, y, z = camera_rays(H, W, heading_deg, fov_deg, elev_deg, h0_deg)
    mask = _covered((x, y, z), (w2 / 2.0) / f2, (h2 / 2.0) / f2)
    canvas = np.empty((H, W, 3), np.float32)
    canvas[:] = np.asarray(fill, np.float32)
    if mask.any():
        zc = z[mask]
        px = w2 / 2.0 + f2 * x[mask] / zc - 0.5
        py = h2 / 2.0 + f2 * y[mask] / zc - 0.5
        canvas[mask] = bilinear(img, px, py)
    return canvas, mask


def bilinear(img, px, py):
    """img [h,w,C] sampled at pixel-centre coordinates (px, py) (the pixel at
    integer (i, j) has its centre there), coordinates clamped to the image."""
    h, w = img.shape[:2]
    px = np.clip(px, 0.0, w - 1.0)
    py = np.clip(py, 0.0, h - 1.0)
    x0 = np.floor(px).astype(np.int64)
    y0 = np.floor(py).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (px - x0)[:, None].astype(np.float32)
    fy = (py - y0)[:, None].astype(np.float32)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bot = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bot * fy

