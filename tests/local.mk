# tests/local.mk: the tests of the foundation itself.
EXTRA_DIST += tests/man_check.sh
TG_TESTS += tests/install_check.sh
EXTRA_DIST += tests/install_check.sh
# The skips CI accepts (tests/runner.sh) and the CI check of the README's demo.
EXTRA_DIST += tests/allowed_skips .ci/check_demo.sh

# The ground canvas of the trainer (tools/ground_canvas.py, docs/ground-canvas.md)
# against hand arithmetic; the engine's canvas is compared with the same module.
TG_TESTS += tests/test_ground_canvas.py
