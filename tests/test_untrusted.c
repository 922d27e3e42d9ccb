/* test_untrusted.c - untrusted SQL and untrusted databases (issue 20):
 *
 *  1. the store's file policy (tg_store_set_files / tg_store_file_check):
 *     bad settings refused and nothing changed; with the policy restricted,
 *     a model the database names is opened only under a trusted directory
 *     (a valid model elsewhere is refused: it was not parsed), not through
 *     "..", a symbolic link out of the directory, or a device; a trusted
 *     sha256 admits exactly that file (for models, not rasters); a missing
 *     file and an existing one get the same refusal; an unrestricted store
 *     opens anything; a FIFO is refused by every loader without blocking;
 *  2. the host's side of mod_transgeo, loaded into a connection of this
 *     program: the environment at load (TG_SQL_ALLOW_FILES,
 *     TG_SQL_TRUSTED_DIRS; malformed values fail the load) and
 *     tg_sql_set_files (<transgeo/sql.h>), the only way back on after SQL
 *     turned files off; a model row outside the trusted directory refused,
 *     inside it used;
 *  3. no file contents in messages: files whose bytes spell a canary
 *     string, or whose first bytes are a distinctive little-endian number,
 *     or whose header carries canary names and numbers (safetensors
 *     containers, model metadata, JPEG, PNG, PNM, and text GDAL parses:
 *     VRT, WMS, ASCII grid), through every loader:
 *     tg_st_open, tg_model_load, tg_store_model_register, a tg_models row
 *     (tg_store_model_get), tg_image_load(_mem), tg_photo_meta_read,
 *     tg_tiles_open; no message contains the canary as text, nor the
 *     decimal or hex of the first 8 or 4 bytes read as little- or
 *     big-endian integers, nor the planted numbers; and each names the file.
 * Fixtures: tests/golden/tiny/model.safetensors, shared/data/photos/01.jpg;
 * mod_transgeo from the build tree (.libs), mod_spatialite. */
#include "config.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/safetensors.h"
#include "transgeo/exif.h"
#include "transgeo/image.h"
#include "transgeo/model.h"
#include "transgeo/sql.h"
#include "transgeo/store.h"
#include "transgeo/tilecache.h"
#include "tap.h"

static char tiny[1024], photo[1024], tmp[1024];
static tg_ctx *ctx;

static const char *tpath(const char *name)
{
    static char buf[8][1200];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/untrusted/%s", tmp, name);
    return p;
}

static int write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static int has(const char *hay, const char *needle)
{
    int ok = hay && strstr(hay, needle) != NULL;
    if (!ok) printf("#   message: %s\n#   expected to contain: %s\n", hay ? hay : "(null)", needle);
    return ok;
}

/* ---- 1. the store's file policy ------------------------------------------ */

static void remove_db(const char *p)
{
    char x[1300];
    unlink(p);
    snprintf(x, sizeof x, "%s-wal", p);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", p);
    unlink(x);
}

/* The message of tg_store_file_check for path, with path itself cut out. */
static void refusal_shape(tg_store *st, const char *path, char *out, size_t cap)
{
    tg_store_file_check(ctx, st, path, TG_STORE_FILE_MODEL, "model 'm'");
    const char *m = tg_errmsg(ctx), *p = strstr(m, path);
    if (!p) {
        snprintf(out, cap, "%s", m);
        return;
    }
    snprintf(out, cap, "%.*s<path>%s", (int)(p - m), m, p + strlen(path));
}

