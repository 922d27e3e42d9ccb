#!/usr/bin/python3
"""Train the demo TransGeo model on generated worlds (PyTorch; CUDA or CPU).

    train_demo.py stage1   --worlds DIR --val WORLD --state DIR [options]
    train_demo.py stage2   --worlds DIR --val WORLD --state DIR [options]
    train_demo.py export   --state DIR -o models/demo.safetensors
    train_demo.py export   --state DIR --stage1-only -o stage1.safetensors
    train_demo.py evaluate --model models/demo.safetensors WORLD [WORLD ...]

The architecture is the reference's (tools/reference/transgeo_ref.py, preset
"demo"): two separate DeiT-style distilled ViTs (cls + dist tokens, pre-norm
blocks), a ground net and an aerial net, trained from scratch, the TransGeo
way (Zhu, Shah & Chen, CVPR 2022; official train.py / criterion/soft_triplet.py):

stage 1  ground net (ground_hw) + aerial net (aerial_hw) on panorama / aerial
         tile pairs, soft-margin triplet loss over in-batch negatives in both
         directions: mean log(1 + exp(alpha * (s_neg - s_pos))), alpha = 10,
         cosine similarity; AdamW.
stage 2  "attend and zoom in": the stage-1 aerial net, frozen, becomes the
         scan net (aerial_scan); its last-block cls+dist attention map of
         each tile is quantised to u8 exactly as the reference's quantize_map
         (the official PNG), resized to the zoom grid, and the 64% most
         attended patch tokens of the tile at zoom_hw are kept
         (transgeo_ref zoom_order / forward_keep, the engine's own code
         path).  The stage-2 aerial net starts from the stage-1 aerial net
         with its pos_embed bilinearly resized from the aerial grid to the
         zoom grid (official train.py --crop --sat_res); the ground net
         continues from stage 1.  The official pipeline precomputes the maps
         of its fixed tiles (train.py scan()); our tiles are cut at a new
         random offset every step, so the map of each crop is computed on the
         fly by the same frozen stage-1 net, which is what the engine does at
         inference.

Options beyond the official recipe (models/MODEL_CARD.md, "Issue 22",
has their ablations): --loss infonce, symmetric InfoNCE with a learnable
temperature (Sample4Geo) instead of the soft-margin triplet; --partial P,
a share P of the panoramas seen through what a pinhole photo of a random
field of view (--hfov) at a random heading covers of the canvas, the rest
0 after normalisation, as the engine fills a photo's canvas
(docs/ground-canvas.md; tools/ground_canvas.py); evaluate --source photos
places a world's perspective photos at their known heading the same way.

Batches: `per_world` panoramas from each of `batch // per_world` random
training worlds, at least `min_sep_m` apart within a world (no two
positives share most of their tile), with --near-m drawn first from around
a random anchor (hard neighbour negatives, candidate_order); each
panorama's aerial tile is cut from the world's aerial.tif around its
position moved by a uniform random offset of up to `jitter_m` per axis
(test tiles come from a fixed grid); mild brightness / contrast jitter;
with --dihedral (default) each pair is mirrored and/or turned by a random symmetry of the square, the panorama with
its tile so that the pair stays true (dihedral_pair; north stays in the
centre column, as at test time; otherwise there is no panorama roll).
Learning rate: linear warm-up (steps) then cosine decay over the stage's
time budget (wall clock; the machine is shared, so the number of steps is
logged, not fixed).  State is saved every `save_every` steps and at the end
(DIR/stageN.pt): a killed run started again with the same command resumes;
a finished one started with a larger --budget-s or --max-steps continues.

Outputs (in --state DIR): stage1.pth.tar, stage2.pth.tar in the OFFICIAL
checkpoint format ({'epoch', 'state_dict', 'best_acc1', 'optimizer'}; keys
module.query_net.* / module.reference_net.*), so `export` is exactly
    tools/convert_checkpoint.py --preset demo stage2.pth.tar --scan stage1.pth.tar -o OUT
Log: DIR/train.log (one line per `log_every` steps, validation lines).

Device: --device auto (the default) trains on the GPU when PyTorch sees one
(torch.cuda.is_available(); e.g. the CUDA machine the `device` tool lends)
and on the CPU otherwise; --device cpu / cuda force one (cuda without a GPU
is an error, not a silent fallback).  Batches are cut and decoded on the CPU
and moved to the device; the stage-1 attention map goes through the CPU as
the official code's .cpu() copy does.  Checkpoints hold CPU tensors, and
saved state is loaded onto whatever device the resuming run uses, so a run
can be started on a GPU and finished on a CPU (or the other way round).
Only the plain Python + PyTorch + numpy + Pillow stack is needed: without
GDAL's Python bindings the worlds' aerial.tif is read with Pillow
(demo_dataset.read_aerial).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import glob
import json
import math
import os
import subprocess
import time
from collections import OrderedDict

# On the CPU, PyTorch's own OpenMP threads (--threads) parallelise around the
# BLAS calls; OpenBLAS's pthread pool (Debian's default libblas) on top of them
# oversubscribes the cores and spins in sched_yield.  One BLAS thread: a
# training step on 2 cores went from 0.50 s to 0.33 s (batch 64, stage 1).
# It must be set before numpy / torch load OpenBLAS; a user's value wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

def keep_freed_memory():
    """glibc: keep freed memory in the heap instead of returning it to the
    kernel.  By default every large tensor (a batch is 3-20 MB, so are many
    activations) is mmap-ed fresh and munmap-ed when freed, and the next
    step page-faults its way through new zeroed pages again; in a VM each
    fault is expensive: allocating a 12 MB float tensor took 75 ms, the
    arithmetic on it 2 ms.  With a 32 MB mmap threshold (glibc's maximum)
    and no trimming, a stage-1 step took 0.37 s of CPU instead of 0.43 s
    (one thread, 2 training worlds, 30 steps).  No-op off glibc."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)    # M_MMAP_THRESHOLD
        libc.mallopt(-1, 1 << 30)     # M_TRIM_THRESHOLD
        libc.mallopt(-2, 64 << 20)    # M_TOP_PAD
    except (OSError, AttributeError):
        pass


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
sys.path.insert(0, HERE)
import transgeo_ref as ref  # noqa: E402
import demo_dataset as dd  # noqa: E402
import ground_canvas as gc  # noqa: E402

PRESET = "demo"


# --------------------------------------------------------------------------
# model pieces
# --------------------------------------------------------------------------

def init_timm(net, seed):
    """timm ViT init: trunc-normal(0.02) for linear weights, cls/dist tokens
    and pos_embed; zero biases; LayerNorm 1/0; PyTorch default for the patch conv."""
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in ("cls_token", "dist_token", "pos_embed"):
                ref._tn(p, 0.02, g)
            elif name.startswith("patch_embed"):
                fan_in = 3 * net.cfg["patch"] ** 2
                b = 1.0 / math.sqrt(fan_in)
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * b)
            elif name.split(".")[-2].startswith("norm") or name.startswith("norm."):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith(".weight"):
                ref._tn(p, 0.02, g)
            else:
                p.zero_()
    return net


