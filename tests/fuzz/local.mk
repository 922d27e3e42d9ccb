# tests/fuzz/local.mk: fuzz harnesses (make fuzz) and corpus replay in make check
