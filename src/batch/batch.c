/*
 * batch.c - batch georeferencing (see batch.h): photo enumeration, the
 * GeoPackage/CSV output with resume, and the threaded locate loop.
 */
#include "config.h"
#include "transgeo/batch.h"

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

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

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
        if (!(l->args[i] = xstrdup(args[i]))) goto nomem;
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
        char *dup = xstrdup(path);
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
    if (!(f.path = xstrdup(path))) goto nomem;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ., .. and hidden files */
        if (f.n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(f.names, cap * sizeof *nn);
            if (!nn) goto nomem;
            f.names = nn;
        }
        if (!(f.names[f.n] = xstrdup(de->d_name))) goto nomem;
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
    if (err && !(l->err = xstrdup(err))) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
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
            path = xstrdup(s);
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
            path = xstrdup(a);
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

/* ======================================================================== */
/* output                                                                   */
/* ======================================================================== */

/* Field layout of the layer "photos" (and the CSV columns, which add "error"). */
enum { PF_FILE, PF_MODEL, PF_LON, PF_LAT, PF_SCORE, PF_ERROR_M, PF_TILE_ID, PF_GPS_LON,
       PF_GPS_LAT, PF_GPS_ERROR_M, PF_HEADING, PF_HEADING_SOURCE, PF_FOV, PF_CAMERA_SOURCE,
       PF_TILE_LON, PF_TILE_LAT, PF_PRIOR, PF_REFINED, PF_REFINE_TILES, PF_COUNT };
static const struct { const char *name; OGRFieldType type; } photo_fields[PF_COUNT] = {
    {"file", OFTString},     {"model", OFTString},   {"lon", OFTReal},
    {"lat", OFTReal},        {"score", OFTReal},     {"error_m", OFTReal},
    {"tile_id", OFTInteger64}, {"gps_lon", OFTReal}, {"gps_lat", OFTReal},
    {"gps_error_m", OFTReal}, {"heading", OFTReal},
    {"heading_source", OFTString}, {"fov_deg", OFTReal}, {"camera_source", OFTString},
    {"tile_lon", OFTReal},   {"tile_lat", OFTReal},   {"prior", OFTString},
    {"refined", OFTString},  {"refine_tiles", OFTInteger},
};
enum { TF_FILE, TF_RANK, TF_TILE_ID, TF_SCORE, TF_LON, TF_LAT, TF_COUNT };
static const struct { const char *name; OGRFieldType type; } tile_fields[TF_COUNT] = {
    {"file", OFTString}, {"rank", OFTInteger}, {"tile_id", OFTInteger64},
    {"score", OFTReal},  {"lon", OFTReal},     {"lat", OFTReal},
};
enum { FF_FILE, FF_ERROR, FF_COUNT };
static const struct { const char *name; OGRFieldType type; } fail_fields[FF_COUNT] = {
    {"file", OFTString}, {"error", OFTString},
};

#define LAYER_PHOTOS "photos"
#define LAYER_TILES "matched_tiles"
#define LAYER_FAILURES "failures"

struct tg_batch_out {
    int format;             /* tg_batch_format */
    char *path;
    CPLHashSet *done;       /* files already in the output (char*, owned) */
    long n_existing;
    /* GeoPackage */
    GDALDatasetH ds;
    OGRLayerH photos, tiles, fails;
    int pidx[PF_COUNT], tidx[TF_COUNT], fidx[FF_COUNT]; /* field indices */
    OGRSpatialReferenceH srs;
    int in_tx;              /* a transaction is open */
    /* CSV */
    FILE *fp;
    int fp_is_stdout;
};

int tg_batch_format_of(const char *path)
{
    if (!path) return 0;
    if (!strcmp(path, "-")) return TG_BATCH_STDOUT;
    size_t n = strlen(path);
    if (n > 5 && !strcasecmp(path + n - 5, ".gpkg")) return TG_BATCH_GPKG;
    if (n > 4 && !strcasecmp(path + n - 4, ".csv")) return TG_BATCH_CSV;
    return 0;
}

int tg_batch_out_format(const tg_batch_out *o)
{
    return o ? o->format : 0;
}

int tg_batch_out_has(const tg_batch_out *o, const char *file)
{
    return o && file && CPLHashSetLookup(o->done, file) != NULL;
}

long tg_batch_out_n_existing(const tg_batch_out *o)
{
    return o ? o->n_existing : 0;
}

static int remember(tg_ctx *ctx, tg_batch_out *o, const char *file)
{
    if (!file || CPLHashSetLookup(o->done, file)) return 0;
    char *d = xstrdup(file);
    if (!d) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
    CPLHashSetInsert(o->done, d);
    return 0;
}

static int gdal_fail(tg_ctx *ctx, int code, const tg_batch_out *o, const char *what)
{
    tg_set_error(ctx, code, "output '%s': %s", o->path, what);
    const char *m = CPLGetLastErrorMsg();
    if (m && *m) tg_append_error(ctx, "%s", m);
    return code;
}

/* Look up (or create, in a new file) a layer and its fields; idx[i] = index of
 * field i. Existing layers must have every field (a file from another tool or
 * version is refused rather than mixed). */
static int gpkg_layer(tg_ctx *ctx, tg_batch_out *o, const char *name, OGRwkbGeometryType gt,
                      const void *fields_, int n_fields, int *idx, OGRLayerH *out)
{
    const struct { const char *name; OGRFieldType type; } *fields = fields_;
    OGRLayerH lyr = GDALDatasetGetLayerByName(o->ds, name);
    if (!lyr) {
        char **opts = NULL;
        opts = CSLSetNameValue(opts, "FID", "fid");
        if (gt != wkbNone) {
            opts = CSLSetNameValue(opts, "GEOMETRY_NAME", "geom");
            opts = CSLSetNameValue(opts, "SPATIAL_INDEX", "YES");
        }
        lyr = GDALDatasetCreateLayer(o->ds, name, gt != wkbNone ? o->srs : NULL, gt, opts);
        CSLDestroy(opts);
        if (!lyr) {
            char what[128];
            snprintf(what, sizeof what, "cannot create layer '%s'", name);
            return gdal_fail(ctx, TG_EIO, o, what);
        }
        for (int i = 0; i < n_fields; i++) {
            OGRFieldDefnH fd = OGR_Fld_Create(fields[i].name, fields[i].type);
            if (i == 0) OGR_Fld_SetNullable(fd, FALSE); /* file */
            OGRErr err = OGR_L_CreateField(lyr, fd, TRUE);
            OGR_Fld_Destroy(fd);
            if (err != OGRERR_NONE) {
                char what[160];
                snprintf(what, sizeof what, "cannot create field '%s' of layer '%s'",
                         fields[i].name, name);
                return gdal_fail(ctx, TG_EIO, o, what);
            }
        }
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(lyr);
    for (int i = 0; i < n_fields; i++) {
        idx[i] = OGR_FD_GetFieldIndex(defn, fields[i].name);
        if (idx[i] < 0)
            return tg_set_error(ctx, TG_EIO,
                                "output '%s': layer '%s' has no field '%s', so it was not "
                                "written by transgeo locate; choose another output file",
                                o->path, name, fields[i].name);
    }
    *out = lyr;
    return 0;
}

static int read_done(tg_ctx *ctx, tg_batch_out *o, OGRLayerH lyr, int file_idx)
{
    OGR_L_ResetReading(lyr);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
        int rc = 0;
        if (OGR_F_IsFieldSetAndNotNull(f, file_idx))
            rc = remember(ctx, o, OGR_F_GetFieldAsString(f, file_idx));
        OGR_F_Destroy(f);
        if (rc) return rc;
    }
    return 0;
}

