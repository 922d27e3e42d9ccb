/* files.c - the store's policy for files the database names (tg_models.path,
 * tg_rasters.path): trusted directories and trusted model sha256s, and the
 * one check every opening of such a file goes through (see store.h, "files
 * the database names").
 *
 * Why realpath: a path the database gives may climb out of a trusted
 * directory with "..", or be a symbolic link inside it that points out;
 * only the resolved path says where the bytes are. Why the same refusal for
 * a missing file: otherwise the message would tell SQL which files exist. */
#define _GNU_SOURCE 1 /* realpath, O_CLOEXEC */
#include "config.h"
#include "store_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tgst_files_clear(tg_store *st)
{
    for (size_t i = 0; i < st->n_trusted_dirs; i++) free(st->trusted_dirs[i]);
    free(st->trusted_dirs);
    free(st->trusted_sha);
    free(st->files_hint);
    st->trusted_dirs = NULL;
    st->n_trusted_dirs = 0;
    st->trusted_sha = NULL;
    st->n_trusted_sha = 0;
    st->files_hint = NULL;
    st->files_restricted = 0;
}

/* The next token of s separated by any of seps: [*tok, *tok + *len); returns
 * the position after it, or NULL at the end. */
static const char *next_token(const char *s, const char *seps, const char **tok, size_t *len)
{
    while (*s && strchr(seps, *s)) s++;
    if (!*s) return NULL;
    const char *e = s;
    while (*e && !strchr(seps, *e)) e++;
    *tok = s;
    *len = (size_t)(e - s);
    return e;
}

int tg_store_set_files(tg_ctx *ctx, tg_store *st, const tg_store_files *f)
{
    if (!st || !f) return tg_set_error(ctx, TG_EINVAL, "tg_store_set_files: NULL argument");
    tg_store tmp; /* the new lists, swapped in only when all is well */
    memset(&tmp, 0, sizeof tmp);
    int rc = TG_OK;
    const char *p, *tok;
    size_t len;
    size_t cap = 0;
    for (p = f->dirs ? f->dirs : ""; (p = next_token(p, ":", &tok, &len));) {
        char given[PATH_MAX], real[PATH_MAX];
        if (len >= sizeof given) {
            rc = tg_set_error(ctx, TG_EINVAL, "trusted directory '%.*s...': path too long", 64, tok);
            goto fail;
        }
        memcpy(given, tok, len);
        given[len] = '\0';
        struct stat sb;
        errno = 0;
        if (!realpath(given, real)) {
            rc = tg_set_error(ctx, TG_EINVAL, "trusted directory '%s': %s", given, strerror(errno));
            goto fail;
        }
        if (stat(real, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            rc = tg_set_error(ctx, TG_EINVAL, "trusted directory '%s' is not a directory", given);
            goto fail;
        }
        if (tmp.n_trusted_dirs == cap) {
            size_t nc = cap ? 2 * cap : 4;
            char **d = realloc(tmp.trusted_dirs, nc * sizeof *d);
            if (!d) goto nomem;
            tmp.trusted_dirs = d;
            cap = nc;
        }
        if (!(tmp.trusted_dirs[tmp.n_trusted_dirs] = strdup(real))) goto nomem;
        tmp.n_trusted_dirs++;
    }
    cap = 0;
    for (p = f->models ? f->models : ""; (p = next_token(p, ",: \t\n", &tok, &len));) {
        int ok = len == 64;
        for (size_t i = 0; ok && i < len; i++) ok = isxdigit((unsigned char)tok[i]) != 0;
        if (!ok) {
            rc = tg_set_error(ctx, TG_EINVAL,
                              "trusted model '%.*s%s' is not a sha256 (64 hex digits, as sha256sum "
                              "prints for the model file)",
                              len > 80 ? 80 : (int)len, tok, len > 80 ? "..." : "");
            goto fail;
        }
        if (tmp.n_trusted_sha == cap) {
            size_t nc = cap ? 2 * cap : 4;
            char(*h)[65] = realloc(tmp.trusted_sha, nc * sizeof *h);
            if (!h) goto nomem;
            tmp.trusted_sha = h;
            cap = nc;
        }
        for (size_t i = 0; i < 64; i++)
            tmp.trusted_sha[tmp.n_trusted_sha][i] = (char)tolower((unsigned char)tok[i]);
        tmp.trusted_sha[tmp.n_trusted_sha][64] = '\0';
        tmp.n_trusted_sha++;
    }
    if (f->hint && *f->hint && !(tmp.files_hint = strdup(f->hint))) goto nomem;
    tmp.files_restricted = f->restricted != 0;
    tgst_files_clear(st);
    st->files_restricted = tmp.files_restricted;
    st->trusted_dirs = tmp.trusted_dirs;
    st->n_trusted_dirs = tmp.n_trusted_dirs;
    st->trusted_sha = tmp.trusted_sha;
    st->n_trusted_sha = tmp.n_trusted_sha;
    st->files_hint = tmp.files_hint;
    return TG_OK;
nomem:
    rc = tg_set_error(ctx, TG_ENOMEM, "tg_store_set_files: out of memory");
fail:
    tgst_files_clear(&tmp);
    return rc;
}

/* 1 when the resolved path `real` lies under the resolved directory `dir`. */
static int under(const char *real, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return real[0] == '/';
    return strncmp(real, dir, n) == 0 && real[n] == '/';
}

/* 1 when the regular file at the resolved path has one of the trusted
 * sha256s. Its bytes only go into the hash. */
static int sha_trusted(const tg_store *st, const char *real)
{
    int fd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        close(fd);
        return 0;
    }
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return 0;
    }
    cpl_sha256_ctx sc;
    CPL_SHA256Init(&sc);
    int ok = 1;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ok = 0;
        if (n <= 0) break;
        CPL_SHA256Update(&sc, buf, (size_t)n);
    }
    close(fd);
    free(buf);
    if (!ok) return 0;
    unsigned char h[32];
    char hex[65];
    CPL_SHA256Final(&sc, h);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    for (size_t i = 0; i < st->n_trusted_sha; i++)
        if (strcmp(hex, st->trusted_sha[i]) == 0) return 1;
    return 0;
}

