/*
 * cli.h - shared by the `transgeo` subcommands (src/cli/cmd_*.c).
 *
 * Each subcommand is `int cmd_NAME(int argc, char **argv)` (argv[0] is the
 * subcommand name), parses its options with getopt_long, calls the library,
 * prints, and returns an exit code: TG_EXIT_OK, TG_EXIT_ERROR (the data or a
 * file was bad) or TG_EXIT_USAGE (the command line was wrong).
 */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stdio.h>
#include "transgeo/transgeo.h"

enum { TG_EXIT_OK = 0, TG_EXIT_ERROR = 1, TG_EXIT_USAGE = 2 };

/* Print "transgeo NAME: message\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) TG_PRINTF(2, 3);
/* Print the context's error and return TG_EXIT_ERROR. */
int cli_fail(const char *cmd, const tg_ctx *ctx);
/* Print "Try 'transgeo NAME --help'." after a usage error, return TG_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) TG_PRINTF(2, 3);

/* Progress on stderr, usable as a tg_progress_fn with user = a cli_progress.
 *   CLI_PROGRESS_AUTO: a bar (done/total, rate, ETA) when stderr is a
 *     terminal and not --quiet; nothing in pipes. The default.
 *   CLI_PROGRESS_JSON (--progress=json): one JSON object per line, whether
 *     stderr is a terminal or not, --quiet or not (the summary still obeys
 *     --quiet), at most 10 a second plus the first and the last:
 *       {"done":12,"total":40,"stage":"tiles","item":1,"items":2,"message":"3 tiles added"}
 *     done/total: units of stage done so far and in all, for input `item`
 *     (1-based) of `items` (index: the raster; locate and eval: 1 of 1);
 *     message: the library's note, or null. Such a line starts with '{';
 *     every other stderr line is a message, as without the option.
 *   CLI_PROGRESS_NONE (--progress=none): nothing. */
enum { CLI_PROGRESS_AUTO = 0, CLI_PROGRESS_JSON = 1, CLI_PROGRESS_NONE = 2 };
typedef struct cli_progress {
    const char *label;   /* e.g. "tiles": the bar's unit, the JSON "stage" */
    int enabled;         /* 1: draw the bar (a terminal, not --quiet, AUTO) */
    int json;            /* 1: JSON lines instead of the bar */
    int item, items;     /* which input of how many (JSON); 1, 1 by default */
    double t_start;      /* monotonic seconds at start */
    double t_last;       /* last redraw */
    int n_calls;         /* callbacks so far (the first one is always shown) */
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label, int quiet);
void cli_progress_init_mode(cli_progress *p, const char *label, int quiet, int mode);
int cli_progress_cb(double done, double total, const char *msg, void *user);
void cli_progress_end(cli_progress *p);
/* --progress=WHEN: "auto", "json" or "none" -> *mode; -1 (usage message printed) otherwise. */
int cli_parse_progress(const char *cmd, const char *s, int *mode);
/* Parse helpers: 0 on success, -1 (message printed) on a bad value. */
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int *out);
/* The locating options shared by locate and eval: camera and heading
 * (--fov DEG, --heading-search N, --ignore-heading: long options 'F', 'H',
 * 'I'), the GPS prior and refinement (--prior, --refine, --refine-tiles:
 * OPT_PRIOR, OPT_REFINE, OPT_REFINE_TILES below) and --batch (OPT_BATCH). Returns 0, or
 * TG_EXIT_USAGE after printing why. */
struct tg_batch_opts;
int cli_locate_option(const char *cmd, int c, const char *arg, struct tg_batch_opts *o);
#define CLI_CAMERA_LONGOPTS                                                                 \
    {"fov", required_argument, NULL, 'F'}, {"heading-search", required_argument, NULL, 'H'}, \
        {"ignore-heading", no_argument, NULL, 'I'}
#define CLI_CAMERA_HELP                                                                     \
    "      --fov DEG          horizontal field of view of photos whose EXIF/XMP gives\n"     \
    "                           none (360 = panorama; default: 65, or 360 for images\n"    \
    "                           at least twice as wide as high)\n"                          \
    "      --heading-search N headings tried when a photo's heading is unknown: 0\n"       \
    "                           (default) from its field of view, panoramas assumed\n"     \
    "                           north-aligned; 1 no search; 2..360 N for every photo\n"   \
    "      --ignore-heading   search the heading even when the photo has one\n"

/* --prior gps[=RADIUS_M] and --refine auto|on|off into a batch's options
 * (locate, eval, demo share them). -1 after a usage error was printed. */
int cli_parse_prior(const char *cmd, const char *s, tg_batch_opts *o);
/* getopt codes of the long-only options --prior, --refine, --refine-tiles,
 * --batch, --codec. */
enum { OPT_PRIOR = 1001, OPT_REFINE, OPT_REFINE_TILES, OPT_BATCH, OPT_RANKING, OPT_CODEC = 1050 };
/* --batch N (locate and eval: photos scored per pass over the tiles). */
#define CLI_BATCH_LONGOPT {"batch", required_argument, NULL, OPT_BATCH}
#define CLI_BATCH_HELP                                                                      \
    "      --batch N          photos scored in one pass over the tiles (one matrix\n"      \
    "                           product; default 32); 1 scores each photo alone. The\n"  \
    "                           answers are the same for every N\n"
/* --codec f32|f16|int8 -> *codec (TG_CODEC_*); -1 after a usage error was printed. */
int cli_parse_codec(const char *cmd, const char *s, int *codec);
#define CLI_CODEC_HELP                                                                      \
    "      --codec C          embeddings scanned as f32 (exact), f16 or int8 (scan the\n"   \
    "                           compact copy, re-rank the best in f32); default: the\n"   \
    "                           model's codec, set by transgeo index --codec\n"
int cli_parse_refine(const char *cmd, const char *s, tg_batch_opts *o);

double cli_now(void); /* monotonic seconds */

/* Print "transgeo NAME: msg" and return TG_EXIT_ERROR. */
int cli_fail_msg(const char *cmd, const char *msg);

/* The one default-model resolver: the model file a command uses when its
 * command line names none (--model always wins, and `transgeo index` first
 * takes the database's only registered model). In this order:
 *   1. $TG_MODEL when set and not empty; a TG_MODEL that is not a readable
 *      file is an error (NULL), not a reason to fall back to another model;
 *   2. the installed demo model, $(pkgdatadir)/models/demo.safetensors;
 *   3. the source tree's models/demo.safetensors, so that a build tree works
 *      before `make install` (an installed program prefers its installed
 *      copy to the tree it was built from).
 * Returns the path (static or from the environment), or NULL with a
 * sentence saying what was tried in why[n] (no trailing period). */
const char *cli_default_model(char *why, size_t n);
/* The demo model paths built in (src/cli/local.mk), or NULL. */
const char *cli_demo_model_installed(void);
const char *cli_demo_model_source(void);

/* The subcommands. */
int cmd_info(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_tiles(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_locate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_world(int argc, char **argv);

#endif
