#!/usr/bin/python3
"""Data of the demo model: generated worlds (src/world, `transgeo world`).

Used by tools/train_demo.py (training + evaluation) and
tests/test_demo_model.py.  Run with Debian's /usr/bin/python3 (torch, numpy,
PIL, GDAL).

A world directory (see include/transgeo/world.h) holds
    aerial.tif       north-up RGB GeoTIFF (UTM), world.json's gsd_m m/px
    pairs.csv        id,ground,aerial,lon,lat,easting,northing  (training pairs)
    truth.csv        file,lon,lat,easting,northing,heading       (panos first)
    world.json       geotransform, size, seed ...

Preprocessing is the engine's (TEAM_NOTES "Preprocessing"): PIL RGB ->
torchvision Resize((H, W)) = PIL resize((W, H), BILINEAR) (antialiased when
shrinking) -> ToTensor -> Normalize(ImageNet mean/std).  The whole 512x256
panorama is resized to the ground input (64x256 for the demo preset); it is
never rolled or cropped (north stays in the centre column).

Training crops: the aerial tile of a panorama is cut from aerial.tif around
the panorama's position shifted by a random offset of up to `jitter_m`
metres per axis, because at test time the panorama is matched against a
fixed tiling grid (stride 32 m: the nearest tile centre is up to 16 m away
per axis), not against a tile centred on it.

Evaluation (`evaluate_world`): every tile of the world's tiling grid (tile_m
square, stride_m apart, top-left aligned with the raster, only whole tiles)
is embedded; each panorama of truth.csv is ranked against all of them.
A panorama's true tile is the tile whose centre is nearest to its true
position; R@k = share of panoramas whose true tile is among the k best;
the metre error is the distance from the top-1 tile's centre to the true
position (median and mean reported), next to the "oracle" error of the
true tile itself (the floor set by the grid).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import csv
import json
import os

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import transgeo_ref as ref  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ground_canvas as gc  # noqa: E402

MEAN = np.array(ref.IMAGENET_MEAN, dtype=np.float32)
STD = np.array(ref.IMAGENET_STD, dtype=np.float32)


def resize_u8(img, hw):
    """PIL image -> uint8 [H,W,3] resized like torchvision Resize((H,W))."""
    img = img.convert("RGB")
    if img.size != (hw[1], hw[0]):
        img = img.resize((hw[1], hw[0]), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def load_image_u8(path, hw):
    with Image.open(path) as im:
        return resize_u8(im, hw)


def to_tensor(u8, br=None, ct=None):
    """uint8 [B,H,W,3] (numpy) -> normalised float32 [B,3,H,W] (ToTensor +
    Normalize), in place on one buffer (fresh 10 MB buffers each step cost
    more than the arithmetic: page faults).  With br / ct (float [B]), the
    training's brightness / contrast jitter in [0,1] space first:
    u -> clamp(((u - mean(u)) ct + mean(u)) br, 0, 1), mean over the image."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).float().div_(255.0)    # [B,H,W,3]
    if br is not None:
        b = x.shape[0]
        mu = x.reshape(b, -1).mean(dim=1)
        br = torch.from_numpy(np.asarray(br, np.float32))
        ct = torch.from_numpy(np.asarray(ct, np.float32))
        x.mul_((ct * br).view(b, 1, 1, 1)).add_((mu * (1 - ct) * br).view(b, 1, 1, 1)).clamp_(0.0, 1.0)
    x.sub_(torch.from_numpy(MEAN)).div_(torch.from_numpy(STD))
    return x.permute(0, 3, 1, 2).contiguous()


