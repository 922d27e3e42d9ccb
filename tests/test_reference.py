#!/usr/bin/python3
"""tests/test_reference.py: the PyTorch reference (tools/reference/) against
independent computations, the committed goldens against a re-run, and the
safetensors reader/writer.  TAP output.

The reference is what the C engine is compared with, so here it is checked
against straightforward float64 numpy code written from the paper / timm
semantics (no torch.nn modules), and each official-pipeline detail that
decides bits (map summation order, the PNG quantisation, the bilinear
resize, the stable tie order) is pinned down explicitly.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import hashlib
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tools", "reference"))
sys.path.insert(0, os.path.join(TOP_SRCDIR, "tools"))
import safetensors_io as sio  # noqa: E402
import transgeo_ref as ref  # noqa: E402
from taplib import Tap  # noqa: E402

torch.set_num_threads(1)
GOLDEN = os.path.join(TOP_SRCDIR, "tests", "golden")
t = Tap()


def scratch():
    base = os.environ.get("TG_TMPDIR")
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="test_reference.", dir=base or None)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


# ---------------------------------------------------------------------------
# Independent float64 numpy ViT (written from the timm / DeiT semantics)
# ---------------------------------------------------------------------------

_erf = np.vectorize(math.erf)


def np_gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def np_ln(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def np_attention(sd, pre, y, heads):
    b, n, d = y.shape
    hd = d // heads
    qkv = y @ sd[pre + "attn.qkv.weight"].T + sd[pre + "attn.qkv.bias"]
    qkv = qkv.reshape(b, n, 3, heads, hd).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    a = np_softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd))
    o = (a @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
    return o @ sd[pre + "attn.proj.weight"].T + sd[pre + "attn.proj.bias"], a


def np_block(sd, pre, x, cfg):
    eps = cfg["ln_eps"]
    o, a = np_attention(sd, pre, np_ln(x, sd[pre + "norm1.weight"], sd[pre + "norm1.bias"], eps), cfg["heads"])
    x = x + o
    h = np_ln(x, sd[pre + "norm2.weight"], sd[pre + "norm2.bias"], eps)
    h = np_gelu(h @ sd[pre + "mlp.fc1.weight"].T + sd[pre + "mlp.fc1.bias"])
    x = x + h @ sd[pre + "mlp.fc2.weight"].T + sd[pre + "mlp.fc2.bias"]
    return x, a


def np_vit(sd, cfg, x, keep=None):
    """Raw output and last-block scan map of one net; keep = zoom indices."""
    sd = {k: v.detach().double().numpy() for k, v in sd.items()}
    x = x.double().numpy()
    b, _c, h, w = x.shape
    p = cfg["patch"]
    gh, gw = h // p, w // p
    x = x[:, :, :gh * p, :gw * p]          # a stride-P conv ignores the remainder
    patches = x.reshape(b, 3, gh, p, gw, p).transpose(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, 3 * p * p)
    wpe = sd["patch_embed.proj.weight"].reshape(cfg["embed_dim"], -1)
    tok = patches @ wpe.T + sd["patch_embed.proj.bias"]
    pos = sd["pos_embed"][0]
    npre = ref.n_prefix(cfg)
    prefix = [sd["cls_token"][0, 0]] + ([sd["dist_token"][0, 0]] if npre == 2 else [])
    rows = []
    for i in range(b):
        if keep is None:
            tk, ps = tok[i], pos
        else:
            tk = tok[i][keep[i]]
            ps = np.concatenate([pos[:npre], pos[npre + np.asarray(keep[i])]], 0)
        rows.append(np.concatenate([np.stack(prefix), tk], 0) + ps)
    z = np.stack(rows)
    for d in range(cfg["depth"]):
        z, a = np_block(sd, "blocks.%d." % d, z, cfg)
    m = a[:, :, :npre, npre:].sum(axis=(1, 2))
    z = np_ln(z, sd["norm.weight"], sd["norm.bias"], cfg["ln_eps"])
    out = z[:, 0] @ sd["head.weight"].T + sd["head.bias"]
    if npre == 2:
        out = (out + z[:, 1] @ sd["head_dist.weight"].T + sd["head_dist.bias"]) / 2
    return out, m


# ---------------------------------------------------------------------------

cfg = ref.make_config("tiny", "zoom")
net_s = ref.random_net(cfg, cfg["aerial_hw"], 7)     # scan-sized net
net_z = ref.random_net(cfg, cfg["zoom_hw"], 8)       # zoom-sized net
xs = ref.make_input(cfg["aerial_hw"], 2, 21)
xz = ref.make_input(cfg["zoom_hw"], 2, 22)


def test_gelu():
    x = torch.linspace(-4, 4, 161)
    y = net_s.blocks[0].mlp.act(x).double().numpy()
    exact = np_gelu(x.double().numpy())
    tanh = 0.5 * x.double().numpy() * (1 + np.tanh(math.sqrt(2 / math.pi) * (x.double().numpy()
                                                                             + 0.044715 * x.double().numpy() ** 3)))
    e1, e2 = np.max(np.abs(y - exact)), np.max(np.abs(y - tanh))
    return e1 < 1e-6 and e2 > 1e-4, "erf err %.3g, tanh-approx distance %.3g" % (e1, e2)


t.run("GELU is the exact erf form (not the tanh approximation)", test_gelu)


def test_block():
    blk = net_s.blocks[1]
    x = torch.randn(2, 18, cfg["embed_dim"], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = blk(x).double().numpy()
    sd = {k: v.double().numpy() for k, v in blk.state_dict().items()}
    e, _a = np_block(sd, "", x.double().numpy(), cfg)
    err = rel_err(y, e)
    return err < 1e-5, "rel err %.3g" % err


t.run("one block (pre-norm, qkv bias, scale hd^-0.5, softmax over keys, erf GELU) = manual float64",
      test_block)


def test_ln_eps():
    ln = net_s.blocks[0].norm1
    return ln.eps == 1e-6 and net_s.norm.eps == 1e-6, "eps %r" % ln.eps


t.run("LayerNorm eps comes from the config (1e-6)", test_ln_eps)


def test_full_forward():
    with torch.no_grad():
        o, m = net_s.forward_scan(xs)
        o2 = net_s(xs)
    e, em = np_vit(net_s.state_dict(), cfg, xs)
    err, errm, err2 = rel_err(o, e), rel_err(m.reshape(2, -1), em), rel_err(o2, e)
    return max(err, errm, err2) < 2e-5, "out %.3g, scan-forward out %.3g, map %.3g" % (err2, err, errm)


t.run("whole net (patch conv, cls+dist, pos_embed, heads average) and scan map = float64 numpy",
      test_full_forward)


def test_ground_remainder():
    net = ref.random_net(cfg, cfg["ground_hw"], 12)
    x = ref.make_input(cfg["ground_hw"], 2, 23)
    with torch.no_grad():
        o = net(x)
        x2 = x.clone()
        x2[:, :, :, 96:] = 5.0            # the last 8 columns are not part of any patch
        o2 = net(x2)
    e, _m = np_vit(net.state_dict(), cfg, x)
    err = rel_err(o, e)
    return (cfg["ground_hw"] == (32, 104) and net.grid == (2, 6) and torch.equal(o, o2) and err < 2e-5,
            "grid %s, rel err %.3g, remainder ignored %s" % (net.grid, err, torch.equal(o, o2)))


t.run("ground 32x104 (like CVUSA 112x616): grid = W // 16, the 8-px remainder is ignored", test_ground_remainder)


def test_map_summation_order():
    with torch.no_grad():
        x = torch.cat([net_s.cls_token.expand(2, -1, -1), net_s.dist_token.expand(2, -1, -1),
                       net_s.patch_embed(xs)], 1) + net_s.pos_embed
        for blk in net_s.blocks[:-1]:
            x = blk(x)
        att, _v = net_s.blocks[-1].attn.probs(net_s.blocks[-1].norm1(x))
        _o, m = net_s.forward_scan(xs)
    a = att.numpy()
    rows = []
    for r in range(2):
        acc = a[:, 0, r, 2:].copy()
        for h in range(1, a.shape[1]):
            acc = (acc + a[:, h, r, 2:]).astype(np.float32)
        rows.append(acc)
    mine = (rows[0] + rows[1]).astype(np.float32).reshape(m.shape)
    return np.array_equal(mine, m.numpy()), "max diff %g" % np.max(np.abs(mine - m.numpy()))


t.run("scan map = float32 sum over heads in order (per cls/dist row), then cls row + dist row, bitwise",
      test_map_summation_order)


def test_quantize():
    m = np.array([[[3.0, 1.5, 0.3], [2.9999, 0.0, 1.0]]], dtype=np.float32)
    got = ref.quantize_map(m)
    want = np.array([[[255, 127, 25], [254, 0, 85]]], dtype=np.uint8)
    # and the formula itself, for random maps
    r = np.random.default_rng(5).random((3, 4, 4)).astype(np.float32)
    ok2 = all(np.array_equal(ref.quantize_map(r)[j],
                             (np.float32(255) * (r[j] / r[j].max())).astype(np.float32).astype(np.uint8))
              for j in range(3))
    return np.array_equal(got, want) and ok2, "got %s" % got.tolist()


t.run("quantize_map: uint8(float32(float32(m/max)*255)), truncating, per image", test_quantize)


def test_n_keep():
    cases = {(0.64, 25): 16, (0.64, 400): 256, (0.64, 625): 400, (0.64, 256): 163, (1.0, 16): 16}
    got = {k: ref.n_keep(*k) for k in cases}
    return got == cases, str(got)


t.run("K = int(crop_ratio * n): tiny 16/25, cvusa 256/400, vigor 400/625", test_n_keep)


def test_tie_order():
    c = ref.make_config("tiny", "self")          # scan grid == zoom grid: identity resize
    net = ref.random_net(c, c["zoom_hw"], 9)
    v = [5, 9, 5, 9, 5, 9, 5, 9, 5, 9, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 5, 5, 5, 5, 5]
    u8 = np.array(v, dtype=np.uint8).reshape(1, 5, 5)
    keep, mz = net.zoom_order(u8)
    want = [8, 20, 21, 22, 23, 24, 1, 3, 5, 7, 9, 15, 16, 17, 18, 19]
    same_grid = np.array_equal(mz.numpy(), (u8.astype(np.float32) / np.float32(255)))
    return keep[0].tolist() == want and same_grid, "keep %s" % keep[0].tolist()


t.run("zoom order: stable ascending sort, last K kept; among ties at the cut the higher index is kept",
      test_tie_order)


def _np_resize_weights(insz, outsz):
    scale = float(np.float32(insz) / np.float32(outsz))
    out = []
    for d in range(outsz):
        src = max(scale * (d + 0.5) - 0.5, 0.0)
        i0 = int(src)
        i1 = i0 + (1 if i0 < insz - 1 else 0)
        l1 = np.float32(min(max(src - i0, 0.0), 1.0))
        out.append((i0, i1, np.float32(np.float32(1) - l1), l1))
    return out


def _comb(t0, w0, t1, w1, fma):
    if fma:   # fmaf(t0, w0, t1*w1): exact product, one rounding (emulated in float64)
        return np.float32(float(t0) * float(w0) + float(np.float32(t1 * w1)))
    return np.float32(np.float32(t0 * w0) + np.float32(t1 * w1))


def np_bilinear(img, oh, ow, fma):
    hw_, ww_ = _np_resize_weights(img.shape[0], oh), _np_resize_weights(img.shape[1], ow)
    out = np.zeros((oh, ow), np.float32)
    for y, (h0, h1, a0, a1) in enumerate(hw_):
        for x, (w0, w1, b0, b1) in enumerate(ww_):
            r0 = _comb(img[h0, w0], b0, img[h0, w1], b1, fma)
            r1 = _comb(img[h1, w0], b0, img[h1, w1], b1, fma)
            out[y, x] = _comb(r0, a0, r1, a1, fma)
    return out


def test_bilinear():
    rng = np.random.default_rng(11)
    res = {}
    for fma in (True, False):
        ok = True
        for ih, oh in ((4, 5), (16, 20), (20, 25)):
            c = dict(ref.preset_config("tiny"), zoom=1, aerial_hw=(16 * ih,) * 2, zoom_hw=(16 * oh,) * 2)
            net = ref.DistilledViT(c, c["zoom_hw"])
            for _ in range(3):
                u8 = rng.integers(0, 256, (2, ih, ih)).astype(np.uint8)
                _k, mz = net.zoom_order(u8)
                for b in range(2):
                    a = (u8[b].astype(np.float32) / np.float32(255)).astype(np.float32)
                    ok &= np.array_equal(np_bilinear(a, oh, oh, fma), mz[b].numpy())
        res[fma] = ok
    form = "fmaf(t0,w0,t1*w1)" if res[True] else ("t0*w0 + t1*w1 (no FMA)" if res[False] else "neither")
    t.diag("bilinear map resize of this PyTorch build: " + form)
    return res[True] or res[False], "matches neither the FMA nor the plain formula"


t.run("map resize = documented bilinear formula (align_corners=False, float32 weights), bitwise",
      test_bilinear)


def test_zoom_vs_numpy():
    u8 = ref.quantize_map(net_s.forward_scan(xs)[1])
    with torch.no_grad():
        out, keep, _mz = net_z.forward_zoom(xz, u8)
    e, _m = np_vit(net_z.state_dict(), cfg, xz, keep=keep.numpy())
    err = rel_err(out, e)
    return err < 2e-5 and keep.shape == (2, 16), "rel err %.3g" % err


t.run("zoom pass (kept tokens, each with its own pos_embed) = float64 numpy", test_zoom_vs_numpy)


def test_zoom_all_equals_forward():
    c = dict(cfg, crop_ratio=1.0)
    net = ref.DistilledViT(c, c["zoom_hw"])
    net.load_state_dict(net_z.state_dict())
    net.eval()
    u8 = ref.quantize_map(net_s.forward_scan(xs)[1])
    with torch.no_grad():
        out, keep, _mz = net.forward_zoom(xz, u8)
        plain = net(xz)
    perm = sorted(keep[0].tolist()) == list(range(25)) and keep[0].tolist() != list(range(25))
    err = rel_err(out, plain)
    return err < 1e-5 and perm, "rel err %.3g" % err


t.run("zoom with crop 1 keeps every patch (permuted) and equals the plain forward", test_zoom_all_equals_forward)


def test_presets():
    msgs = []
    for name in ("cvusa", "vigor", "tiny"):
        for mode in ("zoom", "self", "nozoom"):
            c = ref.make_config(name, mode)
            m = ref.TransGeo(c)
            got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
            if got != ref.model_shapes(c):
                msgs.append("%s/%s: state_dict shapes differ from model_shapes" % (name, mode))
            del m
    cv, vg = ref.preset_config("cvusa"), ref.preset_config("vigor")
    gsd19 = 156543.03392 * math.cos(math.radians(39.83)) / 2 ** 19
    checks = [
        (cv["ground_hw"], (112, 616)), (cv["aerial_hw"], (256, 256)), (cv["zoom_hw"], (320, 320)),
        (vg["ground_hw"], (320, 640)), (vg["aerial_hw"], (320, 320)), (vg["zoom_hw"], (400, 400)),
        (round(gsd19, 4), cv["aerial_gsd_m"]), (round(750 * cv["aerial_gsd_m"], 6), cv["aerial_tile_m"]),
        (round(640 * vg["aerial_gsd_m"], 6), vg["aerial_tile_m"]), (cv["crop_ratio"], 0.64),
    ]
    for a, b in checks:
        if a != b:
            msgs.append("%r != %r" % (a, b))
    return not msgs, "\n".join(msgs)


t.run("presets: official sizes (CVUSA 112x616/256/320, VIGOR 320x640/320/400), GSDs, shapes of every net",
      test_presets)


def test_metadata_roundtrip():
    bad = []
    for name in ("cvusa", "vigor", "tiny"):
        for mode in ("zoom", "self", "nozoom", "nozoom2"):
            c = ref.make_config(name, mode, source="x")
            meta = ref.config_to_metadata(c)
            if not all(isinstance(v, str) for v in meta.values()):
                bad.append("%s/%s non-string" % (name, mode))
            back = ref.metadata_to_config(meta)
            back.pop("arch")
            if back != c:
                bad.append("%s/%s round trip" % (name, mode))
    m = ref.config_to_metadata(ref.make_config("cvusa", "nozoom"))
    want = {"embed_dim": "384", "depth": "12", "heads": "6", "mlp_dim": "1536", "patch": "16",
            "ln_eps": "1e-06", "tokens": "cls+dist", "out_dim": "1000", "ground_hw": "112,616",
            "aerial_hw": "256,256", "zoom_hw": "256,256", "crop_ratio": "1", "zoom": "0",
            "ground_fov_deg": "360", "normalize_mean": "0.485,0.456,0.406",
            "normalize_std": "0.229,0.224,0.225", "preset": "cvusa", "arch": "transgeo"}
    for k, v in want.items():
        if m.get(k) != v:
            bad.append("%s=%r, expected %r" % (k, m.get(k), v))
    return not bad, "\n".join(bad)


t.run("config <-> metadata: all strings, TEAM_NOTES spelling (\"1e-06\", \"112,616\", zoom \"0\", crop \"1\")",
      test_metadata_roundtrip)


def test_safetensors_roundtrip():
    d = scratch()
    try:
        rng = np.random.default_rng(1)
        tensors = {"b.x": rng.standard_normal((3, 5)).astype(np.float32),
                   "a.y": rng.standard_normal((7,)).astype(np.float32),
                   "c": np.zeros((0, 4), np.float32), "a.z": rng.standard_normal((2, 1, 3)).astype(np.float32)}
        p = os.path.join(d, "m.safetensors")
        digest = sio.write_safetensors(p, tensors, {"k": "v", "preset": "tiny"})
        back, meta = sio.read_safetensors(p)
        header, start = sio.read_header(p)
        raw = open(p, "rb").read()
        names = [k for k in sorted(header, key=lambda k: header[k]["data_offsets"][0] if k != "__metadata__" else -1)
                 if k != "__metadata__"]
        checks = {
            "values": all(np.array_equal(back[k], v) for k, v in tensors.items()) and set(back) == set(tensors),
            "metadata": meta["k"] == "v" and meta["format"] == "transgeo-safetensors-1" and meta["sha256"] == digest,
            "sha256": hashlib.sha256(raw[start:]).hexdigest() == digest,
            "aligned": start % 64 == 0 and all(header[k]["data_offsets"][0] % 4 == 0 for k in names),
            "contiguous": all(header[a]["data_offsets"][1] == header[b]["data_offsets"][0]
                              for a, b in zip(names, names[1:])),
            "sorted": names == sorted(names),
            "u64 header": int.from_bytes(raw[:8], "little") == start - 8,
        }
        # a flipped data byte is caught by the sha256
        bad = bytearray(raw)
        bad[start + header["b.x"]["data_offsets"][0]] ^= 1
        open(p + ".bad", "wb").write(bytes(bad))
        try:
            sio.read_safetensors(p + ".bad")
            checks["tamper detected"] = False
        except sio.SafetensorsError as e:
            checks["tamper detected"] = "sha256" in str(e)
        open(p + ".short", "wb").write(raw[:len(raw) - 10])
        try:
            sio.read_safetensors(p + ".short")
            checks["truncation detected"] = False
        except sio.SafetensorsError as e:
            checks["truncation detected"] = "truncated" in str(e)
        try:
            sio.write_safetensors(p, {"x": np.zeros(2, np.float64)}, {})
            checks["float64 refused"] = False
        except sio.SafetensorsError:
            checks["float64 refused"] = True
        failed = [k for k, v in checks.items() if not v]
        return not failed, "failed: %s" % failed
    finally:
        shutil.rmtree(d, ignore_errors=True)


t.run("safetensors write/read round trip: sorted, contiguous, data section 64-byte aligned, string metadata, sha256 of data section",
      test_safetensors_roundtrip)


def test_golden_model_reproduces_outputs():
    m = ref.load_model(os.path.join(GOLDEN, "tiny", "model.safetensors"))
    g = {n[:-4]: np.load(os.path.join(GOLDEN, "tiny", n)) for n in os.listdir(os.path.join(GOLDEN, "tiny"))
         if n.endswith(".npy")}
    with torch.no_grad():
        og = m.embed_ground(torch.from_numpy(g["ground_in"]))
        oa, det = m.embed_aerial(torch.from_numpy(g["aerial_zoom_in"]), torch.from_numpy(g["aerial_scan_in"]))
        onz = m.embed_aerial_nozoom(torch.from_numpy(g["aerial_scan_in"]))
    errs = {"ground": rel_err(og, g["ground_out"]), "aerial": rel_err(oa, g["aerial_out"]),
            "nozoom": rel_err(onz, g["aerial_nozoom_out"]), "map": rel_err(det["map"], g["attention"])}
    exact = (np.array_equal(det["map_u8"], g["attention_u8"]) and np.array_equal(det["keep"].numpy(), g["keep"])
             and np.array_equal(det["map_zoom"].numpy(), g["attention_zoom"]))
    return max(errs.values()) < 1e-6 and exact, "errs %s, exact u8/keep/zoom map %s" % (errs, exact)


t.run("golden tiny model.safetensors loads and reproduces the golden outputs", test_golden_model_reproduces_outputs)


def _compare_dirs(a, b, exact_names=()):
    diffs = []
    for name in sorted(os.listdir(a)):
        pa, pb = os.path.join(a, name), os.path.join(b, name)
        if not os.path.exists(pb):
            diffs.append("%s missing in re-run" % name)
            continue
        if name.endswith(".npy"):
            x, y = np.load(pa), np.load(pb)
            if x.dtype != y.dtype or x.shape != y.shape:
                diffs.append("%s: dtype/shape differ" % name)
            elif x.dtype.kind in "iu" or name[:-4] in exact_names:
                if not np.array_equal(x, y):
                    diffs.append("%s differs" % name)
            elif rel_err(x, y) > 1e-6:
                diffs.append("%s: rel err %.3g" % (name, rel_err(x, y)))
        elif name.endswith(".png"):
            from PIL import Image
            with Image.open(pa) as ia, Image.open(pb) as ib:
                if not np.array_equal(np.asarray(ia.convert("RGB")), np.asarray(ib.convert("RGB"))):
                    diffs.append("%s pixels differ" % name)
        elif open(pa, "rb").read() != open(pb, "rb").read():
            diffs.append("%s bytes differ" % name)
    for name in os.listdir(b):
        if not os.path.exists(os.path.join(a, name)):
            diffs.append("%s is new in the re-run" % name)
    return diffs


def test_golden_reproducible():
    import make_golden
    d = scratch()
    try:
        with open(os.devnull, "w") as null:
            old = sys.stdout
            sys.stdout = null
            try:
                make_golden.main(["--outdir", d, "--what", "tiny,preprocess",
                                  "--png", os.path.join(GOLDEN, "preprocess", "photo.png")])
            finally:
                sys.stdout = old
        diffs = _compare_dirs(os.path.join(GOLDEN, "tiny"), os.path.join(d, "tiny"),
                              exact_names=("ground_in", "aerial_scan_in", "aerial_zoom_in", "attention_zoom",
                                           "selfscan_attention_u8"))
        diffs += _compare_dirs(os.path.join(GOLDEN, "preprocess"), os.path.join(d, "preprocess"),
                               exact_names=("tensor_down", "tensor_up", "tensor_mixed", "tensor_same"))
        return not diffs, "\n".join(diffs)
    finally:
        shutil.rmtree(d, ignore_errors=True)


t.run("tests/golden is reproduced by tools/make_golden.py (model bytes, keep/u8 exact, floats 1e-6)",
      test_golden_reproducible)


def test_golden_png_from_photo():
    import make_golden
    photo = make_golden.default_photo()
    if photo is None:
        return None
    d = scratch()
    try:
        p = os.path.join(d, "photo.png")
        make_golden.make_photo_png(photo, p)
        from PIL import Image
        with Image.open(p) as a, Image.open(os.path.join(GOLDEN, "preprocess", "photo.png")) as b:
            same = np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
            return same and a.size == (97, 61), "pixels differ (another JPEG decoder?)"
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __import__("make_golden").default_photo() is None:
    t.skip("golden photo.png is the documented crop of shared/data/photos/01.jpg", "shared/data not found")
else:
    t.run("golden photo.png is the documented crop of shared/data/photos/01.jpg", test_golden_png_from_photo)

sys.exit(t.done())
