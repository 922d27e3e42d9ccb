#!/usr/bin/python3
"""End-to-end parity of the C engine (`transgeo embed`) with the PyTorch
reference (tools/reference/transgeo_ref.py).  Prints TAP.

    parity_check.py --preset cvusa|vigor|tiny --transgeo PATH/transgeo [--workdir DIR]
                    [--seed S] [--keep-workdir]

1. makes fixed-seed stage-1 and stage-2 checkpoints in the official format
   (make_test_checkpoint.py) and converts them (convert_checkpoint.py) into
     zoom.safetensors    stage 2 + --scan stage 1   (zoom "1")
     nozoom.safetensors  stage 1 alone               (zoom "0")
     self.safetensors    stage 2 alone               (zoom "0", zoom_fallback "self")
2. runs the reference on fixed-seed normalised inputs (batch 2) and the CLI:
     transgeo embed --model M --branch ground --npy G.npy -o OUT.npy
     transgeo embed --model M --branch aerial --npy ZOOM.npy --scan-npy SCAN.npy
                    -o OUT.npy --dump-attention ATT.npy
     ... the zoom pass with --keep-npy KEEP.npy   (kept patch indices given: the reference's)
     transgeo embed --model M --branch aerial --npy SCAN.npy --no-zoom -o OUT.npy
   (OUT: the raw model output [B,out_dim] float32; ATT: the stage-1 map
   [B,gh,gw] float32 (uint8 accepted: then compared with the quantised map);
   KEEP: [B,K] integer indices in token order).
3. checks, per output: max|C - ref| <= 1e-4 * max|ref|, cosine >= 0.99999
   per row and max|difference| of the L2-normalised outputs <= 1e-4 (DESIGN
   section 4); attention map: max|C - ref| <= 1e-5 * max|ref|; kept indices:
   the same set and the same order as the reference (stable ascending order of
   the resized map; among equal values at the cut the higher index is kept).
   Ties at the cut are detected and reported.

Exits 1 when the CLI is missing or any check fails.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
sys.path.insert(0, HERE)
import convert_checkpoint as cc  # noqa: E402
import make_test_checkpoint as mtc  # noqa: E402
import transgeo_ref as ref  # noqa: E402
from taplib import Tap  # noqa: E402

TOL_OUT = 1e-4      # max|C - ref| / max|ref|
TOL_COS = 0.99999   # per-row cosine
TOL_ATT = 1e-5      # attention map, relative to its max


def compare_out(c, r):
    c = np.asarray(c, dtype=np.float64)
    r = np.asarray(r, dtype=np.float64)
    if c.shape != r.shape:
        return False, "shape %s, expected %s" % (list(c.shape), list(r.shape))
    rel = np.max(np.abs(c - r)) / np.max(np.abs(r))
    cos = np.sum(c * r, 1) / (np.linalg.norm(c, axis=1) * np.linalg.norm(r, axis=1))
    cn = c / np.linalg.norm(c, axis=1, keepdims=True)
    rn = r / np.linalg.norm(r, axis=1, keepdims=True)
    nd = np.max(np.abs(cn - rn))
    msg = "max|C-ref|/max|ref| %.3g (<= %g), min cosine %.8f (>= %g), max|diff| of L2-normalised %.3g (<= %g)" % (
        rel, TOL_OUT, cos.min(), TOL_COS, nd, TOL_OUT)
    return bool(rel <= TOL_OUT and cos.min() >= TOL_COS and nd <= TOL_OUT), msg


def cut_ties(map_zoom, k):
    """Per image: (tie at the cut?, last dropped value, first kept value)."""
    out = []
    for b in range(map_zoom.shape[0]):
        v = np.sort(np.asarray(map_zoom[b]).reshape(-1), kind="stable")
        n = v.size
        out.append((bool(v[n - k - 1] == v[n - k]) if k < n else False,
                    float(v[n - k - 1]) if k < n else float("nan"), float(v[n - k])))
    return out


class Parity:
    def __init__(self, args, tap):
        self.a = args
        self.t = tap
        self.cli = args.transgeo
        self.wd = args.workdir

    def path(self, name):
        return os.path.join(self.wd, name)

    def embed(self, argv, outs):
        """Run `transgeo embed ARGV`; returns (ok, message)."""
        for o in outs:
            if os.path.exists(o):
                os.unlink(o)
        cmd = [self.cli, "embed"] + argv
        t0 = time.time()
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=self.a.timeout)
        except subprocess.TimeoutExpired:
            return False, "timed out after %ds: %s" % (self.a.timeout, " ".join(cmd))
        except OSError as e:
            return False, "cannot run %s: %s" % (self.cli, e)
        self.t.diag("%s  (%.1fs, exit %d)" % (" ".join(cmd), time.time() - t0, r.returncode))
        if r.returncode != 0:
            return False, "exit %d: %s" % (r.returncode, (r.stderr or r.stdout).strip())
        missing = [o for o in outs if not os.path.exists(o)]
        if missing:
            return False, "exit 0 but did not write %s" % missing
        return True, ""

    def check_embed(self, desc, argv, out, want):
        ok, msg = self.embed(argv + ["-o", out], [out])
        if not ok:
            return self.t.ok(False, desc, msg)
        ok, msg = compare_out(np.load(out), want)
        return self.t.ok(ok, "%s: %s" % (desc, msg) if ok else desc, None if ok else msg)

    def check_keep(self, desc, c_keep, det, k, cfg):
        ref_keep = det["keep"].numpy()
        ties = cut_ties(det["map_zoom"].numpy(), k)
        tie_txt = "; ".join("image %d: %s (dropped %.9g / kept %.9g)" % (b, "TIE at the cut" if tt else "no tie",
                                                                       lo, hi)
                            for b, (tt, lo, hi) in enumerate(ties))
        c_keep = np.asarray(c_keep)
        if c_keep.dtype.kind not in "iu":
            return self.t.ok(False, desc, "kept indices have dtype %s, expected integers" % c_keep.dtype)
        if c_keep.shape != ref_keep.shape:
            return self.t.ok(False, desc, "kept indices shape %s, expected %s" % (list(c_keep.shape),
                                                                                  list(ref_keep.shape)))
        sets = all(set(c_keep[b].tolist()) == set(ref_keep[b].tolist()) for b in range(ref_keep.shape[0]))
        why = ""
        if not sets:
            why = ("sets differ: C-only %s, ref-only %s; " %
                   ([sorted(set(c_keep[b].tolist()) - set(ref_keep[b].tolist())) for b in range(len(ref_keep))],
                    [sorted(set(ref_keep[b].tolist()) - set(c_keep[b].tolist())) for b in range(len(ref_keep))]))
            if any(tt for tt, _l, _h in ties):
                why += "there is a tie at the cut: ties must be broken by index (stable ascending sort, " \
                       "higher index kept); "
        self.t.ok(sets, "%s: same kept-patch sets (%d of %d; %s)" % (desc, k, cfg_patches(cfg), tie_txt),
                  why + tie_txt if not sets else None)
        order = np.array_equal(c_keep.astype(np.int64), ref_keep)
        self.t.ok(order, "%s: same token order (ascending resized attention, stable)" % desc,
                  None if order else "C %s\nref %s" % (c_keep.tolist(), ref_keep.tolist()))

    def run(self):
        a, t = self.a, self.t
        if not (os.path.isfile(self.cli) and os.access(self.cli, os.X_OK)):
            t.ok(False, "transgeo CLI found", "'%s' is not an executable file: build it first (make), "
                                              "or pass --transgeo PATH" % self.cli)
            return
        r = subprocess.run([self.cli, "embed", "--help"], capture_output=True, text=True)
        if not t.ok(r.returncode == 0, "transgeo embed --help works (%s)" % self.cli,
                    "exit %d: %s" % (r.returncode, (r.stderr or r.stdout).strip()[:2000])):
            return
        help_txt = r.stdout + r.stderr
        missing_flags = [f for f in ("--model", "--branch", "--npy", "--scan-npy", "--keep-npy", "--no-zoom",
                                     "--dump-attention") if f not in help_txt]
        if missing_flags:
            t.diag("transgeo embed --help does not mention %s" % missing_flags)

        torch.set_num_threads(1)
        p = a.preset
        s1, s2 = self.path("stage1.pth.tar"), self.path("stage2.pth.tar")
        t0 = time.time()
        for stage, f in ((1, s1), (2, s2)):
            torch.save(mtc.make_checkpoint(p, a.seed, stage), f)
        models = {}
        for name, ck, scan in (("zoom", s2, s1), ("nozoom", s1, None), ("self", s2, None)):
            out = self.path(name + ".safetensors")
            try:
                cc.convert(p, ck, scan, out)
                models[name] = out
            except Exception as e:  # reported as a failed check
                t.ok(False, "convert %s model" % name, str(e))
                return
        os.unlink(s1)
        os.unlink(s2)
        t.diag("checkpoints + conversion: %.1fs" % (time.time() - t0))

        mz = ref.load_model(models["zoom"])
        mn = ref.load_model(models["nozoom"])
        ms = ref.load_model(models["self"])
        cfg = mz.cfg
        xg = ref.make_input(cfg["ground_hw"], 2, 1000 * a.seed + 1)
        xs = ref.make_input(cfg["aerial_hw"], 2, 1000 * a.seed + 2)
        xz = ref.make_input(cfg["zoom_hw"], 2, 1000 * a.seed + 3)
        fg, fs, fz = self.path("ground_in.npy"), self.path("scan_in.npy"), self.path("zoom_in.npy")
        np.save(fg, xg.numpy())
        np.save(fs, xs.numpy())
        np.save(fz, xz.numpy())
        t0 = time.time()
        with torch.no_grad():
            r_ground = mz.embed_ground(xg).numpy()
            r_ground1 = mn.embed_ground(xg).numpy()
            r_zoom, det = mz.embed_aerial(xz, xs)
            r_nozoom = mz.embed_aerial_nozoom(xs).numpy()
            r_stage1 = mn.embed_aerial(xs)[0].numpy()
            r_self, det_self = ms.embed_aerial(xz)
        t.diag("reference forward passes: %.1fs" % (time.time() - t0))
        for name, arr in (("ref_ground", r_ground), ("ref_zoom", r_zoom.numpy()), ("ref_keep", det["keep"].numpy()),
                          ("ref_attention", det["map"].numpy()), ("ref_nozoom", r_nozoom),
                          ("ref_self", r_self.numpy())):
            np.save(self.path(name + ".npy"), arr)
        k = ref.n_keep(cfg["crop_ratio"], cfg_patches(cfg))

        # ground
        self.check_embed("ground (stage-2 query net)",
                         ["--model", models["zoom"], "--branch", "ground", "--npy", fg], self.path("c_ground.npy"),
                         r_ground)
        self.check_embed("ground of the no-zoom model (stage-1 query net)",
                         ["--model", models["nozoom"], "--branch", "ground", "--npy", fg],
                         self.path("c_ground1.npy"), r_ground1)

        # zoom aerial + attention map
        att, out = self.path("c_att.npy"), self.path("c_zoom.npy")
        ok, msg = self.embed(["--model", models["zoom"], "--branch", "aerial", "--npy", fz, "--scan-npy", fs,
                              "-o", out, "--dump-attention", att], [out, att])
        if not ok:
            t.ok(False, "zoom aerial (attend with aerial_scan, zoom with aerial)", msg)
            t.ok(False, "stage-1 attention map (aerial_scan, --dump-attention)", msg)
        else:
            ok, msg = compare_out(np.load(out), r_zoom.numpy())
            t.ok(ok, "zoom aerial (attend with aerial_scan, zoom with aerial): " + msg if ok else
                 "zoom aerial (attend with aerial_scan, zoom with aerial)", None if ok else msg)
            self.check_attention(np.load(att), det, "stage-1 attention map (aerial_scan)")

        # kept indices given: the reference's own choice fed to the C zoom pass
        # (--keep-npy is an input: the zoom-grid patch indices to keep)
        out2 = self.path("c_zoom2.npy")
        ok, msg = self.embed(["--model", models["zoom"], "--branch", "aerial", "--npy", fz,
                              "--keep-npy", self.path("ref_keep.npy"), "-o", out2], [out2])
        if not ok:
            t.ok(False, "zoom aerial with the reference's kept indices (--keep-npy)", msg)
        else:
            ok, msg = compare_out(np.load(out2), r_zoom.numpy())
            t.ok(ok, "zoom aerial with the reference's kept indices (--keep-npy): " + msg if ok else
                 "zoom aerial with the reference's kept indices (--keep-npy)", None if ok else msg)

        # no zoom: the stage-1 output
        self.check_embed("--no-zoom on the zoom model = aerial_scan plain forward (stage-1 output)",
                         ["--model", models["zoom"], "--branch", "aerial", "--npy", fs, "--no-zoom"],
                         self.path("c_nozoom.npy"), r_nozoom)
        self.check_embed("no-zoom model (stage-1 checkpoint alone): aerial",
                         ["--model", models["nozoom"], "--branch", "aerial", "--npy", fs],
                         self.path("c_stage1.npy"), r_stage1)

        # stage-2 alone: self-scan fallback (the map and the kept set are checked
        # bit for bit against the golden files by tests/test_engine)
        outs = self.path("c_self.npy")
        ok, msg = self.embed(["--model", models["self"], "--branch", "aerial", "--npy", fz, "-o", outs],
                             [outs])
        if not ok:
            t.ok(False, "self-scan fallback model (stage-2 alone, zoom_fallback self)", msg)
        else:
            ok, msg = compare_out(np.load(outs), r_self.numpy())
            t.ok(ok, "self-scan fallback (stage-2 alone, zoom_fallback self): " + msg if ok else
                 "self-scan fallback (stage-2 alone, zoom_fallback self)", None if ok else msg)

    def check_attention(self, c_att, det, desc):
        t = self.t
        r = det["map"].numpy()
        b = r.shape[0]
        if c_att.dtype == np.uint8:
            c = c_att.reshape(b, -1)
            ok = c.shape == det["map_u8"].reshape(b, -1).shape and np.array_equal(c, det["map_u8"].reshape(b, -1))
            return t.ok(ok, desc + " (uint8) equals the quantised reference map",
                        None if ok else "C %s\nref %s" % (c.tolist(), det["map_u8"].tolist()))
        c = np.asarray(c_att, dtype=np.float64).reshape(b, -1) if c_att.size == r.size else None
        if c is None:
            return t.ok(False, desc + " (--dump-attention)",
                        "shape %s, expected %s" % (list(c_att.shape), list(r.shape)))
        rr = r.reshape(b, -1).astype(np.float64)
        rel = float(np.max(np.abs(c - rr)) / np.max(np.abs(rr)))
        ok = rel <= TOL_ATT
        t.ok(ok, "%s: max|C-ref|/max %.3g (<= %g)" % (desc, rel, TOL_ATT),
             None if ok else "C %s\nref %s" % (c.tolist(), rr.tolist()))
        cu8 = ref.quantize_map(c_att.reshape(r.shape).astype(np.float32))
        if not np.array_equal(cu8, det["map_u8"]):
            n = int(np.sum(cu8 != det["map_u8"]))
            t.diag("quantising the C map gives %d value(s) different from the reference's uint8 map "
                   "(a float at a quantisation boundary); the kept set may legitimately differ" % n)


def cfg_patches(cfg):
    gh, gw = ref.grid(cfg, cfg["zoom_hw"])
    return gh * gw


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__[__doc__.index("1. makes"):])
    ap.add_argument("--preset", required=True, choices=sorted(ref.PRESETS))
    ap.add_argument("--transgeo", required=True, metavar="PATH_TO_CLI")
    ap.add_argument("--workdir", help="scratch directory (default: a new temporary one)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=int, default=300, help="seconds per CLI run")
    ap.add_argument("--keep-workdir", action="store_true", help="keep the files even when everything passes")
    a = ap.parse_args(argv)
    made = False
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
    else:
        a.workdir = tempfile.mkdtemp(prefix="parity_%s." % a.preset, dir=os.environ.get("TG_TMPDIR") or None)
        made = True
    tap = Tap()
    tap.diag("parity %s: workdir %s" % (a.preset, a.workdir))
    t0 = time.time()
    Parity(a, tap).run()
    tap.diag("total %.1fs" % (time.time() - t0))
    rc = tap.done()
    if rc == 0 and not a.keep_workdir:
        for f in os.listdir(a.workdir):
            if f.endswith(".safetensors") or f.endswith(".pth.tar"):
                os.unlink(os.path.join(a.workdir, f))
        if made:
            shutil.rmtree(a.workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
