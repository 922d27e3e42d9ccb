#!/usr/bin/python3
"""Write the golden test vectors under tests/golden/ (committed; the C tests
compare the engine and the photo preprocessing against them).

    make_golden.py [--outdir tests/golden] [--what tiny,preprocess]
                   [--photo 01.jpg] [--png photo.png]

tiny/        a fixed-seed 'tiny' TransGeo zoom model and its inputs/outputs,
             computed by tools/reference/transgeo_ref.py (see tiny/README.md).
preprocess/  a small real RGB photo (PNG) and what torchvision's
             Resize((H,W)) (= PIL Image.resize((W,H), BILINEAR), antialiased
             when shrinking) -> ToTensor -> Normalize(ImageNet) gives for a few
             sizes (see preprocess/README.md).

Everything is deterministic: running it twice gives the same files
(tests/test_reference.py checks that against the committed copies).
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
sys.path.insert(0, HERE)
import transgeo_ref as ref  # noqa: E402
import make_test_checkpoint as mtc  # noqa: E402

TINY_SEED = 1                       # make_test_checkpoint --seed for both stages
INPUT_SEEDS = {"ground": 101, "aerial_scan": 102, "aerial_zoom": 103}
BATCH = 2

# Preprocessing cases: name -> (H, W) of the Resize target.  The photo is
# 97x61 (W x H): odd sizes, both axes shrunk, both grown, one of each, and
# the identity (PIL returns a copy when the size does not change).
PHOTO_WH = (97, 61)
PHOTO_CROP = (600, 400, 2660, 1700)     # box in 01.jpg (3264x2448), about the same aspect
RESIZE_CASES = {"down": (32, 48), "up": (64, 112), "mixed": (80, 40), "same": (61, 97)}


def tiny_model():
    """The golden zoom model: ground and aerial from the stage-2 checkpoint
    nets, aerial_scan from the stage-1 reference net (exactly what
    convert_checkpoint.py makes of make_test_checkpoint.py --preset tiny
    --seed 1 --stage 2, with --scan of the --stage 1 file)."""
    q2, r2 = mtc.make_nets("tiny", TINY_SEED, 2)
    _q1, r1 = mtc.make_nets("tiny", TINY_SEED, 1)
    cfg = ref.make_config("tiny", "zoom", source=(
        "tools/make_golden.py: make_test_checkpoint.py --preset tiny --seed %d --stage 2, "
        "--scan of --stage 1, as convert_checkpoint.py converts them" % TINY_SEED))
    model = ref.TransGeo(cfg)
    model.ground.load_state_dict(q2.state_dict())
    model.aerial.load_state_dict(r2.state_dict())
    model.aerial_scan.load_state_dict(r1.state_dict())
    return model.eval()


def cut_report(map_zoom, k):
    """Describe the values around the keep cut of each image."""
    lines = []
    for b in range(map_zoom.shape[0]):
        v = np.sort(map_zoom[b].reshape(-1), kind="stable")
        n = v.size
        lo, hi = float(v[n - k - 1]), float(v[n - k])
        lines.append("image %d: last dropped %.9g, first kept %.9g%s"
                     % (b, lo, hi, "  (TIE at the cut)" if lo == hi else ""))
    return lines


def write_tiny(outdir):
    d = os.path.join(outdir, "tiny")
    os.makedirs(d, exist_ok=True)
    model = tiny_model()
    cfg = model.cfg
    xg = ref.make_input(cfg["ground_hw"], BATCH, INPUT_SEEDS["ground"])
    xs = ref.make_input(cfg["aerial_hw"], BATCH, INPUT_SEEDS["aerial_scan"])
    xz = ref.make_input(cfg["zoom_hw"], BATCH, INPUT_SEEDS["aerial_zoom"])
    with torch.no_grad():
        g = model.embed_ground(xg)
        a, det = model.embed_aerial(xz, xs)
        nz = model.embed_aerial_nozoom(xs)
        # documented self-scan fallback, with the same stage-2 net
        _o, ms = model.aerial.forward_scan(xz)
        ms_u8 = ref.quantize_map(ms)
        a_self, keep_self, _mz = model.aerial.forward_zoom(xz, ms_u8)
    ref.save_model(os.path.join(d, "model.safetensors"), model)
    arrays = {
        "ground_in": xg.numpy(), "ground_out": g.numpy(),
        "aerial_scan_in": xs.numpy(), "attention": det["map"].numpy(),
        "attention_u8": det["map_u8"], "attention_zoom": det["map_zoom"].numpy(),
        "aerial_zoom_in": xz.numpy(), "keep": det["keep"].numpy().astype(np.int64),
        "aerial_out": a.numpy(), "aerial_nozoom_out": nz.numpy(),
        "selfscan_attention": ms.numpy(), "selfscan_attention_u8": ms_u8,
        "selfscan_keep": keep_self.numpy().astype(np.int64), "selfscan_out": a_self.numpy(),
    }
    for name, arr in arrays.items():
        np.save(os.path.join(d, name + ".npy"), np.ascontiguousarray(arr))
    k = det["keep"].shape[1]
    report = cut_report(det["map_zoom"].numpy(), k)
    gz = ref.grid(cfg, cfg["zoom_hw"])
    report_self = cut_report(_mz.numpy(), k)
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(TINY_README.format(
            b=BATCH, seed=TINY_SEED, sg=INPUT_SEEDS["ground"], ss=INPUT_SEEDS["aerial_scan"],
            sz=INPUT_SEEDS["aerial_zoom"], gh=cfg["ground_hw"], ah=cfg["aerial_hw"], zh=cfg["zoom_hw"],
            ga=ref.grid(cfg, cfg["aerial_hw"]), gz=gz, k=k, n=gz[0] * gz[1], o=cfg["out_dim"],
            cut="\n".join("  " + s for s in report), cut_self="\n".join("  " + s for s in report_self)))
    return report + report_self


TINY_README = """# tests/golden/tiny — golden vectors of the 'tiny' TransGeo config

