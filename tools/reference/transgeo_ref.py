"""PyTorch reference of the TransGeo model (Zhu, Shah, Chen, CVPR 2022).

Written for transgeo from the paper and the official code's behaviour
(github.com/Jeff-Zilence/TransGeo2022 @ c261626: model/Deit.py,
model/TransGeo.py, train.py scan(), dataset/CVUSA.py, dataset/VIGOR.py),
in plain torch (timm 0.4.x is not needed).  The C engine (src/) is tested
against THIS file, so every numeric step below says which official line it
reproduces.  CPU, float32, eval mode (no dropout: the official nets use
drop rates of 0).

Networks (DeiT-S distilled ViT, timm 0.4 VisionTransformer names):
    patch_embed.proj (conv k=s=P) -> N patch tokens, row-major over the grid
    [cls, dist, tokens] + pos_embed
    depth x Block: x = x + attn.proj(MHSA(norm1(x)));  x = x + fc2(GELU(fc1(norm2(x))))
    norm; output = (head(x[:,0]) + head_dist(x[:,1])) / 2
  LayerNorm eps from the config (DeiT: 1e-6); GELU is the exact erf form
  (torch.nn.GELU default); attention scale (D/heads)**-0.5; qkv with bias.

TransGeo model = up to three such networks:
    ground       the query (street-view panorama) net, input ground_hw
    aerial       the reference net; for a zoom model this is the stage-2
                 net, input zoom_hw, run on the kept patches only
    aerial_scan  the stage-1 reference net, input aerial_hw, whose last-block
                 attention picks the patches to keep ("attend")

Attend-and-zoom-in, exactly as the official pipeline runs it:
  1. scan (Deit.py forward_features_save): in the LAST block,
       A = softmax(q k^T * scale) computed from norm1(x);
       m[p] = sum_rows{cls,dist} sum_heads A[h, row, 2+p]   (numpy float32,
       heads summed first, sequentially, then the two rows), shape [gh, gw].
  2. save (plt.imsave of np.tile(m / max(m)) as RGB):
       u8 = uint8( float32( float32(m / max(m)) * 255 ) )   (truncation).
  3. load (CVUSA.py/VIGOR.py: PIL .convert('RGB') -> ToTensor): float32 u8/255.
  4. crop (Deit.py forward_features_crop):
       F.interpolate(map, (zh, zw), mode='bilinear', align_corners=False);
       per axis (PyTorch 1.13 CPU, NCHW): scale = (float)in / (float)out;
       src = (double)scale * (d + 0.5) - 0.5 (double), clamped at 0;
       i0 = (int)src, i1 = i0 + (i0 < in - 1); l1 = (float)(src - i0) clamped
       to [0,1]; l0 = 1.0f - l1;  value = t0*w0 + t1*w1 along W, then the
       same along H, each evaluated as fmaf(t0, w0, t1 * w1) (PyTorch's AVX2
       kernel is compiled with FMA contraction; tests/test_reference.py
       checks this bit for bit, and which form this PyTorch uses);
       order = argsort ascending of the flattened map;
       keep = last K = int(crop_rate * n) indices (crop_rate 0.64 hard-coded
       in the official code, any dataset / resolution);
       tokens = patch tokens at keep (in that order) + pos_embed[2 + keep],
       prefix cls/dist + pos_embed[0:2]; then the usual blocks, norm, heads.
     torch.argsort in the official code is not stable; we DEFINE the order
     with a stable ascending sort on (value, index): among equal values the
     higher indices come last and are the ones kept at the cut.  The C engine
     does the same.
  Stage-2-only fallback (file metadata zoom "0", zoom_fallback "self": no
  aerial_scan, the aerial net was trained on zoomed crops): steps 1-4 with
  the stage-2 net itself on the zoom input; the map is then already on the
  zoom grid (the resize is the identity).

Presets carry the input sizes and the ground sample distance (GSD) of the
aerial imagery each dataset's model was trained on:
  cvusa  ground 112x616, aerial 256, zoom 320 (run_CVUSA.sh: --sat_res 320).
         CVUSA aerial images are 750x750 (CVUSA.py sat_ori_size) Bing Maps
         tiles at zoom level 19: the split files are named '*-19zl.csv' and
         list 'bingmap/19/NNNNNNN.jpg'.  At zoom z, Web-Mercator tiles have
         156543.03392 * cos(lat) / 2**z m/px (Bing Maps Tile System, "Ground
         resolution"): 0.2986*cos(lat) at z=19, i.e. 0.30 m/px only at the
         equator.  CVUSA spans the contiguous US (about 25-49 N: 0.271-0.196
         m/px); we use the latitude of the geographic centre of the
         contiguous US, 39.83 N: 0.2293 m/px, so a 750 px tile is 171.975 m.
  vigor  ground 320x640, aerial 320, zoom 400 (run_VIGOR.sh: --sat_res 400).
         VIGOR aerial tiles are 640x640 (VIGOR.py sat_ori_size) at about
         0.114 m/px (VIGOR's own metre-level evaluation uses 0.114; SliceMatch
         later measured per-city values), i.e. 72.96 m.
  cvusa-fov90  cvusa with TransGeo's 90-degree ground input 112x154
         (run_CVUSA_fov90.sh; model/TransGeo.py: int(90/360*616) = 154).
  tiny   a small synthetic config for committed golden tests.
"""

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CVUSA_GSD_SOURCE = ("CVUSA aerial: 750x750 Bing Maps zoom-19 images (splits '*-19zl.csv', "
                    "'bingmap/19/'); GSD = 156543.03392*cos(lat)/2^19 m/px at lat 39.83N "
                    "(centre of the contiguous US; 0.271-0.196 over 25-49N)")
