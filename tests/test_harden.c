/* test_harden.c - hardening cases at the library level (issue 10), each with
 * its error code and message checked and the database checked afterwards:
 *
 *  1. model container sweeps: every prefix of the tiny model's header and
 *     data start (truncation), and every single-bit flip of its first 600
 *     header bytes, through the reader interface (tg_st_open_reader): an
 *     error with a message, or a valid parse; never a crash;
 *  2. a model file re-registered under the same name with the same sha256
 *     metadata but another config (out_dim 12 instead of 24, made by editing
 *     the header only): registering or locating must fail with TG_EMODEL,
 *     never mix 12- and 24-float embeddings (an ASan build shows a heap
 *     overflow when it does); the same when tg_models.config_json is edited
 *     under a store that has the model cached; a name without tiles may be
 *     registered again with another configuration, and a warm store then
 *     uses the new one;
 *  3. the decompression-bomb limit is configurable: a 50000 x 50000 PNG
 *     header is refused by default (before decoding), a small photo is refused
 *     under a lowered process limit and accepted again after restoring it,
 *     and tg_image_opts.max_pixels applies per call;
 *  4. a read-only store (TG_STORE_READONLY): indexing and registering fail
 *     with TG_EDB "read-only", nothing changes, search still works;
 *  5. a locked database (another connection in BEGIN EXCLUSIVE): with a
 *     short busy timeout indexing fails with TG_EBUSY "database is locked" and
 *     nothing changes; with the lock released during the busy timeout it
 *     waits and succeeds;
 *  6. disk full (PRAGMA max_page_count) during tg_store_index_raster:
 *     TG_EDB "database or disk is full", only whole batches stored, the
 *     raster not complete; after lifting the limit a rerun completes to
 *     the tiles and embeddings of an unconstrained run.
 * Fixtures: tests/golden/tiny/model.safetensors, the 2018 NAIP raster of
 * shared/data (500 m tiles), shared/data/photos/fixed_exif.jpg. */
#include "config.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transgeo/image.h"
#include "transgeo/model.h"
#include "engine/safetensors.h"
#include "transgeo/store.h"
#include "tap.h"
#include "locate_path.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "st_edit.h"
#pragma GCC diagnostic pop

static char tiny[1024], raster[1024], photo[1024], tmp[1024];
static tg_ctx *ctx;

static void tmp_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/test_harden_%s", tmp, name);
}

static void remove_db(const char *p)
{
    char x[1200];
    unlink(p);
    snprintf(x, sizeof x, "%s-wal", p);
    unlink(x);
    snprintf(x, sizeof x, "%s-shm", p);
    unlink(x);
}

static int has(const char *hay, const char *needle)
{
    int ok = hay && strstr(hay, needle) != NULL;
    if (!ok) printf("#   message: %s\n#   expected to contain: %s\n", hay ? hay : "(null)", needle);
    return ok;
}

static long long sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    long long v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        printf("# sql failed: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return v;
}

/* A digest of what the store holds: models, rasters, tiles with embeddings. */
static unsigned long long db_digest(sqlite3 *db)
{
    static const char *q[] = {
        "SELECT id, name, sha256, path FROM tg_models ORDER BY id",
        "SELECT id, sha256, tile_m, stride_m, complete, n_tiles FROM tg_rasters ORDER BY id",
        "SELECT id, raster_id, col, row, embedding, geom FROM tg_tiles ORDER BY id"};
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, q[i], -1, &s, NULL) != SQLITE_OK) return 0;
        while (sqlite3_step(s) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const unsigned char *b = sqlite3_column_blob(s, c);
                int n = sqlite3_column_bytes(s, c);
                for (int j = 0; j < n; j++) h = (h ^ b[j]) * 1099511628211ULL;
                h = (h ^ 0xff) * 1099511628211ULL;
            }
        sqlite3_finalize(s);
    }
    return h;
}

/* ---- 1. container sweeps ---------------------------------------------------------- */

