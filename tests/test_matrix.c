/* test_matrix.c - the tileset's matrix file (src/store/matrix.h): mapped,
 * reused, extended, rebuilt after every kind of damage, atomic under
 * kill -9 during a rebuild, and the codecs it stores. Every search is
 * checked against a brute force over the embeddings read straight from
 * SQLite (double precision), the independent source. */
#define _GNU_SOURCE
#include "config.h"
#include "transgeo/search.h"
#include "transgeo/store.h"
#include "tap.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static double rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static void unit_vector(float *v, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++) {
        v[i] = (float)(rnd() * 2 - 1);
        s += (double)v[i] * v[i];
    }
    for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / sqrt(s));
}

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) tap_diag("%s: %s", sql, err ? err : "?");
    sqlite3_free(err);
    return rc;
}

/* n tiles of dim random unit vectors into raster 1 / model 1, grid from col0. */
static int insert_tiles(sqlite3 *db, int n, int dim, int col0)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tg_tiles (raster_id, model_id, col, row, center_lon, "
                           "center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) VALUES "
                           "(1, 1, ?1, 0, ?2, 50.0, 0, 0, 64, 64, 'EPSG:32633', ?3, "
                           "BuildMbr(?2 - 0.0002, 49.9998, ?2 + 0.0002, 50.0002, 4326))",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    float *v = malloc((size_t)dim * sizeof *v);
    exec(db, "BEGIN");
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        unit_vector(v, dim);
        sqlite3_bind_int(s, 1, col0 + i);
        sqlite3_bind_double(s, 2, 14.0 + (col0 + i) * 0.0004);
        sqlite3_bind_blob(s, 3, v, dim * 4, SQLITE_TRANSIENT);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(s);
    }
    exec(db, rc ? "ROLLBACK" : "COMMIT");
    sqlite3_finalize(s);
    free(v);
    return rc;
}

/* A database with the schema, a model row of out_dim dim (its file is
 * never opened: the tileset needs only out_dim) and n tiles. */
static tg_store *make_db(tg_ctx *ctx, const char *path, int dim, int n)
{
    char p[1300];
    remove(path);
    const char *suf[] = {"-wal", "-shm", "-tg1.mat", "-tg1.mat.tmp"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, suf[i]);
        remove(p);
    }
    tg_store *st = NULL;
    if (tg_store_open(ctx, path, TG_STORE_CREATE, &st)) return NULL;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO tg_models (id, name, path, sha256, config_json) VALUES (1, 'm', "
             "'/nonexistent', '%s', '{\"out_dim\": \"%d\"}');"
             "INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id) "
             "VALUES (1, '/nonexistent.tif', 'x', 'EPSG:32633', 64, 32, 0.5, 1);",
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", dim);
    if (exec(tg_store_db(st), sql) || insert_tiles(tg_store_db(st), n, dim, 0)) {
        tg_store_close(st);
        return NULL;
    }
    return st;
}

/* The brute-force reference: top k of every query over the database's rows. */
typedef struct ref {
    size_t n;
    int dim;
    int64_t *ids;
    float *emb;
    double *lon;
} ref;

static void ref_load(sqlite3 *db, ref *r, int dim)
{
    memset(r, 0, sizeof *r);
    r->dim = dim;
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(db, "SELECT id, embedding, center_lon FROM tg_tiles WHERE model_id = 1 ORDER BY id",
                       -1, &s, NULL);
    size_t cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (r->n == cap) {
            cap = cap ? 2 * cap : 1024;
            r->ids = realloc(r->ids, cap * sizeof *r->ids);
            r->emb = realloc(r->emb, cap * dim * sizeof *r->emb);
            r->lon = realloc(r->lon, cap * sizeof *r->lon);
        }
        r->ids[r->n] = sqlite3_column_int64(s, 0);
        memcpy(r->emb + r->n * dim, sqlite3_column_blob(s, 1), (size_t)dim * 4);
        r->lon[r->n] = sqlite3_column_double(s, 2);
        r->n++;
    }
    sqlite3_finalize(s);
}

