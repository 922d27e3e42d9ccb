/* cli.c - messages, progress bar and option parsing shared by the subcommands. */
#include "config.h"
#include "cli.h"
#include "transgeo/search.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

void cli_progress_init_mode(cli_progress *p, const char *label, int quiet, int mode)
{
    p->label = label;
    p->json = mode == CLI_PROGRESS_JSON;
    p->enabled = mode == CLI_PROGRESS_AUTO && !quiet && isatty(STDERR_FILENO);
    p->item = p->items = 1;
    p->t_start = cli_now();
    p->t_last = 0;
    p->n_calls = 0;
}

void cli_progress_init(cli_progress *p, const char *label, int quiet)
{
    cli_progress_init_mode(p, label, quiet, CLI_PROGRESS_AUTO);
}

int cli_parse_codec(const char *cmd, const char *s, int *codec)
{
    *codec = tg_codec_parse(s);
    if (*codec < 0) {
        cli_usage_error(cmd, "--codec: '%s' is not f32, f16 or int8", s);
        return -1;
    }
    return 0;
}

int cli_parse_progress(const char *cmd, const char *s, int *mode)
{
    if (!strcmp(s, "auto")) *mode = CLI_PROGRESS_AUTO;
    else if (!strcmp(s, "json")) *mode = CLI_PROGRESS_JSON;
    else if (!strcmp(s, "none")) *mode = CLI_PROGRESS_NONE;
    else {
        cli_usage_error(cmd, "--progress: '%s' is not auto, json or none", s);
        return -1;
    }
    return 0;
}

/* s as a JSON string (RFC 8259 section 7): quote, backslash and control
 * characters escaped; other bytes as they are (file names are passed on). */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c < 0x20 || *c == 0x7f) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

static void json_number(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.15g", v);
    else fputs("null", f);
}

int cli_progress_cb(double done, double total, const char *msg, void *user)
{
    cli_progress *p = user;
    if (!p || (!p->enabled && !p->json)) return 1;
    double now = cli_now();
    int first = p->n_calls++ == 0;
    if (!first && now - p->t_last < 0.1 && done < total) return 1; /* at most 10x/s */
    p->t_last = now;
    if (p->json) {
        /* one write per line, so that a reader never sees half an object */
        char *line = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&line, &n);
        if (!f) return 1;
        fputs("{\"done\":", f);
        json_number(f, done);
        fputs(",\"total\":", f);
        json_number(f, total);
        fputs(",\"stage\":", f);
        json_string(f, p->label);
        fprintf(f, ",\"item\":%d,\"items\":%d,\"message\":", p->item, p->items);
        if (msg) json_string(f, msg);
        else fputs("null", f);
        fputs("}\n", f);
        int bad = ferror(f);
        if (fclose(f) == 0 && !bad && line) {
            fwrite(line, 1, n, stderr);
            fflush(stderr);
        }
        free(line);
        return 1;
    }
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

static int readable_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, R_OK) == 0;
}

const char *cli_default_model(char *why, size_t n)
{
    const char *env = getenv("TG_MODEL");
    if (env && *env) {
        if (readable_file(env)) return env;
        /* a set but wrong TG_MODEL is an error, not a reason to pick another model */
        snprintf(why, n, "TG_MODEL ('%s') is not a readable file", env);
        return NULL;
    }
    const char *const tried[] = {cli_demo_model_installed(), cli_demo_model_source()};
    for (size_t i = 0; i < sizeof tried / sizeof tried[0]; i++)
        if (tried[i] && readable_file(tried[i])) return tried[i];
    snprintf(why, n, "TG_MODEL is not set and the demo model is neither installed (%s) nor in the source "
             "tree (%s)", tried[0] ? tried[0] : "no install path built in",
             tried[1] ? tried[1] : "no source path built in");
    return NULL;
}

const char *cli_demo_model_installed(void)
{
#ifdef TG_MODEL_INSTALLED
    return TG_MODEL_INSTALLED;
#else
    return NULL;
#endif
}

const char *cli_demo_model_source(void)
{
#ifdef TG_MODEL_SRC
    return TG_MODEL_SRC;
#else
    return NULL;
#endif
}

int cli_locate_option(const char *cmd, int c, const char *arg, struct tg_batch_opts *o)
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
    case OPT_PRIOR: return cli_parse_prior(cmd, arg, o) ? TG_EXIT_USAGE : 0;
    case OPT_REFINE: return cli_parse_refine(cmd, arg, o) ? TG_EXIT_USAGE : 0;
    case OPT_BATCH:
        if (cli_parse_int(cmd, "--batch", arg, &o->score_batch)) return TG_EXIT_USAGE;
        if (o->score_batch < 1 || o->score_batch > 4096)
            return cli_usage_error(cmd, "--batch %s: expected 1..4096 photos per pass", arg);
        return 0;
    case OPT_RANKING:
        o->ranking = tg_ranking_parse(arg);
        if (o->ranking < 0)
            return cli_usage_error(cmd, "--ranking %s: expected auto, local or server", arg);
        return 0;
    case OPT_REFINE_TILES:
        if (cli_parse_int(cmd, "--refine-tiles", arg, &o->refine_max_tiles)) return TG_EXIT_USAGE;
        if (o->refine_max_tiles < 1 || o->refine_max_tiles > 64)
            return cli_usage_error(cmd, "--refine-tiles: expected 1..64");
        return 0;
    default: return TG_EXIT_USAGE;
    }
}