int tg_store_file_check(tg_ctx *ctx, tg_store *st, const char *path, int kind, const char *what)
{
    if (!st || !path) return tg_set_error(ctx, TG_EINVAL, "tg_store_file_check: NULL argument");
    if (!what) what = kind == TG_STORE_FILE_MODEL ? "model" : "raster";
    if (!st->files_restricted) return TG_OK;
    char real[PATH_MAX];
    struct stat sb;
    int resolved = realpath(path, real) != NULL;
    int regular = resolved && stat(real, &sb) == 0 && S_ISREG(sb.st_mode);
    if (regular) {
        for (size_t i = 0; i < st->n_trusted_dirs; i++)
            if (under(real, st->trusted_dirs[i])) return TG_OK;
        if (kind == TG_STORE_FILE_MODEL && st->n_trusted_sha && sha_trusted(st, real)) return TG_OK;
    }
    char rule[256];
    if (kind == TG_STORE_FILE_MODEL)
        snprintf(rule, sizeof rule,
                 "not a regular file under a trusted directory (%zu set), nor a model file with a "
                 "trusted sha256 (%zu set)",
                 st->n_trusted_dirs, st->n_trusted_sha);
    else
        snprintf(rule, sizeof rule, "not a regular file under a trusted directory (%zu set)",
                 st->n_trusted_dirs);
    return tg_set_error(ctx, TG_EACCES,
                        "%s: the database names the file '%s', which is %s: refused without "
                        "reading it%s%s",
                        what, path, rule, st->files_hint ? "; " : "",
                        st->files_hint ? st->files_hint : "");
}