static void sweeps(void)
{
    size_t n = 0;
    unsigned char *b = st_slurp(tiny, &n);
    if (!TAP_OK(b && n > 8, "read the tiny model")) return;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    size_t end = 8 + (size_t)hl + 512 < n ? 8 + (size_t)hl + 512 : n;
    int bad = 0, n_err = 0;
    for (size_t len = 0; len < end; len += (len < 64 ? 1 : 37)) {
        unsigned char *c = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
        memcpy(c, b, len);
        tg_st_reader r;
        tg_st_reader_mem(&r, c, len, "truncated");
        tg_safetensors *st = NULL;
        tg_clear_error(ctx);
        int rc = tg_st_open_reader(ctx, &r, &st);
        if (rc == 0 || st || tg_errcode(ctx) != rc || !*tg_errmsg(ctx)) {
            if (!bad++) printf("# prefix %zu: rc %d, message '%s'\n", len, rc, tg_errmsg(ctx));
        }
        if (rc == TG_EFORMAT) n_err++;
        tg_st_close(st);
        free(c);
    }
    TAP_OK(bad == 0 && n_err > 0, "every truncated prefix (%d) is refused with TG_EFORMAT and a message",
           n_err);
    bad = 0;
    int n_ok = 0;
    n_err = 0;
    for (size_t i = 0; i < 600 && i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            tg_st_reader r;
            tg_st_reader_mem(&r, b, n, "flipped");
            tg_safetensors *st = NULL;
            tg_clear_error(ctx);
            int rc = tg_st_open_reader(ctx, &r, &st);
            if (rc == 0) n_ok++;
            else if (st || tg_errcode(ctx) != rc || !*tg_errmsg(ctx)) bad++;
            else n_err++;
            tg_st_close(st);
            b[i] ^= (unsigned char)(1u << bit);
        }
    TAP_OK(bad == 0, "4800 single-bit flips of the header: %d refused with a message, %d still valid",
           n_err, n_ok);
    free(b);
}

/* ---- 2. same sha256, another config ---------------------------------------------- */