static int gpkg_open(tg_ctx *ctx, tg_batch_out *o)
{
    static const char *const drivers[] = {"GPKG", NULL};
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    if (exists && st.st_size == 0) { /* e.g. made by `touch`: start afresh */
        unlink(o->path);
        exists = 0;
    }
    if (exists) {
        o->ds = GDALOpenEx(o->path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, drivers, NULL, NULL);
        if (!o->ds)
            return gdal_fail(ctx, TG_EIO, o,
                             "exists but cannot be opened for update as a GeoPackage "
                             "(remove it or choose another output file)");
    } else {
        GDALDriverH drv = GDALGetDriverByName("GPKG");
        if (!drv) return gdal_fail(ctx, TG_EIO, o, "this GDAL has no GPKG driver");
        o->ds = GDALCreate(drv, o->path, 0, 0, 0, GDT_Unknown, NULL);
        if (!o->ds) return gdal_fail(ctx, TG_EIO, o, "cannot create the GeoPackage");
    }
    int rc = gpkg_layer(ctx, o, LAYER_PHOTOS, wkbPoint, photo_fields, PF_COUNT, o->pidx, &o->photos);
    if (!rc) rc = gpkg_layer(ctx, o, LAYER_TILES, wkbPolygon, tile_fields, TF_COUNT, o->tidx, &o->tiles);
    if (!rc) rc = gpkg_layer(ctx, o, LAYER_FAILURES, wkbNone, fail_fields, FF_COUNT, o->fidx, &o->fails);
    if (!rc && exists) rc = read_done(ctx, o, o->photos, o->pidx[PF_FILE]);
    if (!rc && exists) rc = read_done(ctx, o, o->fails, o->fidx[FF_FILE]);
    return rc;
}

/* CSV columns: the photos fields, then "error". */
static void csv_put_str(FILE *fp, const char *s)
{
    if (!s) return;
    if (strpbrk(s, ",\"\r\n") || (s[0] == ' ' || (s[0] && s[strlen(s) - 1] == ' '))) {
        fputc('"', fp);
        for (; *s; s++) {
            if (*s == '"') fputc('"', fp);
            fputc(*s, fp);
        }
        fputc('"', fp);
    } else {
        fputs(s, fp);
    }
}

static void csv_header(FILE *fp)
{
    for (int i = 0; i < PF_COUNT; i++) fprintf(fp, "%s,", photo_fields[i].name);
    fputs("error\n", fp);
}

/* Read the files of an existing CSV (through OGR's CSV reader, which knows the
 * quoting rules) and cut an unfinished last line (a run killed mid-write). */
static int csv_open_existing(tg_ctx *ctx, tg_batch_out *o)
{
    static const char *const drivers[] = {"CSV", NULL};
    int rc;
    FILE *fp = fopen(o->path, "r+");
    if (!fp) return tg_set_error(ctx, TG_EIO, "output '%s' cannot be opened: %s", o->path, strerror(errno));
    /* the last newline: everything after it is an unfinished row */
    if (fseeko(fp, 0, SEEK_END) != 0) goto ioerr;
    off_t size = ftello(fp), keep = 0;
    {
        char buf[4096];
        off_t pos = size;
        while (pos > 0 && keep == 0) {
            size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
            pos -= (off_t)chunk;
            if (fseeko(fp, pos, SEEK_SET) != 0 || fread(buf, 1, chunk, fp) != chunk) goto ioerr;
            for (size_t i = chunk; i > 0; i--)
                if (buf[i - 1] == '\n') {
                    keep = pos + (off_t)i;
                    break;
                }
        }
    }
    if (keep < size && ftruncate(fileno(fp), keep) != 0) goto ioerr;
    fclose(fp);
    fp = NULL;
    if (keep == 0) { /* nothing complete, not even the header: start afresh */
        o->fp = fopen(o->path, "w");
        if (!o->fp) goto ioerr;
        csv_header(o->fp);
        return 0;
    }
    GDALDatasetH ds = GDALOpenEx(o->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers, NULL, NULL);
    OGRLayerH lyr = ds ? GDALDatasetGetLayer(ds, 0) : NULL;
    int idx = lyr ? OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(lyr), "file") : -1;
    int ierr = lyr ? OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(lyr), "error") : -1;
    if (idx < 0 || ierr < 0) {
        if (ds) GDALClose(ds);
        return tg_set_error(ctx, TG_EIO,
                            "output '%s' exists but is not a CSV written by transgeo locate "
                            "(no 'file' and 'error' columns); choose another output file",
                            o->path);
    }
    rc = read_done(ctx, o, lyr, idx);
    GDALClose(ds);
    if (rc) return rc;
    o->fp = fopen(o->path, "a");
    if (!o->fp) goto ioerr;
    return 0;
ioerr:
    rc = tg_set_error(ctx, TG_EIO, "output '%s': %s", o->path, strerror(errno));
    if (fp) fclose(fp);
    return rc;
}

static int csv_open(tg_ctx *ctx, tg_batch_out *o)
{
    if (o->format == TG_BATCH_STDOUT) {
        o->fp = stdout;
        o->fp_is_stdout = 1;
        csv_header(o->fp);
        return 0;
    }
    struct stat st;
    if (stat(o->path, &st) == 0 && st.st_size > 0) return csv_open_existing(ctx, o);
    o->fp = fopen(o->path, "w");
    if (!o->fp)
        return tg_set_error(ctx, TG_EIO, "output '%s' cannot be created: %s", o->path, strerror(errno));
    csv_header(o->fp);
    return 0;
}