VIGOR_GSD_SOURCE = ("VIGOR aerial: 640x640 tiles at ~0.114 m/px (VIGOR metre-level evaluation "
                    "code; per-city values measured by SliceMatch)")

# CVUSA panoramas (1232 x 224) completed to 2:1 start 176 rows from the top of
# 616: 90 - 180 * 176 / 616 and 90 - 180 * 400 / 616 (HC-Net issue #1, dty = -20;
# docs/ground-canvas.md).
CVUSA_ELEV_DEG = (38.6, -26.9)

_DEIT_S = dict(embed_dim=384, depth=12, heads=6, mlp_dim=1536, patch=16, ln_eps=1e-6,
               tokens="cls+dist", out_dim=1000)

# Typed configs; config_to_metadata() turns one into the file's strings.
PRESETS = {
    # ground_elev_deg: the elevation of the ground input's top and bottom
    # edges (docs/ground-canvas.md cites both: CVUSA's panoramas are cropped
    # vertically, VIGOR's are whole spheres).
    "cvusa": dict(_DEIT_S, ground_hw=(112, 616), aerial_hw=(256, 256), zoom_hw=(320, 320),
                  crop_ratio=0.64, aerial_gsd_m=0.2293, aerial_tile_m=171.975,
                  ground_fov_deg=360.0, ground_elev_deg=CVUSA_ELEV_DEG,
                  aerial_gsd_source=CVUSA_GSD_SOURCE),
    # TransGeo's limited field of view (run_CVUSA_fov90.sh, train.py --fov 90):
    # model/TransGeo.py sizes the ground net int(fov / 360 * 616) = 154 px wide,
    # and dataset/CVUSA.py LimitedFoV feeds it a 154-column window of the
    # 112 x 616 normalised panorama at a random azimuth (training and test).
    "cvusa-fov90": dict(_DEIT_S, ground_hw=(112, 154), aerial_hw=(256, 256),
                        zoom_hw=(320, 320), crop_ratio=0.64, aerial_gsd_m=0.2293,
                        aerial_tile_m=171.975, ground_fov_deg=90.0,
                        ground_elev_deg=CVUSA_ELEV_DEG, aerial_gsd_source=CVUSA_GSD_SOURCE),
    "vigor": dict(_DEIT_S, ground_hw=(320, 640), aerial_hw=(320, 320), zoom_hw=(400, 400),
                  crop_ratio=0.64, aerial_gsd_m=0.114, aerial_tile_m=72.96,
                  ground_fov_deg=360.0, ground_elev_deg=(90.0, -90.0),
                  aerial_gsd_source=VIGOR_GSD_SOURCE),
    # Small and fast, for tests/golden: 4 heads of 8 (a scale that is not a
    # power of two), 4x4 scan grid interpolated to a 5x5 zoom grid, K = 16;
    # ground width 104 = 6*16 + 8 like CVUSA's 616 = 38*16 + 8 (the stride-16
    # patch conv ignores the last 8 columns: grid = W // P).
    "tiny": dict(embed_dim=32, depth=2, heads=4, mlp_dim=64, patch=16, ln_eps=1e-6,
                 tokens="cls+dist", out_dim=24, ground_hw=(32, 104), aerial_hw=(64, 64),
                 zoom_hw=(80, 80), crop_ratio=0.64, aerial_gsd_m=0.5, aerial_tile_m=32.0,
                 ground_fov_deg=360.0, aerial_gsd_source="synthetic test config"),
    # ---- "demo" (owned by tools/train_demo.py; see models/MODEL_CARD.md) ----
    # The project's own small model, trained from scratch on generated worlds
    # (src/world): 0.5 m/px aerial imagery, 64 m tiles (128 px: the stage-1
    # scan input is the tile at its native resolution), zoom 160 px
    # (10x10 grid, K = int(0.64 * 100) = 64 kept patches), the whole
    # 512x256 panorama resized to 64x256 (north in the centre column).
    "demo": dict(embed_dim=64, depth=4, heads=4, mlp_dim=256, patch=16, ln_eps=1e-6,
                 tokens="cls+dist", out_dim=128, ground_hw=(64, 256), aerial_hw=(128, 128),
                 zoom_hw=(160, 160), crop_ratio=0.64, aerial_gsd_m=0.5, aerial_tile_m=64.0,
                 ground_fov_deg=360.0,
                 aerial_gsd_source="transgeo demo worlds (src/world): aerial.tif at 0.5 m/px"),
    # ---- end of "demo" ----
}

