/*
 * bench/search.c - locate latency of tg_index (encoder excluded) against the
 * memory-bandwidth floor. Run by bench/search.sh, which runs numpy on the
 * same data in the same run and prints the ratios.
 *
 *   search_bench --rows N --dim D [--k 10] [--queries 50] [--threads T]
 *                [--clock wall|cpu] [--write-data FILE]
 *
 * Data: N unit vectors of D floats from a fixed-seed generator (xorshift64*),
 * then --queries query vectors. With --write-data, the matrix followed by
 * the queries is written to FILE as raw little-endian float32, and the
 * top-1 id of each query to FILE.top1 (int64), for numpy to use and check.
 *
 * Printed (one line, key=value): rows, dim, bytes, the best and the median
 * single-query search time over 3 rounds of all queries, the best batched
 * time per query (all queries in one sgemm pass), the read bandwidth of the
 * fastest of several plain read loops over the same matrix (best of 3 rounds x 5,
 * same thread count, interleaved with the query rounds) and the floor =
 * bytes / bandwidth.
 */
#include "config.h"
#include "transgeo/search.h"

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float rndf(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (float)((double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2 - 1);
}

static void unit(float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) {
        v[i] = rndf();
        s += (double)v[i] * v[i];
    }
    float inv = (float)(1 / sqrt(s));
    for (int i = 0; i < d; i++) v[i] *= inv;
}

/* Wall time, or with --clock cpu (single thread only) the CPU time of this
 * thread: on a machine shared with other work, time spent descheduled is
 * then not counted, for the search, the read loop and numpy alike. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Read loops, one slice per thread; the floor uses the faster of:
 *  - xor of 16-byte vectors into 8 independent accumulators (GCC vector
 *    extension: no dependency chain);
 *  - memcpy of the slice, 16 KiB at a time, into one L1-resident buffer
 *    (glibc's AVX copy: the reads come from memory, the writes stay in L1);
 *  - the xor loop with AVX2 / AVX-512 vectors where the CPU has them;
 *  - cblas_sasum, OpenBLAS's own streaming kernel (reads every float once). */
typedef uint64_t v2u64 __attribute__((vector_size(16)));
typedef struct {
    const v2u64 *p;
    size_t n; /* vectors */
    uint64_t out;
} slice;

static void *read_slice(void *arg)
{
    slice *s = arg;
    v2u64 a[8] = {{0}};
    size_t i = 0;
    for (; i + 8 <= s->n; i += 8)
        for (int j = 0; j < 8; j++) a[j] ^= s->p[i + j];
    for (; i < s->n; i++) a[0] ^= s->p[i];
    for (int j = 1; j < 8; j++) a[0] ^= a[j];
    s->out = a[0][0] ^ a[0][1];
    return NULL;
}

static void *copy_slice(void *arg)
{
    slice *s = arg;
    v2u64 buf[1024]; /* 16 KiB */
    size_t i = 0;
    for (; i + 1024 <= s->n; i += 1024) {
        memcpy(buf, s->p + i, sizeof buf);
        __asm__ volatile("" : : "r"(buf) : "memory"); /* keep the copy */
    }
    s->out = buf[0][0];
    return NULL;
}

/* The same xor loop with 32- and 64-byte vectors, compiled for AVX2 and
 * AVX-512 and used only where the CPU has them (BLAS uses those loads too). */
#define WIDE_READ(name, bytes_, target_)                                           \
    __attribute__((target(target_))) static void *name(void *arg)                 \
    {                                                                               \
        typedef uint64_t vw __attribute__((vector_size(bytes_)));                   \
        slice *s = arg;                                                             \
        const vw *p = (const vw *)s->p;                                             \
        size_t n = s->n / (bytes_ / 16), i = 0;                                     \
        vw a[8];                                                                    \
        memset(a, 0, sizeof a);                                                     \
        for (; i + 8 <= n; i += 8)                                                  \
            for (int j = 0; j < 8; j++) a[j] ^= p[i + j];                           \
        for (int j = 1; j < 8; j++) a[0] ^= a[j];                                   \
        s->out = a[0][0];                                                           \
        return NULL;                                                                \
    }
WIDE_READ(read_slice_avx2, 32, "avx2")
WIDE_READ(read_slice_avx512, 64, "avx512f")

/* OpenBLAS's own streaming kernel: sum of |x| over the slice (cblas_sasum,
 * single-threaded here: one slice per thread). */
static void *read_slice_sasum(void *arg)
{
    slice *s = arg;
    const float *f = (const float *)s->p;
    size_t n = s->n * 4; /* floats */
    double acc = 0;
    for (size_t i = 0; i < n; i += 1u << 30) {
        size_t m = n - i < (1u << 30) ? n - i : (1u << 30);
        acc += cblas_sasum((int)m, f + i, 1);
    }
    s->out = (uint64_t)acc;
    return NULL;
}

static double read_bandwidth(const void *buf, size_t bytes, int threads,
                             void *(*fn)(void *))
{
    size_t words = bytes / 16; /* the index's rows are 64-byte aligned */
    slice sl[64];
    pthread_t th[64];
    if (threads > 64) threads = 64;
    double best = 1e30;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 6; rep++) {
        double t0 = now();
        for (int t = 0; t < threads; t++) {
            size_t a = words * t / threads, b = words * (t + 1) / threads;
            sl[t] = (slice){(const v2u64 *)buf + a, b - a, 0};
            if (t) pthread_create(&th[t], NULL, fn, &sl[t]);
        }
        fn(&sl[0]);
        for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
        double dt = now() - t0;
        for (int t = 0; t < threads; t++) sink ^= sl[t].out;
        if (rep && dt < best) best = dt; /* rep 0 warms up */
    }
    (void)sink;
    return bytes / best;
}