Made by `tools/make_golden.py` with `tools/reference/transgeo_ref.py` (PyTorch, CPU,
float32); do not edit by hand, re-run `/usr/bin/python3 tools/make_golden.py --what tiny`.
`tests/test_reference.py` checks that a re-run reproduces these files.

Config (`model.safetensors` __metadata__): preset tiny, embed_dim 32, depth 2, heads 4
(head dim 8), mlp_dim 64, patch 16, ln_eps 1e-06, tokens cls+dist, out_dim {o},
ground_hw {gh}, aerial_hw {ah} (scan grid {ga}), zoom_hw {zh} (zoom grid {gz}),
crop_ratio 0.64 -> K = int(0.64*{n}) = {k} kept patches, zoom 1.
The ground width is not a multiple of the patch on purpose (104 = 6*16 + 8, like CVUSA's
616 = 38*16 + 8): the patch grid is W // 16 and the last 8 columns of ground_in belong to
no patch (a stride-16 convolution ignores them).

Weights: `make_test_checkpoint.py --preset tiny --seed {seed}`: ground and aerial from the
stage-2 checkpoint (query_net, reference_net), aerial_scan from the stage-1 checkpoint's
reference_net (what `convert_checkpoint.py --scan` makes of them).

All inputs are already normalised (ImageNet mean/std), batch {b}, float32 NCHW.
Outputs are the RAW model outputs (not L2-normalised), float32 [{b},{o}].

| file | shape | what |
|---|---|---|
| model.safetensors | | the model (transgeo-safetensors-1) |
| ground_in.npy | [{b},3,{gh[0]},{gh[1]}] | ground input (seed {sg}) |
| ground_out.npy | [{b},{o}] | ground net output |
| aerial_scan_in.npy | [{b},3,{ah[0]},{ah[1]}] | stage-1 (scan) aerial input (seed {ss}) |
| attention.npy | [{b},{ga[0]},{ga[1]}] float32 | scan map m: last block, sum over heads of the cls and dist rows' attention to each patch |
| attention_u8.npy | [{b},{ga[0]},{ga[1]}] uint8 | uint8(float32(float32(m/max m)*255)) (the official PNG) |
| attention_zoom.npy | [{b},{gz[0]},{gz[1]}] float32 | u8/255 bilinearly resized (align_corners=False) to the zoom grid |
| aerial_zoom_in.npy | [{b},3,{zh[0]},{zh[1]}] | stage-2 (zoom) aerial input (seed {sz}) |
| keep.npy | [{b},{k}] int64 | kept patch indices (row-major on the zoom grid), in stable ascending order of attention_zoom; the last {k} |
| aerial_out.npy | [{b},{o}] | zoom output: aerial net on the kept patches |
| aerial_nozoom_out.npy | [{b},{o}] | aerial_scan net plain forward on aerial_scan_in (the stage-1 / --no-zoom output) |
| selfscan_attention.npy, selfscan_attention_u8.npy | [{b},{gz[0]},{gz[1]}] | self-scan fallback: the aerial net's own map on aerial_zoom_in |
| selfscan_keep.npy | [{b},{k}] int64 | kept indices of the self-scan fallback |
| selfscan_out.npy | [{b},{o}] | output of the self-scan fallback (a model file without aerial_scan: zoom "0", zoom_fallback "self") |