ARCH_KEYS = ("embed_dim", "depth", "heads", "mlp_dim", "patch", "ln_eps", "tokens", "out_dim")
INT_KEYS = ("embed_dim", "depth", "heads", "mlp_dim", "patch", "out_dim")
HW_KEYS = ("ground_hw", "aerial_hw", "zoom_hw")
FLOAT_KEYS = ("ln_eps", "crop_ratio", "aerial_gsd_m", "aerial_tile_m", "ground_fov_deg")


def preset_config(name):
    """Typed config of a preset, before the zoom decision (see make_config)."""
    if name not in PRESETS:
        raise KeyError("unknown preset '%s' (known: %s)" % (name, ", ".join(sorted(PRESETS))))
    cfg = dict(PRESETS[name])
    cfg["preset"] = name
    cfg["normalize_mean"] = IMAGENET_MEAN
    cfg["normalize_std"] = IMAGENET_STD
    return cfg


def make_config(preset, mode, source=""):
    """Full typed config for a model file.

    mode: "zoom"    stage-2 aerial net at zoom_hw + stage-1 aerial_scan at
                    aerial_hw: zoom "1" (zoom "1" <=> the file has aerial_scan)
          "self"    stage-2 net only, zooming with its own scan at zoom_hw:
                    zoom "0", zoom_fallback "self", aerial_hw = zoom_hw,
                    crop_ratio of the preset, no aerial_scan
          "nozoom"  stage-1 net only at aerial_hw: zoom "0", zoom_hw = aerial_hw,
                    crop_ratio "1"
          "nozoom2" stage-2 net only, all patches at zoom_hw: zoom "0",
                    zoom_fallback "none", aerial_hw = zoom_hw, crop_ratio "1"
    (include/transgeo/model.h: zoom_fallback only applies when zoom is "0".)
    """
    cfg = preset_config(preset)
    if mode == "zoom":
        cfg["zoom"] = 1
    elif mode == "self":
        cfg["zoom"] = 0
        cfg["zoom_fallback"] = "self"
        cfg["aerial_hw"] = cfg["zoom_hw"]
    elif mode == "nozoom":
        cfg["zoom"] = 0
        cfg["zoom_hw"] = cfg["aerial_hw"]
        cfg["crop_ratio"] = 1.0
    elif mode == "nozoom2":
        cfg["zoom"] = 0
        cfg["zoom_fallback"] = "none"
        cfg["aerial_hw"] = cfg["zoom_hw"]
        cfg["crop_ratio"] = 1.0
    else:
        raise ValueError("mode must be zoom, self, nozoom or nozoom2, not %r" % mode)
    cfg["source"] = source
    return cfg