int tg_batch_out_open(tg_ctx *ctx, const char *path, tg_batch_out **out)
{
    if (out) *out = NULL;
    if (!path || !out) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    int fmt = tg_batch_format_of(path);
    if (!fmt)
        return tg_set_error(ctx, TG_EINVAL,
                            "output '%s': unknown format; name it *.gpkg (GeoPackage), *.csv, "
                            "or - (CSV on standard output)", path);
    tg_batch_out *o = calloc(1, sizeof *o);
    if (!o || !(o->path = xstrdup(path))) goto nomem;
    o->format = fmt;
    o->done = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    if (!o->done) goto nomem;
    tg_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    int rc;
    if (fmt == TG_BATCH_GPKG) {
        o->srs = OSRNewSpatialReference(NULL);
        if (!o->srs || OSRImportFromEPSG(o->srs, 4326) != OGRERR_NONE) {
            CPLPopErrorHandler();
            rc = gdal_fail(ctx, TG_EGEO, o, "EPSG:4326 is unknown to PROJ (is proj.db installed?)");
            tg_batch_out_free(o);
            return rc;
        }
        OSRSetAxisMappingStrategy(o->srs, OAMS_TRADITIONAL_GIS_ORDER); /* x = lon */
        rc = gpkg_open(ctx, o);
    } else {
        rc = csv_open(ctx, o);
    }
    CPLPopErrorHandler();
    if (rc) {
        tg_batch_out_free(o);
        return rc;
    }
    o->n_existing = CPLHashSetSize(o->done);
    *out = o;
    return 0;
nomem:
    tg_batch_out_free(o);
    return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", path);
}

static int gpkg_begin(tg_ctx *ctx, tg_batch_out *o)
{
    if (o->in_tx) return 0;
    if (GDALDatasetStartTransaction(o->ds, FALSE) != OGRERR_NONE)
        return gdal_fail(ctx, TG_EIO, o, "cannot start a transaction");
    o->in_tx = 1;
    return 0;
}

static void set_real_or_null(OGRFeatureH f, int idx, int has, double v)
{
    if (has)
        OGR_F_SetFieldDouble(f, idx, v);
    else
        OGR_F_SetFieldNull(f, idx);
}

static int gpkg_add(tg_ctx *ctx, tg_batch_out *o, const tg_batch_record *r)
{
    int rc = gpkg_begin(ctx, o);
    if (rc) return rc;
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(o->photos));
    if (!f) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
    const int *p = o->pidx;
    OGR_F_SetFieldString(f, p[PF_FILE], r->file);
    if (r->model)
        OGR_F_SetFieldString(f, p[PF_MODEL], r->model);
    else
        OGR_F_SetFieldNull(f, p[PF_MODEL]);
    OGR_F_SetFieldDouble(f, p[PF_LON], r->lon);
    OGR_F_SetFieldDouble(f, p[PF_LAT], r->lat);
    OGR_F_SetFieldDouble(f, p[PF_SCORE], r->score);
    OGR_F_SetFieldDouble(f, p[PF_ERROR_M], r->error_m);
    OGR_F_SetFieldInteger64(f, p[PF_TILE_ID], (GIntBig)r->tile_id);
    set_real_or_null(f, p[PF_GPS_LON], r->has_gps, r->gps_lon);
    set_real_or_null(f, p[PF_GPS_LAT], r->has_gps, r->gps_lat);
    set_real_or_null(f, p[PF_GPS_ERROR_M], r->has_gps, r->gps_error_m);
    set_real_or_null(f, p[PF_HEADING], r->has_heading, r->heading_deg);
    if (r->heading_source) OGR_F_SetFieldString(f, p[PF_HEADING_SOURCE], r->heading_source);
    else OGR_F_SetFieldNull(f, p[PF_HEADING_SOURCE]);
    set_real_or_null(f, p[PF_FOV], r->fov_deg > 0, r->fov_deg);
    if (r->camera_source) OGR_F_SetFieldString(f, p[PF_CAMERA_SOURCE], r->camera_source);
    else OGR_F_SetFieldNull(f, p[PF_CAMERA_SOURCE]);
    OGR_F_SetFieldDouble(f, p[PF_TILE_LON], r->tile_lon);
    OGR_F_SetFieldDouble(f, p[PF_TILE_LAT], r->tile_lat);
    OGR_F_SetFieldString(f, p[PF_PRIOR], r->prior ? r->prior : "");
    OGR_F_SetFieldString(f, p[PF_REFINED], r->refined ? r->refined : "");
    OGR_F_SetFieldInteger(f, p[PF_REFINE_TILES], r->refine_tiles);
    OGRGeometryH pt = OGR_G_CreateGeometry(wkbPoint);
    OGR_G_SetPoint_2D(pt, 0, r->lon, r->lat);
    OGR_G_AssignSpatialReference(pt, o->srs);
    OGR_F_SetGeometryDirectly(f, pt);
    OGRErr err = OGR_L_CreateFeature(o->photos, f);
    OGR_F_Destroy(f);
    if (err != OGRERR_NONE) return gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'photos'");

    for (int i = 0; i < r->n_tiles; i++) {
        const tg_batch_tile *t = &r->tiles[i];
        f = OGR_F_Create(OGR_L_GetLayerDefn(o->tiles));
        if (!f) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
        const int *q = o->tidx;
        OGR_F_SetFieldString(f, q[TF_FILE], r->file);
        OGR_F_SetFieldInteger(f, q[TF_RANK], t->rank);
        OGR_F_SetFieldInteger64(f, q[TF_TILE_ID], (GIntBig)t->tile_id);
        OGR_F_SetFieldDouble(f, q[TF_SCORE], t->score);
        OGR_F_SetFieldDouble(f, q[TF_LON], t->lon);
        OGR_F_SetFieldDouble(f, q[TF_LAT], t->lat);
        if (t->wkt) {
            OGRGeometryH g = NULL;
            char *w = (char *)t->wkt; /* OGR_G_CreateFromWkt advances its own copy of the pointer */
            if (OGR_G_CreateFromWkt(&w, o->srs, &g) != OGRERR_NONE || !g) {
                OGR_F_Destroy(f);
                return tg_set_error(ctx, TG_EINTERNAL, "tile %lld: footprint '%.60s' is not WKT",
                                    (long long)t->tile_id, t->wkt);
            }
            OGR_F_SetGeometryDirectly(f, g);
        }
        err = OGR_L_CreateFeature(o->tiles, f);
        OGR_F_Destroy(f);
        if (err != OGRERR_NONE) return gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'matched_tiles'");
    }
    return 0;
}

static void csv_num(FILE *fp, int has, double v)
{
    if (has) fprintf(fp, "%.15g", v);
    fputc(',', fp);
}

int tg_batch_out_add(tg_ctx *ctx, tg_batch_out *o, const tg_batch_record *r)
{
    if (!o || !r || !r->file || (r->n_tiles > 0 && !r->tiles))
        return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    int rc;
    if (o->format == TG_BATCH_GPKG) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        rc = gpkg_add(ctx, o, r);
        CPLPopErrorHandler();
    } else {
        FILE *fp = o->fp;
        csv_put_str(fp, r->file);
        fputc(',', fp);
        csv_put_str(fp, r->model);
        fputc(',', fp);
        csv_num(fp, 1, r->lon);
        csv_num(fp, 1, r->lat);
        csv_num(fp, 1, r->score);
        csv_num(fp, 1, r->error_m);
        fprintf(fp, "%lld,", (long long)r->tile_id);
        csv_num(fp, r->has_gps, r->gps_lon);
        csv_num(fp, r->has_gps, r->gps_lat);
        csv_num(fp, r->has_gps, r->gps_error_m);
        csv_num(fp, r->has_heading, r->heading_deg);
        csv_put_str(fp, r->heading_source);
        fputc(',', fp);
        csv_num(fp, r->fov_deg > 0, r->fov_deg);
        csv_put_str(fp, r->camera_source);
        fputc(',', fp);
        csv_num(fp, 1, r->tile_lon);
        csv_num(fp, 1, r->tile_lat);
        csv_put_str(fp, r->prior);
        fputc(',', fp);
        csv_put_str(fp, r->refined);
        fputc(',', fp);
        fprintf(fp, "%d,", r->refine_tiles);
        fputc('\n', fp); /* error: empty */
        rc = ferror(fp) ? tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                                       o->fp_is_stdout ? "-" : o->path, strerror(errno))
                        : 0;
    }
    return rc ? rc : remember(ctx, o, r->file);
}