def read_aerial(world_dir, use_gdal=None):
    """(uint8 [H,W,3], geotransform, world.json dict) of a world's aerial.tif.

    With GDAL's Python bindings (use_gdal None: when importable) the pixels
    and the geotransform come from the GeoTIFF.  Without them (a training
    machine with only PyTorch's stack, e.g. a lent GPU) Pillow reads the
    pixels (tiled, deflate + predictor, as `transgeo world` writes them) and
    the geotransform is the one world.json records for that raster; the
    sizes must agree."""
    tif = os.path.join(world_dir, "aerial.tif")
    with open(os.path.join(world_dir, "world.json")) as f:
        info = json.load(f)
    gdal = None
    if use_gdal is not False:
        try:
            from osgeo import gdal
        except ImportError:
            if use_gdal:
                raise
    if gdal is not None:
        gdal.UseExceptions()
        ds = gdal.Open(tif)
        arr = np.stack([ds.GetRasterBand(b + 1).ReadAsArray() for b in range(3)], axis=-1)
        gt = ds.GetGeoTransform()
        ds = None
    else:
        with Image.open(tif) as im:
            arr = np.asarray(im.convert("RGB"))
        gt = tuple(float(v) for v in info.get("geotransform", ()))
        if len(gt) != 6:
            raise ValueError("%s: world.json has no geotransform; read aerial.tif with GDAL" % world_dir)
        if arr.shape[:2] != (info.get("height"), info.get("width")):
            raise ValueError("%s: aerial.tif is %dx%d px, world.json says %sx%s"
                             % (world_dir, arr.shape[1], arr.shape[0], info.get("width"), info.get("height")))
    if abs(gt[2]) > 0 or abs(gt[4]) > 0 or gt[5] >= 0:
        raise ValueError("%s: aerial.tif is not north-up" % world_dir)
    return np.ascontiguousarray(arr, dtype=np.uint8), gt, info


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class World:
    """One world in memory: aerial raster + panoramas (uint8, ground size)."""

    def __init__(self, world_dir, ground_hw, source="pairs", max_items=None, cache_dir=None):
        self.dir = world_dir
        self.aerial, self.gt, self.info = read_aerial(world_dir)
        self.gsd = self.gt[1]
        if source == "pairs":
            rows = read_csv(os.path.join(world_dir, "pairs.csv"))
            files = [r["ground"] for r in rows]
        else:  # truth.csv panoramas or perspective photos (the demo's held-out queries)
            prefix = "photos/" if source == "photos" else "panos/"
            rows = [r for r in read_csv(os.path.join(world_dir, "truth.csv"))
                    if r["file"].startswith(prefix)]
            files = [r["file"] for r in rows]
        if max_items is not None:
            rows, files = rows[:max_items], files[:max_items]
        self.en = np.array([[float(r["easting"]), float(r["northing"])] for r in rows], dtype=np.float64)
        self.files = files
        if source == "photos":
            # placed at their known heading in the north-aligned canvas
            # (docs/ground-canvas.md): normalised float32 [N,H,W,3], 0 where
            # the photo does not reach.  truth.csv headings are true north;
            # the canvas is grid north (the aerial raster's up).
            hfov = float(self.info["photo"]["hfov_deg"])
            conv = float(self.info.get("grid_to_true_deg", 0.0))
            self.ground = np.stack([
                (gc.place_photo(Image.open(os.path.join(world_dir, f)), hfov, float(r["heading"]) - conv,
                                ground_hw[0], ground_hw[1])[0] - MEAN) / STD
                for f, r in zip(files, rows)]).astype(np.float32)
            return
        cache = None
        if cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
            cache = os.path.join(cache_dir, "%s_%s_%dx%d_%d.npy" % (
                os.path.basename(os.path.normpath(world_dir)), source, ground_hw[0], ground_hw[1], len(files)))
        if cache and os.path.exists(cache):
            self.ground = np.load(cache)
        else:
            self.ground = np.stack([load_image_u8(os.path.join(world_dir, f), ground_hw) for f in files])
            if cache:
                np.save(cache + ".tmp.npy", self.ground)
                os.replace(cache + ".tmp.npy", cache)

    def __len__(self):
        return len(self.files)

    def en_to_px(self, e, n):
        """Easting/northing -> continuous pixel coordinates (col, row)."""
        return (e - self.gt[0]) / self.gt[1], (n - self.gt[3]) / self.gt[5]

    def crop(self, e, n, tile_px):
        """uint8 [tile_px,tile_px,3] centred (to the nearest pixel corner) on
        (e, n), clamped inside the raster; returns (crop, centre_e, centre_n)."""
        c, r = self.en_to_px(e, n)
        h, w = self.aerial.shape[:2]
        c0 = int(np.clip(np.round(c - tile_px / 2), 0, w - tile_px))
        r0 = int(np.clip(np.round(r - tile_px / 2), 0, h - tile_px))
        ce = self.gt[0] + (c0 + tile_px / 2) * self.gt[1]
        cn = self.gt[3] + (r0 + tile_px / 2) * self.gt[5]
        return self.aerial[r0:r0 + tile_px, c0:c0 + tile_px], ce, cn

    def grid_tiles(self, tile_m, stride_m):
        """The tiling grid: list of (row0, col0) pixel corners and [T,2]
        centres (easting, northing) of every whole tile."""
        tp = int(round(tile_m / self.gsd))
        sp = int(round(stride_m / self.gsd))
        h, w = self.aerial.shape[:2]
        corners = [(r0, c0) for r0 in range(0, h - tp + 1, sp) for c0 in range(0, w - tp + 1, sp)]
        cen = np.array([[self.gt[0] + (c0 + tp / 2) * self.gt[1], self.gt[3] + (r0 + tp / 2) * self.gt[5]]
                        for r0, c0 in corners], dtype=np.float64)
        return corners, cen, tp