def has_scan_net(cfg):
    """zoom "1" <=> the file has an aerial_scan network."""
    return bool(cfg["zoom"])


def zooms(cfg):
    """Whether aerial embeddings use the cropped zoom pass."""
    return bool(cfg["zoom"]) or cfg.get("zoom_fallback", "none") == "self"


def _fmt(v):
    if isinstance(v, (tuple, list)):
        return ",".join(_fmt(x) for x in v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def config_to_metadata(cfg):
    """Typed config -> the file's __metadata__ (all strings; format/sha256
    are added by the writer)."""
    meta = {"arch": "transgeo"}
    for k, v in cfg.items():
        meta[k] = _fmt(v)
    return meta


def metadata_to_config(meta):
    """File __metadata__ -> typed config.  Raises ValueError naming the key."""
    cfg = {}
    for k, v in meta.items():
        try:
            if k in INT_KEYS or k == "zoom":
                cfg[k] = int(v)
            elif k in HW_KEYS:
                h, w = (int(x) for x in v.split(","))
                cfg[k] = (h, w)
            elif k in FLOAT_KEYS:
                cfg[k] = float(v)
            elif k in ("normalize_mean", "normalize_std", "ground_elev_deg"):
                cfg[k] = tuple(float(x) for x in v.split(","))
            else:
                cfg[k] = v
        except ValueError:
            raise ValueError("metadata '%s' = %r is not valid" % (k, v))
    for k in ARCH_KEYS + HW_KEYS + ("crop_ratio", "zoom"):
        if k not in cfg:
            raise ValueError("metadata key '%s' is missing" % k)
    if cfg.get("arch", "transgeo") != "transgeo":
        raise ValueError("metadata arch=%r, expected 'transgeo'" % cfg["arch"])
    if cfg.get("zoom_fallback", "none") not in ("self", "none"):
        raise ValueError("metadata zoom_fallback=%r, expected 'self' or 'none'" % cfg["zoom_fallback"])
    if cfg["zoom"] and cfg.get("zoom_fallback", "none") != "none":
        raise ValueError("metadata zoom_fallback applies only when zoom is '0'")
    if cfg["tokens"] not in ("cls+dist", "cls"):
        raise ValueError("metadata tokens=%r, expected 'cls+dist' or 'cls'" % cfg["tokens"])
    return cfg


def n_prefix(cfg):
    return 2 if cfg["tokens"] == "cls+dist" else 1


def grid(cfg, hw):
    """Patch grid of an input size: floor division, as timm's PatchEmbed
    (CVUSA's 616 px wide ground input gives 38 columns; 8 px are unused)."""
    p = cfg["patch"]
    return hw[0] // p, hw[1] // p


def n_keep(crop_ratio, n):
    """Number of kept patches: Python int() of the double product, as in
    Deit.py forward_features_crop (-int(self.crop_rate*order.shape[1]))."""
    k = int(crop_ratio * n)
    if k < 1:
        raise ValueError("crop ratio %r keeps no patch out of %d" % (crop_ratio, n))
    return k


def net_shapes(cfg, hw):
    """Expected {timm name: shape} of one network at input size hw."""
    d, m, o, p = cfg["embed_dim"], cfg["mlp_dim"], cfg["out_dim"], cfg["patch"]
    gh, gw = grid(cfg, hw)
    s = {"cls_token": (1, 1, d), "pos_embed": (1, n_prefix(cfg) + gh * gw, d),
         "patch_embed.proj.weight": (d, 3, p, p), "patch_embed.proj.bias": (d,)}
    if cfg["tokens"] == "cls+dist":
        s["dist_token"] = (1, 1, d)
    for i in range(cfg["depth"]):
        b = "blocks.%d." % i
        s.update({b + "norm1.weight": (d,), b + "norm1.bias": (d,),
                  b + "attn.qkv.weight": (3 * d, d), b + "attn.qkv.bias": (3 * d,),
                  b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,),
                  b + "norm2.weight": (d,), b + "norm2.bias": (d,),
                  b + "mlp.fc1.weight": (m, d), b + "mlp.fc1.bias": (m,),
                  b + "mlp.fc2.weight": (d, m), b + "mlp.fc2.bias": (d,)})
    s.update({"norm.weight": (d,), "norm.bias": (d,), "head.weight": (o, d), "head.bias": (o,)})
    if cfg["tokens"] == "cls+dist":
        s.update({"head_dist.weight": (o, d), "head_dist.bias": (o,)})
    return s