static void same_sha_other_config(void)
{
    char db[1200], o12[1200];
    tmp_path(db, sizeof db, "sha.sqlite");
    tmp_path(o12, sizeof o12, "out12.safetensors");
    remove_db(db);
    if (!TAP_OK(st_rewrite(tiny, o12, st_out_dim_12, NULL) == 0, "make the out_dim 12 variant")) return;
    tg_model *m = NULL;
    int rc = tg_model_load(ctx, o12, &m);
    TAP_OK(rc == 0 && tg_model_config_get(m)->out_dim == 12 &&
               !strcmp(tg_model_config_get(m)->sha256,
                       "da3ccc0bf014efb2731b36da15da9bb6fce72ef6a2d3b6bcdece645d9d86ee23"),
           "the variant loads: out_dim 12, the tiny model's sha256 metadata (%s)", tg_errmsg(ctx));
    tg_model_free(m);

    tg_store *st = NULL;
    tg_store_index_opts o;
    tg_store_index_opts_default(&o);
    o.tile_m = 1000;
    o.stride_m = 1000;
    o.gsd_m = 12.5;
    rc = tg_store_open(ctx, db, TG_STORE_CREATE, &st);
    if (!rc) rc = tg_store_model_register(ctx, st, "m", tiny, NULL);
    if (!rc) rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
    tg_store_close(st);
    st = NULL;
    if (!TAP_OK(rc == 0, "index with the tiny model (%s)", tg_errmsg(ctx))) return;

    /* a new store: nothing cached */
    rc = tg_store_open(ctx, db, 0, &st);
    int reg = rc ? rc : tg_store_model_register(ctx, st, "m", o12, NULL);
    if (reg == 0) {
        tg_match best[3];
        int n = 0;
        tg_clear_error(ctx);
        rc = locate_path(ctx, st, "m", photo, 3, NULL, best, &n, NULL);
        TAP_OK(rc == TG_EMODEL, "same sha256, out_dim 12 instead of 24: locating fails with TG_EMODEL "
               "(got %d, %d matches: %s)", rc, n, tg_errmsg(ctx));
    } else {
        TAP_OK(reg == TG_EMODEL && has(tg_errmsg(ctx), "out_dim"),
               "same sha256, out_dim 12 instead of 24: re-registering is refused with TG_EMODEL");
    }
    tg_store_close(st);
    st = NULL;

    /* Warm cache: a store that has loaded the tiny model (24 floats) while
     * another connection (here a second store; in real life the CLI while a
     * QGIS/SQL session stays open) re-registers the name with the variant:
     * the registry then says 12 floats, the first store's cache still holds
     * the 24-float model under the same id and sha256, and its next indexing
     * run sizes its buffers for 12 floats per tile. */
    remove_db(db);
    tg_store *st2 = NULL;
    rc = tg_store_open(ctx, db, TG_STORE_CREATE, &st);
    if (!rc) rc = tg_store_model_register(ctx, st, "m", tiny, NULL);
    if (!rc) rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
    if (!rc) rc = tg_store_open(ctx, db, 0, &st2);
    if (TAP_OK(rc == 0, "warm cache: index with the tiny model, open a second store (%s)", tg_errmsg(ctx))) {
        reg = tg_store_model_register(ctx, st2, "m", o12, NULL);
        if (reg == 0) {
            o.tile_m = 500;
            o.stride_m = 500;
            o.gsd_m = 6.25;
            tg_clear_error(ctx);
            rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
            TAP_OK(rc == TG_EMODEL, "warm cache, same sha256, out_dim 12 registered elsewhere: indexing "
                   "fails with TG_EMODEL (got %d: %s)", rc, tg_errmsg(ctx));
        } else {
            TAP_OK(reg == TG_EMODEL && has(tg_errmsg(ctx), "out_dim"),
                   "warm cache: re-registering another config under the same sha256 is refused");
        }
    }
    tg_store_close(st2);
    st2 = NULL;

    /* The registry edited under a warm cache (a tool, or SQL, rewrites
     * tg_models.config_json): the cached 24-float model no longer fits the
     * row, which says 12; indexing and locating must refuse, not size
     * buffers from one and write the other. */
    sqlite3 *raw = NULL;
    unsigned long long before = st ? db_digest(tg_store_db(st)) : 0;
    if (st && sqlite3_open(db, &raw) == SQLITE_OK &&
        sqlite3_exec(raw, "UPDATE tg_models SET config_json = json_set(config_json, '$.out_dim', '12')",
                     NULL, NULL, NULL) == SQLITE_OK) {
        o.tile_m = 500;
        o.stride_m = 500;
        o.gsd_m = 6.25;
        tg_clear_error(ctx);
        rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
        TAP_OK(rc == TG_EMODEL && has(tg_errmsg(ctx), "out_dim 12") && has(tg_errmsg(ctx), "out_dim 24"),
               "registry edited to out_dim 12 under a warm cache: indexing fails with TG_EMODEL (got %d)", rc);
        tg_match best[3];
        int n = 0;
        rc = locate_path(ctx, st, "m", photo, 3, NULL, best, &n, NULL);
        TAP_OK(rc == TG_EMODEL && n == 0, "registry edited: locating fails with TG_EMODEL (got %d: %s)", rc,
               tg_errmsg(ctx));
        TAP_OK(db_digest(tg_store_db(st)) == before, "registry edited: indexing changed nothing");
        /* a cold store: the file loads, and does not fit the row either */
        rc = tg_store_open(ctx, db, 0, &st2);
        if (!rc) rc = locate_path(ctx, st2, "m", photo, 3, NULL, best, &n, NULL);
        TAP_OK(rc == TG_EMODEL, "registry edited, cold store: locating fails with TG_EMODEL (got %d: %s)", rc,
               tg_errmsg(ctx));
        tg_store_close(st2);
        st2 = NULL;
    } else {
        TAP_OK(0, "edit tg_models.config_json (%s)", raw ? sqlite3_errmsg(raw) : "no store");
    }
    sqlite3_close(raw);

    /* A name without tiles may be registered again with another
     * configuration: a store that cached the old model uses the new one. */
    rc = st ? tg_store_model_register(ctx, st, "n", tiny, NULL) : -1;
    tg_store_model mn;
    const tg_model *cached = NULL;
    if (!rc) rc = tg_store_model_find(ctx, st, "n", &mn);
    if (!rc) rc = tg_store_model_get(ctx, st, &mn, &cached);
    if (!rc) rc = tg_store_open(ctx, db, 0, &st2);
    if (!rc) rc = tg_store_model_register(ctx, st2, "n", o12, NULL);
    if (TAP_OK(rc == 0, "no tiles yet: 'n' re-registered with the out_dim 12 variant (%s)", tg_errmsg(ctx))) {
        o.model = "n";
        rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
        TAP_OK(rc == 0 && sql_int(tg_store_db(st), "SELECT min(length(embedding)) = 48 AND max(length(embedding)) = 48 "
                                                   "FROM tg_tiles t JOIN tg_models m ON m.id = t.model_id "
                                                   "WHERE m.name = 'n'") == 1 &&
                   tg_model_config_get(cached)->out_dim == 24,
               "the warm store indexes with the new registration (12 floats a tile), the model it "
               "returned before stays valid (%s)", tg_errmsg(ctx));
        o.model = NULL;
    }
    tg_store_close(st2);
    tg_store_close(st);
    remove_db(db);
    unlink(o12);
}

