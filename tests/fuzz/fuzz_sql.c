/*
 * fuzz_sql.c - the SQL functions of mod_transgeo on arguments of random
 * types and values: tg_version, tg_set, tg_model_register, tg_index_raster,
 * tg_embed_ground, tg_embed_aerial, tg_photo_gps, tg_distance_m, tg_locate
 * and the table-valued tg_matches.
 *
 * Set-up (once): an in-memory SQLite database with mod_spatialite loaded and
 * the extension's entry point (sqlite3_modtransgeo_init, compiled into the
 * harness) called directly; the tiny golden model registered as 'm' and a
 * 32x32 px crop of the NAIP raster indexed with it. The working directory is
 * a private scratch directory holding the fixtures, so that short TEXT paths
 * find files:
 *   p.jpg            a photo with GPS (shared/data fixed_exif.jpg)
 *   r.tif            the raster (160 m, 5 m px, RGB)
 *   m.safetensors    tests/golden/tiny/model.safetensors (out_dim 24)
 *   o.safetensors    the same with out_dim 12 (head rows cut by a header edit:
 *                    same data section, same sha256 metadata)
 *
 * Input: a sequence of calls (at most 6), each
 *   fn:u8 (mod 10)  argc:u8 (taken modulo the function's arity range when outside
 *   it)  then the arguments:
 *   type:u8 (mod 6) + payload
 *     0 NULL | 1 INTEGER (8 bytes LE) | 2 REAL (8 bytes, an IEEE double)
 *     3 TEXT len:u8 + bytes | 4 BLOB len:u16 LE + bytes
 *     5 fixture which:u8: 0 the photo's bytes, 1 the raster's bytes, 2 the
 *       model file's bytes, 3 an embedding (24 floats of unit length), 4 a
 *       SpatiaLite POINT(lon, lat) EPSG:4326 with lon, lat: i8 each, 5 a tile
 *       footprint POLYGON from tg_tiles, 6 the photo with one byte
 *       complemented at off:u16
 * (tests/fuzz/make_seeds.py writes seeds in this encoding). Each input runs
 * inside BEGIN ... ROLLBACK, so writes (tg_model_register, tg_index_raster)
 * do not pile up, and the store's caches see rolled-back rows: a real
 * sequence of user statements. The settings are reset after each input
 * (file access through tg_sql_set_files: SQL cannot turn it back on).
 *
 * Skipped, because they are not bugs but slow or outside the sandbox: TEXT
 * arguments containing '/', '\' or ':' (paths outside the scratch directory,
 * /dev/zero, /vsistdin/, GDAL connection strings like MEM:::), tile_m < 16
 * or stride_m < 8 metres in tg_index_raster (grids of many thousand tiles),
 * and tg_set values above 16 (thousands of threads).
 *
 * FUZZ_SQL_TRACE=1 in the environment prints each statement and its outcome.
 *
 * Checked: no crash or sanitizer report; each failing scalar call's
 * message starts with "<function>(): " (or is SQLite's "out of memory"),
 * and a tg_matches error names tg_matches.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../st_edit.h" /* st_slurp, st_spit, st_rewrite (header edits keeping the data) */
#pragma GCC diagnostic pop
#include "fuzz_common.h"
#include "transgeo/sql.h"

#ifndef TG_FUZZ_SRCDIR
#define TG_FUZZ_SRCDIR "."
#endif

int sqlite3_modtransgeo_init(sqlite3 *db, char **err, const sqlite3_api_routines *api);

static sqlite3 *db;
static char workdir[4096];
static unsigned char *fix[3]; /* photo, raster, model bytes */
static size_t fix_n[3];
static unsigned char *tile_geom;
static int tile_geom_n;
static const sqlite3_api_routines *api;

static int capture_api(sqlite3 *d, char **err, const sqlite3_api_routines *a)
{
    (void)d;
    (void)err;
    api = a;
    return SQLITE_OK;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_sql set-up: %s: %s\n", what, detail ? detail : "");
    exit(1);
}

static void exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) die(sql, err);
}

