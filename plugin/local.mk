# plugin/local.mk: automake fragment included by the top Makefile.am