/* ---- 3. decompression-bomb limit ----------------------------------------------------- */

static unsigned crc32_of(const unsigned char *p, size_t n)
{
    unsigned c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static size_t png_chunk(unsigned char *o, const char *type, const unsigned char *d, unsigned n)
{
    o[0] = (unsigned char)(n >> 24); o[1] = (unsigned char)(n >> 16); o[2] = (unsigned char)(n >> 8);
    o[3] = (unsigned char)n;
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, d, n);
    unsigned c = crc32_of(o + 4, 4 + n);
    o[8 + n] = (unsigned char)(c >> 24); o[9 + n] = (unsigned char)(c >> 16);
    o[10 + n] = (unsigned char)(c >> 8); o[11 + n] = (unsigned char)c;
    return 12 + n;
}

static void bomb(void)
{
    /* PNG: signature, IHDR 50000 x 50000 RGB 8-bit, an empty stored-zlib IDAT, IEND */
    unsigned char png[128];
    size_t n = 0;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    n = 8;
    unsigned char ihdr[13] = {0, 0, 0xc3, 0x50, 0, 0, 0xc3, 0x50, 8, 2, 0, 0, 0};
    n += png_chunk(png + n, "IHDR", ihdr, 13);
    static const unsigned char idat[] = {0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 1};
    n += png_chunk(png + n, "IDAT", idat, sizeof idat);
    n += png_chunk(png + n, "IEND", NULL, 0);
    tg_image *img = NULL;
    int rc = tg_image_load_mem(ctx, png, n, &img);
    TAP_OK(rc == TG_EIMAGE && img == NULL && has(tg_errmsg(ctx), "more pixels than the limit of 100000000 pixels") &&
               has(tg_errmsg(ctx), "decompression-bomb"),
           "50000 x 50000 PNG header: refused before decoding (TG_EIMAGE)");
    tg_image_free(img);

    long long dflt = tg_image_max_pixels();
    TAP_EQ(dflt, TG_IMAGE_MAX_PIXELS_DEFAULT, "default limit 100 Mpx");
    tg_image_set_max_pixels(50); /* the photo has 16 x 16 px */
    img = NULL;
    tg_clear_error(ctx);
    rc = tg_image_load(ctx, photo, &img);
    TAP_OK(rc == TG_EIMAGE && has(tg_errmsg(ctx), "more pixels than the limit of 50 pixels"),
           "process limit lowered to 50 px: the 16 x 16 photo is refused");
    tg_image_free(img);
    img = NULL;
    tg_image_opts opts;
    tg_image_opts_default(&opts);
    TAP_EQ(opts.max_pixels, 50, "tg_image_opts_default takes the process limit");
    opts.max_pixels = 10000000;
    tg_clear_error(ctx); /* a failure below then shows its own message, not the one above */
    rc = tg_image_load_ex(ctx, photo, &opts, &img);
    TAP_OK(rc == 0 && img, "a per-call limit (tg_image_opts.max_pixels) overrides it (%s)", tg_errmsg(ctx));
    tg_image_free(img);
    tg_image_set_max_pixels(0);
    TAP_EQ(tg_image_max_pixels(), TG_IMAGE_MAX_PIXELS_DEFAULT, "0 restores the default");
    img = NULL;
    tg_clear_error(ctx);
    rc = tg_image_load(ctx, photo, &img);
    TAP_OK(rc == 0, "the photo loads again (%s)", tg_errmsg(ctx));
    tg_image_free(img);
}

/* ---- 4-6. database states ---------------------------------------------------------------- */

static void base_db(const char *db, tg_store_index_opts *o)
{
    remove_db(db);
    tg_store *st = NULL;
    int rc = tg_store_open(ctx, db, TG_STORE_CREATE, &st);
    if (!rc) rc = tg_store_model_register(ctx, st, "m", tiny, NULL);
    tg_store_index_opts_default(o);
    o->tile_m = 1000;
    o->stride_m = 1000;
    o->gsd_m = 12.5;
    if (!rc) rc = tg_store_index_raster(ctx, st, raster, o, NULL);
    if (rc) printf("# base database: %s\n", tg_errmsg(ctx));
    tg_store_close(st);
    o->tile_m = 500; /* the next runs: another tiling of the same raster */
    o->stride_m = 500;
    o->gsd_m = 6.25;
}