static void copy_file(const char *src, const char *dst, int keep)
{
    size_t n = 0;
    unsigned char *b = st_slurp(src, &n);
    if (!b) die("cannot read", src);
    if (st_spit(dst, b, n)) die("cannot write", dst);
    if (keep >= 0) {
        fix[keep] = b;
        fix_n[keep] = n;
    } else {
        free(b);
    }
}

static void cleanup(void)
{
    if (db) sqlite3_close(db);
    db = NULL;
    static const char *files[] = {"p.jpg", "r.tif", "m.safetensors", "o.safetensors"};
    if (workdir[0]) {
        for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", workdir, files[i]);
            unlink(p);
        }
        if (chdir("/") == 0) rmdir(workdir);
    }
    for (int i = 0; i < 3; i++) free(fix[i]);
    free(tile_geom);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_gdal_setup();
    const char *src = getenv("TOP_SRCDIR");
    if (!src || !*src) src = TG_FUZZ_SRCDIR;
    char top[4096];
    if (!realpath(src, top)) die("source tree not found (set TOP_SRCDIR)", src);
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/tgfuzz_sql.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) die("mkdtemp", strerror(errno));
    atexit(cleanup);
    char p[4200], q[4200];
    snprintf(p, sizeof p, "%s/tests/fuzz/data/p.jpg", top);
    snprintf(q, sizeof q, "%s/p.jpg", workdir);
    copy_file(p, q, 0);
    snprintf(p, sizeof p, "%s/tests/fuzz/data/r.tif", top);
    snprintf(q, sizeof q, "%s/r.tif", workdir);
    copy_file(p, q, 1);
    snprintf(p, sizeof p, "%s/tests/golden/tiny/model.safetensors", top);
    snprintf(q, sizeof q, "%s/m.safetensors", workdir);
    copy_file(p, q, 2);
    snprintf(p, sizeof p, "%s/o.safetensors", workdir);
    if (st_rewrite(q, p, st_out_dim_12, NULL)) die("cannot write", p);
    if (chdir(workdir)) die("chdir", workdir);

    /* SQLite hands an extension its API table; catch it with an auto
     * extension, as if mod_transgeo were loaded from a file. */
    sqlite3_auto_extension((void (*)(void))capture_api);
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die("sqlite3_open", sqlite3_errmsg(db));
    sqlite3_cancel_auto_extension((void (*)(void))capture_api);
    if (!api) die("no API table", NULL);
    sqlite3_enable_load_extension(db, 1);
    char *err = NULL;
    const char *spl = getenv("TG_MOD_SPATIALITE");
    if (sqlite3_load_extension(db, spl && *spl ? spl : "mod_spatialite", NULL, &err) != SQLITE_OK)
        die("mod_spatialite", err);
    sqlite3_enable_load_extension(db, 0);
    if (sqlite3_modtransgeo_init(db, &err, api) != SQLITE_OK) die("mod_transgeo init", err);
    exec("SELECT tg_set('threads', 1)");
    exec("SELECT tg_model_register('m', 'm.safetensors')");
    exec("SELECT tg_index_raster('r.tif', 'm')");

    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT geom FROM tg_tiles ORDER BY id LIMIT 1", -1, &s, NULL) ||
        sqlite3_step(s) != SQLITE_ROW)
        die("no tile indexed", sqlite3_errmsg(db));
    tile_geom_n = sqlite3_column_bytes(s, 0);
    tile_geom = malloc((size_t)tile_geom_n);
    memcpy(tile_geom, sqlite3_column_blob(s, 0), (size_t)tile_geom_n);
    sqlite3_finalize(s);
    return 0;
}

