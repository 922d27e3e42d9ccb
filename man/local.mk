# man/local.mk: manual pages, installed by make install and checked by
# tests/man_check.sh (man --warnings).
dist_man_MANS += man/transgeo.1 man/transgeo-sql.7 man/libtransgeo.3 man/transgeo-pg.7
TG_TESTS += tests/man_check.sh
# the C example of libtransgeo(3) compiles and runs as printed
TG_TESTS += tests/lib_manpage.sh
EXTRA_DIST += tests/lib_manpage.sh