int tg_batch_out_add_failure(tg_ctx *ctx, tg_batch_out *o, const char *file, const char *error)
{
    if (!o || !file) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    if (!error) error = "unknown error";
    int rc = 0;
    if (o->format == TG_BATCH_GPKG) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        rc = gpkg_begin(ctx, o);
        if (!rc) {
            OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(o->fails));
            OGR_F_SetFieldString(f, o->fidx[FF_FILE], file);
            OGR_F_SetFieldString(f, o->fidx[FF_ERROR], error);
            if (OGR_L_CreateFeature(o->fails, f) != OGRERR_NONE)
                rc = gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'failures'");
            OGR_F_Destroy(f);
        }
        CPLPopErrorHandler();
    } else {
        csv_put_str(o->fp, file);
        for (int i = 1; i < PF_COUNT; i++) fputc(',', o->fp);
        fputc(',', o->fp);
        csv_put_str(o->fp, error);
        fputc('\n', o->fp);
        if (ferror(o->fp))
            rc = tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                              o->fp_is_stdout ? "-" : o->path, strerror(errno));
    }
    return rc ? rc : remember(ctx, o, file);
}

int tg_batch_out_commit(tg_ctx *ctx, tg_batch_out *o)
{
    if (!o) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    if (o->format == TG_BATCH_GPKG) {
        if (!o->in_tx) return 0;
        o->in_tx = 0;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        int rc = GDALDatasetCommitTransaction(o->ds) != OGRERR_NONE
                     ? gdal_fail(ctx, TG_EIO, o, "cannot commit") : 0;
        CPLPopErrorHandler();
        return rc;
    }
    if (fflush(o->fp) != 0 || ferror(o->fp))
        return tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                            o->fp_is_stdout ? "-" : o->path, strerror(errno));
    return 0;
}

int tg_batch_out_close(tg_ctx *ctx, tg_batch_out *o)
{
    if (!o) return 0;
    int rc = tg_batch_out_commit(ctx, o);
    if (o->format == TG_BATCH_GPKG && o->ds) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        GDALClose(o->ds); /* builds the spatial indexes, writes gpkg_contents extents */
        o->ds = NULL;
        if (!rc && CPLGetLastErrorType() >= CE_Failure)
            rc = gdal_fail(ctx, TG_EIO, o, "error while closing");
        CPLPopErrorHandler();
    } else if (o->fp && !o->fp_is_stdout) {
        if (fclose(o->fp) != 0 && !rc)
            rc = tg_set_error(ctx, TG_EIO, "output '%s': %s", o->path, strerror(errno));
        o->fp = NULL;
    }
    tg_batch_out_free(o);
    return rc;
}

void tg_batch_out_free(tg_batch_out *o)
{
    if (!o) return;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (o->ds) {
        if (o->in_tx) GDALDatasetRollbackTransaction(o->ds);
        GDALClose(o->ds);
    }
    CPLPopErrorHandler();
    if (o->fp && !o->fp_is_stdout) fclose(o->fp);
    if (o->fp_is_stdout) fflush(stdout);
    if (o->srs) OSRDestroySpatialReference(o->srs);
    if (o->done) CPLHashSetDestroy(o->done);
    free(o->path);
    free(o);
}

/* ======================================================================== */
/* the batch: locate and evaluate                                           */
/* ======================================================================== */

void tg_batch_opts_default(tg_batch_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->k = 5;
    o->fov_deg = NAN;
}

enum { MODE_LOCATE, MODE_EVAL };

/* One photo of the current batch. */
typedef struct job {
    char *file;            /* the path, as enumerated */
    char *error;           /* enumeration error or why it failed (a failure row) */
    int fatal;             /* a TG_E* code that must stop the run, else 0 */
    /* eval: a --truth row for this photo */
    int truth_from_csv;
    double t_lon, t_lat;
    int has_t_heading;     /* the truth row has a heading */
    double t_heading;
    tg_locate_answer ans;  /* the locator's answer */
} job;

typedef struct shared {
    job *jobs;
    size_t n_jobs, next;
    pthread_mutex_t mu;
    int stop;              /* a fatal error happened: take no more jobs */
    int mode;
    const tg_locator *loc;
    int gps_prior;         /* opts.gps_prior */
    int n_threads;         /* threads of the caller's context, shared by the workers */
} shared;

typedef struct worker {
    shared *sh;
    tg_ctx *ctx;
    pthread_t th;
} worker;

/* Record why job j failed: a photo failure (fatal = 0: a row of failures) or
 * an error that stops the run. Without memory for the text, the run stops. */
static void job_fail(job *j, int fatal, const char *msg)
{
    j->fatal = fatal;
    j->error = xstrdup(msg);
    if (!j->error) j->fatal = TG_ENOMEM;
}

/* Errors that concern one photo (it is listed in failures) rather than the run. */
static int photo_error(int rc)
{
    return rc == TG_EIO || rc == TG_EIMAGE || rc == TG_EFORMAT;
}

static void do_job(worker *w, job *j)
{
    if (j->error) return; /* could not even be enumerated */
    tg_locate_input in = {.path = j->file};
    if (w->sh->mode == MODE_EVAL) {
        in.has_truth = j->truth_from_csv;
        in.truth_lon = j->t_lon;
        in.truth_lat = j->t_lat;
        in.truth_from_gps = !w->sh->gps_prior; /* the GPS is the prior, not the truth */
        in.has_truth_heading = j->has_t_heading;
        in.truth_heading_deg = j->t_heading;
    }
    int rc = tg_locator_run(w->sh->loc, w->ctx, &in, &j->ans);
    if (rc) job_fail(j, photo_error(rc) ? 0 : rc, tg_errmsg(w->ctx));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        size_t i = sh->stop ? sh->n_jobs : sh->next++;
        pthread_mutex_unlock(&sh->mu);
        if (i >= sh->n_jobs) break;
        job *j = &sh->jobs[i];
        do_job(w, j);
        if (j->fatal) {
            pthread_mutex_lock(&sh->mu);
            sh->stop = 1;
            pthread_mutex_unlock(&sh->mu);
        }
    }
    return NULL;
}

