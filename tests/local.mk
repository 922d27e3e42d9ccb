# tests/local.mk: the tests of the foundation itself.
EXTRA_DIST += tests/man_check.sh