int main(int argc, char **argv)
{
    size_t rows = 10000;
    int dim = 1000, k = 10, n_q = 50, threads = 1;
    const char *write_data = NULL;
    static const struct option opts[] = {
        {"rows", required_argument, 0, 'n'},     {"dim", required_argument, 0, 'd'},
        {"k", required_argument, 0, 'k'},        {"queries", required_argument, 0, 'q'},
        {"threads", required_argument, 0, 't'},  {"write-data", required_argument, 0, 'w'},
        {"clock", required_argument, 0, 'c'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    int cpu_clock = 0;
    while ((c = getopt_long(argc, argv, "n:d:k:q:t:w:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': rows = strtoull(optarg, NULL, 10); break;
        case 'd': dim = atoi(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 'q': n_q = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'w': write_data = optarg; break;
        case 'c': cpu_clock = strcmp(optarg, "cpu") == 0; break;
        case 'h':
            printf("usage: search_bench --rows N --dim D [--k K] [--queries Q] [--threads T] "
                   "[--clock wall|cpu] [--write-data FILE]\n");
            return 0;
        default: return 2;
        }
    }
    if (rows < 1 || dim < 1 || k < 1 || n_q < 1 || threads < 1 || (cpu_clock && threads != 1)) {
        fprintf(stderr, "search_bench: bad arguments (--clock cpu needs --threads 1)\n");
        return 2;
    }
    if (cpu_clock) bench_clock = CLOCK_THREAD_CPUTIME_ID;
    tg_ctx *ctx = NULL;
    tg_index *ix = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, threads);
    if (tg_index_create(ctx, dim, &ix) || tg_index_reserve(ctx, ix, rows)) {
        fprintf(stderr, "search_bench: %s\n", tg_errmsg(ctx));
        return 1;
    }
    float *v = malloc((size_t)dim * sizeof *v);
    float *qs = malloc((size_t)n_q * dim * sizeof *qs);
    FILE *f = write_data ? fopen(write_data, "wb") : NULL;
    if (write_data && !f) {
        perror(write_data);
        return 1;
    }
    for (size_t r = 0; r < rows; r++) {
        unit(v, dim);
        tg_index_add(ctx, ix, (int64_t)r, v);
        if (f) fwrite(v, sizeof *v, (size_t)dim, f);
    }
    for (int q = 0; q < n_q; q++) unit(qs + (size_t)q * dim, dim);
    if (f) {
        fwrite(qs, sizeof *qs, (size_t)n_q * dim, f);
        fclose(f);
    }

    tg_hit *hits = malloc((size_t)n_q * k * sizeof *hits);
    int *nh = malloc((size_t)n_q * sizeof *nh);
    /* Interleave rounds of (all queries, read loop) so that both see the same
     * machine load; keep the best per-query time and the best bandwidth, and
     * the median query time as well. */
    size_t bytes = rows * (size_t)dim * sizeof(float);
    int rounds = 3;
    double *t = malloc((size_t)n_q * rounds * sizeof *t);
    double bw = 0;
    tg_index_search(ctx, ix, qs, k, hits, nh); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        for (int q = 0; q < n_q; q++) {
            double t0 = now();
            tg_index_search(ctx, ix, qs + (size_t)q * dim, k, hits + (size_t)q * k, &nh[q]);
            t[r * n_q + q] = now() - t0;
        }
        double b1 = read_bandwidth(tg_index_row(ix, 0), bytes, threads, read_slice);
        double b2 = read_bandwidth(tg_index_row(ix, 0), bytes, threads, copy_slice);
        if (b1 > bw) bw = b1;
        if (b2 > bw) bw = b2;
        if (__builtin_cpu_supports("avx2")) {
            b1 = read_bandwidth(tg_index_row(ix, 0), bytes, threads, read_slice_avx2);
            if (b1 > bw) bw = b1;
        }
        if (__builtin_cpu_supports("avx512f")) {
            b1 = read_bandwidth(tg_index_row(ix, 0), bytes, threads, read_slice_avx512);
            if (b1 > bw) bw = b1;
        }
#ifdef TG_HAVE_OPENBLAS
        openblas_set_num_threads(1);
#endif
        b1 = read_bandwidth(tg_index_row(ix, 0), bytes, threads, read_slice_sasum);
        if (b1 > bw) bw = b1;
    }
    qsort(t, (size_t)n_q * rounds, sizeof *t, cmp_double);
    double single = t[0], single_med = t[n_q * rounds / 2];
    if (write_data) {
        char path[4096];
        snprintf(path, sizeof path, "%s.top1", write_data);
        FILE *g = fopen(path, "wb");
        for (int q = 0; q < n_q && g; q++) fwrite(&hits[(size_t)q * k].id, 8, 1, g);
        if (g) fclose(g);
    }
    double batch = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        tg_index_search_batch(ctx, ix, qs, n_q, k, hits, nh);
        double dt = (now() - t0) / n_q;
        if (dt < batch) batch = dt;
    }

    printf("clock=%s rows=%zu dim=%d k=%d threads=%d bytes=%zu search_ms=%.4f search_median_ms=%.4f "
           "batch_ms_per_query=%.4f read_gbs=%.2f floor_ms=%.4f\n",
           cpu_clock ? "cpu" : "wall", rows, dim, k, threads, bytes, single * 1e3, single_med * 1e3, batch * 1e3, bw / 1e9,
           bytes / bw * 1e3);
    free(v);
    free(qs);
    free(hits);
    free(nh);
    free(t);
    tg_index_free(ix);
    tg_ctx_free(ctx);
    return 0;
}