/* ---- input decoding ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} rd;

static int get(rd *r, void *dst, size_t k)
{
    if (r->n < k) {
        memset(dst, 0, k);
        if (r->n) memcpy(dst, r->p, r->n);
        r->p += r->n;
        r->n = 0;
        return -1;
    }
    memcpy(dst, r->p, k);
    r->p += k;
    r->n -= k;
    return 0;
}

static unsigned u8(rd *r)
{
    uint8_t v = 0;
    get(r, &v, 1);
    return v;
}

static const struct {
    const char *name;
    int min_args, max_args;
    int table;  /* tg_matches */
    int path_arg; /* 1-based TEXT argument taken as a path, 0 none */
} fns[] = {
    {"tg_version", 0, 0, 0, 0},        {"tg_set", 2, 2, 0, 0},
    {"tg_model_register", 2, 2, 0, 2}, {"tg_index_raster", 1, 4, 0, 1},
    {"tg_embed_ground", 1, 2, 0, 1},   {"tg_embed_aerial", 1, 2, 0, 1},
    {"tg_photo_gps", 1, 1, 0, 1},      {"tg_distance_m", 2, 2, 0, 0},
    {"tg_locate", 1, 2, 0, 1},         {"tg_matches", 2, 5, 1, 1},
};
#define N_FNS ((unsigned)(sizeof fns / sizeof *fns))

/* A SpatiaLite BLOB POINT (little-endian, EPSG:4326): the documented
 * "BLOB-Geometry" layout. */
static void point_blob(unsigned char b[60], double x, double y)
{
    int32_t srid = 4326, cls = 1;
    b[0] = 0x00;
    b[1] = 0x01;
    memcpy(b + 2, &srid, 4);
    double mbr[4] = {x, y, x, y};
    memcpy(b + 6, mbr, 32);
    b[38] = 0x7C;
    memcpy(b + 39, &cls, 4);
    memcpy(b + 43, &x, 8);
    memcpy(b + 51, &y, 8);
    b[59] = 0xFE;
}

static const float *unit_embedding(void)
{
    static float e[24];
    if (e[0] == 0) {
        double ss = 0;
        for (int i = 0; i < 24; i++) ss += (double)(i + 1) * (i + 1);
        for (int i = 0; i < 24; i++) e[i] = (float)((i + 1) / sqrt(ss));
    }
    return e;
}

static int text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == '\\' || s[i] == ':') return 0;
    return 1;
}