def aerial_u8(tiles_u8, cfg, zoom):
    """uint8 tiles [B,t,t,3] (native tile pixels) -> (net_u8, scan_u8): the
    tiles at zoom_hw (or aerial_hw without zoom) and at aerial_hw, resized
    like torchvision Resize on PIL."""
    def rs(hw):
        if tiles_u8.shape[1:3] == tuple(hw):
            return tiles_u8
        return np.stack([resize_u8(Image.fromarray(t), hw) for t in tiles_u8])
    scan = rs(cfg["aerial_hw"])
    return (rs(cfg["zoom_hw"]) if zoom else scan), scan


def aerial_inputs(tiles_u8, cfg, zoom):
    """(x_net, x_scan): the normalised inputs of aerial_u8."""
    net, scan = aerial_u8(tiles_u8, cfg, zoom)
    x_scan = to_tensor(scan)
    return (to_tensor(net) if zoom else x_scan), x_scan


def l2n(x):
    return torch.nn.functional.normalize(x, dim=1)


@torch.no_grad()
def embed_aerial(model_or_fn, tiles_u8, cfg, zoom, batch=64, device="cpu"):
    """Embeddings (L2-normalised, on the CPU) of uint8 tiles with a reference
    TransGeo (zoom: scan + zoom pass as the engine does) or a callable
    fn(x_net, x_scan) -> raw output; the nets run on `device`."""
    out = []
    for i in range(0, len(tiles_u8), batch):
        x_net, x_scan = aerial_inputs(tiles_u8[i:i + batch], cfg, zoom)
        x_net, x_scan = x_net.to(device), x_scan.to(device)
        if callable(model_or_fn) and not isinstance(model_or_fn, torch.nn.Module):
            o = model_or_fn(x_net, x_scan)
        elif zoom:
            o, _d = model_or_fn.embed_aerial(x_net, x_scan)
        else:
            o = model_or_fn.embed_aerial_nozoom(x_net)
        out.append(l2n(o).cpu())
    return torch.cat(out)


@torch.no_grad()
def embed_ground(net, ground, batch=128, device="cpu"):
    """Embeddings of ground canvases: uint8 [N,H,W,3] (normalised here) or
    float32 [N,H,W,3] already normalised (World(source="photos"))."""
    out = []
    for i in range(0, len(ground), batch):
        g = ground[i:i + batch]
        x = to_tensor(g) if g.dtype == np.uint8 else torch.from_numpy(np.ascontiguousarray(g)).permute(0, 3, 1, 2)
        out.append(l2n(net(x.contiguous().to(device))).cpu())
    return torch.cat(out)


def retrieval_metrics(q, db, q_en, db_en, ks=(1, 5, 10)):
    """R@k (percent), median/mean metre error of the top-1 tile centre, and
    the oracle (nearest tile centre) median error."""
    sim = q @ db.t()
    d_true = np.linalg.norm(q_en[:, None, :] - db_en[None, :, :], axis=2)   # [Q,T]
    true_idx = d_true.argmin(axis=1)
    order = torch.argsort(sim, dim=1, descending=True).numpy()
    res = {}
    for k in ks:
        res["R@%d" % k] = 100.0 * float(np.mean([true_idx[i] in order[i, :k] for i in range(len(q))]))
    rank = np.array([int(np.nonzero(order[i] == true_idx[i])[0][0]) for i in range(len(q))])
    res["median_rank"] = float(np.median(rank)) + 1.0          # 1 = best
    res["mean_rank_pct"] = 100.0 * float(np.mean(rank)) / max(1, len(db) - 1)   # chance 50
    top1 = order[:, 0]
    err = d_true[np.arange(len(q)), top1]
    res["median_err_m"] = float(np.median(err))
    res["mean_err_m"] = float(np.mean(err))
    res["within_32m"] = 100.0 * float(np.mean(err <= 32.0))
    res["oracle_median_err_m"] = float(np.median(d_true[np.arange(len(q)), true_idx]))
    res["n_queries"] = int(len(q))
    res["n_tiles"] = int(len(db))
    return res


def evaluate_world(world, ground_net, aerial_fn, cfg, zoom, tile_m, stride_m, device="cpu"):
    """Full evaluation of one World (source 'truth' or 'pairs'); the nets
    run on `device`, the metrics on the CPU."""
    corners, cen, tp = world.grid_tiles(tile_m, stride_m)
    tiles = np.stack([world.aerial[r0:r0 + tp, c0:c0 + tp] for r0, c0 in corners])
    db = embed_aerial(aerial_fn, tiles, cfg, zoom, device=device)
    q = embed_ground(ground_net, world.ground, device=device)
    return retrieval_metrics(q, db, world.en, cen)
