/* store_bench.c - the C side of bench/store.sh: a store of synthetic tiles,
 * its matrix file, opening it cold and warm, searching it with each codec,
 * and what readers hold in memory. Not a test: timings only.
 *
 *   store_bench make DB ROWS DIM QUERIES   a store with ROWS synthetic unit-vector
 *                                           tiles (model row inserted by SQL, codec
 *                                           int8), DB.queries (float32, near-row
 *                                           queries); prints make_s
 *   store_bench build DB                    build the matrix file (tg_store_tileset)
 *   store_bench open DB                     open + tg_store_tileset + first f32 query
 *   store_bench memload DB                  the same without the matrix file (SQLite
 *                                           BLOBs into memory: the path before it)
 *   store_bench query DB K                  warm: f32, f16, int8 searches of every
 *                                           query (best/median of 3 rounds), top-1 and
 *                                           top-k agreement with f32, the read floor
 *                                           of the f32 rows and of the int8 codes;
 *                                           writes DB.top1 (f32 top-1 rows, int64)
 *   store_bench reader DB                   open, search every query with int8 and
 *                                           f32, print rss/pss, wait for stdin EOF
 *
 * Clock: CLOCK_THREAD_CPUTIME_ID for query latencies and read loops (1 thread;
 * time descheduled on a shared machine is not counted, as bench/search.sh
 * does), CLOCK_MONOTONIC for opens (which wait for the disk). */
#define _GNU_SOURCE
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "transgeo/search.h"
#include "transgeo/store.h"

static double clk(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double wall(void) { return clk(CLOCK_MONOTONIC); }
static double cpu(void) { return clk(CLOCK_THREAD_CPUTIME_ID); }

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}
static double gauss(void)
{
    double u = rnd() + 1e-300, v = rnd();
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}
static void unit(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    for (int i = 0; i < d; i++) v[i] = (float)(v[i] / sqrt(s));
}

static void die(tg_ctx *ctx, const char *what)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, ctx ? tg_errmsg(ctx) : "");
    exit(1);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "store_bench: %s: %s\n", sql, err);
        exit(1);
    }
}

static int cmd_make(const char *path, long n, int dim, int nq)
{
    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_ctx_create(&ctx);
    double t0 = wall();
    if (tg_store_open(ctx, path, TG_STORE_CREATE, &st)) die(ctx, path);
    sqlite3 *db = tg_store_db(st);
    char sql[1024];
    /* A model row as registration writes it, for a 1000-d model whose file
     * the bench never opens (tg_store_tileset needs only out_dim). */
    snprintf(sql, sizeof sql,
             "INSERT INTO tg_models (id, name, path, sha256, config_json) VALUES (1, 'synthetic', "
             "'/nonexistent', '%064d', '{\"out_dim\": \"%d\", \"aerial_tile_m\": \"70\", "
             "\"aerial_gsd_m\": \"0.5\"}');"
             "INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, "
             "complete, n_tiles) VALUES (1, '/nonexistent.tif', '%064d', 'EPSG:32633', 70, 35, 0.5, "
             "1, 1, %ld);"
             "INSERT OR REPLACE INTO tg_meta (key, value) VALUES ('codec:synthetic', 'int8');",
             0, dim, 0, n);
    exec_sql(db, sql);
    exec_sql(db, "BEGIN");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tg_tiles (raster_id, model_id, col, row, center_lon, "
                           "center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) VALUES "
                           "(1, 1, ?1, ?2, ?3, ?4, 0, 0, 140, 140, 'EPSG:32633', ?5, "
                           "BuildMbr(?3 - 0.0003, ?4 - 0.0003, ?3 + 0.0003, ?4 + 0.0003, 4326))",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "store_bench: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    float *v = malloc((size_t)dim * sizeof *v);
    int side = (int)ceil(sqrt((double)n));
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < dim; j++) v[j] = (float)gauss();
        unit(v, dim);
        int col = (int)(i % side), row = (int)(i / side);
        sqlite3_bind_int(s, 1, col);
        sqlite3_bind_int(s, 2, row);
        sqlite3_bind_double(s, 3, 14.0 + col * 0.0005);
        sqlite3_bind_double(s, 4, 50.0 + row * 0.0003);
        sqlite3_bind_blob(s, 5, v, dim * 4, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE) {
            fprintf(stderr, "store_bench: insert: %s\n", sqlite3_errmsg(db));
            return 1;
        }
        sqlite3_reset(s);
        if (i % 20000 == 19999) {
            exec_sql(db, "COMMIT");
            exec_sql(db, "BEGIN");
        }
    }
    sqlite3_finalize(s);
    exec_sql(db, "COMMIT");
    /* Queries: a stored tile plus noise of the same norm as 0.9 of it (a
     * retrieval task has a clear but not trivial best match), and noise. */
    char qp[4096];
    snprintf(qp, sizeof qp, "%s.queries", path);
    FILE *f = fopen(qp, "wb");
    sqlite3_stmt *g = NULL;
    sqlite3_prepare_v2(db, "SELECT embedding FROM tg_tiles WHERE id = ?1", -1, &g, NULL);
    for (int q = 0; q < nq; q++) {
        if (q < nq * 3 / 4) {
            sqlite3_bind_int64(g, 1, 1 + (int64_t)(rnd() * n));
            if (sqlite3_step(g) != SQLITE_ROW) die(NULL, "query row");
            memcpy(v, sqlite3_column_blob(g, 0), (size_t)dim * 4);
            sqlite3_reset(g);
            for (int j = 0; j < dim; j++) v[j] += (float)(0.9 * gauss() / sqrt(dim));
        } else {
            for (int j = 0; j < dim; j++) v[j] = (float)gauss();
        }
        unit(v, dim);
        fwrite(v, 4, (size_t)dim, f);
    }
    sqlite3_finalize(g);
    fclose(f);
    free(v);
    tg_store_close(st);
    printf("make_s=%.1f\n", wall() - t0);
    tg_ctx_free(ctx);
    return 0;
}