/* Run the workers over sh->jobs: n_workers - 1 threads plus the caller. */
static int run_jobs(tg_ctx *ctx, shared *sh, worker *ws, int n_workers)
{
    sh->next = 0;
    sh->stop = 0;
    int started = 0, rc = 0;
    int n = (size_t)n_workers > sh->n_jobs ? (int)sh->n_jobs : n_workers;
    /* the cores are shared by the active workers: a lone photo gets them all
     * (and then the same numbers as SQL's tg_locate, which uses one context) */
    int per = sh->n_threads / (n > 0 ? n : 1);
    for (int i = 0; i < n; i++) tg_ctx_set_threads(ws[i].ctx, per < 1 ? 1 : per);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            rc = tg_set_error(ctx, TG_ENOMEM, "cannot start a worker thread: %s", strerror(errno));
            break;
        }
        started = i;
    }
    if (!rc) worker_main(&ws[0]);
    for (int i = 1; i <= started; i++) pthread_join(ws[i].th, NULL);
    if (rc) return rc;
    for (size_t i = 0; i < sh->n_jobs; i++)
        if (sh->jobs[i].fatal)
            return tg_set_error(ctx, sh->jobs[i].fatal, "%s",
                                sh->jobs[i].error ? sh->jobs[i].error : "out of memory");
    return 0;
}

static void job_clear(job *j)
{
    free(j->file);
    free(j->error);
    tg_locate_answer_clear(&j->ans);
    memset(j, 0, sizeof *j);
}

/* What locate and eval share: the database, the locator, the workers. */
typedef struct run {
    tg_store *st;
    tg_locator *loc;
    shared sh;
    worker *ws;
    int n_workers;
    job *jobs;
    size_t batch;
    CPLHashSet *seen;      /* files met in this run (a file named twice runs once) */
} run;

static int run_open(tg_ctx *ctx, run *r, const char *db_path, const tg_batch_opts *o, int mode)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->sh.mu, NULL);
    if (!db_path || !*db_path) return tg_set_error(ctx, TG_EINVAL, "no database given (--db DB)");
    struct stat sb;
    if (stat(db_path, &sb) != 0)
        return tg_set_error(ctx, TG_EIO, "database '%s': %s (index rasters into it first: "
                            "transgeo index RASTER --db %s)", db_path, strerror(errno), db_path);
    int rc = tg_store_open(ctx, db_path, TG_STORE_READONLY, &r->st);
    if (rc) return rc;
    rc = tg_store_has_schema(ctx, r->st);
    if (rc < 0) return rc;
    if (rc == 0)
        return tg_set_error(ctx, TG_ENOTFOUND, "database '%s' has no transgeo tables: index a "
                            "raster into it first (transgeo index RASTER --db %s)", db_path, db_path);
    tg_locate_opts lo;
    tg_locate_opts_default(&lo);
    lo.model = o->model;
    lo.k = o->k;
    lo.fov_deg = o->fov_deg;
    lo.heading_search = o->heading_search;
    lo.ignore_heading = o->ignore_heading;
    tg_store_prior prior = {NULL, 0, o->near_lon, o->near_lat, o->radius_m};
    if (mode == MODE_LOCATE && o->has_near) lo.prior = &prior;
    lo.gps_prior = o->gps_prior;
    lo.gps_radius_m = o->gps_radius_m;
    lo.refine = o->refine;
    lo.refine_max_tiles = o->refine_max_tiles;
    r->sh.gps_prior = o->gps_prior;
    rc = tg_locator_open(ctx, r->st, &lo, &r->loc);
    if (rc) return rc;
    if (lo.prior && tg_locator_n_candidates(r->loc) == 0)
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "no tile of model '%s' has its centre within %g m of (%.7f, %.7f) "
                            "(lon, lat): widen --radius or check --near",
                            tg_locator_model(r->loc)->name, o->radius_m, o->near_lon, o->near_lat);
    int nt = o->threads > 0 ? o->threads : tg_ctx_threads(ctx);
    if (nt < 1) nt = 1;
    r->n_workers = nt;
    r->batch = o->batch_size > 0 ? (size_t)o->batch_size : (size_t)(8 * nt < 16 ? 16 : 8 * nt);
    r->jobs = calloc(r->batch, sizeof *r->jobs);
    r->ws = calloc((size_t)nt, sizeof *r->ws);
    r->seen = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    if (!r->jobs || !r->ws || !r->seen) return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
    r->sh.n_threads = tg_ctx_threads(ctx);
    for (int i = 0; i < nt; i++) {
        r->ws[i].sh = &r->sh;
        if (tg_ctx_create(&r->ws[i].ctx) != 0)
            return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
    }
    r->sh.jobs = r->jobs;
    r->sh.mode = mode;
    r->sh.loc = r->loc;
    return 0;
}

static void run_close(run *r)
{
    for (size_t i = 0; r->jobs && i < r->batch; i++) job_clear(&r->jobs[i]);
    free(r->jobs);
    for (int i = 0; r->ws && i < r->n_workers; i++) tg_ctx_free(r->ws[i].ctx);
    free(r->ws);
    if (r->seen) CPLHashSetDestroy(r->seen);
    tg_locator_free(r->loc);
    tg_store_close(r->st);
    pthread_mutex_destroy(&r->sh.mu);
}

/* Count the entries of the inputs (for the progress total); 0 when unknown. */
static long count_inputs(tg_ctx *ctx, const char *const *inputs, size_t n_inputs,
                         const char *exclude)
{
    tg_photo_list *l = NULL;
    if (tg_photo_list_open(ctx, inputs, n_inputs, &l) != 0) return 0;
    long n = 0;
    tg_photo_entry e;
    if (!tg_photo_list_uses_stdin(l)) {
        if (exclude) tg_photo_list_exclude(ctx, l, exclude);
        while (tg_photo_list_next(ctx, l, &e) == 1) n++;
    }
    tg_photo_list_free(l);
    tg_clear_error(ctx);
    return n;
}

/* Fill the batch: the next photos not yet in out (or seen). Returns the count
 * (>= 0) or a negative TG_E* code. */
static long fill_batch(tg_ctx *ctx, run *r, tg_photo_list *l, const tg_batch_out *out,
                       long *n_skipped)
{
    size_t n = 0;
    tg_photo_entry e;
    int rc = 0;
    while (n < r->batch && (rc = tg_photo_list_next(ctx, l, &e)) == 1) {
        if (CPLHashSetLookup(r->seen, e.path) || (out && tg_batch_out_has(out, e.path))) {
            (*n_skipped)++;
            continue;
        }
        char *key = xstrdup(e.path);
        job *j = &r->jobs[n];
        job_clear(j);
        j->file = xstrdup(e.path);
        if (e.error) j->error = xstrdup(e.error);
        if (!key || !j->file || (e.error && !j->error)) {
            free(key);
            return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
        }
        CPLHashSetInsert(r->seen, key);
        n++;
    }
    if (rc < 0) return rc;
    r->sh.n_jobs = n;
    return (long)n;
}