static void read_only(void)
{
    char db[1200];
    tmp_path(db, sizeof db, "ro.sqlite");
    tg_store_index_opts o;
    base_db(db, &o);
    tg_store *st = NULL;
    int rc = tg_store_open(ctx, db, TG_STORE_READONLY, &st);
    if (!TAP_OK(rc == 0, "open read-only (%s)", tg_errmsg(ctx))) return;
    unsigned long long before = db_digest(tg_store_db(st));
    rc = tg_store_index_raster(ctx, st, raster, &o, NULL);
    TAP_OK(rc == TG_EDB && has(tg_errmsg(ctx), "read-only"), "read-only store: indexing fails with TG_EDB");
    rc = tg_store_model_register(ctx, st, "x", tiny, NULL);
    TAP_OK(rc == TG_EDB && has(tg_errmsg(ctx), "read-only"), "read-only store: registering fails with TG_EDB");
    tg_match best[2];
    int n = 0;
    rc = locate_path(ctx, st, NULL, photo, 2, NULL, best, &n, NULL);
    TAP_OK(rc == 0 && n == 2, "read-only store: locating works (%s)", tg_errmsg(ctx));
    TAP_OK(db_digest(tg_store_db(st)) == before, "read-only store: database unchanged");
    tg_store_close(st);
    remove_db(db);
}

typedef struct {
    char path[1200];
    int hold_ms;
    sqlite3 *db;
    int locked;
} holder;