/* Open the store and its tileset. */
static const tg_tileset *open_ts(tg_ctx *ctx, const char *path, int matrix, tg_store **st)
{
    if (tg_store_open(ctx, path, TG_STORE_READONLY, st)) die(ctx, path);
    tg_store_set_matrix(*st, matrix);
    tg_store_model m;
    if (tg_store_model_find(ctx, *st, "synthetic", &m)) die(ctx, "model");
    const tg_tileset *ts = NULL;
    if (tg_store_tileset(ctx, *st, &m, &ts)) die(ctx, "tileset");
    return ts;
}

static float *read_queries(const char *path, int dim, int *nq)
{
    char qp[4096];
    snprintf(qp, sizeof qp, "%s.queries", path);
    FILE *f = fopen(qp, "rb");
    if (!f) die(NULL, qp);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    *nq = (int)(bytes / (dim * 4));
    float *q = malloc((size_t)bytes);
    if (fread(q, 1, (size_t)bytes, f) != (size_t)bytes) die(NULL, "queries");
    fclose(f);
    return q;
}

static long status_kb(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) v = atol(line + kl);
    if (f) fclose(f);
    return v;
}

static int cmd_open(const char *path, int matrix)
{
    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    tg_ctx_set_codec(ctx, TG_CODEC_F32);
    double t0 = wall();
    const tg_tileset *ts = open_ts(ctx, path, matrix, &st);
    double t1 = wall();
    int nq;
    float *q = read_queries(path, tg_tileset_dim(ts), &nq);
    tg_hit h[10];
    int nh;
    double t2 = wall();
    tg_index_search(ctx, tg_tileset_index(ts), q, 10, h, &nh);
    double t3 = wall();
    printf("open_ms=%.1f first_query_ms=%.1f mapped=%d rows=%zu maxrss_mb=%.0f\n", (t1 - t0) * 1e3,
           (t3 - t2) * 1e3, tg_tileset_mapped(ts), tg_tileset_count(ts),
           status_kb("/proc/self/status", "VmHWM:") / 1024.0);
    free(q);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return 0;
}

/* Read floor: the fastest of an xor loop with 64-byte vectors and a memcpy
 * into an L1-resident buffer, over bytes, best of 3 (CPU clock). */
