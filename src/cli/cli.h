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

/* Progress bar on stderr when it is a terminal (quiet in pipes), usable as a
 * tg_progress_fn with user = a cli_progress. Shows done/total, rate, ETA. */
typedef struct cli_progress {
    const char *label;   /* e.g. "tiles" */
    int enabled;         /* 1 if stderr is a terminal and not --quiet */
    double t_start;      /* monotonic seconds at start */
    double t_last;       /* last redraw */
} cli_progress;
void cli_progress_init(cli_progress *p, const char *label, int quiet);
int cli_progress_cb(double done, double total, const char *msg, void *user);
void cli_progress_end(cli_progress *p);

/* Parse helpers: 0 on success, -1 (message printed) on a bad value. */
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int *out);
/* --prior gps[=RADIUS_M] and --refine auto|on|off into a batch's options
 * (locate, eval, demo share them). -1 after a usage error was printed. */
int cli_parse_prior(const char *cmd, const char *s, tg_batch_opts *o);
int cli_parse_refine(const char *cmd, const char *s, tg_batch_opts *o);

double cli_now(void); /* monotonic seconds */

/* Print "transgeo NAME: msg" and return TG_EXIT_ERROR. */
int cli_fail_msg(const char *cmd, const char *msg);

/* The model used when none is given: $TG_MODEL, else the shipped demo
 * model of this build tree (uninstalled use), else the installed copy under
 * $(pkgdatadir)/models. NULL when none of them exists. */
const char *cli_default_model(void);

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