def model_shapes(cfg):
    """Expected {file tensor name: shape} of a whole model file."""
    nets = [("ground", cfg["ground_hw"]), ("aerial", cfg["zoom_hw"])]
    if has_scan_net(cfg):
        nets.append(("aerial_scan", cfg["aerial_hw"]))
    out = {}
    for net, hw in nets:
        for k, v in net_shapes(cfg, hw).items():
            out[net + "." + k] = v
    return out


# --------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------

class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        # [B,D,gh,gw] -> [B, gh*gw, D], row-major over the grid (timm PatchEmbed)
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5       # timm: head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def probs(self, x):
        """softmax(q k^T * scale) [B,H,N,N] and v [B,H,N,hd] (timm 0.4 Attention)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * self.scale
        return att.softmax(dim=-1), v

    def forward(self, x):
        b, n, c = x.shape
        att, v = self.probs(x)
        return self.proj((att @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()                      # exact erf form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


class DistilledViT(nn.Module):
    """One TransGeo network (DeiT distilled ViT) for a fixed input size."""

    def __init__(self, cfg, hw):
        super().__init__()
        d = cfg["embed_dim"]
        self.cfg = cfg
        self.hw = tuple(hw)
        self.grid = grid(cfg, hw)
        self.n_prefix = n_prefix(cfg)
        self.crop_ratio = float(cfg["crop_ratio"])
        # Registration order = timm state_dict order.
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.n_prefix + self.grid[0] * self.grid[1], d))
        if self.n_prefix == 2:
            self.dist_token = nn.Parameter(torch.zeros(1, 1, d))
        self.patch_embed = PatchEmbed(cfg["patch"], d)
        self.blocks = nn.ModuleList([Block(d, cfg["heads"], cfg["mlp_dim"], float(cfg["ln_eps"]))
                                     for _ in range(cfg["depth"])])
        self.norm = nn.LayerNorm(d, eps=float(cfg["ln_eps"]))
        self.head = nn.Linear(d, cfg["out_dim"])
        if self.n_prefix == 2:
            self.head_dist = nn.Linear(d, cfg["out_dim"])

    # -- pieces -------------------------------------------------------------
    def _check_input(self, x, hw):
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != tuple(hw):
            raise ValueError("input shape %s, expected [B,3,%d,%d]" % (tuple(x.shape), hw[0], hw[1]))

    def _prefix(self, b):
        toks = [self.cls_token.expand(b, -1, -1)]
        if self.n_prefix == 2:
            toks.append(self.dist_token.expand(b, -1, -1))
        return toks

    def _heads(self, x):
        x = self.norm(x)
        if self.n_prefix == 2:
            return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2
        return self.head(x[:, 0])

    # -- passes -------------------------------------------------------------
    def forward(self, x):
        """Plain forward (Deit.py forward_features + heads): raw output [B,O]."""
        self._check_input(x, self.hw)
        t = self.patch_embed(x)
        x = torch.cat(self._prefix(x.shape[0]) + [t], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self._heads(x)

    def forward_scan(self, x):
        """Forward that also returns the stage-1 attention map
        (Deit.py forward_features_save).  Returns (output [B,O], m [B,gh,gw]
        float32 tensor)."""
        self._check_input(x, self.hw)
        b = x.shape[0]
        t = self.patch_embed(x)
        x = torch.cat(self._prefix(b) + [t], dim=1) + self.pos_embed
        last = len(self.blocks) - 1
        m = None
        for i, blk in enumerate(self.blocks):
            if i == last:
                att, _v = blk.attn.probs(blk.norm1(x))
                p = self.n_prefix
                # [B,H,p,n] float32; contiguous like the official .cpu() copy of the CUDA view
                a = np.ascontiguousarray(att[:, :, :p, p:].detach().cpu().numpy())
                # numpy float32 reductions as in the official code:
                # .sum(axis=1) over heads, then .sum(axis=1) over the rows.
                m = a.sum(axis=1).sum(axis=1).reshape(b, self.grid[0], self.grid[1])
            x = blk(x)
        return self._heads(x), torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))

    def zoom_order(self, map_u8):
        """Map (uint8 [B,h,w] as saved by the scan) -> (keep [B,K] int64 patch
        indices in ascending-attention order, interpolated map [B,gh,gw]
        float32).  Deit.py forward_features_crop + the dataset's ToTensor."""
        u8 = torch.as_tensor(np.asarray(map_u8, dtype=np.uint8))
        if u8.dim() != 3:
            raise ValueError("map shape %s, expected [B,h,w]" % (tuple(u8.shape),))
        att = u8.to(torch.float32).div(255)                          # ToTensor
        # The official map is an RGB PNG -> [B,3,h,w] NCHW.  Keep 3 channels:
        # with 1 channel the tensor also counts as channels-last and PyTorch
        # takes another kernel whose results differ in the last bit.
        att3 = att[:, None].expand(-1, 3, -1, -1).contiguous()
        att = F.interpolate(att3, self.grid, mode="bilinear", align_corners=False)[:, 0]
        flat = att.reshape(att.shape[0], -1)
        order = torch.sort(flat, dim=1, stable=True).indices          # ascending, stable
        n = flat.shape[1]
        k = n_keep(self.crop_ratio, n)
        return order[:, n - k:].contiguous(), att.contiguous()

    def forward_keep(self, x, keep):
        """Second (zoom) pass on the patch tokens at `keep` [B,K]."""
        self._check_input(x, self.hw)
        b = x.shape[0]
        keep = torch.as_tensor(keep, dtype=torch.int64, device=x.device)
        t = self.patch_embed(x)
        p = self.n_prefix
        sel = torch.stack([t[i, keep[i]] for i in range(b)], dim=0)
        pos = torch.cat([self.pos_embed[:, :p].expand(b, -1, -1),
                         torch.stack([self.pos_embed[0, p + keep[i]] for i in range(b)], dim=0)], dim=1)
        x = torch.cat(self._prefix(b) + [sel], dim=1) + pos
        for blk in self.blocks:
            x = blk(x)
        return self._heads(x)

    def forward_zoom(self, x, map_u8):
        """Attend-and-zoom-in second pass: (output [B,O], keep [B,K] int64,
        interpolated map [B,gh,gw])."""
        keep, mz = self.zoom_order(map_u8)
        return self.forward_keep(x, keep), keep, mz


