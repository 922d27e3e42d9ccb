# src/cli/local.mk: the transgeo command. Each subcommand file adds itself to
# transgeo_SOURCES and defines TG_CMD_<NAME> so main.c lists it.
bin_PROGRAMS += transgeo
transgeo_SOURCES = src/cli/main.c src/cli/cli.c src/cli/cli.h
transgeo_CPPFLAGS = $(AM_CPPFLAGS)
transgeo_LDADD = libtgcore.la $(DEP_LIBS)