#include <cblas.h>
#include <immintrin.h>
__attribute__((target("avx512f"))) static uint64_t xor512(const void *p, size_t bytes)
{
    const char *c = p;
    size_t n = bytes / 512, i = 0;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (; i < n; i++, c += 512) {
        /* software prefetch, as OpenBLAS's kernels do: without it this loop
         * read slower than sgemv on the machine measured */
        for (int l = 0; l < 512; l += 64) _mm_prefetch(c + 2048 + l, _MM_HINT_T0);
        a0 = _mm512_xor_si512(a0, _mm512_loadu_si512(c));
        a1 = _mm512_xor_si512(a1, _mm512_loadu_si512(c + 64));
        a2 = _mm512_xor_si512(a2, _mm512_loadu_si512(c + 128));
        a3 = _mm512_xor_si512(a3, _mm512_loadu_si512(c + 192));
        a4 = _mm512_xor_si512(a4, _mm512_loadu_si512(c + 256));
        a5 = _mm512_xor_si512(a5, _mm512_loadu_si512(c + 320));
        a6 = _mm512_xor_si512(a6, _mm512_loadu_si512(c + 384));
        a7 = _mm512_xor_si512(a7, _mm512_loadu_si512(c + 448));
    }
    a0 = _mm512_xor_si512(_mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)),
                          _mm512_xor_si512(_mm512_xor_si512(a4, a5), _mm512_xor_si512(a6, a7)));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}
static double floor_gbs(const void *p, size_t bytes)
{
    double best = 1e9;
    static char buf[16384];
    volatile uint64_t sink = 0;
    /* as many rounds as the searches get (their best of 3 x queries would
     * otherwise catch quieter moments of a shared machine than the floor) */
    for (int r = 0; r < 30; r++) {
        double t0 = cpu();
        if (__builtin_cpu_supports("avx512f")) sink ^= xor512(p, bytes);
        double t1 = cpu();
        if (t1 - t0 < best && __builtin_cpu_supports("avx512f")) best = t1 - t0;
        if (r < 3) {
            t0 = cpu();
            for (size_t o = 0; o + sizeof buf <= bytes; o += sizeof buf) {
                memcpy(buf, (const char *)p + o, sizeof buf);
                __asm__ volatile("" : : "r"(buf) : "memory");
            }
            t1 = cpu();
            if (t1 - t0 < best) best = t1 - t0;
        }
        /* OpenBLAS's own streaming kernel over the same bytes (f32 rows) */
        t0 = cpu();
        sink ^= (uint64_t)cblas_sasum((int)(bytes / 4), p, 1);
        t1 = cpu();
        if (t1 - t0 < best) best = t1 - t0;
    }
    (void)sink;
    return bytes / best / 1e9;
}