def quantize_map(m):
    """Stage-1 map -> uint8 as the official scan saves it (plt.imsave of
    m/max tiled to RGB): u8 = uint8(float32(float32(m/max(m)) * 255))."""
    m = np.asarray(m.detach().cpu().numpy() if hasattr(m, "detach") else m, dtype=np.float32)
    out = np.empty(m.shape, dtype=np.uint8)
    for j in range(m.shape[0]):
        r = m[j] / np.max(m[j])               # float32 / float32
        out[j] = (r * 255).astype(np.uint8)   # float32 multiply, truncation
    return out


class TransGeo(nn.Module):
    """ground / aerial / aerial_scan networks and the config."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.ground = DistilledViT(cfg, cfg["ground_hw"])
        self.aerial = DistilledViT(cfg, cfg["zoom_hw"])
        self.aerial_scan = DistilledViT(cfg, cfg["aerial_hw"]) if has_scan_net(cfg) else None

    def embed_ground(self, x):
        return self.ground(x)

    def embed_aerial(self, x_zoom, x_scan=None):
        """Raw aerial output.  Zoom models: x_zoom at zoom_hw and x_scan at
        aerial_hw (the same tile resized twice); returns (out, details) with
        details = dict(map, map_u8, keep, map_zoom) (empty without zoom)."""
        cfg = self.cfg
        if not zooms(cfg):
            return self.aerial(x_zoom), {}
        if self.aerial_scan is not None:
            if x_scan is None:
                raise ValueError("zoom model: the stage-1 scan input (aerial_hw) is required")
            _o, m = self.aerial_scan.forward_scan(x_scan)
        else:   # documented self-scan fallback
            _o, m = self.aerial.forward_scan(x_zoom)
        u8 = quantize_map(m)
        out, keep, mz = self.aerial.forward_zoom(x_zoom, u8)
        return out, dict(map=m, map_u8=u8, keep=keep, map_zoom=mz)

    def embed_aerial_nozoom(self, x):
        """Stage-1 output: aerial_scan's plain forward at aerial_hw (or the
        aerial net's, when the file has no aerial_scan)."""
        net = self.aerial_scan if self.aerial_scan is not None else self.aerial
        return net(x)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------

