#!/usr/bin/python3
"""tests/test_convert.py: tools/convert_checkpoint.py on official-format
checkpoints made by tools/make_test_checkpoint.py (preset tiny).  TAP.

Covers the three kinds of output (zoom, no zoom, stage-2 self-scan
fallback), tensor provenance, metadata, and every refusal: wrong shape,
wrong dtype, missing / unexpected tensor, truncated file, missing file,
wrong preset, wrong stage for --scan; a refused conversion leaves no file.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(TOP_SRCDIR, "tools")
sys.path.insert(0, os.path.join(TOOLS, "reference"))
sys.path.insert(0, TOOLS)
import convert_checkpoint as cc  # noqa: E402
import make_test_checkpoint as mtc  # noqa: E402
import safetensors_io as sio  # noqa: E402
import transgeo_ref as ref  # noqa: E402
from taplib import Tap  # noqa: E402

torch.set_num_threads(1)
t = Tap()
base = os.environ.get("TG_TMPDIR")
if base:
    os.makedirs(base, exist_ok=True)
D = tempfile.mkdtemp(prefix="test_convert.", dir=base or None)
S1, S2 = os.path.join(D, "stage1.pth.tar"), os.path.join(D, "stage2.pth.tar")


def run(argv):
    """convert_checkpoint.main in-process: (exit code, stderr text)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = cc.main(argv)
        except SystemExit as e:
            rc = e.code
    return rc, err.getvalue()


def out(name):
    return os.path.join(D, name)


def sd_of(path):
    return torch.load(path, map_location="cpu")["state_dict"]


# --- checkpoints --------------------------------------------------------------

def test_checkpoints():
    for stage, p in ((1, S1), (2, S2)):
        rc = mtc.main(["--preset", "tiny", "--seed", "1", "--stage", str(stage), "-o", p])
        if rc:
            return False, "make_test_checkpoint failed"
    c1, c2 = torch.load(S1, map_location="cpu"), torch.load(S2, map_location="cpu")
    keys = set(c1) == {"epoch", "state_dict", "best_acc1", "optimizer"} == set(c2)
    names = list(c2["state_dict"])
    cfg = ref.preset_config("tiny")
    q = ["module.query_net." + k for k in ref.net_shapes(cfg, cfg["ground_hw"])]
    prefixes = all(k.startswith("module.query_net.") or k.startswith("module.reference_net.") for k in names)
    order = names[:3] == ["module.query_net.cls_token", "module.query_net.pos_embed", "module.query_net.dist_token"]
    grids = (list(c1["state_dict"]["module.reference_net.pos_embed"].shape) == [1, 18, 32]
             and list(c2["state_dict"]["module.reference_net.pos_embed"].shape) == [1, 27, 32]
             and list(c2["state_dict"]["module.query_net.pos_embed"].shape) == [1, 14, 32])
    differ = not torch.equal(c1["state_dict"]["module.query_net.head.weight"],
                             c2["state_dict"]["module.query_net.head.weight"])
    ok = keys and prefixes and order and grids and differ and set(q) <= set(names)
    return ok, "keys %s prefixes %s order %s grids %s differ %s" % (keys, prefixes, order, grids, differ)


t.run("make_test_checkpoint: official format (epoch/state_dict/best_acc1/optimizer, module.query_net.*, "
      "timm order), stage-1 grid 4x4, stage-2 grid 5x5", test_checkpoints)


# --- the three kinds of model ------------------------------------------------------

def test_zoom():
    rc, err = run(["--preset", "tiny", S2, "--scan", S1, "-o", out("zoom.safetensors")])
    if rc != 0:
        return False, err
    tensors, meta = sio.read_safetensors(out("zoom.safetensors"))
    s1, s2 = sd_of(S1), sd_of(S2)
    want = {}
    for k, v in s2.items():
        want[k.replace("module.query_net.", "ground.").replace("module.reference_net.", "aerial.")] = v
    for k, v in s1.items():
        if k.startswith("module.reference_net."):
            want[k.replace("module.reference_net.", "aerial_scan.")] = v
    same = set(tensors) == set(want) and all(np.array_equal(tensors[k], want[k].numpy()) for k in want)
    m = {k: meta.get(k) for k in ("zoom", "crop_ratio", "aerial_hw", "zoom_hw", "ground_hw", "preset",
                                  "zoom_fallback")}
    mok = m == {"zoom": "1", "crop_ratio": "0.64", "aerial_hw": "64,64", "zoom_hw": "80,80",
                "ground_hw": "32,104", "preset": "tiny", "zoom_fallback": None}
    src = meta["source"]
    sha = (cc.file_sha256(S1) in src and cc.file_sha256(S2) in src and "stage1.pth.tar" in src
           and meta["sha256"] == sio.data_sha256(out("zoom.safetensors")))
    return same and mok and sha, "tensors %s meta %s source/sha %s" % (same, m, sha)