def resize_pos_embed(pos, n_prefix, old_grid, new_grid):
    """Official train.py --crop: bilinear resize (align_corners=False) of the
    patch part of pos_embed from the stage-1 grid to the zoom grid."""
    d = pos.shape[-1]
    grid = pos[:, n_prefix:, :].reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, new_grid, mode="bilinear", align_corners=False)
    return torch.cat([pos[:, :n_prefix, :], grid.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)


def pick_device(name):
    """torch.device for --device: 'auto' = CUDA when PyTorch sees a GPU,
    else CPU; 'cuda' without a GPU is an error the user can act on."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: this PyTorch (%s) sees no CUDA GPU; use --device cpu or auto"
                         % torch.__version__)
    return torch.device(name)


def soft_triplet(q, k, alpha):
    """Official SoftTripletBiLoss: both directions, cosine similarity,
    in-batch negatives; returns (loss, mean pos sim, mean neg sim)."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    sim = q @ k.t()
    n = sim.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    pos = sim.diagonal()
    neg_qk = sim[~eye].reshape(n, n - 1)
    neg_kq = sim.t()[~eye].reshape(n, n - 1)
    l1 = F.softplus((neg_qk - pos[:, None]) * alpha).mean()   # log(1 + exp(.))
    l2 = F.softplus((neg_kq - pos[:, None]) * alpha).mean()
    return (l1 + l2) * 0.5, pos.mean().item(), sim[~eye].mean().item()


def info_nce(q, k, logit_scale, smoothing):
    """Symmetric InfoNCE (CLIP; Sample4Geo, Deuser et al. ICCV 2023): the
    cosine-similarity matrix times a learnable scale (1 / temperature), a
    cross-entropy over the batch in each direction (ground -> tiles, tiles ->
    ground) with the pair on the diagonal, label smoothing `smoothing`;
    returns (loss, mean pos sim, mean neg sim)."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1)
    sim = q @ k.t()
    n = sim.shape[0]
    logits = sim * logit_scale.exp()
    target = torch.arange(n, device=sim.device)
    loss = 0.5 * (F.cross_entropy(logits, target, label_smoothing=smoothing)
                  + F.cross_entropy(logits.t(), target, label_smoothing=smoothing))
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    return loss, sim.diagonal().mean().item(), sim[~eye].mean().item()


def official_checkpoint(ground, aerial, epoch, best):
    sd = OrderedDict()
    for k, v in ground.state_dict().items():
        sd["module.query_net." + k] = v.detach().cpu().clone()
    for k, v in aerial.state_dict().items():
        sd["module.reference_net." + k] = v.detach().cpu().clone()
    return {"epoch": int(epoch), "state_dict": sd, "best_acc1": float(best), "optimizer": {}}


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

def world_dirs(root):
    """Complete worlds (world.json is written last) under root, by seed."""
    dirs = [d for d in glob.glob(os.path.join(root, "world_*"))
            if os.path.exists(os.path.join(d, "world.json")) and os.path.exists(os.path.join(d, "pairs.csv"))]
    return sorted(dirs, key=lambda d: int(d.rsplit("_", 1)[1]))


class TrainData:
    def __init__(self, root, cfg, cache, log, max_worlds=0):
        self.root, self.cfg, self.cache, self.log = root, cfg, cache, log
        self.max_worlds = max_worlds
        self.worlds = []
        self.loaded = set()
        self.refresh()

    def refresh(self):
        """Load worlds that appeared since the last call (the generator may
        still be running)."""
        for d in world_dirs(self.root):
            if self.max_worlds and len(self.worlds) >= self.max_worlds:
                break
            if d in self.loaded:
                continue
            w = dd.World(d, self.cfg["ground_hw"], "pairs", cache_dir=self.cache)
            self.worlds.append(w)
            self.loaded.add(d)
            self.log("loaded %s: %d pairs (%d worlds, %d pairs in all)"
                     % (os.path.basename(d), len(w), len(self.worlds), sum(len(x) for x in self.worlds)))

    def batch(self, rng, batch, per_world, min_sep_m, jitter_m, tile_px, dihedral=False, near_m=0.0):
        nw = max(1, batch // per_world)
        widx = rng.choice(len(self.worlds), size=nw, replace=len(self.worlds) < nw)
        g, a = [], []
        for wi in widx:
            w = self.worlds[wi]
            chosen = []
            for i in candidate_order(w.en, rng, near_m):
                if all(np.hypot(*(w.en[i] - w.en[j])) >= min_sep_m for j in chosen):
                    chosen.append(i)
                    if len(chosen) == per_world:
                        break
            for i in chosen:
                off = rng.uniform(-jitter_m, jitter_m, size=2)
                crop, _e, _n = w.crop(w.en[i, 0] + off[0], w.en[i, 1] + off[1], tile_px)
                pano = w.ground[i]
                if dihedral:
                    pano, crop = dihedral_pair(pano, crop, int(rng.integers(4)), bool(rng.integers(2)))
                g.append(pano)
                a.append(crop)
        return np.stack(g), np.stack(a)


def candidate_order(en, rng, near_m):
    """Order in which a world's panoramas are offered to a batch: random;
    with near_m > 0, those within near_m metres of a random anchor panorama
    first (in random order), then the rest.  The batch then holds
    neighbours a few tile strides apart, whose tiles overlap the positive's:
    the hard negatives that decide R@1 on a 32 m grid, which uniform
    sampling over a whole world almost never puts side by side."""
    order = rng.permutation(len(en))
    if near_m <= 0:
        return order
    d = np.hypot(*(en[order] - en[rng.integers(len(en))]).T)
    return np.concatenate([order[d <= near_m], order[d > near_m]])


def dihedral_pair(pano, tile, quarter_turns, mirror):
    """One of the 8 symmetries of the square applied to a pair so that it
    stays a true pair: the north-up tile is mirrored east-west and/or turned
    counter-clockwise by quarter turns, and the panorama is changed to what a
    camera at the same spot would see in that mirrored/turned world.

    Panorama columns (src/world/render.c): column u looks at azimuth
    360 (u + 0.5) / W - 180, clockwise from grid north, north in the centre.
      * mirror east-west: azimuth a -> -a, i.e. column u -> W - 1 - u, an
        exact left-right flip of the panorama;
      * a quarter turn counter-clockwise brings east to the top (np.rot90), so
        the new view at azimuth a is the old one at a + 90: the panorama is
        rolled left by W / 4 columns.
    North stays in the centre column, as at test time.  This multiplies the
    distinct pairs of a world by 8 (the worlds' shadows then fall in other
    directions too, which the worlds already vary by seed)."""
    w = pano.shape[1]
    if mirror:
        pano = pano[:, ::-1]
        tile = tile[:, ::-1]
    if quarter_turns:
        pano = np.roll(pano, -quarter_turns * (w // 4), axis=1)
        tile = np.rot90(tile, quarter_turns)
    return np.ascontiguousarray(pano), np.ascontiguousarray(tile)


def partial_masks(rng, n, hw, prob, hfov_range, aspect):
    """float32 [n,1,H,W] masks (1 = seen) that turn a batch of north-aligned
    panorama canvases into partial views: with probability `prob` a sample
    becomes what a level pinhole photo of horizontal field of view uniform
    in hfov_range (degrees), vertical extent tan(vfov/2) = aspect
    tan(hfov/2) (a landscape w x h photo: aspect = h / w), taken at the same
    spot at a uniform random heading, covers of the canvas
    (docs/ground-canvas.md, ground_canvas.coverage); else all ones.  The
    masked-out pixels are set to 0 after normalisation, exactly what the
    engine fills an uncovered canvas pixel with (normalize_mean), so the
    model sees at training time what a photo placed at its known heading
    gives at test time (up to resampling)."""
    h, w = hw
    m = np.ones((n, 1, h, w), np.float32)
    for i in range(n):
        if rng.random() >= prob:
            continue
        hfov = rng.uniform(hfov_range[0], hfov_range[1])
        vfov = math.degrees(2 * math.atan(aspect * math.tan(math.radians(hfov) / 2)))
        m[i, 0] = gc.coverage(h, w, hfov, vfov, rng.uniform(0.0, 360.0))
    return m


def colour_jitter(rng, n, amount):
    """(brightness, contrast) factors [n] of the mild colour jitter
    (demo_dataset.to_tensor applies them), or (None, None) for none."""
    if amount <= 0:
        return None, None
    return rng.uniform(1 - amount, 1 + amount, size=n), rng.uniform(1 - amount, 1 + amount, size=n)


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------

class Logger:
    def __init__(self, path):
        self.f = open(path, "a")

    def __call__(self, msg):
        line = "%s %s" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg)
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


def lr_at(step, warm_steps, frac, base, floor=0.02):
    """Linear warm-up over the first warm_steps steps, then cosine decay
    over the time budget (frac = trained seconds / budget)."""
    w = min(1.0, (step + 1) / max(1, warm_steps))
    p = min(1.0, max(0.0, frac))
    return base * w * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def build_nets(cfg, stage, state_dir, seed, log):
    """(ground, aerial, scan or None) for a stage, fresh (before resume)."""
    ground = ref.DistilledViT(cfg, cfg["ground_hw"])
    if stage == 1:
        aerial = ref.DistilledViT(cfg, cfg["aerial_hw"])
        init_timm(ground, seed * 10 + 1)
        init_timm(aerial, seed * 10 + 2)
        return ground, aerial, None
    ck = torch.load(os.path.join(state_dir, "stage1.pth.tar"), map_location="cpu")
    sd = ck["state_dict"]
    gsd = {k[len("module.query_net."):]: v for k, v in sd.items() if k.startswith("module.query_net.")}
    asd = {k[len("module.reference_net."):]: v for k, v in sd.items() if k.startswith("module.reference_net.")}
    ground.load_state_dict(gsd)
    scan = ref.DistilledViT(cfg, cfg["aerial_hw"])
    scan.load_state_dict(asd)
    scan.eval()
    for p in scan.parameters():
        p.requires_grad_(False)
    aerial = ref.DistilledViT(cfg, cfg["zoom_hw"])
    asd2 = dict(asd)
    asd2["pos_embed"] = resize_pos_embed(asd["pos_embed"], ref.n_prefix(cfg),
                                         ref.grid(cfg, cfg["aerial_hw"]), ref.grid(cfg, cfg["zoom_hw"]))
    aerial.load_state_dict(asd2)
    log("stage 2: ground <- stage-1 ground, aerial_scan <- stage-1 aerial (frozen), aerial <- stage-1 "
        "aerial with pos_embed %s -> %s" % (ref.grid(cfg, cfg["aerial_hw"]), ref.grid(cfg, cfg["zoom_hw"])))
    return ground, aerial, scan


def aerial_forward(cfg, aerial, scan, x_net, x_scan):
    """Raw aerial output of a batch of normalised tiles (training path)."""
    if scan is None:
        return aerial(x_net)
    with torch.no_grad():
        _o, m = scan.forward_scan(x_scan)
        keep, _mz = aerial.zoom_order(ref.quantize_map(m))
    return aerial.forward_keep(x_net, keep)


def make_batch(data, rng, a, cfg, zoom):
    """One training batch, ready for the nets (CPU tensors): (ground
    [B,3,H,W], aerial at zoom_hw or aerial_hw, aerial at aerial_hw (the scan
    input; the same tensor without zoom)).  Everything random about a batch
    is drawn here, in this order, from rng: the worlds and panoramas, tile
    offsets and symmetries (TrainData.batch), the ground's colour jitter,
    the partial views, the tiles' colour jitter (the same on the scan and
    the zoom input of a tile)."""
    tile_px = int(round(cfg["aerial_tile_m"] / cfg["aerial_gsd_m"]))
    g_u8, a_u8 = data.batch(rng, a.batch, a.per_world, a.min_sep_m, a.jitter_m, tile_px, a.dihedral, a.near_m)
    xg = dd.to_tensor(g_u8, *colour_jitter(rng, len(g_u8), a.color))
    if a.partial > 0:
        xg.mul_(torch.from_numpy(partial_masks(rng, len(xg), cfg["ground_hw"], a.partial, a.hfov, a.aspect)))
    net_u8, scan_u8 = dd.aerial_u8(a_u8, cfg, zoom)
    br, ct = colour_jitter(rng, len(a_u8), a.color)
    x_scan = dd.to_tensor(scan_u8, br, ct)
    x_net = dd.to_tensor(net_u8, br, ct) if zoom else x_scan
    return xg, x_net, x_scan


def warm_start(path, stage, ground, aerial):
    """Weights only (a fresh optimiser and schedule) from an earlier run:
    an official-format stage-N checkpoint (.pth.tar), or a transgeo model
    file (.safetensors, e.g. the shipped models/demo.safetensors), whose
    `ground` net and, for stage 1, its stage-1 `aerial_scan` net (stage 2:
    its `aerial` net) are taken.  Stage 2 from a model file takes its
    stage-2 `aerial` net only: the ground net continues from this run's
    stage 1 (which scans), and a zoom net that already works on the kept
    patches skips the dip of a zoom net made from the stage-1 net."""
    if path.endswith(".safetensors"):
        m = ref.load_model(path)
        src = m.aerial_scan if stage == 1 else m.aerial
        if src is None or (stage == 2 and m.aerial_scan is None):
            raise SystemExit("%s: no stage-%d aerial net in this model file" % (path, stage))
        if stage == 1:
            ground.load_state_dict(m.ground.state_dict())
        aerial.load_state_dict(src.state_dict())
        return
    ck = torch.load(path, map_location="cpu")["state_dict"]
    ground.load_state_dict({k[len("module.query_net."):]: v for k, v in ck.items()
                            if k.startswith("module.query_net.")})
    aerial.load_state_dict({k[len("module.reference_net."):]: v for k, v in ck.items()
                            if k.startswith("module.reference_net.")})


def validate(cfg, ground, aerial, scan, val_world, a, dev):
    ground.eval()
    aerial.eval()
    if scan is None:
        fn = lambda xn, xs: aerial(xn)  # noqa: E731
    else:
        def fn(xn, xs):
            _o, m = scan.forward_scan(xs)
            return aerial.forward_zoom(xn, ref.quantize_map(m))[0]
    with torch.no_grad():
        r = dd.evaluate_world(val_world, ground, fn, cfg, scan is not None, a.tile_m, a.stride_m, dev)
    ground.train()
    aerial.train()
    return r


def train(a):
    dev = pick_device(a.device)     # before anything is written
    cfg = ref.make_config(PRESET, "zoom")
    torch.set_num_threads(a.threads)
    os.makedirs(a.state, exist_ok=True)
    log = Logger(os.path.join(a.state, "train.log"))
    stage = 1 if a.cmd == "stage1" else 2
    st_path = os.path.join(a.state, "stage%d.pt" % stage)
    ground, aerial, scan = build_nets(cfg, stage, a.state, a.seed, log)
    ground.to(dev)
    aerial.to(dev)
    if scan is not None:
        scan.to(dev)
    params = list(ground.parameters()) + list(aerial.parameters())
    groups = [{"params": params}]
    # InfoNCE's learnable 1 / temperature (log scale), trained with the nets
    # but no weight decay (decay would pull it to temperature 1); not part
    # of the model: dropped at export.
    logit_scale = None
    if a.loss == "infonce":
        logit_scale = torch.nn.Parameter(torch.tensor(math.log(1.0 / a.temp), device=dev))
        groups.append({"params": [logit_scale], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.wd)
    rng = np.random.default_rng(a.seed * 100 + stage)
    step, elapsed = 0, 0.0
    if os.path.exists(st_path):
        st = torch.load(st_path, map_location="cpu")
        ground.load_state_dict(st["ground"])
        aerial.load_state_dict(st["aerial"])
        opt.load_state_dict(st["opt"])
        if logit_scale is not None:
            with torch.no_grad():
                logit_scale.copy_(st["logit_scale"].to(dev))
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        step, elapsed = st["step"], st["elapsed"]
        log("stage %d: resumed at step %d (%.0f s trained)" % (stage, step, elapsed))
        if st.get("done") and not (elapsed < a.budget_s and (a.max_steps <= 0 or step < a.max_steps)):
            log("stage %d: already finished" % stage)
            return 0
    else:
        log("stage %d: start; args %s" % (stage, json.dumps(vars(a), sort_keys=True)))
        if a.init:
            warm_start(a.init, stage, ground, aerial)
            log("stage %d: weights initialised from %s" % (stage, a.init))
        log("config %s" % json.dumps(ref.config_to_metadata(cfg), sort_keys=True))
    log("stage %d: device %s (torch %s, %d CPU threads)" % (stage, dev, torch.__version__, a.threads))
    data = TrainData(a.worlds, cfg, a.cache, log, a.max_worlds)
    val = dd.World(a.val, cfg["ground_hw"], "truth", cache_dir=a.cache) if a.val else None
    ground.train()
    aerial.train()

    def save(done=False):
        tmp = st_path + ".tmp"
        torch.save({"ground": ground.state_dict(), "aerial": aerial.state_dict(), "opt": opt.state_dict(),
                    "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "step": step,
                    "elapsed": elapsed, "done": done,
                    "logit_scale": None if logit_scale is None else logit_scale.detach().cpu()}, tmp)
        os.replace(tmp, st_path)

    run_t0 = time.time()
    t_last = time.time()
    hist = []
    cpu_last, step_last, wall_last = time.process_time(), step, elapsed
    while elapsed < a.budget_s and (a.max_steps <= 0 or step < a.max_steps):
        # the schedule runs over the time budget, or over --max-steps when
        # that ends the run first (step-matched ablations on a shared machine)
        frac = max(elapsed / a.budget_s, step / a.max_steps if a.max_steps > 0 else 0.0)
        lr = lr_at(step, a.warmup_steps, frac, a.lr)
        for gr in opt.param_groups:
            gr["lr"] = lr
        xg, x_net, x_scan = make_batch(data, rng, a, cfg, scan is not None)
        og = ground(xg.to(dev))
        oa = aerial_forward(cfg, aerial, scan, x_net.to(dev), x_scan.to(dev))
        if logit_scale is None:
            loss, ps, ns = soft_triplet(og, oa, a.alpha)
        else:
            loss, ps, ns = info_nce(og, oa, logit_scale, a.smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        if logit_scale is not None:
            with torch.no_grad():
                logit_scale.clamp_(0.0, math.log(100.0))   # temperature in [0.01, 1] (CLIP's cap)
        step += 1
        now = time.time()
        elapsed += now - t_last
        t_last = now
        hist.append((loss.item(), ps, ns))
        if step % a.log_every == 0:
            h = np.array(hist)
            hist = []
            cpu = time.process_time()
            # wall and CPU seconds per step since the last line: the machine is
            # shared, CPU time is the steadier measure of a step's cost
            log("stage %d step %d  %.0f s  lr %.2e  loss %.4f  pos %.3f  neg %.3f%s  %.3f s/step (%.3f cpu)"
                % (stage, step, elapsed, lr, h[:, 0].mean(), h[:, 1].mean(), h[:, 2].mean(),
                   "" if logit_scale is None else "  temp %.4f" % math.exp(-logit_scale.item()),
                   (elapsed - wall_last) / max(1, step - step_last), (cpu - cpu_last) / max(1, step - step_last)))
            cpu_last, step_last, wall_last = cpu, step, elapsed
        if step % a.save_every == 0:
            save()
            data.refresh()
            t_last = time.time()   # loading time is not training time
        if val is not None and a.val_every > 0 and step % a.val_every == 0:
            r = validate(cfg, ground, aerial, scan, val, a, dev)
            log("stage %d step %d  VAL %s" % (stage, step, json.dumps(r, sort_keys=True)))
            t_last = time.time()
    save(done=True)
    ck = official_checkpoint(ground, aerial, step, 0.0)
    out = os.path.join(a.state, "stage%d.pth.tar" % stage)
    torch.save(ck, out + ".tmp")
    os.replace(out + ".tmp", out)
    log("stage %d: done, %d steps, %.0f s training (%.0f s this run); wrote %s"
        % (stage, step, elapsed, time.time() - run_t0, out))
    if val is not None:
        r = validate(cfg, ground, aerial, scan, val, a, dev)
        log("stage %d FINAL VAL %s" % (stage, json.dumps(r, sort_keys=True)))
    return 0


def export(a):
    s1 = os.path.join(a.state, "stage1.pth.tar")
    s2 = os.path.join(a.state, "stage2.pth.tar")
    if a.stage1_only:   # the stage-1 model alone (no zoom), for comparison
        cmd = [sys.executable, os.path.join(HERE, "convert_checkpoint.py"), "--preset", PRESET,
               s1, "-o", a.output]
    else:
        cmd = [sys.executable, os.path.join(HERE, "convert_checkpoint.py"), "--preset", PRESET,
               s2, "--scan", s1, "-o", a.output]
    print(" ".join(cmd), flush=True)
    return subprocess.call(cmd)


def evaluate(a):
    torch.set_num_threads(a.threads)
    dev = pick_device(a.device)
    model = ref.load_model(a.model).to(dev)
    cfg = model.cfg
    res = {}
    for wd in a.world_dirs:
        w = dd.World(wd, cfg["ground_hw"], a.source, max_items=a.max_items)
        r = dd.evaluate_world(w, model.ground, model, cfg, ref.zooms(cfg), a.tile_m, a.stride_m, dev)
        r["world"] = os.path.basename(os.path.normpath(wd))
        r["model"] = os.path.basename(a.model)
        r["zoom"] = bool(ref.zooms(cfg))
        r["source"] = a.source
        print(json.dumps(r, sort_keys=True), flush=True)
        res[r["world"]] = r
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    return 0


def parse_range(text):
    """'MIN,MAX' (degrees) -> (min, max), a pinhole's field of view."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected MIN,MAX (degrees), got '%s'" % text)
    if not 0.0 < lo <= hi < 180.0:
        raise argparse.ArgumentTypeError("need 0 < MIN <= MAX < 180 degrees, got '%s'" % text)
    return lo, hi


