# tools/local.mk: automake fragment included by the top Makefile.am.
#
# Offline Python tools (Debian's python3-torch, python3-numpy, python3-pil;
# run with $(PYTHON3), never a pyenv python): the PyTorch reference model,
# the checkpoint converter, golden-vector and test-checkpoint makers, and the
# end-to-end parity check of the C engine against the reference.
EXTRA_DIST += \
	tools/convert_checkpoint.py \
	tools/make_test_checkpoint.py \
	tools/make_golden.py \
	tools/parity_check.py \
	tools/reference/README.md \
	tools/reference/transgeo_ref.py \
	tools/reference/safetensors_io.py \
	tools/reference/taplib.py \
	tests/golden \
	tests/test_reference.py \
	tests/test_convert.py \
	tests/parity_tiny.sh \
	tests/parity_cvusa.sh \
	tests/parity_cvusa_fov90.sh \
	tests/parity_vigor.sh

# Reference vs independent computations + golden reproducibility; converter;
# C engine vs reference (tiny, then the official DeiT-S sized configs).
TG_TESTS += \
	tests/test_reference.py \
	tests/test_convert.py \
	tests/parity_tiny.sh \
	tests/parity_cvusa.sh \
	tests/parity_cvusa_fov90.sh \
	tests/parity_vigor.sh

# ---- demo model (owned by the demo-model trainer; see models/MODEL_CARD.md) ----
# The trainer (tools/train_demo.py, its data module and the end-to-end retrain
# script) and the test of the shipped file (models/local.mk distributes and
# installs models/demo.safetensors and models/MODEL_CARD.md).
EXTRA_DIST += \
	tools/train_demo.py \
	tools/train_demo.sh \
	tools/demo_dataset.py \
	tools/ground_canvas.py \
	bench/train_step.sh \
	tests/test_demo_model.py \
	tests/test_train_demo.py \
	tests/test_ground_canvas.py
TG_TESTS += tests/test_demo_model.py tests/test_train_demo.py
# CPU seconds per training step, this tree against an older revision (git
# checkout only; REF=rev, default 2c3444e). Timings only, never part of check.
bench-train: transgeo$(EXEEXT)
	TRANSGEO='$(abs_top_builddir)/transgeo' PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/train_step.sh $(REF)
.PHONY: bench-train
# ---- end of demo model ----
