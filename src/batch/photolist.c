/* photolist.c - the photos named by PHOTO | DIR | @LIST arguments, one at a
 * time (tg_photo_list, see include/transgeo/batch.h). */
#include "config.h"
#include "batch_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_hash_set.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <sqlite3.h>

#include "transgeo/exif.h"
#include "transgeo/geo.h"
#include "transgeo/image.h"
#include "transgeo/locate.h"

#include "base/gdal.h"
#include "transgeo/store.h"

/* ======================================================================== */
/* photo enumeration                                                        */
/* ======================================================================== */

struct dirframe {
    char *path;    /* the directory, as it will prefix its entries */
    char **names;  /* its entries, sorted by strcmp, hidden ones left out */
    size_t n, i;   /* count, next to visit */
    dev_t dev;     /* identity, to walk a directory loop once */
    ino_t ino;
};

struct tg_photo_list {
    char **args;           /* copies of the arguments */
    size_t n_args, next_arg;
    FILE *listf;           /* the @LIST being read, or NULL */
    int listf_is_stdin;
    const char *list_name; /* its name, for messages */
    char *line;            /* getline buffer */
    size_t line_cap;
    struct dirframe *stack; /* directories being walked, outermost first */
    size_t depth, cap;
    char *cur;             /* the path returned last */
    char *err;             /* the error returned last */
    char **excl;           /* real paths not to list */
    size_t n_excl;
    int uses_stdin;
};

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tg_photo_list_open(tg_ctx *ctx, const char *const *args, size_t n_args, tg_photo_list **out)
{
    if (out) *out = NULL;
    if (!out || (!args && n_args)) return tg_set_error(ctx, TG_EINVAL, "photo list: NULL argument");
    if (n_args == 0) return tg_set_error(ctx, TG_EINVAL, "no photo given (PHOTO, DIR or @LIST)");
    tg_photo_list *l = calloc(1, sizeof *l);
    if (!l) goto nomem;
    l->args = calloc(n_args, sizeof *l->args);
    if (!l->args) goto nomem;
    l->n_args = n_args;
    for (size_t i = 0; i < n_args; i++) {
        if (!args[i] || !args[i][0] || !strcmp(args[i], "@")) {
            tg_photo_list_free(l);
            return tg_set_error(ctx, TG_EINVAL, "photo argument %zu is empty", i + 1);
        }
        if (!(l->args[i] = tgb_strdup(args[i]))) goto nomem;
        if (!strcmp(args[i], "@-")) l->uses_stdin = 1;
    }
    *out = l;
    return 0;
nomem:
    tg_photo_list_free(l);
    return tg_set_error(ctx, TG_ENOMEM, "photo list: out of memory");
}

int tg_photo_list_exclude(tg_ctx *ctx, tg_photo_list *l, const char *path)
{
    if (!l || !path) return tg_set_error(ctx, TG_EINVAL, "photo list: NULL argument");
    /* The file may not exist yet: resolve its directory and append the name. */
    char *rp = realpath(path, NULL);
    if (!rp) {
        char *dup = tgb_strdup(path);
        if (!dup) return tg_set_error(ctx, TG_ENOMEM, "photo list: out of memory");
        char *slash = strrchr(dup, '/');
        const char *dir = ".", *base = dup;
        if (slash) {
            *slash = '\0';
            dir = slash == dup ? "/" : dup;
            base = slash + 1;
        }
        char *rd = realpath(dir, NULL);
        if (rd) rp = path_join(rd, base);
        free(rd);
        free(dup);
        if (!rp) return 0; /* the directory does not exist: nothing there to exclude */
    }
    char **e = realloc(l->excl, (l->n_excl + 1) * sizeof *e);
    if (!e) {
        free(rp);
        return tg_set_error(ctx, TG_ENOMEM, "photo list: out of memory");
    }
    l->excl = e;
    l->excl[l->n_excl++] = rp;
    return 0;
}

int tg_photo_list_uses_stdin(const tg_photo_list *l)
{
    return l ? l->uses_stdin : 0;
}

static int excluded(const tg_photo_list *l, const char *path)
{
    if (!l->n_excl) return 0;
    char *rp = realpath(path, NULL);
    if (!rp) return 0;
    int hit = 0;
    for (size_t i = 0; i < l->n_excl && !hit; i++)
        hit = !strncmp(rp, l->excl[i], strlen(l->excl[i]));
    free(rp);
    return hit;
}

static void frame_free(struct dirframe *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->names[i]);
    free(f->names);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Read directory `path` into a new frame on the stack. Returns 0, 1 when it
 * is already being walked (a loop: skip it), -1 errno set (cannot read) or
 * TG_ENOMEM. */
