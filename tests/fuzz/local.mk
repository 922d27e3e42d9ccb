# tests/fuzz/local.mk: fuzz harnesses (make fuzz), corpus replay in make check, and
# the hardening tests (tests/test_harden.c, tests/harden_inputs.sh, tests/faults_kill.sh,
# tests/load_concurrent.sh)
# (included by the top Makefile.am). See tests/fuzz/README.md.
#
# Two ways to run the harnesses tests/fuzz/fuzz_<name>.c:
#  - make check: tests/fuzz/replay_<name>, the harness + a plain main
#    (replay_main.c) built with the configured compiler, replays the seed
#    corpus tests/fuzz/corpus/<name> and the regression inputs
#    tests/fuzz/regress/<name> (any compiler, no libFuzzer needed);
#  - make fuzz: the harnesses built with clang -fsanitize=fuzzer,address,
#    undefined against a clang build of the library sources (objects under
#    tests/fuzz/clang/ of the build tree, made from the same source lists
#    and flags as libtgcore), each run FUZZ_SECONDS (default 60) by
#    tests/fuzz/run.sh, which prints TAP. `make fuzz-build` only builds.

TG_FUZZ_NAMES = safetensors model photo raster sql
TG_FUZZ_SQL_SRCS = sql/mod_transgeo.c sql/sql_common.c sql/sql_functions.c sql/sql_matches.c

# ---- make check: corpus + regression replay ------------------------------------
check_PROGRAMS += tests/fuzz/replay_safetensors tests/fuzz/replay_model tests/fuzz/replay_photo \
	tests/fuzz/replay_raster tests/fuzz/replay_sql
TG_FUZZ_REPLAY_SRCS = tests/fuzz/replay_main.c tests/fuzz/fuzz_common.h tests/tap.h
tests_fuzz_replay_safetensors_SOURCES = tests/fuzz/fuzz_safetensors.c $(TG_FUZZ_REPLAY_SRCS)
tests_fuzz_replay_safetensors_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"safetensors"'
tests_fuzz_replay_safetensors_LDADD = $(TG_TEST_LIBS)
tests_fuzz_replay_model_SOURCES = tests/fuzz/fuzz_model.c $(TG_FUZZ_REPLAY_SRCS)
tests_fuzz_replay_model_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"model"'
tests_fuzz_replay_model_LDADD = $(TG_TEST_LIBS)
tests_fuzz_replay_photo_SOURCES = tests/fuzz/fuzz_photo.c $(TG_FUZZ_REPLAY_SRCS)
tests_fuzz_replay_photo_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"photo"'
tests_fuzz_replay_photo_LDADD = $(TG_TEST_LIBS)
tests_fuzz_replay_raster_SOURCES = tests/fuzz/fuzz_raster.c $(TG_FUZZ_REPLAY_SRCS)
tests_fuzz_replay_raster_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"raster"'
tests_fuzz_replay_raster_LDADD = $(TG_TEST_LIBS)
tests_fuzz_replay_sql_SOURCES = tests/fuzz/fuzz_sql.c tests/st_edit.h $(TG_FUZZ_SQL_SRCS) sql/tgsql.h \
	$(TG_FUZZ_REPLAY_SRCS)
tests_fuzz_replay_sql_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_NAME='"sql"' -DTG_FUZZ_SRCDIR='"$(abs_top_srcdir)"'
tests_fuzz_replay_sql_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/fuzz/replay_safetensors tests/fuzz/replay_model tests/fuzz/replay_photo \
	tests/fuzz/replay_raster tests/fuzz/replay_sql
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/run.sh tests/fuzz/make_seeds.py \
	tests/fuzz/safetensors.dict tests/fuzz/model.dict tests/fuzz/corpus tests/fuzz/regress tests/fuzz/data

# ---- make fuzz: libFuzzer builds with clang ----------------------------------------
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_DIR = tests/fuzz/clang
FUZZ_SANFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_CPPFLAGS = $(DEFS) $(DEFAULT_INCLUDES) $(filter-out -D_FORTIFY_SOURCE=%,$(AM_CPPFLAGS)) \
	$(CPPFLAGS) -DTG_FUZZ_SRCDIR='"$(abs_top_srcdir)"'
FUZZ_CFLAGS = $(filter-out -fsanitize=% -fno-sanitize-recover=% -fvisibility=hidden,$(AM_CFLAGS)) \
	-Wno-unknown-warning-option $(FUZZ_SANFLAGS)
FUZZ_LIB_SRCS = $(filter %.c,$(libtgcore_la_SOURCES) $(libtgworld_la_SOURCES) \
	$(nodist_libtgcore_la_SOURCES)) $(TG_FUZZ_SQL_SRCS)
FUZZ_LIB_OBJS = $(patsubst %.c,$(FUZZ_DIR)/%.o,$(FUZZ_LIB_SRCS))
FUZZ_HDRS = $(filter %.h,$(libtgcore_la_SOURCES) $(libtgworld_la_SOURCES)) sql/tgsql.h \
	tests/fuzz/fuzz_common.h tests/st_edit.h
FUZZ_BINS = $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(TG_FUZZ_NAMES))

$(FUZZ_DIR)/%.o: %.c $(FUZZ_HDRS) config.h
	@$(MKDIR_P) $(@D)
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/libtgfuzz.a: $(FUZZ_LIB_OBJS)
	$(AM_V_GEN)rm -f $@ && $(AR) cr $@ $(FUZZ_LIB_OBJS) && $(RANLIB) $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libtgfuzz.a
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_SANFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libtgfuzz.a \
	$(DEP_LIBS) $(LIBS)

fuzz-build: $(FUZZ_BINS)

# make fuzz [FUZZ_SECONDS=60] [TG_FUZZ_NAMES="photo sql"]
fuzz: fuzz-build
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_HARNESSES='$(TG_FUZZ_NAMES)' TOP_SRCDIR='$(abs_top_srcdir)' \
	$(SHELL) $(srcdir)/tests/fuzz/run.sh --no-build '$(abs_top_builddir)'

.PHONY: fuzz fuzz-build
.PRECIOUS: $(FUZZ_DIR)/%.o

mostlyclean-local:
	-rm -rf $(FUZZ_DIR) tests/fuzz/work

# ---- hardening tests (issue 10): bad inputs, faults, load ---------------------------
check_PROGRAMS += tests/test_harden
tests_test_harden_SOURCES = tests/test_harden.c tests/tap.h tests/st_edit.h tests/locate_path.h
tests_test_harden_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_harden tests/harden_inputs.sh tests/faults_kill.sh tests/load_concurrent.sh
EXTRA_DIST += tests/harden_inputs.sh tests/faults_kill.sh tests/load_concurrent.sh