static void *hold_lock(void *p)
{
    holder *h = p;
    usleep((useconds_t)h->hold_ms * 1000);
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

static int take_lock(holder *h)
{
    if (sqlite3_open(h->path, &h->db) != SQLITE_OK) return -1;
    return sqlite3_exec(h->db, "BEGIN EXCLUSIVE; INSERT INTO tg_meta(key, value) VALUES ('harden', 'x')",
                        NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void locked(void)
{
    char db[1200];
    tmp_path(db, sizeof db, "lock.sqlite");
    tg_store_index_opts o;
    base_db(db, &o);
    holder h;
    memset(&h, 0, sizeof h);
    snprintf(h.path, sizeof h.path, "%s", db);
    tg_store *st = NULL;
    int rc = -1;
    if (!TAP_OK(take_lock(&h) == 0, "another connection holds BEGIN EXCLUSIVE") ||
        !TAP_OK((rc = tg_store_open(ctx, db, 0, &st)) == 0, "open the store (%s)", tg_errmsg(ctx))) {
        sqlite3_close(h.db);
        tg_store_close(st);
        return;
    }
    sqlite3_busy_timeout(tg_store_db(st), 100);
    unsigned long long before = db_digest(tg_store_db(st));
    tg_store_index_result res;
    rc = tg_store_index_raster(ctx, st, raster, &o, &res);
    TAP_OK(rc == TG_EBUSY && has(tg_errmsg(ctx), "database is locked"),
           "locked, 100 ms busy timeout: TG_EBUSY 'database is locked' (got %d)", rc);
    TAP_OK(db_digest(tg_store_db(st)) == before, "locked: database unchanged");
    /* released after 300 ms, within a 10 s busy timeout: waits, then indexes */
    sqlite3_busy_timeout(tg_store_db(st), 10000);
    h.hold_ms = 300;
    pthread_t th;
    pthread_create(&th, NULL, hold_lock, &h);
    rc = tg_store_index_raster(ctx, st, raster, &o, &res);
    pthread_join(th, NULL);
    TAP_OK(rc == 0 && res.complete && res.n_added > 0,
           "lock released during the busy timeout: indexing waits and completes (%s)", tg_errmsg(ctx));
    sqlite3_close(h.db);
    tg_store_close(st);
    remove_db(db);
}

static void disk_full(void)
{
    char db[1200], ref[1200];
    tmp_path(db, sizeof db, "full.sqlite");
    tmp_path(ref, sizeof ref, "full_ref.sqlite");
    tg_store_index_opts o;
    base_db(ref, &o);
    tg_store *st = NULL;
    tg_store_index_result res;
    int rc = tg_store_open(ctx, ref, 0, &st);
    if (!rc) rc = tg_store_index_raster(ctx, st, raster, &o, &res);
    long long want = rc ? -1 : sql_int(tg_store_db(st), "SELECT count(*) FROM tg_tiles");
    unsigned long long want_digest = rc ? 0 : db_digest(tg_store_db(st));
    tg_store_close(st);
    st = NULL;
    if (!TAP_OK(rc == 0, "reference run: %lld tiles (%s)", want, tg_errmsg(ctx))) return;

    base_db(db, &o);
    rc = tg_store_open(ctx, db, 0, &st);
    if (!TAP_OK(rc == 0, "open the store (%s)", tg_errmsg(ctx))) return;
    sqlite3 *h = tg_store_db(st);
    long long before = sql_int(h, "SELECT count(*) FROM tg_tiles");
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", sql_int(h, "PRAGMA page_count") + 3);
    sqlite3_exec(h, sql, NULL, NULL, NULL);
    o.batch_tiles = 4;
    rc = tg_store_index_raster(ctx, st, raster, &o, &res);
    long long after = sql_int(h, "SELECT count(*) FROM tg_tiles");
    TAP_OK(rc == TG_EDB && has(tg_errmsg(ctx), "database or disk is full"),
           "disk full: TG_EDB 'database or disk is full' (got %d)", rc);
    TAP_OK(after - before >= 0 && after < want && (after - before) % 4 == 0 && res.n_added == after - before,
           "disk full: whole batches only (%lld tiles added, batches of 4; result says %lld)",
           after - before, res.n_added);
    TAP_EQ(sql_int(h, "SELECT count(*) FROM tg_rasters WHERE complete = 0"), 1,
           "disk full: the raster is not marked complete");
    sqlite3_exec(h, "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL);
    tg_clear_error(ctx);
    rc = tg_store_index_raster(ctx, st, raster, &o, &res);
    TAP_OK(rc == 0 && res.complete && res.n_present == after - before,
           "limit lifted: the rerun completes, skipping the %lld stored tiles (%s)", after - before,
           tg_errmsg(ctx));
    TAP_EQ(sql_int(h, "SELECT count(*) FROM tg_tiles"), want, "rerun: as many tiles as an unconstrained run");
    TAP_EQ(sql_int(h, "SELECT count(*) - count(DISTINCT raster_id || ',' || col || ',' || row) FROM tg_tiles"), 0,
           "rerun: no tile twice");
    tg_store_close(st);
    st = NULL;
    /* ids differ between the runs (the failed batches used some): compare content */
    sqlite3 *a = NULL, *b = NULL;
    sqlite3_open(db, &a);
    sqlite3_open(ref, &b);
    static const char *q = "SELECT group_concat(col || ',' || row || ':' || hex(embedding), ';') FROM "
                           "(SELECT * FROM tg_tiles ORDER BY raster_id, col, row)";
    sqlite3_stmt *sa = NULL, *sb = NULL;
    int same = sqlite3_prepare_v2(a, q, -1, &sa, NULL) == SQLITE_OK &&
               sqlite3_prepare_v2(b, q, -1, &sb, NULL) == SQLITE_OK && sqlite3_step(sa) == SQLITE_ROW &&
               sqlite3_step(sb) == SQLITE_ROW && sqlite3_column_bytes(sa, 0) == sqlite3_column_bytes(sb, 0) &&
               !memcmp(sqlite3_column_blob(sa, 0), sqlite3_column_blob(sb, 0), (size_t)sqlite3_column_bytes(sa, 0));
    TAP_OK(same, "rerun: the same tiles and embeddings as an unconstrained run");
    sqlite3_stmt *ic = NULL;
    TAP_OK(sqlite3_prepare_v2(a, "PRAGMA integrity_check", -1, &ic, NULL) == SQLITE_OK &&
               sqlite3_step(ic) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(ic, 0), "ok"),
           "rerun: integrity_check ok");
    sqlite3_finalize(ic);
    sqlite3_finalize(sa);
    sqlite3_finalize(sb);
    sqlite3_close(a);
    sqlite3_close(b);
    (void)want_digest;
    remove_db(db);
    remove_db(ref);
}

int main(void)
{
    snprintf(tiny, sizeof tiny, "%s/tests/golden/tiny/model.safetensors", tap_srcdir());
    snprintf(raster, sizeof raster, "%s/rasters/m_4709963_se_14_1_20180716.tif", tap_shared());
    snprintf(photo, sizeof photo, "%s/photos/fixed_exif.jpg", tap_shared());
    snprintf(tmp, sizeof tmp, "%s", tap_env("TG_TMPDIR", "/tmp"));
    if (tg_ctx_create(&ctx)) return 1;
    tg_ctx_set_threads(ctx, 1);
    sweeps();
    bomb();
    read_only();
    locked();
    disk_full();
    same_sha_other_config(); /* last: an ASan build may stop here (see the report) */
    tg_ctx_free(ctx);
    return tap_done();
}