static void store_policy(void)
{
    const char *trusted = tpath("trusted"), *other = tpath("other");
    mkdir(trusted, 0755);
    mkdir(other, 0755);
    size_t n = 0;
    unsigned char *model = read_file(tiny, &n);
    TAP_OK(model && n > 1000, "read the tiny model (%zu bytes)", n);
    char in_t[1200], in_o[1200], link[1200], dotdot[1200], missing[1200];
    snprintf(in_t, sizeof in_t, "%s/model.safetensors", trusted);
    snprintf(in_o, sizeof in_o, "%s/model.safetensors", other);
    snprintf(link, sizeof link, "%s/link.safetensors", trusted);
    snprintf(dotdot, sizeof dotdot, "%s/../other/model.safetensors", trusted);
    snprintf(missing, sizeof missing, "%s/none.safetensors", other);
    write_file(in_t, model, n);
    write_file(in_o, model, n);
    unlink(link);
    TAP_OK(symlink(in_o, link) == 0, "a symbolic link in the trusted directory to the other copy");
    free(model);

    const char *dbp = tpath("policy.sqlite");
    remove_db(dbp);
    tg_store *st = NULL;
    int rc = tg_store_open(ctx, dbp, TG_STORE_CREATE, &st);
    TAP_OK(rc == 0, "store opened: %s", rc ? tg_errmsg(ctx) : "ok");
    if (rc) return;
    /* Registered while unrestricted (a program that trusts its database). */
    tg_store_model m_t, m_o, m_link, m_dd;
    rc = tg_store_model_register(ctx, st, "in_t", in_t, &m_t) ||
         tg_store_model_register(ctx, st, "in_o", in_o, &m_o) ||
         tg_store_model_register(ctx, st, "link", link, &m_link) ||
         tg_store_model_register(ctx, st, "dotdot", dotdot, &m_dd);
    TAP_OK(rc == 0, "four rows registered unrestricted (trusted dir, other dir, link, ..): %s",
           rc ? tg_errmsg(ctx) : "ok");
    tg_store_close(st);

    /* Bad settings: refused, naming the entry; the policy stays as it was. */
    st = NULL;
    tg_store_open(ctx, dbp, 0, &st);
    tg_store_files bad = {.restricted = 1, .dirs = "/no/such/dir/x"};
    rc = tg_store_set_files(ctx, st, &bad);
    TAP_OK(rc == TG_EINVAL && has(tg_errmsg(ctx), "trusted directory '/no/such/dir/x'"),
           "a trusted directory that does not exist: TG_EINVAL naming it");
    tg_store_files bad2 = {.restricted = 1, .models = "abc123"};
    rc = tg_store_set_files(ctx, st, &bad2);
    TAP_OK(rc == TG_EINVAL && has(tg_errmsg(ctx), "'abc123' is not a sha256"),
           "a malformed sha256: TG_EINVAL naming it");
    bad.dirs = in_t; /* a file, not a directory */
    rc = tg_store_set_files(ctx, st, &bad);
    TAP_OK(rc == TG_EINVAL && has(tg_errmsg(ctx), "is not a directory"), "a file as directory: TG_EINVAL");
    const tg_model *got = NULL;
    rc = tg_store_model_get(ctx, st, &m_o, &got);
    TAP_OK(rc == 0 && got, "after refused settings the store is still unrestricted: any row loads");
    tg_store_close(st);

    /* Restricted to the trusted directory; a fresh store (no model cached). */
    st = NULL;
    tg_store_open(ctx, dbp, 0, &st);
    tg_store_files f = {.restricted = 1, .dirs = trusted, .hint = "HINT: set the trusted dirs"};
    rc = tg_store_set_files(ctx, st, &f);
    TAP_OK(rc == 0, "restricted to %s", trusted);
    got = NULL;
    rc = tg_store_model_get(ctx, st, &m_t, &got);
    TAP_OK(rc == 0 && got, "a model under the trusted directory loads: %s", rc ? tg_errmsg(ctx) : "ok");
    const struct {
        const tg_store_model *m;
        const char *what;
    } refused[] = {{&m_o, "in another directory"},
                   {&m_link, "a symbolic link in the trusted directory pointing out"},
                   {&m_dd, "a path climbing out with .."}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        got = NULL;
        rc = tg_store_model_get(ctx, st, refused[i].m, &got);
        /* A valid model refused with TG_EACCES: refused before parsing. */
        TAP_OK(rc == TG_EACCES && !got && has(tg_errmsg(ctx), "not a regular file under a trusted directory") &&
                   has(tg_errmsg(ctx), refused[i].m->path) && has(tg_errmsg(ctx), "HINT: set the trusted dirs") &&
                   has(tg_errmsg(ctx), "refused without reading it"),
               "restricted: a valid model %s is refused with TG_EACCES, the path and the hint", refused[i].what);
    }
    char shape_missing[2000], shape_there[2000];
    refusal_shape(st, missing, shape_missing, sizeof shape_missing);
    refusal_shape(st, in_o, shape_there, sizeof shape_there);
    TAP_OK(strcmp(shape_missing, shape_there) == 0,
           "a missing file and an existing one outside get the same refusal (no existence oracle)");
    if (strcmp(shape_missing, shape_there)) printf("#   %s\n#   %s\n", shape_missing, shape_there);
    tg_store_files dev = {.restricted = 1, .dirs = "/dev"};
    tg_store_set_files(ctx, st, &dev);
    rc = tg_store_file_check(ctx, st, "/dev/zero", TG_STORE_FILE_MODEL, NULL);
    TAP_OK(rc == TG_EACCES, "/dev trusted: /dev/zero is still refused (not a regular file)");
    tg_store_files proc = {.restricted = 1, .dirs = "/proc"};
    tg_store_set_files(ctx, st, &proc);
    rc = tg_store_file_check(ctx, st, "/proc/self/environ", TG_STORE_FILE_MODEL, NULL);
    tg_model *pm = NULL;
    int rc2 = rc == 0 ? tg_model_load(ctx, "/proc/self/environ", &pm) : TG_EACCES;
    TAP_OK(rc2 != 0 && !pm, "/proc trusted: /proc/self/environ still does not load (0 bytes as a regular file)");
    tg_model_free(pm);
    tg_store_close(st);

    /* A FIFO: every loader refuses it without blocking in open() (a hang
     * here is the failure). */
    const char *fifo = tpath("fifo");
    unlink(fifo);
    if (mkfifo(fifo, 0600) == 0) {
        tg_model *fm = NULL;
        tg_image *fi = NULL;
        tg_tiler *ft = NULL;
        tg_tile_options fo = tg_tile_options_default();
        int a = tg_model_load(ctx, fifo, &fm), b = tg_image_load(ctx, fifo, &fi),
            c = tg_tiles_open(ctx, fifo, &fo, &ft);
        TAP_OK(a && b && c && !fm && !fi && !ft, "a FIFO is refused by the model, photo and raster loaders (%d, %d, %d)",
               a, b, c);
        tg_model_free(fm);
        tg_image_free(fi);
        tg_tiler_free(ft);
        unlink(fifo);
    } else {
        TAP_OK(0, "mkfifo %s", fifo);
    }

    /* Trusted by sha256 of the whole file. */
    char sha[65] = "";
    tg_store_file_sha256(ctx, in_o, sha);
    char upper[65];
    for (int i = 0; i < 65; i++) upper[i] = (char)(sha[i] >= 'a' && sha[i] <= 'f' ? sha[i] - 32 : sha[i]);
    st = NULL;
    tg_store_open(ctx, dbp, 0, &st);
    char list[300];
    snprintf(list, sizeof list, " %064d,%s ", 7, upper);
    tg_store_files fs = {.restricted = 1, .models = list};
    rc = tg_store_set_files(ctx, st, &fs);
    TAP_OK(rc == 0, "restricted, models trusted by sha256 (upper case, a list with spaces and commas)");
    got = NULL;
    rc = tg_store_model_get(ctx, st, &m_o, &got);
    TAP_OK(rc == 0 && got, "a model file with a trusted sha256 loads wherever it is: %s",
           rc ? tg_errmsg(ctx) : "ok");
    rc = tg_store_file_check(ctx, st, in_o, TG_STORE_FILE_RASTER, "raster 'r'");
    TAP_OK(rc == TG_EACCES && has(tg_errmsg(ctx), "raster 'r': the database names"),
           "a trusted sha256 does not admit the same file as a raster (rasters: directories only)");
    rc = tg_store_file_check(ctx, st, tiny, TG_STORE_FILE_MODEL, "model 'x'");
    size_t tn = 0;
    unsigned char *tb = read_file(tiny, &tn);
    TAP_OK(tb && tn == n && rc == 0, "the golden model (same bytes) passes by its sha256 too");
    free(tb);
    const char *edited = tpath("edited.safetensors");
    model = read_file(in_o, &n);
    model[n - 1] ^= 1;
    write_file(edited, model, n);
    free(model);
    rc = tg_store_file_check(ctx, st, edited, TG_STORE_FILE_MODEL, "model 'x'");
    TAP_OK(rc == TG_EACCES && has(tg_errmsg(ctx), "nor a model file with a trusted sha256 (2 set)"),
           "one flipped bit: another sha256, refused");
    tg_store_close(st);

    /* Unrestricted again: anything the rows name. */
    st = NULL;
    tg_store_open(ctx, dbp, 0, &st);
    tg_store_files open_ = {.restricted = 0, .dirs = trusted};
    tg_store_set_files(ctx, st, &open_);
    rc = tg_store_file_check(ctx, st, "/etc/hostname", TG_STORE_FILE_RASTER, NULL) ||
         tg_store_file_check(ctx, st, missing, TG_STORE_FILE_MODEL, NULL);
    TAP_OK(rc == 0, "an unrestricted store allows every path (the loaders decide)");
    tg_store_close(st);
}