t.run("zoom model: ground<-stage-2 query_net, aerial<-stage-2 reference_net, aerial_scan<-stage-1 "
      "reference_net, bit for bit; zoom 1, crop 0.64, source + sha256", test_zoom)


def test_zoom_equals_golden():
    g = os.path.join(TOP_SRCDIR, "tests", "golden", "tiny", "model.safetensors")
    return sio.data_sha256(g) == sio.data_sha256(out("zoom.safetensors")), "data sections differ"


t.run("converted seed-1 tiny checkpoints = tests/golden/tiny/model.safetensors tensor data", test_zoom_equals_golden)


def test_nozoom():
    rc, err = run(["--preset", "tiny", S1, "-o", out("nozoom.safetensors")])
    if rc != 0:
        return False, err
    tensors, meta = sio.read_safetensors(out("nozoom.safetensors"))
    m = {k: meta.get(k) for k in ("zoom", "crop_ratio", "aerial_hw", "zoom_hw", "zoom_fallback")}
    ok = (m == {"zoom": "0", "crop_ratio": "1", "aerial_hw": "64,64", "zoom_hw": "64,64", "zoom_fallback": None}
          and not any(k.startswith("aerial_scan.") for k in tensors)
          and list(tensors["aerial.pos_embed"].shape) == [1, 18, 32])
    return ok, str(m)


t.run("stage-1 checkpoint alone: no-zoom model (zoom 0, crop 1, zoom_hw = aerial_hw, no aerial_scan)", test_nozoom)


def test_self():
    rc, err = run(["--preset", "tiny", S2, "-o", out("self.safetensors")])
    if rc != 0:
        return False, err
    tensors, meta = sio.read_safetensors(out("self.safetensors"))
    m = {k: meta.get(k) for k in ("zoom", "crop_ratio", "aerial_hw", "zoom_hw", "zoom_fallback")}
    ok = (m == {"zoom": "0", "crop_ratio": "0.64", "aerial_hw": "80,80", "zoom_hw": "80,80", "zoom_fallback": "self"}
          and not any(k.startswith("aerial_scan.") for k in tensors) and "zoom_fallback=self" in err)
    rc2, err2 = run(["--preset", "tiny", S2, "--stage2-fallback", "none", "-o", out("none.safetensors")])
    _t2, meta2 = sio.read_safetensors(out("none.safetensors"))
    m2 = {k: meta2.get(k) for k in ("zoom", "crop_ratio", "aerial_hw", "zoom_hw", "zoom_fallback")}
    ok2 = rc2 == 0 and m2 == {"zoom": "0", "crop_ratio": "1", "aerial_hw": "80,80", "zoom_hw": "80,80",
                              "zoom_fallback": "none"}
    return ok and ok2, "self %s / none %s" % (m, m2)


t.run("stage-2 checkpoint alone: zoom 0 + zoom_fallback self, crop 0.64, aerial_hw = zoom_hw, noted on "
      "stderr; --stage2-fallback none: zoom_fallback none, crop 1", test_self)


def test_self_runs():
    m = ref.load_model(out("self.safetensors"))
    _q, r = mtc.make_nets("tiny", 1, 2)
    x = ref.make_input((80, 80), 2, 6)
    with torch.no_grad():
        o, det = m.embed_aerial(x)
        _o, mp = r.forward_scan(x)
        o2, keep, _mz = r.forward_zoom(x, ref.quantize_map(mp))
    return torch.equal(o, o2) and torch.equal(det["keep"], keep) and keep.shape == (2, 16), "differ"


t.run("self-scan model runs the stage-2 net's own scan, keeps 16 of 25 and zooms", test_self_runs)


def test_loads_and_runs():
    m = ref.load_model(out("zoom.safetensors"))
    q, _r = mtc.make_nets("tiny", 1, 2)
    x = ref.make_input((32, 104), 2, 5)
    with torch.no_grad():
        return torch.equal(m.embed_ground(x), q(x)), "outputs differ"


t.run("converted model loads in the reference and gives the checkpoint net's output", test_loads_and_runs)


# --- refusals ------------------------------------------------------------------

def modified(name, fn):
    """Copy of the stage-2 checkpoint with fn(state_dict) applied."""
    c = torch.load(S2, map_location="cpu")
    fn(c["state_dict"])
    p = out(name)
    torch.save(c, p)
    return p


def refused(desc, argv, needles, outname):
    def test():
        rc, err = run(argv)
        left = os.path.exists(out(outname)) or os.path.exists(out(outname) + ".tmp")
        ok = rc == 1 and all(n in err for n in needles) and not left
        return ok, "rc %r, output left %s, stderr: %s" % (rc, left, err.strip())
    t.run(desc, test)