/* The prior and refinement columns of an answer (tg_batch_record). */
static void answer_strings(const tg_locate_answer *a, char *prior, size_t np, char *refined,
                           size_t nr)
{
    snprintf(prior, np, "%s%s", tg_prior_name(a->prior), a->gps_outside ? "; gps outside tiles" : "");
    if (a->refined == TG_REFINED_RASTER) snprintf(refined, nr, "raster");
    else if (a->refined == TG_REFINED_STORED && a->refine_note[0])
        snprintf(refined, nr, "stored: %.180s", a->refine_note);
    else if (a->refined == TG_REFINED_STORED) snprintf(refined, nr, "stored");
    else refined[0] = '\0';
}

int tg_batch_locate(tg_ctx *ctx, const char *db_path, const char *const *inputs, size_t n_inputs,
                    const char *out_path, const tg_batch_opts *opts, tg_batch_summary *summary)
{
    tg_batch_opts def;
    if (!opts) {
        tg_batch_opts_default(&def);
        opts = &def;
    }
    if (summary) memset(summary, 0, sizeof *summary);
    if (opts->k < 1) return tg_set_error(ctx, TG_EINVAL, "k = %d: expected 1 or more matches", opts->k);
    if (opts->has_near && (!isfinite(opts->radius_m) || opts->radius_m <= 0))
        return tg_set_error(ctx, TG_EINVAL, "radius %g m: expected a distance > 0 metres",
                            opts->radius_m);
    if (!tg_batch_format_of(out_path))
        return tg_set_error(ctx, TG_EINVAL,
                            "output '%s': unknown format; name it *.gpkg (GeoPackage), *.csv, "
                            "or - (CSV on standard output)", out_path ? out_path : "(none)");
    tg_batch_summary sum = {0, 0, 0};
    tg_photo_list *list = NULL;
    tg_batch_out *out = NULL;
    run r;
    int rc = tg_photo_list_open(ctx, inputs, n_inputs, &list);
    if (rc) return rc;
    rc = run_open(ctx, &r, db_path, opts, MODE_LOCATE);
    if (rc) goto done;
    rc = tg_batch_out_open(ctx, out_path, &out);
    if (rc) goto done;
    if (tg_batch_out_format(out) != TG_BATCH_STDOUT) {
        rc = tg_photo_list_exclude(ctx, list, out_path);
        if (rc) goto done;
    }
    long total = opts->progress ? count_inputs(ctx, inputs, n_inputs,
                                               tg_batch_out_format(out) != TG_BATCH_STDOUT
                                                   ? out_path : NULL)
                                : 0;
    long done_n = 0;
    for (;;) {
        long skipped = 0;
        long n = fill_batch(ctx, &r, list, out, &skipped);
        sum.n_skipped += skipped;
        done_n += skipped;
        if (n < 0) {
            rc = (int)n;
            goto done;
        }
        if (n == 0) break;
        rc = run_jobs(ctx, &r.sh, r.ws, r.n_workers);
        if (rc) goto done;
        for (long i = 0; i < n; i++) {
            job *j = &r.jobs[i];
            if (j->error) {
                rc = tg_batch_out_add_failure(ctx, out, j->file, j->error);
                if (rc) goto done;
                sum.n_failed++;
                continue;
            }
            const tg_locate_answer *ans = &j->ans;
            const tg_match *mt = ans->matches;
            tg_batch_tile tiles[64], *tp = tiles;
            if (ans->n_matches > 64 && !(tp = calloc((size_t)ans->n_matches, sizeof *tp))) {
                rc = tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
                goto done;
            }
            for (int t = 0; t < ans->n_matches; t++) {
                tp[t].rank = mt[t].rank;
                tp[t].tile_id = mt[t].tile_id;
                tp[t].score = mt[t].score;
                tp[t].lon = mt[t].lon;
                tp[t].lat = mt[t].lat;
                tp[t].wkt = NULL;
                if (tg_batch_out_format(out) == TG_BATCH_GPKG && !rc) {
                    char *wkt = NULL;
                    rc = tg_locator_tile_wkt(r.loc, ctx, mt[t].tile_id, &wkt);
                    tp[t].wkt = wkt;
                }
            }
            int has_gps = ans->has_meta && ans->meta.has_gps;
            char prior[64], refined[200];
            answer_strings(ans, prior, sizeof prior, refined, sizeof refined);
            int got = ans->n_matches > 0;
            tg_batch_record rec = {
                .file = j->file, .model = tg_locator_model(r.loc)->name,
                .lon = got ? ans->lon : mt[0].lon, .lat = got ? ans->lat : mt[0].lat,
                .score = mt[0].score, .error_m = got ? ans->error_m : mt[0].error_m,
                .tile_lon = mt[0].lon, .tile_lat = mt[0].lat, .prior = prior, .refined = refined,
                .refine_tiles = ans->n_refine_tiles,
                .tile_id = mt[0].tile_id, .has_gps = has_gps, .gps_lon = ans->meta.lon_deg,
                .gps_lat = ans->meta.lat_deg, .gps_error_m = has_gps ? ans->gps_error_m : 0,
                .has_heading = isfinite(ans->heading_deg), .heading_deg = ans->heading_deg,
                .n_tiles = ans->n_matches, .tiles = tp,
                .heading_source = ans->has_camera ? tg_heading_source_name(ans->heading_source)
                                                  : NULL,
                .fov_deg = ans->has_camera ? ans->camera.hfov_deg : 0,
                .camera_source = ans->has_camera ? tg_camera_source_name(ans->camera.source)
                                                 : NULL};
            if (!rc) rc = tg_batch_out_add(ctx, out, &rec);
            for (int t = 0; t < ans->n_matches; t++) free((char *)tp[t].wkt);
            if (tp != tiles) free(tp);
            if (rc) goto done;
            sum.n_located++;
        }
        rc = tg_batch_out_commit(ctx, out);
        if (rc) goto done;
        done_n += n;
        if (opts->progress &&
            !opts->progress((double)done_n, (double)(total > done_n ? total : done_n), NULL,
                            opts->progress_user)) {
            rc = tg_set_error(ctx, TG_ECANCEL, "cancelled after %ld photos; run the same command "
                              "again to resume", done_n);
            goto done;
        }
    }
    rc = tg_batch_out_close(ctx, out);
    out = NULL;
done:
    if (out) { /* a fatal error: keep what was committed, drop the batch in progress */
        tg_batch_out_free(out);
    }
    run_close(&r);
    tg_photo_list_free(list);
    if (summary) *summary = sum;
    return rc;
}

/* ---- evaluation --------------------------------------------------------- */

/* --truth CSV: file,lat,lon (header row; column order free). */
typedef struct truth {
    CPLHashSet *by_path;   /* entries keyed by path */
    CPLHashSet *by_base;   /* keyed by basename; ambiguous basenames are dropped */
    struct truth_row { char *key; double lat, lon; int has_heading; double heading; } *rows;
} truth;