static int cmd_query(const char *path, int k)
{
    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    const tg_tileset *ts = open_ts(ctx, path, 1, &st);
    int dim = tg_tileset_dim(ts), nq;
    size_t n = tg_tileset_count(ts);
    float *q = read_queries(path, dim, &nq);
    tg_store_model m;
    tg_store_model_find(ctx, st, "synthetic", &m);
    int64_t *top1 = calloc((size_t)nq, sizeof *top1);
    int64_t *topk = calloc((size_t)nq * k, sizeof *topk);
    tg_hit *h = malloc((size_t)k * sizeof *h);
    double *t = malloc((size_t)nq * 3 * sizeof *t);
    static const int codecs[] = {TG_CODEC_F32, TG_CODEC_F16, TG_CODEC_I8};
    for (int c = 0; c < 3; c++) {
        tg_ctx_set_codec(ctx, codecs[c]);
        if (tg_store_tileset(ctx, st, &m, &ts)) die(ctx, "tileset");
        const tg_index *ix = tg_tileset_index(ts);
        int nh, agree1 = 0, agreek = 0;
        tg_index_search(ctx, ix, q, k, h, &nh); /* warm-up */
        for (int r = 0; r < 3; r++)
            for (int i = 0; i < nq; i++) {
                double t0 = cpu();
                tg_index_search(ctx, ix, q + (size_t)i * dim, k, h, &nh);
                t[r * nq + i] = cpu() - t0;
                if (r) continue;
                if (c == 0) {
                    top1[i] = (int64_t)h[0].row;
                    for (int j = 0; j < k; j++) topk[(size_t)i * k + j] = (int64_t)h[j].row;
                }
                agree1 += (int64_t)h[0].row == top1[i];
                int same = nh == k;
                for (int j = 0; same && j < k; j++) {
                    int found = 0;
                    for (int l = 0; l < k; l++) found |= topk[(size_t)i * k + l] == (int64_t)h[j].row;
                    same &= found;
                }
                agreek += same;
            }
        double best = t[0];
        for (int i = 1; i < 3 * nq; i++) best = t[i] < best ? t[i] : best;
        qsort(t, (size_t)3 * nq, sizeof *t, cmp_d);
        printf("codec=%s search_ms=%.3f median_ms=%.3f top1=%d/%d top%d=%d/%d mapped=%d\n",
               tg_codec_name(codecs[c]), best * 1e3, t[(3 * nq) / 2] * 1e3, agree1, nq, k, agreek,
               nq, tg_tileset_mapped(ts));
        if (c == 0) {
            /* one bandwidth, measured on the f32 rows (the largest region):
             * each codec's floor is its bytes at that speed */
            double g = floor_gbs(tg_index_row(ix, 0), n * (size_t)dim * 4);
            printf("floor_f32_ms=%.3f read_gbs=%.2f\n", n * (double)dim * 4 / g / 1e6, g);
            printf("floor_int8_ms=%.3f floor_f16_ms=%.3f\n", n * (double)dim / g / 1e6,
                   n * (double)dim * 2 / g / 1e6);
        }
    }
    char tp[4096];
    snprintf(tp, sizeof tp, "%s.top1", path);
    FILE *f = fopen(tp, "wb");
    fwrite(top1, sizeof *top1, (size_t)nq, f);
    fclose(f);
    free(t);
    free(h);
    free(top1);
    free(topk);
    free(q);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return 0;
}

static int cmd_reader(const char *path, int matrix)
{
    tg_ctx *ctx = NULL;
    tg_store *st = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, 1);
    const tg_tileset *ts = open_ts(ctx, path, matrix, &st);
    tg_store_model m;
    tg_store_model_find(ctx, st, "synthetic", &m);
    int dim = tg_tileset_dim(ts), nq, nh;
    float *q = read_queries(path, dim, &nq);
    tg_hit h[10];
    /* the model's codec (int8: the scan) and f32 (every row read) */
    for (int i = 0; i < nq; i++) tg_index_search(ctx, tg_tileset_index(ts), q + (size_t)i * dim, 10, h, &nh);
    tg_ctx_set_codec(ctx, TG_CODEC_F32);
    tg_store_tileset(ctx, st, &m, &ts);
    for (int i = 0; i < nq; i++) tg_index_search(ctx, tg_tileset_index(ts), q + (size_t)i * dim, 10, h, &nh);
    printf("rss_mb=%.1f pss_mb=%.1f hwm_mb=%.1f mapped=%d\n",
           status_kb("/proc/self/status", "VmRSS:") / 1024.0,
           status_kb("/proc/self/smaps_rollup", "Pss:") / 1024.0,
           status_kb("/proc/self/status", "VmHWM:") / 1024.0, tg_tileset_mapped(ts));
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {} /* hold the memory until the driver lets go */
    free(q);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && !strcmp(argv[1], "make")) return cmd_make(argv[2], atol(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc >= 3 && !strcmp(argv[1], "build")) return cmd_open(argv[2], 1);
    if (argc >= 3 && !strcmp(argv[1], "open")) return cmd_open(argv[2], 1);
    if (argc >= 3 && !strcmp(argv[1], "memload")) return cmd_open(argv[2], 0);
    if (argc >= 4 && !strcmp(argv[1], "query")) return cmd_query(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "reader")) return cmd_reader(argv[2], 1);
    if (argc >= 3 && !strcmp(argv[1], "memreader")) return cmd_reader(argv[2], 0);
    fprintf(stderr, "usage: see bench/store_bench.c\n");
    return 2;
}
