/* cli.c - messages, progress bar and option parsing shared by the subcommands. */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "transgeo/batch.h"
#include "transgeo/camera.h"

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "transgeo %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_fail(const char *cmd, const tg_ctx *ctx)
{
    cli_error(cmd, "%s", tg_errmsg(ctx));
    return TG_EXIT_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "transgeo %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'transgeo %s --help'.\n", cmd);
    va_end(ap);
    return TG_EXIT_USAGE;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
        cli_usage_error(cmd, "%s: '%s' is not a number", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) {
        cli_usage_error(cmd, "%s: '%s' is not an integer", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

void cli_progress_init(cli_progress *p, const char *label, int quiet)
{
    p->label = label;
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->t_start = cli_now();
    p->t_last = 0;
}

int cli_progress_cb(double done, double total, const char *msg, void *user)
{
    cli_progress *p = user;
    if (!p || !p->enabled) return 1;
    double now = cli_now();
    if (now - p->t_last < 0.1 && done < total) return 1; /* redraw at most 10x/s */
    p->t_last = now;
    double el = now - p->t_start, rate = el > 0 ? done / el : 0;
    int width = 30, fill = total > 0 ? (int)(width * done / total) : 0;
    if (fill > width) fill = width;
    char bar[64];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %.0f/%.0f %s  %.1f/s", bar, done, total, p->label, rate);
    if (rate > 0 && total > done) fprintf(stderr, "  ETA %.0fs", (total - done) / rate);
    if (msg) fprintf(stderr, "  %.40s", msg);
    fprintf(stderr, "\033[K");
    fflush(stderr);
    return 1;
}

void cli_progress_end(cli_progress *p)
{
    if (p && p->enabled) fprintf(stderr, "\n");
}

int cli_fail_msg(const char *cmd, const char *msg)
{
    cli_error(cmd, "%s", msg);
    return TG_EXIT_ERROR;
}

const char *cli_default_model(void)
{
    const char *env = getenv("TG_MODEL");
    if (env && *env) return env;
#ifdef TG_MODEL_SRC
    if (access(TG_MODEL_SRC, R_OK) == 0) return TG_MODEL_SRC;
#endif
#ifdef TG_MODEL_INSTALLED
    if (access(TG_MODEL_INSTALLED, R_OK) == 0) return TG_MODEL_INSTALLED;
#endif
    return NULL;
}

int cli_camera_option(const char *cmd, int c, const char *arg, struct tg_batch_opts *o)
{
    switch (c) {
    case 'F':
        if (cli_parse_double(cmd, "--fov", arg, &o->fov_deg)) return TG_EXIT_USAGE;
        if (tg_camera_check_fov(NULL, o->fov_deg) || isnan(o->fov_deg))
            return cli_usage_error(cmd, "--fov %s: expected degrees, more than 0 and under 180 "
                                   "for a photo, or 360 for a panorama", arg);
        return 0;
    case 'H':
        if (cli_parse_int(cmd, "--heading-search", arg, &o->heading_search)) return TG_EXIT_USAGE;
        if (o->heading_search < 0 || o->heading_search > 360)
            return cli_usage_error(cmd, "--heading-search %s: expected 0 (from the field of "
                                   "view), 1 (no search) or 2..360 headings", arg);
        return 0;
    case 'I': o->ignore_heading = 1; return 0;
    default: return TG_EXIT_USAGE;
    }
}
