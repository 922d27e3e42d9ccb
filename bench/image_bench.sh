#!/bin/sh
# bench/image_bench.sh - photo preprocessing, C vs the reference pipeline
# (Pillow: Image.open().convert("RGB"), .resize(BILINEAR), numpy ToTensor +
# Normalize in float32), same photos, same output sizes, same run, best of
# RUNS, one thread each. Ratios > 1 mean the C side is faster. Timings only,
# never pass/fail. Both sides produce bit-identical output (tests/test_image).
#
#   bench/image_bench.sh [BENCH_BINARY]
#   env: TG_BENCH_PHOTOS  photos (default: shared/data/photos/01.jpg adobe_coords.jpg)
#        TG_BENCH_SIZES   "HxW ..." model inputs (default "112x616 320x640 256x256")
#        TG_BENCH_RUNS    runs per case (default 5)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-./bench/image_bench}
py=${PYTHON3:-/usr/bin/python3}
data=${TG_SHARED_DATA:-$here/../../shared/data}
photos=${TG_BENCH_PHOTOS:-"$data/photos/01.jpg $data/photos/adobe_coords.jpg"}
sizes=${TG_BENCH_SIZES:-112x616 320x640 256x256}
runs=${TG_BENCH_RUNS:-5}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

pil() { # PHOTO H W RUNS -> same fields as the C program
    "$py" - "$@" <<'PY'
import sys, time
import numpy as np
from PIL import Image
path, oh, ow, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
bd = br = bt = 1e30
for _ in range(runs):
    t0 = time.perf_counter()
    im = Image.open(path).convert("RGB")
    t1 = time.perf_counter()
    s = im.resize((ow, oh), Image.BILINEAR)
    t2 = time.perf_counter()
    x = np.asarray(im.resize((ow, oh), Image.BILINEAR), dtype=np.uint8).astype(np.float32) / np.float32(255)
    x = ((x - mean) / std).transpose(2, 0, 1).copy()
    t3 = time.perf_counter()
    bd, br, bt = min(bd, t1 - t0), min(br, t2 - t1), min(bt, t3 - t2)
print("decode_ms=%.2f resize_ms=%.2f tensor_ms=%.2f w=%d h=%d" % (bd * 1e3, br * 1e3, bt * 1e3, im.size[0], im.size[1]))
PY
}

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

echo "# image_bench: C ($bin) vs Pillow $("$py" -c 'import PIL; print(PIL.__version__)'), best of $runs, 1 thread"
printf '%-18s %-9s %9s %9s %6s %9s %9s %6s %9s %9s %6s\n' photo size \
    c_dec pil_dec ratio c_resize pil_rsz ratio c_tensor pil_tns ratio
for p in $photos; do
    for s in $sizes; do
        h=${s%x*}; w=${s#*x}
        c=$("$bin" "$p" "$h" "$w" "$runs")
        r=$(pil "$p" "$h" "$w" "$runs")
        printf '%-18s %-9s %9s %9s %6s %9s %9s %6s %9s %9s %6s\n' "$(basename "$p")" "$s" \
            "$(field "$c" decode_ms)" "$(field "$r" decode_ms)" "$(ratio "$(field "$r" decode_ms)" "$(field "$c" decode_ms)")" \
            "$(field "$c" resize_ms)" "$(field "$r" resize_ms)" "$(ratio "$(field "$r" resize_ms)" "$(field "$c" resize_ms)")" \
            "$(field "$c" tensor_ms)" "$(field "$r" tensor_ms)" "$(ratio "$(field "$r" tensor_ms)" "$(field "$c" tensor_ms)")"
    done
done
echo "# times in ms; ratio = Pillow / C (> 1: C faster). tensor = resize + ToTensor + Normalize (CHW float32)."
