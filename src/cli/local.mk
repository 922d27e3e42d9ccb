# src/cli/local.mk: the transgeo command. Each layer's fragment adds its
# subcommand files to transgeo_SOURCES; main.c's static table lists them.
bin_PROGRAMS += transgeo
transgeo_SOURCES = src/cli/main.c src/cli/cli.c src/cli/cli.h src/cli/reexec.c src/cli/reexec.h
transgeo_CPPFLAGS = $(AM_CPPFLAGS)
transgeo_LDADD = libtransgeo.la $(DEP_LIBS)

# transgeo demo: the whole pipeline on a generated town (see cmd_demo.c).
transgeo_SOURCES += src/cli/cmd_demo.c src/cli/demo_map.c src/cli/demo_map.h
transgeo_CPPFLAGS += \
	-DTG_MODEL_SRC='"$(abs_top_srcdir)/models/demo.safetensors"' \
	-DTG_MODEL_INSTALLED='"$(pkgdatadir)/models/demo.safetensors"'
