# src/engine/local.mk: the engine layer, included by the top Makefile.am
# The inference engine: safetensors model files, the ViT encoder (sgemm),
# TransGeo's branches and attend-and-zoom-in, .npy I/O.
libtgcore_la_SOURCES += src/engine/tensor.c src/engine/tensor.h src/engine/safetensors.c src/engine/safetensors.h \
	src/engine/model.c include/transgeo/model.h src/engine/vit.c src/engine/vit.h src/engine/transgeo_model.c include/transgeo/transgeo_model.h \
	src/engine/npy.c include/transgeo/npy.h
tginclude_HEADERS += include/transgeo/model.h include/transgeo/transgeo_model.h include/transgeo/npy.h

# The engine's subcommands (`transgeo embed`, `transgeo info`); src/cli/local.mk
# is included first, so appending here is fine.
TG_ENGINE_CLI_FILES = src/cli/cmd_embed.c src/cli/cmd_info.c
transgeo_SOURCES += $(TG_ENGINE_CLI_FILES)

check_PROGRAMS += tests/test_tensor tests/test_safetensors tests/test_engine
tests_test_tensor_SOURCES = tests/test_tensor.c tests/tap.h src/cli/reexec.c src/cli/reexec.h
tests_test_tensor_LDADD = $(TG_TEST_LIBS)
tests_test_safetensors_SOURCES = tests/test_safetensors.c tests/st_edit.h tests/tap.h
tests_test_safetensors_LDADD = $(TG_TEST_LIBS)
tests_test_engine_SOURCES = tests/test_engine.c tests/st_edit.h tests/tap.h
tests_test_engine_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_tensor tests/test_safetensors tests/test_engine
EXTRA_DIST += tests/golden/tiny/README.md tests/golden/tiny/model.safetensors \
	tests/golden/tiny/ground_in.npy tests/golden/tiny/ground_out.npy \
	tests/golden/tiny/aerial_scan_in.npy tests/golden/tiny/attention.npy \
	tests/golden/tiny/attention_u8.npy tests/golden/tiny/attention_zoom.npy \
	tests/golden/tiny/aerial_zoom_in.npy tests/golden/tiny/keep.npy \
	tests/golden/tiny/aerial_out.npy tests/golden/tiny/aerial_nozoom_out.npy \
	tests/golden/tiny/selfscan_attention.npy tests/golden/tiny/selfscan_attention_u8.npy \
	tests/golden/tiny/selfscan_keep.npy tests/golden/tiny/selfscan_out.npy \
	bench/engine.sh bench/engine_ref.py

# ---- benchmark (not built by `make`, not part of `make check`) -------------
#   make bench-engine      (TG_BENCH_PRESETS, TG_BENCH_THREADS, ...: see bench/engine.sh)
EXTRA_PROGRAMS += bench/engine_bench
bench_engine_bench_SOURCES = bench/engine_bench.c
bench_engine_bench_LDADD = $(TG_TEST_LIBS)
CLEANFILES += bench/engine_bench
bench-engine: bench/engine_bench$(EXEEXT)
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/engine.sh ./bench/engine_bench
.PHONY: bench-engine