Values at the keep cut (ties would be broken by index: higher index kept):
{cut}
Self-scan:
{cut_self}
"""


PREPROCESS_README = """# tests/golden/preprocess — torchvision preprocessing goldens

Made by `tools/make_golden.py --what preprocess`; do not edit by hand.

`photo.png`: {w}x{h} RGB, a crop (box {box}) of `shared/data/photos/01.jpg` (Berlin
Cathedral, from mapillary/OpenSfM, BSD-2-Clause) shrunk with PIL LANCZOS.  Odd sizes on
purpose.

For each case, the official preprocessing `transforms.Resize((H, W))` -> `ToTensor()` ->
`Normalize(mean=[0.485,0.456,0.406], std=[0.229,0.224,0.225])` on the PIL image:

* `resized_<case>_u8.npy`  uint8 [H,W,3]: `Image.resize((W, H), Image.BILINEAR)`
  (torchvision's Resize on a PIL image calls exactly this; PIL's bilinear filter widens
  its support when shrinking, i.e. it antialiases; two separable 8-bit passes);
* `tensor_<case>.npy`  float32 [3,H,W]: float32(u8)/255, then (x - mean) / std in float32.

| case | H x W |
|---|---|
{rows}

Made with Pillow {pil}.  torchvision is not installed here; its Resize on a PIL image is
`img.resize(size[::-1], interpolation)` (torchvision.transforms.functional_pil.resize).
"""


def to_tensor_normalize(u8_hwc, mean=ref.IMAGENET_MEAN, std=ref.IMAGENET_STD):
    """ToTensor + Normalize in torch float32, as torchvision computes them."""
    t = torch.from_numpy(np.ascontiguousarray(u8_hwc)).permute(2, 0, 1).contiguous()
    t = t.to(torch.float32).div(255)
    m = torch.as_tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.as_tensor(std, dtype=torch.float32)[:, None, None]
    return t.sub(m).div(s).numpy()


def make_photo_png(photo, out_png):
    from PIL import Image
    with Image.open(photo) as im:
        im = im.convert("RGB").crop(PHOTO_CROP).resize(PHOTO_WH, Image.LANCZOS)
        im.save(out_png, format="PNG")


def write_preprocess(outdir, photo=None, png=None):
    from PIL import Image
    import PIL
    d = os.path.join(outdir, "preprocess")
    os.makedirs(d, exist_ok=True)
    out_png = os.path.join(d, "photo.png")
    if png is not None:
        if os.path.abspath(png) != os.path.abspath(out_png):
            shutil.copyfile(png, out_png)
    else:
        make_photo_png(photo, out_png)
    rows = []
    with Image.open(out_png) as im:
        im = im.convert("RGB")
        if im.size != PHOTO_WH:
            raise SystemExit("%s is %dx%d, expected %dx%d" % (out_png, im.size[0], im.size[1], *PHOTO_WH))
        for name, (h, w) in RESIZE_CASES.items():
            r = im.resize((w, h), Image.BILINEAR)
            u8 = np.array(r, dtype=np.uint8)
            np.save(os.path.join(d, "resized_%s_u8.npy" % name), np.ascontiguousarray(u8))
            np.save(os.path.join(d, "tensor_%s.npy" % name), to_tensor_normalize(u8))
            rows.append("| %s | %d x %d |" % (name, h, w))
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write(PREPROCESS_README.format(w=PHOTO_WH[0], h=PHOTO_WH[1], box=PHOTO_CROP,
                                         rows="\n".join(rows), pil=PIL.__version__))


def default_photo():
    for base in (os.environ.get("TG_SHARED_DATA", ""), os.path.join(HERE, "..", "..", "shared", "data"),
                 "/work/shared/data"):
        p = os.path.join(base, "photos", "01.jpg")
        if base and os.path.isfile(p):
            return p
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--outdir", default=os.path.join(HERE, "..", "tests", "golden"))
    ap.add_argument("--what", default="tiny,preprocess")
    ap.add_argument("--photo", help="JPEG to crop the preprocessing photo from (default shared/data/photos/01.jpg)")
    ap.add_argument("--png", help="use this existing photo.png instead of making one from --photo")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    what = set(a.what.split(","))
    if "tiny" in what:
        for line in write_tiny(a.outdir):
            print("tiny: " + line)
    if "preprocess" in what:
        photo = a.photo or default_photo()
        if a.png is None and photo is None:
            print("make_golden.py: error: no --png and no shared/data/photos/01.jpg", file=sys.stderr)
            return 1
        write_preprocess(a.outdir, photo=photo, png=a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