def load_model(path):
    """TransGeo from a transgeo safetensors file (validated)."""
    import safetensors_io
    tensors, meta = safetensors_io.read_safetensors(path)
    cfg = metadata_to_config(meta)
    want = model_shapes(cfg)
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise ValueError("model '%s': missing tensors %s, unexpected tensors %s"
                         % (path, missing[:5], extra[:5]))
    for k, shp in want.items():
        if tuple(tensors[k].shape) != tuple(shp):
            raise ValueError("model '%s': tensor '%s' has shape %s, expected %s"
                             % (path, k, list(tensors[k].shape), list(shp)))
    model = TransGeo(cfg)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
    model.eval()
    return model


def save_model(path, model, extra_meta=None):
    """Write a TransGeo (with its config) to a safetensors file."""
    import safetensors_io
    meta = config_to_metadata(model.cfg)
    if extra_meta:
        meta.update(extra_meta)
    return safetensors_io.write_safetensors(path, model.state_dict(), meta)


# --------------------------------------------------------------------------
# Fixed-seed test weights and inputs
# --------------------------------------------------------------------------

def _tn(t, std, g):
    """Normal(0, std) truncated at +-2 std (timm trunc_normal_-like)."""
    with torch.no_grad():
        v = torch.randn(t.shape, generator=g) * std
        t.copy_(v.clamp_(-2 * std, 2 * std))


def init_realistic(net, seed):
    """Fill a DistilledViT with fixed-seed weights of realistic scale.

    timm's init (trunc-normal std .02 for linear layers, cls/dist tokens and
    pos_embed; PyTorch's default uniform for the patch conv), but with
    non-zero biases, LayerNorm weights 1 + N(0, .1) and biases N(0, .05) so
    every parameter matters, and the q and k rows of every qkv with std
    sqrt(1.5 / D): logits q.k*scale then have a standard deviation of about
    1.5, like a trained DeiT, so attention maps have structure (with std .02
    they are flat, and the zoom selection would be decided by ties)."""
    g = torch.Generator().manual_seed(int(seed))
    d = net.cls_token.shape[-1]
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in ("cls_token", "dist_token", "pos_embed"):
                _tn(p, 0.02, g)
            elif name == "patch_embed.proj.weight":
                bound = 1.0 / math.sqrt(p[0].numel())
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            elif name == "patch_embed.proj.bias":
                bound = 1.0 / math.sqrt(3 * net.cfg["patch"] ** 2)
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            elif name.endswith("attn.qkv.weight"):
                _tn(p, 0.02, g)
                _tn(p[:2 * d], math.sqrt(1.5 / d), g)
            elif "norm" in name.split(".")[-2] and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif "norm" in name.split(".")[-2] and name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name.endswith(".weight"):
                _tn(p, 0.02, g)
            elif name.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            else:
                raise AssertionError("unhandled parameter " + name)


def random_net(cfg, hw, seed):
    net = DistilledViT(cfg, hw)
    init_realistic(net, seed)
    return net.eval()


def make_input(hw, batch, seed, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Fixed-seed 'image-like' normalised input [B,3,H,W] float32: smooth
    random colour fields plus pixel noise in [0,1], then ImageNet
    Normalize (what ToTensor + Normalize produce from a photo)."""
    g = torch.Generator().manual_seed(int(seed))
    h, w = hw
    low = torch.rand(batch, 3, max(2, h // 8), max(2, w // 8), generator=g)
    img = F.interpolate(low, (h, w), mode="bilinear", align_corners=False)
    img = (img + 0.15 * torch.rand(batch, 3, h, w, generator=g)).clamp_(0, 1)
    m = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    s = torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    return ((img - m) / s).contiguous()