static int push_dir(tg_photo_list *l, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < l->depth; i++)
        if (l->stack[i].dev == st->st_dev && l->stack[i].ino == st->st_ino) return 1;
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirframe f = {0};
    size_t cap = 0;
    struct dirent *de;
    f.dev = st->st_dev;
    f.ino = st->st_ino;
    if (!(f.path = tgb_strdup(path))) goto nomem;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ., .. and hidden files */
        if (f.n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(f.names, cap * sizeof *nn);
            if (!nn) goto nomem;
            f.names = nn;
        }
        if (!(f.names[f.n] = tgb_strdup(de->d_name))) goto nomem;
        f.n++;
    }
    closedir(d);
    d = NULL;
    if (f.n) qsort(f.names, f.n, sizeof *f.names, cmp_str);
    if (l->depth == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct dirframe *ns = realloc(l->stack, nc * sizeof *ns);
        if (!ns) goto nomem;
        l->stack = ns;
        l->cap = nc;
    }
    l->stack[l->depth++] = f;
    return 0;
nomem:
    if (d) closedir(d);
    frame_free(&f);
    return TG_ENOMEM;
}

/* Set the entry to return: path (taken over) and an optional error. */
static int give(tg_ctx *ctx, tg_photo_list *l, char *path, const char *err, tg_photo_entry *e)
{
    free(l->cur);
    free(l->err);
    l->cur = path;
    l->err = NULL;
    if (err && !(l->err = tgb_strdup(err))) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    e->path = l->cur;
    e->error = l->err;
    return 1;
}

/* One item (argument, list line or directory entry): returns 1 with *e set,
 * 0 when it produced nothing to return now (a directory pushed, an excluded
 * file), or TG_ENOMEM. `path` is taken over. */
static int visit(tg_ctx *ctx, tg_photo_list *l, char *path, tg_photo_entry *e)
{
    struct stat st;
    char msg[300];
    if (stat(path, &st) != 0) {
        snprintf(msg, sizeof msg, "cannot read: %s", strerror(errno));
        return give(ctx, l, path, msg, e);
    }
    if (S_ISDIR(st.st_mode)) {
        int rc = push_dir(l, path, &st);
        if (rc == TG_ENOMEM) {
            free(path);
            return tg_set_error(ctx, TG_ENOMEM, "photo list: out of memory");
        }
        if (rc < 0) {
            snprintf(msg, sizeof msg, "directory cannot be read: %s", strerror(errno));
            return give(ctx, l, path, msg, e);
        }
        free(path);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) return give(ctx, l, path, "not a regular file", e);
    if (excluded(l, path)) {
        free(path);
        return 0;
    }
    return give(ctx, l, path, NULL, e);
}

int tg_photo_list_next(tg_ctx *ctx, tg_photo_list *l, tg_photo_entry *e)
{
    if (!l || !e) return tg_set_error(ctx, TG_EINVAL, "photo list: NULL argument");
    for (;;) {
        char *path = NULL;
        if (l->depth > 0) {
            struct dirframe *f = &l->stack[l->depth - 1];
            if (f->i == f->n) {
                frame_free(f);
                l->depth--;
                continue;
            }
            path = path_join(f->path, f->names[f->i++]);
        } else if (l->listf) {
            errno = 0;
            ssize_t n = getline(&l->line, &l->line_cap, l->listf);
            if (n < 0) {
                int bad = ferror(l->listf);
                int err = errno;
                if (!l->listf_is_stdin) fclose(l->listf);
                l->listf = NULL;
                if (bad)
                    return tg_set_error(ctx, TG_EIO, "photo list '%s' cannot be read: %s",
                                        l->list_name, strerror(err));
                continue;
            }
            /* trim the line end and surrounding blanks */
            char *s = l->line;
            while (*s == ' ' || *s == '\t') s++;
            size_t len = strlen(s);
            while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' ||
                           s[len - 1] == '\t'))
                s[--len] = '\0';
            if (!len || s[0] == '#') continue;
            path = tgb_strdup(s);
        } else if (l->next_arg < l->n_args) {
            const char *a = l->args[l->next_arg++];
            if (a[0] == '@') {
                l->list_name = a + 1;
                if (!strcmp(a, "@-")) {
                    l->listf = stdin;
                    l->listf_is_stdin = 1;
                    l->list_name = "(standard input)";
                } else {
                    l->listf_is_stdin = 0;
                    l->listf = fopen(a + 1, "r");
                    if (!l->listf)
                        return tg_set_error(ctx, TG_EIO,
                                            "photo list '%s' cannot be opened: %s "
                                            "(@LIST is a text file with one path per line)",
                                            a + 1, strerror(errno));
                }
                continue;
            }
            path = tgb_strdup(a);
        } else {
            return 0;
        }
        if (!path) return tg_set_error(ctx, TG_ENOMEM, "photo list: out of memory");
        int rc = visit(ctx, l, path, e);
        if (rc != 0) return rc;
    }
}

void tg_photo_list_free(tg_photo_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n_args; i++) free(l->args[i]);
    free(l->args);
    if (l->listf && !l->listf_is_stdin) fclose(l->listf);
    free(l->line);
    for (size_t i = 0; i < l->depth; i++) frame_free(&l->stack[i]);
    free(l->stack);
    free(l->cur);
    free(l->err);
    for (size_t i = 0; i < l->n_excl; i++) free(l->excl[i]);
    free(l->excl);
    free(l);
}