static unsigned long truth_hash(const void *p)
{
    return CPLHashSetHashStr(((const struct truth_row *)p)->key);
}
static int truth_eq(const void *a, const void *b)
{
    return !strcmp(((const struct truth_row *)a)->key, ((const struct truth_row *)b)->key);
}
static void truth_row_free(void *p)
{
    struct truth_row *r = p;
    free(r->key);
    free(r);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int truth_load(tg_ctx *ctx, const char *path, truth *t)
{
    static const char *const drivers[] = {"CSV", NULL};
    memset(t, 0, sizeof *t);
    t->by_path = CPLHashSetNew(truth_hash, truth_eq, truth_row_free);
    t->by_base = CPLHashSetNew(truth_hash, truth_eq, truth_row_free);
    if (!t->by_path || !t->by_base) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return tg_set_error(ctx, TG_EIO, "truth file '%s': %s", path, strerror(errno));
    tg_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers, NULL, NULL);
    CPLPopErrorHandler();
    OGRLayerH lyr = ds ? GDALDatasetGetLayer(ds, 0) : NULL;
    int rc = 0;
    if (!lyr) {
        rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s' is not a CSV file (expected a header "
                          "row file,lat,lon)", path);
        goto done;
    }
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(lyr);
    int ifile = OGR_FD_GetFieldIndex(d, "file"), ilat = OGR_FD_GetFieldIndex(d, "lat"),
        ilon = OGR_FD_GetFieldIndex(d, "lon"), ihead = OGR_FD_GetFieldIndex(d, "heading");
    if (ifile < 0 || ilat < 0 || ilon < 0) {
        rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s': the header must name the columns "
                          "file, lat and lon (degrees WGS84)", path);
        goto done;
    }
    OGRFeatureH f;
    long line = 1;
    CPLHashSet *dup_base = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
        line++;
        const char *file = OGR_F_GetFieldAsString(f, ifile);
        const char *slat = OGR_F_GetFieldAsString(f, ilat), *slon = OGR_F_GetFieldAsString(f, ilon);
        char *e1, *e2;
        double lat = strtod(slat, &e1), lon = strtod(slon, &e2);
        if (!*file || e1 == slat || *e1 || e2 == slon || *e2 || !isfinite(lat) ||
            !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180) {
            rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s', line %ld: '%s', '%s', '%s' is not "
                              "a file with lat and lon in degrees", path, line, file, slat, slon);
            OGR_F_Destroy(f);
            break;
        }
        /* heading: optional column, empty = unknown */
        int has_h = 0;
        double hd = 0;
        if (ihead >= 0) {
            const char *sh = OGR_F_GetFieldAsString(f, ihead);
            char *e3;
            if (*sh) {
                hd = strtod(sh, &e3);
                if (e3 == sh || *e3 || !isfinite(hd) || hd < -360 || hd > 720) {
                    rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s', line %ld: heading '%s' "
                                      "is not degrees clockwise from north (empty: unknown)",
                                      path, line, sh);
                    OGR_F_Destroy(f);
                    break;
                }
                has_h = 1;
            }
        }
        struct truth_row *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        char *bk = xstrdup(base_name(file));
        if (a) a->key = xstrdup(file);
        if (b) b->key = xstrdup(base_name(file));
        if (!a || !b || !a->key || !b->key || !bk) {
            if (a) free(a->key);
            if (b) free(b->key);
            free(a);
            free(b);
            free(bk);
            OGR_F_Destroy(f);
            rc = tg_set_error(ctx, TG_ENOMEM, "out of memory");
            break;
        }
        a->lat = b->lat = lat;
        a->lon = b->lon = lon;
        a->has_heading = b->has_heading = has_h;
        a->heading = b->heading = hd;
        CPLHashSetInsert(t->by_path, a); /* a later row for the same file wins */
        if (CPLHashSetLookup(dup_base, bk)) {
            free(bk);
            truth_row_free(b);
        } else if (CPLHashSetLookup(t->by_base, b)) { /* ambiguous basename */
            CPLHashSetRemove(t->by_base, b);
            truth_row_free(b);
            CPLHashSetInsert(dup_base, bk);
        } else {
            free(bk);
            CPLHashSetInsert(t->by_base, b);
        }
        OGR_F_Destroy(f);
    }
    CPLHashSetDestroy(dup_base);
done:
    if (ds) GDALClose(ds);
    return rc;
}

static const struct truth_row *truth_find(const truth *t, const char *file)
{
    struct truth_row key = {(char *)file, 0, 0, 0, 0};
    const struct truth_row *r = CPLHashSetLookup(t->by_path, &key);
    if (r) return r;
    /* the longest trailing part after a '/' that a row names: "panos/0001.jpg"
     * of truth.csv is "world/panos/0001.jpg" as enumerated (base names repeat
     * across panos/ and photos/) */
    for (const char *p = strchr(file, '/'); p; p = strchr(p + 1, '/')) {
        key.key = (char *)(p + 1);
        if ((r = CPLHashSetLookup(t->by_path, &key))) return r;
    }
    key.key = (char *)base_name(file);
    return CPLHashSetLookup(t->by_base, &key);
}

static void truth_free(truth *t)
{
    if (t->by_path) CPLHashSetDestroy(t->by_path);
    if (t->by_base) CPLHashSetDestroy(t->by_base);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorted in place); NaN for n = 0. */
