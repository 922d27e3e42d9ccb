#!/usr/bin/python3
"""PyTorch side of bench/engine.sh: time the reference model
(tools/reference/transgeo_ref.py, the one the C engine's golden tests come
from) on one branch of a transgeo model file.

    engine_ref.py --model M.safetensors --branch ground|aerial|aerial_scan
                  [--threads N] [--batch B] [--seconds S] [--warmup W]

Runs in eval mode under torch.inference_mode(), float32, CPU, with
torch.set_num_threads(N) (and one inter-op thread). "aerial" is the whole
aerial embedding (for a zoom model: stage 1 at aerial_hw, the map quantised
as the official PNG, bilinear resize, stable sort, stage 2 on the kept
patches at zoom_hw). Prints one JSON line like bench/engine_bench.c.
"""

import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
import transgeo_ref as ref  # noqa: E402


def summary(path):
    """Best round per configuration, side by side, and the ratios."""
    best = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            k = (r["preset"], r["branch"], r["impl"], r["threads"], r["requested_core"])
            if k not in best or r["images_per_s"] > best[k]["images_per_s"]:
                best[k] = r
    cases = sorted({(k[0], k[1]) for k in best}, key=lambda c: (c[0], c[1] != "ground"))
    threads = sorted({k[3] for k in best})
    cores = sorted({k[4] for k in best})
    print("%-6s %-7s %3s %-9s | %9s %7s %7s | %9s %7s %7s | %7s %7s" % (
        "preset", "branch", "thr", "kernels", "C img/s", "cpu s", "RSS MB",
        "torch", "cpu s", "RSS MB", "C/torch", "cpu"))
    for preset, branch in cases:
        for t in threads:
            for c in cores:
                a = best.get((preset, branch, "c", t, c))
                b = best.get((preset, branch, "torch", t, c))
                if not a or not b:
                    continue
                print("%-6s %-7s %3d %-9s | %9.3f %7.3f %7.0f | %9.3f %7.3f %7.0f | %7.2f %7.2f" % (
                    preset, branch, t, c, a["images_per_s"], a["cpu_s_per_image"], a["peak_rss_mb"],
                    b["images_per_s"], b["cpu_s_per_image"], b["peak_rss_mb"],
                    a["images_per_s"] / b["images_per_s"],
                    b["cpu_s_per_image"] / a["cpu_s_per_image"]))
    print("(img/s: best round; cpu s: CPU seconds per image of that round, all threads; "
          "'cpu' = torch cpu s / C cpu s, the efficiency ratio, meaningful at 1 thread on a "
          "busy machine where wall time depends on the other processes)")
    print()
    print("Against PyTorch's fastest configuration (best over its thread counts and kernel sets):")
    for preset, branch in cases:
        tb = max((v for k, v in best.items() if k[:3] == (preset, branch, "torch")),
                 key=lambda v: v["images_per_s"], default=None)
        if not tb:
            continue
        for t in threads:
            cs = [(k[4], v) for k, v in best.items() if k[:4] == (preset, branch, "c", t)]
            for core, v in sorted(cs):
                print("  %-6s %-7s C %d thread(s) %-9s %8.3f img/s = %5.2f x torch's best %8.3f img/s "
                      "(%d thread(s), %s)" % (preset, branch, t, core, v["images_per_s"],
                                              v["images_per_s"] / tb["images_per_s"],
                                              tb["images_per_s"], tb["threads"], tb["requested_core"]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        summary(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--branch", default="ground", choices=["ground", "aerial", "aerial_scan"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    model = ref.load_model(a.model)
    cfg = model.cfg
    g = torch.Generator().manual_seed(1)

    def noise(hw):
        return ((torch.rand(a.batch, 3, hw[0], hw[1], generator=g) - 0.5) * 4).contiguous()

    if a.branch == "ground":
        x = noise(cfg["ground_hw"])
        run = lambda: model.embed_ground(x)  # noqa: E731
    elif a.branch == "aerial_scan":
        x = noise(cfg["aerial_hw"])
        run = lambda: model.aerial_scan(x)  # noqa: E731
    else:
        xz = noise(cfg["zoom_hw"])
        xs = noise(cfg["aerial_hw"]) if ref.has_scan_net(cfg) else None
        run = lambda: model.embed_aerial(xz, xs)  # noqa: E731
    iters = 0
    with torch.inference_mode():
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.warmup:
            run()
        t_start = time.monotonic()
        c_start = time.process_time()
        while True:
            run()
            iters += 1
            if time.monotonic() - t_start >= a.seconds:
                break
        el = time.monotonic() - t_start
        cpu = time.process_time() - c_start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "torch", "preset": cfg.get("preset", ""), "branch": a.branch,
                      "threads": a.threads, "batch": a.batch,
                      "images_per_s": round(iters * a.batch / el, 4),
                      "cpu_s_per_image": round(cpu / (iters * a.batch), 4),
                      "peak_rss_mb": round(rss, 1),
                      "requested_core": os.environ.get("OPENBLAS_CORETYPE", "auto"),
                      "torch": torch.__version__, "iters": iters}))


if __name__ == "__main__":
    main()
