/*
 * main.c - the `transgeo` command: dispatches to a subcommand (cmd_*.c).
 * Exit codes: 0 ok, 1 error (bad data, unreadable file), 2 usage.
 */
#include "config.h"
#include "cli.h"
#include "reexec.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* Subcommands in the order `transgeo --help` lists them. A plain table: a
 * new command is one line here, its cmd_NAME in cli.h and its file in a
 * layer's local.mk (which only chooses the sources that are built). */
static const struct command commands[] = {
    {"demo", cmd_demo, "build a demo world, index it, locate its photos, print recall"},
    {"index", cmd_index, "tile, embed and store aerial rasters in a database"},
    {"locate", cmd_locate, "find where photos were taken (GeoPackage/CSV out)"},
    {"eval", cmd_eval, "recall and metre error on photos with known positions"},
    {"embed", cmd_embed, "run an encoder on an image or a .npy tensor"},
    {"tiles", cmd_tiles, "cut a raster into north-up aerial tiles"},
    {"world", cmd_world, "generate a synthetic town: orthophoto, panoramas, photos"},
    {"info", cmd_info, "describe a model file or a database"},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *f)
{
    fprintf(f, "Usage: transgeo COMMAND [OPTIONS] [ARGS]\n\n"
               "Find where a ground photo was taken by matching it against aerial imagery\n"
               "(TransGeo, Zhu, Shah and Chen, CVPR 2022).\n\nCommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n  -h, --help     show this help\n  -V, --version  show the version\n\n"
               "'transgeo COMMAND --help' describes a command; see also transgeo(1).\n"
               "Exit status: 0 ok, 1 error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return TG_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        usage(stdout);
        return TG_EXIT_OK;
    }
    if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
        printf("transgeo %s\n", tg_version());
        return TG_EXIT_OK;
    }
    /* OpenBLAS fixes its kernel set at load time: switch to the AVX-512 one
     * on CPUs it does not know (policy and TRANSGEO_BLAS_CORETYPE: tensor.h) */
    tg_blas_reexec_preferred(argv);
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "transgeo: unknown command '%s'\n", name);
    usage(stderr);
    return TG_EXIT_USAGE;
}