static void ref_free(ref *r)
{
    free(r->ids);
    free(r->emb);
    free(r->lon);
}

/* 1 when tg_tileset_match gives the brute-force top 5 (ids, scores to 1e-5,
 * centres) for 12 queries: stored rows (self) and random vectors. */
static int matches_ref(tg_ctx *ctx, const tg_tileset *ts, const ref *r)
{
    if (tg_tileset_count(ts) != r->n) {
        tap_diag("tileset has %zu rows, the database %zu", tg_tileset_count(ts), r->n);
        return 0;
    }
    int dim = r->dim, ok = 1;
    float *q = malloc((size_t)dim * sizeof *q);
    double *sc = malloc(r->n * sizeof *sc);
    for (int t = 0; t < 12 && ok; t++) {
        if (t < 6) memcpy(q, r->emb + (size_t)((t * 7919) % r->n) * dim, (size_t)dim * 4);
        else unit_vector(q, dim);
        for (size_t i = 0; i < r->n; i++) {
            double a = 0;
            for (int j = 0; j < dim; j++) a += (double)r->emb[i * dim + j] * q[j];
            sc[i] = a;
        }
        tg_match mt[5];
        int nm = 0;
        if (tg_tileset_match(ctx, ts, q, 5, NULL, 0, mt, &nm) || nm != 5) {
            tap_diag("match: %s", tg_errmsg(ctx));
            ok = 0;
            break;
        }
        for (int k = 0; k < 5 && ok; k++) {
            /* the k-th best by brute force (ties by id, as the index) */
            size_t best = SIZE_MAX;
            for (size_t i = 0; i < r->n; i++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= mt[j].tile_id == r->ids[i];
                if (taken) continue;
                if (best == SIZE_MAX || sc[i] > sc[best]) best = i;
            }
            if (fabs(mt[k].score - sc[best]) > 1e-5 ||
                (mt[k].tile_id != r->ids[best] && fabs(mt[k].score - sc[best]) > 1e-6) ||
                (mt[k].tile_id == r->ids[best] && mt[k].lon != r->lon[best])) {
                tap_diag("query %d rank %d: tile %lld score %.7f, brute force tile %lld %.7f", t,
                         k + 1, (long long)mt[k].tile_id, mt[k].score, (long long)r->ids[best],
                         sc[best]);
                ok = 0;
            }
        }
    }
    free(q);
    free(sc);
    return ok;
}

static const tg_tileset *tileset_of(tg_ctx *ctx, tg_store *st)
{
    tg_store_model m;
    const tg_tileset *ts = NULL;
    if (tg_store_model_find(ctx, st, "m", &m) || tg_store_tileset(ctx, st, &m, &ts)) {
        tap_diag("tileset: %s", tg_errmsg(ctx));
        return NULL;
    }
    return ts;
}

static ino_t inode(const char *p)
{
    struct stat sb;
    return stat(p, &sb) ? 0 : sb.st_ino;
}

/* Open a fresh store on path and check its tileset against the database. */
static int fresh_ok(tg_ctx *ctx, const char *path, int dim, int want_mapped, const char *what)
{
    tg_store *st = NULL;
    if (tg_store_open(ctx, path, TG_STORE_READONLY, &st)) return 0;
    ref r;
    ref_load(tg_store_db(st), &r, dim);
    const tg_tileset *ts = tileset_of(ctx, st);
    int ok = ts && matches_ref(ctx, ts, &r);
    TAP_OK(ok, "%s: a fresh store's search equals brute force over SQLite", what);
    if (want_mapped >= 0)
        TAP_EQ(ts ? tg_tileset_mapped(ts) : -1, want_mapped, "%s: mapped = %d", what, want_mapped);
    ref_free(&r);
    tg_store_close(st);
    return ok;
}