static double median(double *v, long n)
{
    if (n == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The report's heading medians: over every labelled photo with a heading
 * error, and over those whose best tile is the true one (a heading is only
 * meaningful where the place is right: issue 17's measure). */
static int heading_medians(tg_ctx *ctx, tg_eval_report *rep)
{
    double *all = malloc((rep->n_photos ? rep->n_photos : 1) * sizeof *all);
    double *top = malloc((rep->n_photos ? rep->n_photos : 1) * sizeof *top);
    if (!all || !top) {
        free(all);
        free(top);
        return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
    }
    long na = 0, nt = 0;
    for (size_t i = 0; i < rep->n_photos; i++) {
        const tg_eval_photo *p = &rep->photos[i];
        if (!p->labelled || !isfinite(p->heading_error_deg)) continue;
        all[na++] = p->heading_error_deg;
        if (p->item.rank == 1) top[nt++] = p->heading_error_deg;
    }
    rep->n_heading = na;
    rep->heading_err_median_deg = median(all, na);
    rep->n_heading_top1 = nt;
    rep->heading_err_median_top1_deg = median(top, nt);
    free(all);
    free(top);
    return TG_OK;
}

int tg_batch_eval(tg_ctx *ctx, const char *db_path, const char *const *inputs, size_t n_inputs,
                  const char *truth_csv, const tg_batch_opts *opts, tg_eval_report **out)
{
    tg_batch_opts def;
    if (out) *out = NULL;
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_batch_eval: NULL argument");
    if (!opts) {
        tg_batch_opts_default(&def);
        opts = &def;
    }
    if (opts->gps_prior && !truth_csv)
        return tg_set_error(ctx, TG_EINVAL,
                            "evaluation with the GPS prior needs true positions other than the "
                            "photos' GPS: give a truth CSV (--truth FILE)");
    tg_photo_list *list = NULL;
    truth tr = {0};
    tg_eval_report *rep = calloc(1, sizeof *rep);
    tg_eval_item *items = NULL;
    size_t cap = 0;
    run r;
    int rc = tg_photo_list_open(ctx, inputs, n_inputs, &list);
    if (rc) {
        free(rep);
        return rc;
    }
    rc = run_open(ctx, &r, db_path, opts, MODE_EVAL);
    if (!rc && !rep) rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
    if (!rc && truth_csv) rc = truth_load(ctx, truth_csv, &tr);
    if (rc) goto done;
    snprintf(rep->model, sizeof rep->model, "%s", tg_locator_model(r.loc)->name);
    rep->n_tiles = (long)tg_locator_n_tiles(r.loc);
    long total = opts->progress ? count_inputs(ctx, inputs, n_inputs, NULL) : 0, done_n = 0;
    for (;;) {
        long skipped = 0;
        long n = fill_batch(ctx, &r, list, NULL, &skipped);
        done_n += skipped;
        if (n < 0) {
            rc = (int)n;
            goto done;
        }
        if (n == 0) break;
        for (long i = 0; i < n && truth_csv; i++) {
            const struct truth_row *t = truth_find(&tr, r.jobs[i].file);
            if (t) {
                r.jobs[i].truth_from_csv = 1;
                r.jobs[i].t_lon = t->lon;
                r.jobs[i].t_lat = t->lat;
                r.jobs[i].has_t_heading = t->has_heading;
                r.jobs[i].t_heading = t->heading;
            }
        }
        rc = run_jobs(ctx, &r.sh, r.ws, r.n_workers);
        if (rc) goto done;
        for (long i = 0; i < n; i++) {
            job *j = &r.jobs[i];
            tg_eval_photo p;
            memset(&p, 0, sizeof p);
            p.heading_deg = p.heading_error_deg = NAN;
            if (j->error) {
                rep->n_failed++;
                p.error = j->error;
                j->error = NULL;
            } else if (!j->ans.has_truth) {
                rep->n_unlabelled++;
            } else {
                const tg_locate_answer *a = &j->ans;
                p.labelled = 1;
                p.truth_from_csv = j->truth_from_csv;
                p.true_lon = a->truth_lon;
                p.true_lat = a->truth_lat;
                p.true_tile_id = a->truth_tile_id;
                p.top1_tile_id = a->matches[0].tile_id;
                p.top1_lon = a->matches[0].lon;
                p.top1_lat = a->matches[0].lat;
                p.top1_score = a->matches[0].score;
                p.item.rank = a->truth_rank;
                p.item.error_m = a->truth_error_m;
                p.heading_deg = a->heading_deg;
                p.heading_source = a->heading_source;
                p.n_headings = a->n_headings;
                p.has_true_heading = j->has_t_heading;
                p.true_heading_deg = j->t_heading;
                p.heading_error_deg = a->heading_error_deg;
                p.item.radius_m = a->error_m;
                p.est_lon = a->lon;
                p.est_lat = a->lat;
                p.tile_error_m = a->truth_tile_error_m;
                p.prior = a->prior;
                p.refined = a->refined;
                p.refine_tiles = a->n_refine_tiles;
                rc = tg_geo_distance_m(ctx, a->truth_tile_lon, a->truth_tile_lat, a->truth_lon,
                                       a->truth_lat, &p.oracle_m);
                if (!rc && j->truth_from_csv && a->has_meta && a->meta.has_gps) {
                    p.item.has_gps = 1;
                    rc = tg_geo_distance_m(ctx, a->meta.lon_deg, a->meta.lat_deg, a->truth_lon,
                                           a->truth_lat, &p.item.gps_error_m);
                }
                if (!rc)
                rc = tg_locator_tile_covers(r.loc, ctx, p.top1_tile_id, p.true_lon, p.true_lat,
                                            &p.item.hit);
            }
            p.file = j->file;
            j->file = NULL;
            if (!rc && rep->n_photos == cap) {
                size_t nc = cap ? cap * 2 : 64;
                tg_eval_photo *np = realloc(rep->photos, nc * sizeof *np);
                if (np) {
                    rep->photos = np;
                    cap = nc;
                } else {
                    rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
                }
            }
            if (rc) {
                free(p.file);
                free(p.error);
                goto done;
            }
            rep->photos[rep->n_photos++] = p;
        }
        done_n += n;
        if (opts->progress &&
            !opts->progress((double)done_n, (double)(total > done_n ? total : done_n), NULL,
                            opts->progress_user)) {
            rc = tg_set_error(ctx, TG_ECANCEL, "evaluation cancelled after %ld photos", done_n);
            goto done;
        }
    }
    /* the summary over the labelled photos */
    long n_lab = 0;
    for (size_t i = 0; i < rep->n_photos; i++) n_lab += rep->photos[i].labelled;
    if (n_lab == 0) {
        rc = tg_set_error(ctx, TG_ENOTFOUND,
                          "evaluation: none of the %zu photos has a known position (%ld without "
                          "GPS%s, %ld unreadable): give photos with GPS EXIF or --truth CSV",
                          rep->n_photos, rep->n_unlabelled, truth_csv ? " or --truth row" : "",
                          rep->n_failed);
        goto done;
    }
    items = malloc((size_t)n_lab * sizeof *items);
    if (!items) {
        rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < rep->n_photos; i++)
        if (rep->photos[i].labelled) items[m++] = rep->photos[i].item;
    rc = tg_eval_compute(ctx, items, m, rep->n_tiles, &rep->stats);
    if (!rc) rc = heading_medians(ctx, rep);
    if (!rc) {
        /* reuse items' error fields as scratch for the two medians */
        double *a = (double *)malloc((m ? m : 1) * 2 * sizeof *a), *b = a ? a + (m ? m : 1) : NULL;
        size_t nr = 0;
        if (!a) {
            rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
            goto done;
        }
        for (size_t i = 0; i < rep->n_photos; i++) {
            const tg_eval_photo *p = &rep->photos[i];
            if (!p->labelled) continue;
            rep->n_refined += p->refined == TG_REFINED_RASTER;
            rep->n_refine_tiles += p->refine_tiles;
            if (p->item.rank != 1) continue;
            a[nr] = p->item.error_m;
            b[nr++] = p->oracle_m;
        }
        rep->n_right = (long)nr;
        rep->right_median_m = median(a, (long)nr);
        rep->right_oracle_median_m = median(b, (long)nr);
        free(a);
    }
done:
    free(items);
    truth_free(&tr);
    run_close(&r);
    tg_photo_list_free(list);
    if (rc) {
        tg_eval_report_free(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

void tg_eval_report_free(tg_eval_report *rep)
{
    if (!rep) return;
    for (size_t i = 0; i < rep->n_photos; i++) {
        free(rep->photos[i].file);
        free(rep->photos[i].error);
    }
    free(rep->photos);
    free(rep);
}
