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

int cli_parse_prior(const char *cmd, const char *s, tg_batch_opts *o)
{
    if (strcmp(s, "gps") == 0) {
        o->gps_prior = 1;
        o->gps_radius_m = 0; /* the photo's own accuracy */
        return 0;
    }
    if (strncmp(s, "gps=", 4) == 0) {
        char *end = NULL;
        errno = 0;
        double r = strtod(s + 4, &end);
        if (errno || end == s + 4 || *end || !isfinite(r) || r <= 0) {
            cli_usage_error(cmd, "--prior '%s': the radius must be metres > 0 (e.g. --prior "
                                 "gps=100), or leave it out (--prior gps) for the photo's own "
                                 "accuracy", s);
            return -1;
        }
        o->gps_prior = 1;
        o->gps_radius_m = r;
        return 0;
    }
    cli_usage_error(cmd, "--prior '%s': expected gps or gps=RADIUS_M", s);
    return -1;
}

int cli_parse_refine(const char *cmd, const char *s, tg_batch_opts *o)
{
    if (strcmp(s, "auto") == 0) o->refine = TG_REFINE_AUTO;
    else if (strcmp(s, "on") == 0) o->refine = TG_REFINE_ON;
    else if (strcmp(s, "off") == 0) o->refine = TG_REFINE_OFF;
    else {
        cli_usage_error(cmd, "--refine '%s': expected auto, on or off", s);
        return -1;
    }
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