int main(void)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    char db_path[1024], mat[1100], tmp[1200];
    snprintf(db_path, sizeof db_path, "%s/test_matrix.sqlite", tap_env("TG_TMPDIR", "/tmp"));
    snprintf(mat, sizeof mat, "%s-tg1.mat", db_path);
    snprintf(tmp, sizeof tmp, "%s.tmp", mat);
    const int dim = 48;
    tg_store *st = make_db(ctx, db_path, dim, 3000);
    TAP_OK(st != NULL, "a database of 3000 tiles x %d: %s", dim, tg_errmsg(ctx));
    if (!st) return tap_done();

    /* ---- built on first use, then mapped and reused */
    const tg_tileset *ts = tileset_of(ctx, st);
    TAP_OK(ts && tg_tileset_mapped(ts), "the first tileset builds and maps %s", mat);
    ref r;
    ref_load(tg_store_db(st), &r, dim);
    TAP_OK(ts && matches_ref(ctx, ts, &r), "mapped search equals brute force over SQLite");
    ref_free(&r);
    {
        FILE *f = fopen(mat, "rb");
        char magic[8] = {0};
        int32_t hdim = 0;
        uint64_t n = 0;
        if (f) {
            int got = fread(magic, 1, 8, f) == 8;
            got &= fseek(f, 16, SEEK_SET) == 0 && fread(&hdim, 4, 1, f) == 1;
            got &= fseek(f, 24, SEEK_SET) == 0 && fread(&n, 8, 1, f) == 1;
            fclose(f);
            if (!got) n = 0;
        }
        TAP_OK(!memcmp(magic, "TGMATRX", 8) && hdim == dim && n == 3000,
               "header: magic, dim %d, 3000 rows", hdim);
    }
    ino_t ino = inode(mat);
    fresh_ok(ctx, db_path, dim, 1, "reopened");
    TAP_OK(inode(mat) == ino, "a valid file is reused, not rewritten");

    /* ---- inserts extend it; deletes rebuild it; both seen by another store */
    tg_store *st2 = NULL;
    tg_store_open(ctx, db_path, TG_STORE_READONLY, &st2);
    const tg_tileset *ts2 = tileset_of(ctx, st2);
    TAP_OK(ts2 && tg_tileset_mapped(ts2), "a second store maps the same file");
    TAP_EQ(insert_tiles(tg_store_db(st), 500, dim, 3000), 0, "500 more tiles inserted");
    ts2 = tileset_of(ctx, st2);
    ref_load(tg_store_db(st2), &r, dim);
    TAP_OK(ts2 && tg_tileset_mapped(ts2) && matches_ref(ctx, ts2, &r),
           "after inserts: extended (3500 rows), mapped, equals brute force");
    ref_free(&r);
    TAP_OK(inode(mat) != ino, "the extended file replaced the old one");
    ino = inode(mat);
    exec(tg_store_db(st), "DELETE FROM tg_tiles WHERE id % 97 = 0");
    ts2 = tileset_of(ctx, st2);
    ref_load(tg_store_db(st2), &r, dim);
    TAP_OK(ts2 && tg_tileset_mapped(ts2) && matches_ref(ctx, ts2, &r),
           "after deletes: rebuilt (%zu rows), equals brute force", r.n);
    ref_free(&r);
    exec(tg_store_db(st), "UPDATE tg_tiles SET center_lon = center_lon + 0.001 WHERE id % 5 = 0");
    ts2 = tileset_of(ctx, st2);
    ref_load(tg_store_db(st2), &r, dim);
    TAP_OK(ts2 && matches_ref(ctx, ts2, &r), "after updating centres: rebuilt, the new centres");
    ref_free(&r);
    tg_store_close(st2);

    /* ---- damage: never trusted, always rebuilt */
    struct {
        const char *what;
        long off;       /* byte to flip, or -1: truncate to half, -2: counters edited */
    } damage[] = {{"a flipped header byte (row count)", 24},
                  {"a flipped checksum byte", 210},
                  {"a file cut to half its size", -1},
                  {"the database's counters edited", -2},
                  {"another model's sha256 in tg_models", -3}};
    for (size_t d = 0; d < sizeof damage / sizeof *damage; d++) {
        if (damage[d].off >= 0) {
            int fd = open(mat, O_RDWR);
            unsigned char b = 0;
            int done = pread(fd, &b, 1, damage[d].off) == 1;
            b ^= 0x5a;
            done &= pwrite(fd, &b, 1, damage[d].off) == 1;
            close(fd);
            TAP_OK(done, "damage: %s", damage[d].what);
        } else if (damage[d].off == -1) {
            struct stat sb;
            stat(mat, &sb);
            TAP_EQ(truncate(mat, sb.st_size / 2), 0, "damage: %s", damage[d].what);
        } else if (damage[d].off == -2) {
            exec(tg_store_db(st), "UPDATE tg_models SET n_inserted = n_inserted + 3");
        } else {
            exec(tg_store_db(st), "UPDATE tg_models SET sha256 = "
                                  "'fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210'");
        }
        fresh_ok(ctx, db_path, dim, 1, damage[d].what);
    }

    /* ---- a stale temp (a builder killed) is overwritten; a locked one
     * (a builder running) makes the store load into memory, not wait */
    FILE *f = fopen(tmp, "wb");
    fputs("half a matrix", f);
    fclose(f);
    remove(mat);
    fresh_ok(ctx, db_path, dim, 1, "with a stale temp");
    TAP_OK(access(tmp, F_OK) != 0, "the temp was renamed into place");
    int lk = open(tmp, O_RDWR | O_CREAT, 0644);
    TAP_OK(lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) == 0, "hold the temp's lock (another builder)");
    remove(mat);
    fresh_ok(ctx, db_path, dim, 0, "while another builder holds the temp");
    TAP_OK(access(mat, F_OK) != 0, "no matrix written while the temp is locked");
    close(lk);
    remove(tmp);

    /* ---- codecs: the model's is stored in the file, a context's override
     * is computed in memory, and no matrix at all when switched off */
    tg_store_model m;
    tg_store_model_find(ctx, st, "m", &m);
    TAP_EQ(tg_store_model_set_codec(ctx, st, &m, TG_CODEC_I8), 0, "store the model's codec int8");
    int c = -1;
    TAP_EQ(tg_store_model_codec(ctx, st, &m, &c), 0, "read it back");
    TAP_EQ(c, TG_CODEC_I8, "the stored codec is int8");
    fresh_ok(ctx, db_path, dim, 1, "codec int8");
    {
        int32_t hc = -1;
        FILE *g = fopen(mat, "rb");
        if (g) {
            if (fseek(g, 20, SEEK_SET) || fread(&hc, 4, 1, g) != 1) hc = -1;
            fclose(g);
        }
        TAP_EQ(hc, TG_CODEC_I8, "the file holds the int8 codes");
    }
    tg_ctx_set_codec(ctx, TG_CODEC_F16);
    {
        tg_store *s3 = NULL;
        tg_store_open(ctx, db_path, TG_STORE_READONLY, &s3);
        const tg_tileset *t3 = tileset_of(ctx, s3);
        ref_load(tg_store_db(s3), &r, dim);
        TAP_OK(t3 && tg_tileset_codec(t3) == TG_CODEC_F16 && tg_tileset_mapped(t3) &&
                   matches_ref(ctx, t3, &r),
               "a context's f16 over the file's int8: mapped, f16 codes in memory, brute force");
        ref_free(&r);
        tg_store_close(s3);
    }
    tg_ctx_set_codec(ctx, -1);
    {
        tg_store *s3 = NULL;
        tg_store_open(ctx, db_path, TG_STORE_READONLY, &s3);
        tg_store_set_matrix(s3, 0);
        const tg_tileset *t3 = tileset_of(ctx, s3);
        ref_load(tg_store_db(s3), &r, dim);
        TAP_OK(t3 && !tg_tileset_mapped(t3) && tg_tileset_codec(t3) == TG_CODEC_I8 &&
                   matches_ref(ctx, t3, &r),
               "matrix files off: in memory, int8, brute force");
        ref_free(&r);
        tg_store_close(s3);
    }
    sqlite3_stmt *bad = NULL;
    sqlite3_prepare_v2(tg_store_db(st), "UPDATE tg_meta SET value = 'int4' WHERE key = 'codec:m'", -1,
                       &bad, NULL);
    sqlite3_step(bad);
    sqlite3_finalize(bad);
    TAP_EQ(tg_store_model_codec(ctx, st, &m, &c), TG_EDB, "a bad stored codec: TG_EDB");
    TAP_OK(strstr(tg_errmsg(ctx), "'int4' is not a codec") != NULL, "message names it: %s",
           tg_errmsg(ctx));
    TAP_EQ(tg_store_model_set_codec(ctx, st, &m, 9), TG_EINVAL, "codec 9 refused");
    tg_store_model_set_codec(ctx, st, &m, TG_CODEC_F32);
    tg_store_close(st);

    /* ---- kill -9 during rebuilds: a bigger store (about 100 ms to build),
     * children killed at random points of a rebuild; after each, a fresh
     * store's search equals brute force and a matrix under the real name is
     * always complete. */
    {
        char big[1024], bmat[1100], btmp[1200];
        snprintf(big, sizeof big, "%s/test_matrix_kill.sqlite", tap_env("TG_TMPDIR", "/tmp"));
        snprintf(bmat, sizeof bmat, "%s-tg1.mat", big);
        snprintf(btmp, sizeof btmp, "%s.tmp", bmat);
        const int bdim = 128;
        tg_store *bs = make_db(ctx, big, bdim, 20000);
        TAP_OK(bs != NULL, "a database of 20000 tiles x %d", bdim);
        if (!bs) return tap_done();
        tg_store_close(bs);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fresh_ok(ctx, big, bdim, 1, "the kill test's store");
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double build_s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        int rounds = 12, mid = 0, all_ok = 1;
        for (int i = 0; i < rounds; i++) {
            remove(bmat); /* every child must rebuild */
            pid_t pid = fork();
            if (pid == 0) {
                tg_ctx *cx = NULL;
                tg_store *cs = NULL;
                tg_ctx_create(&cx);
                if (tg_store_open(cx, big, TG_STORE_READONLY, &cs)) _exit(3);
                tg_store_model cm;
                const tg_tileset *cts = NULL;
                tg_store_model_find(cx, cs, "m", &cm);
                _exit(tg_store_tileset(cx, cs, &cm, &cts) ? 1 : 0);
            }
            /* a delay in [0, build time): the child spends most of it building */
            usleep((useconds_t)(rnd() * build_s * 1e6));
            mid += access(btmp, F_OK) == 0 && access(bmat, F_OK) != 0;
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            /* what the kill left: nothing, a stale temp, or a complete file */
            tg_store *vs = NULL;
            tg_store_open(ctx, big, TG_STORE_READONLY, &vs);
            tg_store_set_matrix(vs, 0); /* the reference, from SQLite */
            tg_store_close(vs);
            if (access(bmat, F_OK) == 0) {
                /* a file under the real name must be used as is: complete */
                ino_t before = inode(bmat);
                tg_store *us = NULL;
                tg_store_open(ctx, big, TG_STORE_READONLY, &us);
                ref_load(tg_store_db(us), &r, bdim);
                const tg_tileset *uts = tileset_of(ctx, us);
                all_ok &= uts && tg_tileset_mapped(uts) && inode(bmat) == before &&
                          matches_ref(ctx, uts, &r);
                ref_free(&r);
                tg_store_close(us);
            } else {
                tg_store *us = NULL;
                tg_store_open(ctx, big, TG_STORE_READONLY, &us);
                ref_load(tg_store_db(us), &r, bdim);
                const tg_tileset *uts = tileset_of(ctx, us);
                all_ok &= uts && tg_tileset_mapped(uts) && matches_ref(ctx, uts, &r);
                ref_free(&r);
                tg_store_close(us);
            }
        }
        TAP_OK(all_ok, "%d kills during rebuilds (%d caught a temp being written): every "
               "matrix under its real name was complete, every search equals brute force",
               rounds, mid);
        tap_diag("build of 20000 x %d took %.0f ms", bdim, build_s * 1e3);
    }
    tg_ctx_free(ctx);
    return tap_done();
}