/* Bind argument i (1-based) from the input. Returns 0, or -1 to skip the call. */
static int bind_arg(sqlite3_stmt *s, int i, rd *r, unsigned fn, double *num)
{
    unsigned type = u8(r) % 6;
    *num = NAN;
    switch (type) {
    case 0: return sqlite3_bind_null(s, i) == SQLITE_OK ? 0 : -1;
    case 1: {
        int64_t v;
        get(r, &v, 8);
        *num = (double)v;
        return sqlite3_bind_int64(s, i, v) == SQLITE_OK ? 0 : -1;
    }
    case 2: {
        double v;
        get(r, &v, 8);
        *num = v;
        return sqlite3_bind_double(s, i, v) == SQLITE_OK ? 0 : -1;
    }
    case 3: {
        unsigned len = u8(r);
        if (len > r->n) len = (unsigned)r->n;
        const unsigned char *t = r->p;
        r->p += len;
        r->n -= len;
        if (!text_ok(t, len)) return -1;
        (void)fn;
        return sqlite3_bind_text(s, i, (const char *)t, (int)len, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
    }
    case 4: {
        uint16_t len = 0;
        get(r, &len, 2);
        if (len > r->n) len = (uint16_t)r->n;
        const unsigned char *b = r->p;
        r->p += len;
        r->n -= len;
        return sqlite3_bind_blob(s, i, len ? (const void *)b : "", len, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
    }
    default: {
        unsigned which = u8(r) % 7;
        if (which <= 2)
            return sqlite3_bind_blob(s, i, fix[which], (int)fix_n[which], SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
        if (which == 3)
            return sqlite3_bind_blob(s, i, unit_embedding(), 24 * 4, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
        if (which == 4) {
            int8_t lon = (int8_t)u8(r), lat = (int8_t)u8(r);
            unsigned char b[60];
            point_blob(b, lon * 1.5, lat * 0.75);
            return sqlite3_bind_blob(s, i, b, 60, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
        }
        if (which == 5)
            return sqlite3_bind_blob(s, i, tile_geom, tile_geom_n, SQLITE_STATIC) == SQLITE_OK ? 0 : -1;
        uint16_t off = 0;
        get(r, &off, 2);
        unsigned char *b = malloc(fix_n[0]);
        memcpy(b, fix[0], fix_n[0]);
        b[off % fix_n[0]] ^= 0xff;
        return sqlite3_bind_blob(s, i, b, (int)fix_n[0], free) == SQLITE_OK ? 0 : -1;
    }
    }
}

static void run_call(rd *r)
{
    unsigned fn = u8(r) % N_FNS;
    unsigned argc = u8(r);
    int lo = fns[fn].min_args, hi = fns[fn].max_args;
    int n = (int)argc >= lo && (int)argc <= hi ? (int)argc : lo + (int)(argc % (unsigned)(hi - lo + 1));
    char sql[256];
    int len;
    if (fns[fn].table)
        len = snprintf(sql, sizeof sql, "SELECT rank, tile_id, score, lon, lat, error_m, geom FROM %s(",
                       fns[fn].name);
    else
        len = snprintf(sql, sizeof sql, "SELECT %s(", fns[fn].name);
    for (int i = 0; i < n; i++) len += snprintf(sql + len, sizeof sql - (size_t)len, "%s?", i ? "," : "");
    snprintf(sql + len, sizeof sql - (size_t)len, ")");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        FUZZ_ASSERT(0, "cannot prepare %s: %s", sql, sqlite3_errmsg(db));
    }
    int skip = 0;
    double num[5];
    for (int i = 0; i < n; i++)
        if (bind_arg(s, i + 1, r, fn, &num[i])) skip = 1;
    if (!strcmp(fns[fn].name, "tg_index_raster") &&
        ((n >= 3 && !(isnan(num[2]) || num[2] >= 16)) || (n >= 4 && !(isnan(num[3]) || num[3] >= 8))))
        skip = 1;
    if (!strcmp(fns[fn].name, "tg_set") && n == 2 && !isnan(num[1]) && num[1] > 16) skip = 1;
    if (skip) {
        sqlite3_finalize(s);
        return;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const unsigned char *t = sqlite3_column_text(s, c);
            int b = sqlite3_column_bytes(s, c);
            if (t && b > 0) {
                volatile unsigned char x = t[b - 1];
                (void)x;
            }
        }
    }
    if (getenv("FUZZ_SQL_TRACE")) {
        char *x = sqlite3_expanded_sql(s);
        fprintf(stderr, "%.300s -> %s\n", x ? x : sql, rc == SQLITE_DONE ? "ok" : sqlite3_errmsg(db));
        sqlite3_free(x);
    }
    if (rc != SQLITE_DONE) {
        const char *msg = sqlite3_errmsg(db);
        char want[64];
        snprintf(want, sizeof want, "%s(): ", fns[fn].name);
        if (fns[fn].table)
            FUZZ_ASSERT(strstr(msg, fns[fn].name) || !strcmp(msg, "out of memory"),
                        "%s failed (%d) with a message not naming it: '%s'", fns[fn].name, rc, msg);
        else
            FUZZ_ASSERT(!strncmp(msg, want, strlen(want)) || !strcmp(msg, "out of memory"),
                        "%s failed (%d) with '%s', expected '%s...'", fns[fn].name, rc, msg, want);
    }
    sqlite3_finalize(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    exec("BEGIN");
    for (int i = 0; i < 6 && r.n > 0; i++) run_call(&r);
    if (sqlite3_get_autocommit(db) == 0) exec("ROLLBACK");
    /* SQL can only turn files off (issue 20): the host turns them back on. */
    tg_sql_files on = {.allow_files = 1};
    if (tg_sql_set_files(db, &on) != SQLITE_OK) die("tg_sql_set_files", sqlite3_errmsg(db));
    exec("SELECT tg_set('threads', 1), tg_set('batch_tiles', 64)");
    return 0;
}
