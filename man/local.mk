# man/local.mk: manual pages, installed by make install and checked by
# tests/man_check.sh (man --warnings).
dist_man_MANS += man/transgeo.1 man/transgeo-sql.7 man/libtransgeo.3
TG_TESTS += tests/man_check.sh