def transpose_fc1(sd):
    k = "module.reference_net.blocks.1.mlp.fc1.weight"
    sd[k] = sd[k].t().contiguous()


p = modified("badshape.pth.tar", transpose_fc1)
refused("wrong shape: refused, message names the tensor and the expected shape",
        ["--preset", "tiny", p, "--scan", S1, "-o", out("x1.safetensors")],
        ["'module.reference_net.blocks.1.mlp.fc1.weight'", "[32, 64]", "expected [64, 32]"], "x1.safetensors")

p = modified("missing.pth.tar", lambda sd: sd.pop("module.query_net.head_dist.bias"))
refused("missing tensor: refused, message names it",
        ["--preset", "tiny", p, "-o", out("x2.safetensors")],
        ["'module.query_net.head_dist.bias'", "missing"], "x2.safetensors")

p = modified("extra.pth.tar", lambda sd: sd.__setitem__("module.query_net.blocks.2.norm1.weight", torch.ones(32)))
refused("unexpected tensor (a third block): refused, message names it",
        ["--preset", "tiny", p, "-o", out("x3.safetensors")],
        ["'module.query_net.blocks.2.norm1.weight'", "unexpected"], "x3.safetensors")

p = modified("stray.pth.tar", lambda sd: sd.__setitem__("module.polar.weight", torch.ones(1)))
refused("tensor outside query_net/reference_net: refused",
        ["--preset", "tiny", p, "-o", out("x4.safetensors")], ["'module.polar.weight'"], "x4.safetensors")


def to_half(sd):
    sd["module.query_net.norm.weight"] = sd["module.query_net.norm.weight"].half()


p = modified("half.pth.tar", to_half)
refused("float16 tensor: refused (no silent conversion)",
        ["--preset", "tiny", p, "-o", out("x5.safetensors")],
        ["'module.query_net.norm.weight'", "float16", "float32"], "x5.safetensors")


def nan(sd):
    sd["module.reference_net.head.bias"][3] = float("nan")


p = modified("nan.pth.tar", nan)
refused("NaN in a tensor: refused", ["--preset", "tiny", p, "-o", out("x6.safetensors")],
        ["'module.reference_net.head.bias'", "NaN"], "x6.safetensors")

data = open(S2, "rb").read()
open(out("trunc.pth.tar"), "wb").write(data[:len(data) // 2])
refused("truncated checkpoint: refused with a clear message",
        ["--preset", "tiny", out("trunc.pth.tar"), "-o", out("x7.safetensors")],
        ["trunc.pth.tar", "cannot be read"], "x7.safetensors")

refused("missing checkpoint file: refused", ["--preset", "tiny", out("nope.pth.tar"), "-o", out("x8.safetensors")],
        ["nope.pth.tar", "no such file"], "x8.safetensors")

torch.save({"model": sd_of(S2)}, out("nostate.pth.tar"))
refused("no 'state_dict' entry: refused", ["--preset", "tiny", out("nostate.pth.tar"), "-o", out("x9.safetensors")],
        ["'state_dict'"], "x9.safetensors")

refused("wrong preset: refused, names pos_embed and suggests --preset",
        ["--preset", "cvusa", S2, "-o", out("x10.safetensors")],
        ["'module.reference_net.pos_embed'", "wrong --preset"], "x10.safetensors")

refused("--scan with a stage-1 main checkpoint: refused",
        ["--preset", "tiny", S1, "--scan", S1, "-o", out("x11.safetensors")], ["stage-1", "--scan"], "x11.safetensors")

refused("--scan file that is stage 2: refused",
        ["--preset", "tiny", S2, "--scan", S2, "-o", out("x12.safetensors")], ["stage-2", "--scan"], "x12.safetensors")


def test_usage():
    rc, _err = run(["--preset", "tiny", S2])
    return rc == 2, "rc %r" % rc


t.run("usage error (no -o): exit 2", test_usage)


def test_cli():
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_checkpoint.py"), "--help"],
                       capture_output=True, text=True)
    r2 = subprocess.run([sys.executable, os.path.join(TOOLS, "convert_checkpoint.py"), "--preset", "tiny",
                         S2, "--scan", S1, "-o", out("cli.safetensors")], capture_output=True, text=True)
    ok = (r.returncode == 0 and "zoom_fallback" in r.stdout and "--scan" in r.stdout
          and r2.returncode == 0 and "sha256" in r2.stdout)
    return ok, r.stderr + r2.stderr


t.run("command line: --help documents the fallback; a conversion exits 0", test_cli)

shutil.rmtree(D, ignore_errors=True)
sys.exit(t.done())