/* ---- 2. the host's side of mod_transgeo ---------------------------------- */

static const char *modtg(void)
{
    static char p[1200];
    snprintf(p, sizeof p, "%s/.libs/mod_transgeo", tap_builddir());
    return p;
}

/* Open dbp, load SpatiaLite and mod_transgeo; SQL's load_extension() stays
 * off (the C API only). Returns the connection, or NULL with *err set
 * (sqlite3_free it). */
static sqlite3 *open_conn(const char *dbp, char **err)
{
    sqlite3 *db = NULL;
    *err = NULL;
    if (sqlite3_open(dbp, &db) != SQLITE_OK) {
        *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, NULL);
    const char *spl = getenv("TG_MOD_SPATIALITE");
    if (sqlite3_load_extension(db, spl && *spl ? spl : "mod_spatialite", NULL, err) != SQLITE_OK ||
        sqlite3_load_extension(db, modtg(), NULL, err) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    return db;
}

/* Run one statement; the first column of its first row as text into out
 * (or "Error: <message>"). */
static const char *q(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        snprintf(out, cap, "%s", sqlite3_column_type(s, 0) == SQLITE_NULL ? "NULL" : (const char *)sqlite3_column_text(s, 0));
    else if (rc == SQLITE_DONE)
        snprintf(out, cap, "(no row)");
    else
        snprintf(out, cap, "Error: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return out;
}

static void host_side(void)
{
    const char *dbp = tpath("policy.sqlite"); /* rows: in_t (trusted), in_o, link, dotdot */
    const char *trusted = tpath("trusted");
    char r[4000], sql[2400];
    char *err = NULL;

    /* The host's default (files on); SQL turns off, cannot turn on; C can. */
    unsetenv("TG_SQL_ALLOW_FILES");
    unsetenv("TG_SQL_TRUSTED_DIRS");
    unsetenv("TG_SQL_TRUSTED_MODELS");
    sqlite3 *db = open_conn(dbp, &err);
    TAP_OK(db != NULL, "connection with SpatiaLite and mod_transgeo: %s", err ? err : "ok");
    sqlite3_free(err);
    if (!db) return;
    TAP_OK(!strcmp(q(db, "SELECT tg_set('allow_files', 0)", r, sizeof r), "0"), "SQL turns files off");
    TAP_OK(has(q(db, "SELECT tg_set('allow_files', 1)", r, sizeof r), "cannot be turned on from SQL"),
           "SQL cannot turn them on");
    TAP_OK(has(q(db, "SELECT tg_host_files(1)", r, sizeof r), "only the program that loaded mod_transgeo"),
           "tg_host_files from SQL text is refused");
    tg_sql_files on = {.allow_files = 1};
    int rc = tg_sql_set_files(db, &on);
    TAP_OK(rc == SQLITE_OK, "tg_sql_set_files turns files on: %s", rc ? sqlite3_errmsg(db) : "ok");
    snprintf(sql, sizeof sql, "SELECT length(tg_embed_ground('%s', 'in_o'))", photo);
    TAP_OK(!strcmp(q(db, sql, r, sizeof r), "96"), "files on again: a path photo embeds (%s)", r);
    TAP_OK(!strcmp(q(db, "SELECT tg_set('allow_files', 1)", r, sizeof r), "1"),
           "tg_set('allow_files', 1) while on: 1 (no change)");

    /* C: off, with the trusted directory. A bad directory changes nothing. */
    tg_sql_files badf = {.allow_files = 0, .trusted_dirs = "/no/such/dir"};
    rc = tg_sql_set_files(db, &badf);
    TAP_OK(rc != SQLITE_OK && has(sqlite3_errmsg(db), "trusted directory '/no/such/dir'"),
           "tg_sql_set_files with a missing directory fails, naming it");
    TAP_OK(!strcmp(q(db, sql, r, sizeof r), "96"), "... and files are still on (%s)", r);
    tg_sql_files off = {.allow_files = 0, .trusted_dirs = trusted};
    rc = tg_sql_set_files(db, &off);
    TAP_OK(rc == SQLITE_OK, "tg_sql_set_files: off, trusted %s", trusted);
    sqlite3_close(db);

    /* A new connection has files on (environment unset): lock it from C
     * before anything is cached, then the rows decide. */
    db = open_conn(dbp, &err);
    sqlite3_free(err);
    tg_sql_set_files(db, &off);
    char blob[1400];
    snprintf(blob, sizeof blob, "%s", photo);
    sqlite3_stmt *s = NULL;
    size_t pn = 0;
    unsigned char *pb = read_file(photo, &pn);
    const char *names[] = {"in_t", "in_o", "link", "dotdot"};
    for (int i = 0; i < 4; i++) {
        sqlite3_prepare_v2(db, "SELECT length(tg_embed_ground(?1, ?2))", -1, &s, NULL);
        sqlite3_bind_blob(s, 1, pb, (int)pn, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, names[i], -1, SQLITE_STATIC);
        int step = sqlite3_step(s);
        snprintf(r, sizeof r, "%s", step == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : sqlite3_errmsg(db));
        sqlite3_finalize(s);
        if (i == 0)
            TAP_OK(step == SQLITE_ROW && !strcmp(r, "96"), "files off: the model under the trusted directory is used (%s)", r);
        else
            TAP_OK(step != SQLITE_ROW && has(r, "not a regular file under a trusted directory (1 set)") &&
                       has(r, "TG_SQL_TRUSTED_DIRS"),
                   "files off: model row '%s' outside the trusted directory is refused", names[i]);
    }
    snprintf(sql, sizeof sql, "SELECT tg_locate('%s', 'in_t')", photo);
    TAP_OK(has(q(db, sql, r, sizeof r), "reading files is off"), "files off: a TEXT photo path is refused");
    sqlite3_close(db);

    /* The environment at load. */
    setenv("TG_SQL_ALLOW_FILES", "0", 1);
    setenv("TG_SQL_TRUSTED_DIRS", trusted, 1);
    db = open_conn(dbp, &err);
    TAP_OK(db != NULL, "loaded with TG_SQL_ALLOW_FILES=0 TG_SQL_TRUSTED_DIRS=%s: %s", trusted, err ? err : "ok");
    sqlite3_free(err);
    if (db) {
        snprintf(sql, sizeof sql, "SELECT tg_locate('%s', 'in_t')", photo);
        TAP_OK(has(q(db, sql, r, sizeof r), "reading files is off"), "environment: files start off");
        TAP_OK(has(q(db, "SELECT tg_set('allow_files', 1)", r, sizeof r), "cannot be turned on from SQL"),
               "environment: SQL cannot turn them on");
        sqlite3_prepare_v2(db, "SELECT length(tg_embed_ground(?1, 'in_t')), length(tg_embed_ground(?1, 'in_o'))", -1, &s, NULL);
        sqlite3_bind_blob(s, 1, pb, (int)pn, SQLITE_STATIC);
        int step = sqlite3_step(s);
        TAP_OK(step != SQLITE_ROW && has(sqlite3_errmsg(db), "model 'in_o': the database names the file"),
               "environment: the trusted row works, the other is refused");
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    setenv("TG_SQL_ALLOW_FILES", "yes", 1);
    db = open_conn(dbp, &err);
    TAP_OK(!db && err && has(err, "TG_SQL_ALLOW_FILES is 'yes': expected 0"),
           "TG_SQL_ALLOW_FILES=yes: the load fails, saying why");
    sqlite3_free(err);
    sqlite3_close(db);
    setenv("TG_SQL_ALLOW_FILES", "0", 1);
    setenv("TG_SQL_TRUSTED_DIRS", "/no/such/dir", 1);
    db = open_conn(dbp, &err);
    TAP_OK(!db && err && has(err, "trusted directory '/no/such/dir'"),
           "TG_SQL_TRUSTED_DIRS with a missing directory: the load fails, naming it");
    sqlite3_free(err);
    sqlite3_close(db);
    unsetenv("TG_SQL_TRUSTED_DIRS");
    setenv("TG_SQL_TRUSTED_MODELS", "nothex", 1);
    db = open_conn(dbp, &err);
    TAP_OK(!db && err && has(err, "'nothex' is not a sha256"), "TG_SQL_TRUSTED_MODELS malformed: the load fails");
    sqlite3_free(err);
    sqlite3_close(db);
    unsetenv("TG_SQL_TRUSTED_MODELS");
    unsetenv("TG_SQL_ALLOW_FILES");
    free(pb);
    (void)blob;
}

/* ---- 3. no file contents in messages -------------------------------------- */

#define CANARY "SECRET-CANARY-5f1e9a7c"

/* Strings a message must not contain for a file starting with b[0..n):
 * the canary's words, and the first 8 and 4 bytes as little- and big-endian
 * integers in decimal and hex (only forms of 5 characters or more: shorter
 * ones occur by chance), plus `extra` (NULL-terminated). */
static int forbidden(const unsigned char *b, size_t n, const char *const *extra, char out[][40], int cap)
{
    int k = 0;
    static const char *const words[] = {"SECRET", "CANARY", "5f1e9a7c", NULL};
    for (int i = 0; words[i] && k < cap; i++) snprintf(out[k++], 40, "%s", words[i]);
    for (int i = 0; extra && extra[i] && k < cap; i++) snprintf(out[k++], 40, "%s", extra[i]);
    for (int width = 8; width >= 4; width -= 4) {
        if (n < (size_t)width) continue;
        uint64_t le = 0, be = 0;
        for (int i = width - 1; i >= 0; i--) le = le << 8 | b[i];
        for (int i = 0; i < width; i++) be = be << 8 | b[i];
        uint64_t v[2] = {le, be};
        for (int j = 0; j < 2; j++) {
            char f[3][40];
            snprintf(f[0], 40, "%" PRIu64, v[j]);
            snprintf(f[1], 40, "%" PRIx64, v[j]);
            snprintf(f[2], 40, "%" PRIX64, v[j]);
            for (int i = 0; i < 3 && k < cap; i++)
                if (strlen(f[i]) >= 5) snprintf(out[k++], 40, "%s", f[i]);
            if (k < cap && v[j] > INT64_MAX) /* the same bits printed as a signed number */
                snprintf(out[k++], 40, "%" PRId64, (int64_t)v[j]);
        }
    }
    return k;
}

static int n_leak_checks;

/* The ctx message after a failing call: no forbidden string, and the file's
 * name in it. */
static void check_msg(int rc, const char *what, const char *name, char bad[][40], int n_bad)
{
    const char *m = tg_errmsg(ctx);
    int clean = 1;
    for (int i = 0; i < n_bad; i++)
        if (strstr(m, bad[i])) {
            printf("#   contains '%s'\n", bad[i]);
            clean = 0;
        }
    n_leak_checks++;
    TAP_OK(rc != 0 && clean && has(m, name), "%s: refused (%s), nothing of the file in the message", what,
           tg_strerror(rc));
    if (!clean || rc == 0) printf("#   message: %s\n", m);
}

/* A safetensors file: 8-byte length + header JSON (+ data). */
static void put_st(const char *name, const char *json, size_t data)
{
    size_t hl = strlen(json), n = 8 + hl + data;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    write_file(tpath(name), b, n);
    free(b);
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void no_contents(void)
{
    /* --- the files ------------------------------------------------------- */
    const char *text = CANARY " the rest of a private file\nline two\n";
    write_file(tpath("canary.txt"), text, strlen(text));
    /* First 8 bytes: a plausible little-endian header length (10124337)
     * larger than the file; then text. */
    unsigned char le[64] = {0x31, 0x7c, 0x9a, 0, 0, 0, 0, 0};
    memcpy(le + 8, CANARY, strlen(CANARY));
    write_file(tpath("le_number.bin"), le, 8 + strlen(CANARY));
    /* A length that fits, then '{' and no JSON: jansson's error quotes it. */
    put_st("bad_json.safetensors", "{\"" CANARY "\" : SECRETTOKEN, 12345678}", 0);
    /* Valid containers with canary names, dtypes and numbers. */
    put_st("st_dtype.safetensors",
           "{\"" CANARY "\":{\"dtype\":\"CANARYTYPE\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    put_st("st_shape.safetensors",
           "{\"" CANARY "\":{\"dtype\":\"F32\",\"shape\":[7340033],\"data_offsets\":[6102426,6102430]}}", 4);
    put_st("st_field.safetensors",
           "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"" CANARY "\":1}}", 4);
    put_st("st_meta.safetensors", "{\"__metadata__\":{\"" CANARY "\":7340033}}", 0);
    put_st("st_overlap.safetensors",
           "{\"" CANARY "-a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"" CANARY "-b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    put_st("st_format.safetensors", "{\"__metadata__\":{\"format\":\"" CANARY "\"}}", 0);
    put_st("st_config.safetensors",
           "{\"__metadata__\":{\"format\":\"transgeo-safetensors-1\",\"arch\":\"transgeo\","
           "\"embed_dim\":\"" CANARY "\"}}", 0);
    put_st("st_tensor.safetensors",
           "{\"__metadata__\":{\"format\":\"transgeo-safetensors-1\",\"arch\":\"transgeo\","
           "\"embed_dim\":\"32\",\"depth\":\"1\",\"heads\":\"2\",\"mlp_dim\":\"64\",\"patch\":\"16\","
           "\"ln_eps\":\"1e-6\",\"out_dim\":\"24\",\"tokens\":\"cls\",\"ground_hw\":\"32,32\","
           "\"aerial_hw\":\"32,32\",\"zoom_hw\":\"32,32\",\"crop_ratio\":\"1\",\"zoom\":\"0\","
           "\"aerial_gsd_m\":\"1\",\"aerial_tile_m\":\"32\",\"ground_fov_deg\":\"90\","
           "\"normalize_mean\":\"0,0,0\",\"normalize_std\":\"1,1,1\",\"sha256\":\"" CANARY "\"}}", 0);
    /* Photos: JPEG start then canary bytes; a PNG whose IHDR claims 12648430
     * x 3 (0xC0FFEE) and a critical chunk named CANR; a PNM 12648431 x 7. */
    unsigned char jpg[64] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10};
    memcpy(jpg + 6, CANARY, strlen(CANARY));
    write_file(tpath("canary.jpg"), jpg, 6 + strlen(CANARY));
    unsigned char png[128] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t o = 8;
    be32(png + o, 13);
    memcpy(png + o + 4, "IHDR", 4);
    be32(png + o + 8, 0xC0FFEE);
    be32(png + o + 12, 3);
    png[o + 16] = 8;
    png[o + 17] = 2; /* RGB, 8 bits */
    o += 8 + 13 + 4; /* the CRC is wrong: libpng complains about it */
    be32(png + o, 4);
    memcpy(png + o + 4, "CANR", 4);
    memcpy(png + o + 8, "SECR", 4);
    o += 16;
    write_file(tpath("canary.png"), png, o);
    char pnm[128];
    int pl = snprintf(pnm, sizeof pnm, "P6\n12648431 7\n255\n%s", CANARY);
    write_file(tpath("canary.ppm"), pnm, (size_t)pl);

    /* Text that GDAL drivers parse (VRT, WMS, ASCII grid): their errors may
     * quote what they read. */
    const char *vrt = "<VRTDataset rasterXSize=\"" CANARY "\" rasterYSize=\"7340033\"><SECRET-CANARY/>";
    write_file(tpath("canary.vrt"), vrt, strlen(vrt));
    const char *wms = "<GDAL_WMS><Service name=\"" CANARY "\"><ServerUrl>SECRETTOKEN</ServerUrl></Service></GDAL_WMS>";
    write_file(tpath("canary_wms.xml"), wms, strlen(wms));
    const char *asc = "ncols 7340033\nnrows SECRETTOKEN\nxllcorner " CANARY "\n";
    write_file(tpath("canary.asc"), asc, strlen(asc));

    /* --- the loaders ------------------------------------------------------ */
    static const char *const models[] = {
        "canary.txt", "le_number.bin", "bad_json.safetensors", "st_dtype.safetensors",
        "st_shape.safetensors", "st_field.safetensors", "st_meta.safetensors",
        "st_overlap.safetensors", "st_format.safetensors", "st_config.safetensors",
        "st_tensor.safetensors", "canary.jpg", "canary.png", "canary.ppm", "canary.vrt",
        "canary_wms.xml", "canary.asc"};
    static const char *const planted[] = {"7340033", "6102426", "6102430", "CANARYTYPE", "SECRETTOKEN",
                                          "12345678", "12648430", "c0ffee", "C0FFEE", "12648431",
                                          "CANR", "SECR", "0x", NULL};
    char dbp[1200];
    snprintf(dbp, sizeof dbp, "%s", tpath("canary.sqlite"));
    remove_db(dbp);
    tg_store *st = NULL;
    tg_store_open(ctx, dbp, TG_STORE_CREATE, &st);
    tg_store_model reg;
    int rc = tg_store_model_register(ctx, st, "tiny", tiny, &reg);
    TAP_OK(rc == 0, "canary store: the tiny model registered");
    tg_store_close(st);
    sqlite3 *db = NULL;
    sqlite3_open(dbp, &db);
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s", tpath(models[i]));
        size_t n = 0;
        unsigned char *b = read_file(path, &n);
        char bad[64][40];
        int nb = forbidden(b, n, planted, bad, 64);
        char what[200];

        tg_safetensors *sf = NULL;
        rc = tg_st_open(ctx, path, &sf);
        snprintf(what, sizeof what, "tg_st_open(%s)", models[i]);
        if (rc == 0) TAP_OK(1, "%s: a valid container (checked by the model loader below)", what);
        else check_msg(rc, what, models[i], bad, nb);
        tg_st_close(sf);

        tg_model *m = NULL;
        rc = tg_model_load(ctx, path, &m);
        snprintf(what, sizeof what, "tg_model_load(%s)", models[i]);
        check_msg(rc, what, models[i], bad, nb);
        tg_model_free(m);

        tg_st_reader rd;
        tg_st_reader_mem(&rd, b, n, models[i]);
        rc = tg_st_open_reader(ctx, &rd, &sf);
        snprintf(what, sizeof what, "tg_st_open_reader(%s)", models[i]);
        if (rc == 0) TAP_OK(1, "%s: a valid container", what);
        else check_msg(rc, what, models[i], bad, nb);
        tg_st_close(sf);

        st = NULL;
        rc = tg_store_open(ctx, dbp, 0, &st);
        if (rc) printf("#   store: %s\n", tg_errmsg(ctx));
        rc = tg_store_model_register(ctx, st, "canary", path, NULL);
        snprintf(what, sizeof what, "tg_store_model_register(%s)", models[i]);
        check_msg(rc, what, models[i], bad, nb);
        /* The case: the database row points at the file. */
        char sql[1400];
        snprintf(sql, sizeof sql, "UPDATE tg_models SET path = '%s' WHERE name = 'tiny'", path);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
        tg_store_model row;
        const tg_model *got = NULL;
        rc = tg_store_model_find(ctx, st, "tiny", &row);
        if (!rc) rc = tg_store_model_get(ctx, st, &row, &got);
        snprintf(what, sizeof what, "tg_store_model_get, tg_models.path -> %s", models[i]);
        check_msg(rc, what, models[i], bad, nb);
        tg_store_close(st);

        tg_image *img = NULL;
        rc = tg_image_load(ctx, path, &img);
        snprintf(what, sizeof what, "tg_image_load(%s)", models[i]);
        check_msg(rc, what, models[i], bad, nb);
        tg_image_free(img);
        img = NULL;
        rc = tg_image_load_mem(ctx, b, n, &img);
        snprintf(what, sizeof what, "tg_image_load_mem(%s)", models[i]);
        check_msg(rc, what, "image in memory", bad, nb);
        tg_image_free(img);

        tg_photo_meta meta;
        rc = tg_photo_meta_read(ctx, path, &meta);
        snprintf(what, sizeof what, "tg_photo_meta_read(%s)", models[i]);
        if (rc == 0) TAP_OK(1, "%s: metadata read (no error to check)", what);
        else check_msg(rc, what, models[i], bad, nb);

        tg_tile_options to = tg_tile_options_default();
        tg_tiler *tl = NULL;
        rc = tg_tiles_open(ctx, path, &to, &tl);
        snprintf(what, sizeof what, "tg_tiles_open(%s)", models[i]);
        check_msg(rc, what, models[i], bad, nb);
        tg_tiler_free(tl);
        free(b);
    }
    sqlite3_close(db);
    tap_diag("%d messages checked for file contents", n_leak_checks);
}

int main(void)
{
    snprintf(tiny, sizeof tiny, "%s/tests/golden/tiny/model.safetensors", tap_srcdir());
    snprintf(photo, sizeof photo, "%s/photos/01.jpg", tap_shared());
    snprintf(tmp, sizeof tmp, "%s", tap_env("TG_TMPDIR", "/tmp"));
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/untrusted", tmp);
    mkdir(tmp, 0755);
    mkdir(dir, 0755);
    if (tg_ctx_create(&ctx)) return 1;
    tg_ctx_set_threads(ctx, 1);
    store_policy();
    host_side();
    no_contents();
    tg_ctx_free(ctx);
    return tap_done();
}
