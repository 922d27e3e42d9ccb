#!/usr/bin/python3
"""Convert an official TransGeo checkpoint into a transgeo model file.

    convert_checkpoint.py --preset cvusa|vigor CKPT.pth.tar [--scan STAGE1.pth.tar] -o MODEL.safetensors

CKPT is what the official train.py saves (model_best.pth.tar or
checkpoint.pth.tar): {'epoch', 'state_dict', 'best_acc1', 'optimizer'} with
DataParallel keys 'module.query_net.*' and 'module.reference_net.*'.

What ends up in the file:
  ground       <- CKPT module.query_net
  aerial       <- CKPT module.reference_net
  aerial_scan  <- STAGE1 module.reference_net       (only with --scan)
The optimizer, epoch and best_acc1 are dropped, and so is the query_net of
the --scan file.  Every tensor is checked against the preset's config (name,
float32, shape, finite values); any missing, unexpected or misshapen tensor
stops the conversion with a message naming it.  Nothing is guessed: the only
thing read from the checkpoint is which grid reference_net's pos_embed is on,
and that must be exactly the preset's aerial grid (stage 1) or zoom grid
(stage 2).

The three kinds of model file:
  * STAGE-2 CKPT + --scan STAGE-1 CKPT (the official attend-and-zoom-in
    model): zoom "1", aerial_hw = preset aerial size (scan), zoom_hw = preset
    zoom size, crop_ratio = preset's (0.64, hard-coded in the official code).
  * STAGE-1 CKPT alone: a model without zoom: zoom "0", aerial_hw = zoom_hw =
    the preset's aerial size, crop_ratio "1".
  * STAGE-2 CKPT alone (no stage-1 file at hand): by default
    (--stage2-fallback self) zoom "0" with zoom_fallback "self" (zoom "1"
    means "has aerial_scan"), crop_ratio of the preset, aerial_hw = zoom_hw:
    the engine scans with the stage-2 net itself (all patches at zoom_hw, its
    last-block attention, quantised as the official pipeline does) and runs
    the zoom pass on the kept patches.  This is NOT the official pipeline
    (which scans with the stage-1 net); prefer --scan.  --stage2-fallback
    none writes zoom_fallback "none", crop_ratio "1": the stage-2 net on all
    patches at zoom_hw.

Metadata "source" records the input file names and their sha256; "sha256"
is the digest of the tensor data.  Exit status: 0 ok, 1 error, 2 usage.
Checkpoints are pickles: convert only files you trust.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import hashlib
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import safetensors_io  # noqa: E402
import transgeo_ref as ref  # noqa: E402

NETS = ("query_net", "reference_net")


class ConvertError(Exception):
    pass


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def load_state_dict(path):
    """The 'state_dict' of an official checkpoint, optimizer dropped."""
    if not os.path.isfile(path):
        raise ConvertError("checkpoint '%s': no such file" % path)
    kwargs = {"map_location": "cpu"}
    try:
        import inspect
        if "weights_only" in inspect.signature(torch.load).parameters:
            # Official checkpoints hold a numpy scalar (best_acc1), which the
            # restricted loader refuses; a checkpoint is a trusted pickle.
            kwargs["weights_only"] = False
    except (TypeError, ValueError):
        pass
    try:
        ckpt = torch.load(path, **kwargs)
    except Exception as e:  # zipfile/pickle/EOF/RuntimeError: all mean "not readable"
        raise ConvertError("checkpoint '%s': cannot be read as a PyTorch checkpoint "
                           "(truncated or not a .pth.tar?): %s: %s" % (path, type(e).__name__, e))
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        keys = sorted(ckpt.keys())[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ConvertError("checkpoint '%s': no 'state_dict' entry (found %s); expected the "
                           "official train.py format {'epoch','state_dict','best_acc1','optimizer'}"
                           % (path, keys))
    sd = ckpt["state_dict"]
    del ckpt  # drop the optimizer state now: bounded memory
    if not isinstance(sd, dict):
        raise ConvertError("checkpoint '%s': 'state_dict' is a %s, not a dict" % (path, type(sd).__name__))
    return sd


def split_nets(sd, path):
    """{'query_net': {timm name: (tensor, original key)}, 'reference_net': ...}"""
    nets = {n: {} for n in NETS}
    for key, t in sd.items():
        k = key[len("module."):] if key.startswith("module.") else key
        net, _, name = k.partition(".")
        if net not in nets or not name:
            raise ConvertError("checkpoint '%s': unexpected tensor '%s' (expected "
                               "'module.query_net.*' or 'module.reference_net.*')" % (path, key))
        nets[net][name] = (t, key)
    return nets


def ref_stage(cfg, nets, path):
    """1 or 2, from the grid reference_net's pos_embed is on."""
    if "pos_embed" not in nets["reference_net"]:
        raise ConvertError("checkpoint '%s': tensor 'module.reference_net.pos_embed' is missing" % path)
    t, key = nets["reference_net"]["pos_embed"]
    p = ref.n_prefix(cfg)
    ga, gz = ref.grid(cfg, cfg["aerial_hw"]), ref.grid(cfg, cfg["zoom_hw"])
    n1, n2 = p + ga[0] * ga[1], p + gz[0] * gz[1]
    shape = list(t.shape)
    if len(shape) == 3 and shape[0] == 1 and shape[2] == cfg["embed_dim"]:
        if shape[1] == n1:
            return 1
        if shape[1] == n2:
            return 2
    raise ConvertError(
        "checkpoint '%s': tensor '%s' has shape %s, which matches neither the preset '%s' "
        "stage-1 aerial grid (%dx%d -> [1,%d,%d]) nor its stage-2 zoom grid (%dx%d -> [1,%d,%d]): "
        "wrong --preset?" % (path, key, shape, cfg["preset"], cfg["aerial_hw"][0], cfg["aerial_hw"][1],
                             n1, cfg["embed_dim"], cfg["zoom_hw"][0], cfg["zoom_hw"][1], n2, cfg["embed_dim"]))


