# models/local.mk: the shipped demo model (see models/MODEL_CARD.md), installed
# under $(pkgdatadir)/models where `transgeo` finds it when no model is given.
modelsdir = $(pkgdatadir)/models
dist_models_DATA = models/demo.safetensors models/MODEL_CARD.md
TG_TESTS += tests/demo_cli.sh
EXTRA_DIST += tests/demo_cli.sh
