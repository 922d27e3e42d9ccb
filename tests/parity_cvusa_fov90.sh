#!/bin/sh
# tests/parity_cvusa_fov90.sh: end-to-end parity of the C engine (`transgeo embed`) with
# the PyTorch reference on fixed-seed 'cvusa-fov90' checkpoints (TransGeo's 90-degree ground net, 112x154) in the official format
# (tools/parity_check.py: converts them, runs both, compares outputs, attention
# maps and kept patches). TAP. Needs Debian's python3-torch.
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
exec "${PYTHON3:-/usr/bin/python3}" "$TOP_SRCDIR/tools/parity_check.py" --preset cvusa-fov90 \
    --transgeo "$TOP_BUILDDIR/transgeo" --workdir "$TG_TMPDIR/parity_cvusa_fov90"
