#!/usr/bin/python3
"""Write a fixed-seed TransGeo checkpoint in the OFFICIAL training format.

    make_test_checkpoint.py --preset cvusa|vigor|tiny --seed S --stage 1|2 -o X.pth.tar

The file is what the official train.py save_checkpoint() writes:
    torch.save({'epoch', 'state_dict', 'best_acc1', 'optimizer'})
with state_dict = DataParallel(TransGeo).state_dict(): keys
'module.query_net.<timm name>' (ground network, input ground_hw) and
'module.reference_net.<timm name>' (aerial network) in timm 0.4
VisionTransformer naming and order (cls_token, pos_embed, dist_token,
patch_embed.proj.*, blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*,
norm.*, head.*, head_dist.*).

Stage 1 (the plain run of run_CVUSA.sh / run_VIGOR.sh): reference_net's
pos_embed is on the aerial_hw grid (CVUSA 256 -> 16x16).  Stage 2 (--crop
--sat_res 320/400): on the zoom_hw grid (CVUSA 320 -> 20x20).

Weights are random but realistic in scale (see transgeo_ref.init_realistic):
different seeds for each stage and network, so a converter that mixes up
query/reference or stage 1/stage 2 is caught.  'optimizer' is a small dummy
(with one tensor in its state) that the converter must drop.
"""

import sys
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import argparse
import os
import sys
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import transgeo_ref as ref  # noqa: E402


def net_seed(seed, stage, which):
    """Seed of one network: distinct per (seed, stage, query/reference)."""
    return int(seed) * 1000 + int(stage) * 10 + (1 if which == "query" else 2)


def make_nets(preset, seed, stage):
    """(query_net, reference_net) DistilledViT modules of a stage."""
    if stage not in (1, 2):
        raise ValueError("stage must be 1 or 2")
    cfg = ref.preset_config(preset)
    ref_hw = cfg["aerial_hw"] if stage == 1 else cfg["zoom_hw"]
    q = ref.random_net(cfg, cfg["ground_hw"], net_seed(seed, stage, "query"))
    r = ref.random_net(cfg, ref_hw, net_seed(seed, stage, "reference"))
    return q, r


def make_checkpoint(preset, seed, stage):
    """The checkpoint dict, as the official train.py saves it."""
    q, r = make_nets(preset, seed, stage)
    sd = OrderedDict()
    for name, t in q.state_dict().items():
        sd["module.query_net." + name] = t.detach().clone()
    for name, t in r.state_dict().items():
        sd["module.reference_net." + name] = t.detach().clone()
    first = next(iter(sd.values()))
    optimizer = {
        "state": {0: {"step": 10, "exp_avg": torch.zeros_like(first),
                      "exp_avg_sq": torch.zeros_like(first)}},
        "param_groups": [{"lr": 1e-5 if stage == 2 else 1e-4, "betas": (0.9, 0.999),
                          "eps": 1e-08, "weight_decay": 0.03, "amsgrad": False,
                          "rho": 2.5, "adaptive": True,
                          "params": list(range(len(sd)))}],
    }
    return {"epoch": 50 if stage == 2 else 100,
            "state_dict": sd,
            "best_acc1": np.float64(42.0 + seed % 10),   # a numpy scalar, as in train.py
            "optimizer": optimizer}


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Write a fixed-seed TransGeo checkpoint in the official train.py format.")
    ap.add_argument("--preset", required=True, choices=sorted(ref.PRESETS))
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--stage", type=int, required=True, choices=(1, 2))
    ap.add_argument("-o", "--output", required=True, metavar="X.pth.tar")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    ckpt = make_checkpoint(a.preset, a.seed, a.stage)
    tmp = a.output + ".tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