def add_device_options(p):
    """--threads and --device, the same for training and evaluation."""
    p.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="auto: the CUDA GPU when PyTorch sees one, else the CPU")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("stage1", "stage2"):
        p = sub.add_parser(name, help="train stage %s" % name[-1])
        p.add_argument("--worlds", required=True, help="directory of world_<seed>/ training worlds")
        p.add_argument("--val", default="", help="held-out world (panos + truth.csv) for validation")
        p.add_argument("--state", required=True, help="state / checkpoint / log directory")
        p.add_argument("--cache", default="", help="cache of decoded panoramas (default STATE/cache)")
        p.add_argument("--budget-s", type=float, default=1500, help="training wall-clock seconds")
        p.add_argument("--max-steps", type=int, default=0,
                       help="stop after this many steps (0: no limit); the learning-rate schedule ends at "
                            "whichever of --budget-s and --max-steps comes first")
        p.add_argument("--max-worlds", type=int, default=0, help="use at most this many worlds (0: all)")
        p.add_argument("--batch", type=int, default=64)
        p.add_argument("--per-world", type=int, default=32, help="panoramas per world in a batch")
        p.add_argument("--lr", type=float, default=3e-4 if name == "stage1" else 1.5e-4)
        p.add_argument("--wd", type=float, default=0.03)
        p.add_argument("--warmup-steps", type=int, default=40 if name == "stage1" else 20,
                       help="linear learning-rate warm-up steps")
        p.add_argument("--loss", default="triplet", choices=("triplet", "infonce"),
                       help="triplet: soft-margin triplet (official TransGeo); infonce: symmetric InfoNCE "
                            "with a learnable temperature (Sample4Geo)")
        p.add_argument("--alpha", type=float, default=10.0, help="soft-margin triplet weight")
        p.add_argument("--temp", type=float, default=0.07, help="infonce: initial temperature")
        p.add_argument("--smoothing", type=float, default=0.1, help="infonce: label smoothing")
        p.add_argument("--partial", type=float, default=0.0,
                       help="share of the panoramas turned into partial views: what a pinhole photo "
                            "at a random heading covers (partial_masks; docs/ground-canvas.md)")
        p.add_argument("--hfov", type=parse_range, default=(60.0, 120.0),
                       help="partial views: range of the horizontal field of view, degrees, 'MIN,MAX' "
                            "(a pinhole: below 180)")
        p.add_argument("--aspect", type=float, default=0.75,
                       help="partial views: height / width of the photo (0.75 = a 4:3 landscape photo)")
        p.add_argument("--jitter-m", type=float, default=16.0, help="tile centre offset, m per axis")
        p.add_argument("--min-sep-m", type=float, default=32.0, help="min distance of panoramas in a batch")
        p.add_argument("--near-m", type=float, default=0.0,
                       help="> 0: each world's panoramas in a batch are drawn first from within this "
                            "many metres of a random anchor (hard neighbour negatives; candidate_order)")
        p.add_argument("--color", type=float, default=0.1, help="brightness/contrast jitter")
        p.add_argument("--dihedral", type=int, default=1, choices=(0, 1),
                       help="1: each pair mirrored/turned by a random symmetry of the square "
                            "(tile and panorama together, see dihedral_pair)")
        p.add_argument("--tile-m", type=float, default=64.0)
        p.add_argument("--stride-m", type=float, default=32.0)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--init", default="",
                       help="warm start: ground/aerial weights from this official-format "
                            "checkpoint or transgeo .safetensors model")
        add_device_options(p)
        p.add_argument("--log-every", type=int, default=10)
        p.add_argument("--save-every", type=int, default=50)
        p.add_argument("--val-every", type=int, default=200)
    p = sub.add_parser("export", help="convert the stage checkpoints into a model file")
    p.add_argument("--state", required=True)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--stage1-only", action="store_true",
                   help="convert the stage-1 checkpoint alone (a no-zoom model, for comparison)")
    p = sub.add_parser("evaluate", help="retrieval metrics of a model file on held-out worlds")
    p.add_argument("--model", required=True)
    p.add_argument("world_dirs", nargs="+")
    p.add_argument("--source", default="truth", choices=("truth", "pairs", "photos"),
                   help="truth: the panoramas of truth.csv; photos: its perspective photos, placed at "
                        "their known heading in the ground canvas (ground_canvas.place_photo); pairs: "
                        "pairs.csv")
    p.add_argument("--max-items", type=int, default=None)
    p.add_argument("--tile-m", type=float, default=64.0)
    p.add_argument("--stride-m", type=float, default=32.0)
    add_device_options(p)
    p.add_argument("--json", default="")
    a = ap.parse_args(argv)
    keep_freed_memory()
    if a.cmd in ("stage1", "stage2"):
        if not a.cache:
            a.cache = os.path.join(a.state, "cache")
        return train(a)
    if a.cmd == "export":
        return export(a)
    return evaluate(a)


if __name__ == "__main__":
    sys.exit(main())
