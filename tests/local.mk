# tests/local.mk: the tests of the foundation itself.
EXTRA_DIST += tests/man_check.sh
TG_TESTS += tests/install_check.sh
EXTRA_DIST += tests/install_check.sh