def check_net(cfg, hw, tensors, path, what):
    """Validate one network's tensors against the config; return {name: tensor}."""
    want = ref.net_shapes(cfg, hw)
    prefix = "module.%s." % what
    missing = [n for n in want if n not in tensors]
    if missing:
        raise ConvertError("checkpoint '%s': tensor '%s%s' is missing (preset '%s' expects %d tensors "
                           "for %s%s)" % (path, prefix, missing[0], cfg["preset"], len(want), what,
                                          "; %d missing in all" % len(missing) if len(missing) > 1 else ""))
    extra = [n for n in tensors if n not in want]
    if extra:
        raise ConvertError("checkpoint '%s': unexpected tensor '%s' for preset '%s' (depth %d, tokens %s)"
                           % (path, tensors[extra[0]][1], cfg["preset"], cfg["depth"], cfg["tokens"]))
    out = {}
    for name, shape in want.items():
        t, key = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise ConvertError("checkpoint '%s': '%s' is a %s, not a tensor" % (path, key, type(t).__name__))
        if tuple(t.shape) != tuple(shape):
            raise ConvertError("checkpoint '%s': tensor '%s' has shape %s, expected %s for preset '%s' "
                               "(embed_dim %d, heads %d, mlp_dim %d, out_dim %d, input %dx%d)"
                               % (path, key, list(t.shape), list(shape), cfg["preset"], cfg["embed_dim"],
                                  cfg["heads"], cfg["mlp_dim"], cfg["out_dim"], hw[0], hw[1]))
        if t.dtype != torch.float32:
            raise ConvertError("checkpoint '%s': tensor '%s' has dtype %s, expected float32"
                               % (path, key, str(t.dtype).replace("torch.", "")))
        if not bool(torch.isfinite(t).all()):
            raise ConvertError("checkpoint '%s': tensor '%s' contains NaN or Inf" % (path, key))
        out[name] = t.contiguous()
    return out


def convert(preset, ckpt_path, scan_path=None, out_path=None, stage2_fallback="self", log=None):
    """Convert; returns (tensors, metadata) and writes out_path when given."""
    log = log or (lambda msg: None)
    base = ref.preset_config(preset)
    sd = load_state_dict(ckpt_path)
    nets = split_nets(sd, ckpt_path)
    del sd
    stage = ref_stage(base, nets, ckpt_path)
    sources = ["%s '%s' sha256 %s" % ("stage-%d checkpoint" % stage, os.path.basename(ckpt_path),
                                      file_sha256(ckpt_path))]
    scan_nets = None
    if scan_path is not None:
        if stage != 2:
            raise ConvertError("checkpoint '%s' is a stage-1 checkpoint (reference_net pos_embed on the "
                               "grid of a %dx%d input); with --scan the main checkpoint must be the stage-2 (zoom) one"
                               % (ckpt_path, base["aerial_hw"][0], base["aerial_hw"][1]))
        ssd = load_state_dict(scan_path)
        scan_nets = split_nets(ssd, scan_path)
        del ssd
        scan_nets["query_net"] = {}   # not used: free it now
        if ref_stage(base, scan_nets, scan_path) != 1:
            raise ConvertError("--scan checkpoint '%s' is a stage-2 checkpoint (reference_net pos_embed on "
                               "the grid of a %dx%d zoom input); --scan needs the stage-1 checkpoint"
                               % (scan_path, base["zoom_hw"][0], base["zoom_hw"][1]))
        sources.append("stage-1 scan checkpoint '%s' sha256 %s" % (os.path.basename(scan_path),
                                                                  file_sha256(scan_path)))
        mode = "zoom"
    elif stage == 1:
        mode = "nozoom"
    elif stage2_fallback == "self":
        mode = "self"
        note = ("note: '%s' is a stage-2 checkpoint and no --scan stage-1 file was given: writing a "
                "zoom model with zoom_fallback=self (the stage-2 net scans itself); see --help" % ckpt_path)
    else:
        mode = "nozoom2"
        note = ("note: '%s' is a stage-2 checkpoint: writing it without zoom (all patches at %dx%d)"
                % (ckpt_path, base["zoom_hw"][0], base["zoom_hw"][1]))
    if mode in ("zoom", "nozoom"):
        note = None
    cfg = ref.make_config(preset, mode, source="transgeo convert_checkpoint.py: " + "; ".join(sources))

    tensors = {}
    for name, t in check_net(cfg, cfg["ground_hw"], nets["query_net"], ckpt_path, "query_net").items():
        tensors["ground." + name] = t
    for name, t in check_net(cfg, cfg["zoom_hw"], nets["reference_net"], ckpt_path, "reference_net").items():
        tensors["aerial." + name] = t
    if scan_nets is not None:
        for name, t in check_net(cfg, cfg["aerial_hw"], scan_nets["reference_net"], scan_path,
                                 "reference_net").items():
            tensors["aerial_scan." + name] = t
    if note:
        log(note)
    want = ref.model_shapes(cfg)
    if set(want) != set(tensors):   # cannot happen; a guard against drift
        raise ConvertError("internal error: tensor set does not match the config")
    meta = ref.config_to_metadata(cfg)
    if out_path is not None:
        digest = safetensors_io.write_safetensors(out_path, tensors, meta)
        meta["sha256"] = digest
        meta["format"] = safetensors_io.FORMAT
    return tensors, meta


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="convert_checkpoint.py",
        description=__doc__.split("\n\n")[0].strip(),
        epilog=__doc__[__doc__.index("What ends up"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", required=True, choices=sorted(ref.PRESETS),
                    help="dataset config the checkpoint was trained with")
    ap.add_argument("checkpoint", metavar="CKPT.pth.tar", help="official checkpoint (stage 2, or stage 1)")
    ap.add_argument("--scan", metavar="STAGE1.pth.tar",
                    help="stage-1 checkpoint whose reference_net becomes aerial_scan")
    ap.add_argument("--stage2-fallback", choices=("self", "none"), default="self",
                    help="stage-2 checkpoint without --scan: 'self' = zoom with the stage-2 net's own "
                         "scan (default), 'none' = no zoom")
    ap.add_argument("-o", "--output", required=True, metavar="MODEL.safetensors")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)

    def log(msg):
        print(msg, file=sys.stderr)

    try:
        _t, meta = convert(a.preset, a.checkpoint, a.scan, a.output, a.stage2_fallback, log)
    except (ConvertError, safetensors_io.SafetensorsError, OSError) as e:
        print("convert_checkpoint.py: error: %s" % e, file=sys.stderr)
        return 1
    print("wrote %s (preset %s, zoom %s%s, sha256 %s)"
          % (a.output, meta["preset"], meta["zoom"],
             ", zoom_fallback " + meta["zoom_fallback"] if "zoom_fallback" in meta else "", meta["sha256"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
