/* test_tensor.c - the engine's building blocks (src/engine/tensor.h): arena, thread
 * pool, LayerNorm, exact-erf GELU, softmax, bias rows and PyTorch's bilinear
 * resize, each against values computed independently (double precision or
 * torch 1.13 outputs written out below). The kernels (LayerNorm, GELU,
 * softmax, bias rows) run with the set the CPU gets, then again in a child
 * process per kernel set (TG_KERNELS=base, avx2, avx512); each run prints
 * which set it used ("# kernel set: ..."). */
#include "config.h"
#include "engine/tensor.h"
#include "cli/reexec.h" /* the transgeo command's kernel-set re-exec, tested here */
#include "tap.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void test_arena(void)
{
    tg_arena a;
    tg_arena_init(&a, NULL, 0); /* dry run */
    void *p1 = tg_arena_alloc(&a, 10);
    void *p2 = tg_arena_floats(&a, 3);
    TAP_OK(p1 && p2, "dry-run arena hands out placeholders");
    TAP_EQ(tg_arena_used(&a), 64 + 12, "dry run counts bytes with 64-byte alignment");
    size_t need = tg_arena_used(&a);

    void *mem = NULL;
    TAP_OK(posix_memalign(&mem, 64, 256) == 0, "block for a real arena");
    tg_arena_init(&a, mem, need);
    unsigned char *q1 = tg_arena_alloc(&a, 10);
    float *q2 = tg_arena_floats(&a, 3);
    TAP_OK(q1 == mem, "first block at the base");
    TAP_OK((uintptr_t)q2 % 64 == 0 && (unsigned char *)q2 == q1 + 64, "second block 64-byte aligned");
    TAP_EQ(tg_arena_used(&a), need, "same plan, same size");
    TAP_OK(tg_arena_alloc(&a, 1) == NULL, "full arena refuses more");
    TAP_EQ(a.failed, 1, "the failed request is recorded");
    tg_arena_reset(&a);
    TAP_EQ(tg_arena_used(&a), 0, "reset empties the arena");
    TAP_OK(tg_arena_alloc(&a, 10) == mem, "reuse after reset");
    tg_arena_init(&a, NULL, 0);
    TAP_OK(tg_arena_floats(&a, SIZE_MAX / 2) == NULL && a.failed, "size overflow is refused");
    free(mem);
}

struct sum_job {
    int *hits;
    int *threads_seen;
};

static void sum_task(void *arg, int task, int thread)
{
    struct sum_job *j = arg;
    __atomic_add_fetch(&j->hits[task], 1, __ATOMIC_RELAXED);
    __atomic_store_n(&j->threads_seen[thread], 1, __ATOMIC_RELAXED);
}

static void test_pool(void)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_pool *pool = NULL;
    TAP_EQ(tg_pool_create(ctx, 1, &pool), 0, "pool of 1 thread");
    TAP_OK(pool == NULL && tg_pool_threads(pool) == 1, "one thread: no pool, serial runs");
    TAP_EQ(tg_pool_create(ctx, 3, &pool), 0, "pool of 3 threads");
    TAP_EQ(tg_pool_threads(pool), 3, "3 threads take part");
    int ok = 1;
    for (int round = 0; round < 50; round++) {
        int hits[97] = {0}, seen[3] = {0};
        struct sum_job j = {hits, seen};
        tg_pool_run(pool, 97, sum_task, &j);
        for (int i = 0; i < 97; i++) ok &= hits[i] == 1;
    }
    TAP_OK(ok, "every task runs exactly once, 50 jobs in a row");
    tg_pool_free(pool);
    tg_pool_free(NULL); /* must be a no-op: a crash here fails the whole file */
    tg_ctx_free(ctx);
}

static void test_layernorm(void)
{
    enum { ROWS = 70, D = 37 }; /* odd width: vector tail; > 2 row blocks */
    float *x = malloc(sizeof(float) * ROWS * D), *y = malloc(sizeof(float) * ROWS * D);
    float w[D], b[D], add[D];
    for (int i = 0; i < D; i++) {
        w[i] = 1.0f + 0.01f * (float)i;
        b[i] = 0.1f * (float)(i % 5) - 0.2f;
        add[i] = 0.5f - 0.03f * (float)i;
    }
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < D; i++) x[r * D + i] = sinf(0.37f * (float)(r * D + i)) * (1.0f + (float)r);
    float *x0 = malloc(sizeof(float) * ROWS * D);
    memcpy(x0, x, sizeof(float) * ROWS * D);
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_pool *pool = NULL;
    tg_pool_create(ctx, 2, &pool);
    tg_layernorm(pool, x, D, add, y, D, ROWS, D, w, b, 1e-6f);
    double maxerr = 0, maxadd = 0;
    for (int r = 0; r < ROWS; r++) {
        double xs[D], mean = 0, var = 0;
        for (int i = 0; i < D; i++) {
            xs[i] = (double)x0[r * D + i] + (double)add[i];
            mean += xs[i];
        }
        mean /= D;
        for (int i = 0; i < D; i++) var += (xs[i] - mean) * (xs[i] - mean);
        var /= D;
        for (int i = 0; i < D; i++) {
            double want = (xs[i] - mean) / sqrt(var + 1e-6) * w[i] + b[i];
            double e = fabs(y[r * D + i] - want);
            if (e > maxerr) maxerr = e;
            double ea = fabs(x[r * D + i] - xs[i]);
            if (ea > maxadd) maxadd = ea;
        }
    }
    TAP_OK(maxerr < 2e-6, "LayerNorm vs double, max |error| %.3g", maxerr);
    TAP_OK(maxadd < 1e-5, "LayerNorm added the fused bias to x in place");
    /* constant row: variance 0, output = bias */
    for (int i = 0; i < D; i++) x[i] = 3.0f;
    tg_layernorm(NULL, x, D, NULL, y, D, 1, D, w, b, 1e-6f);
    int okc = 1;
    for (int i = 0; i < D; i++) okc &= fabsf(y[i] - b[i]) < 1e-6f;
    TAP_OK(okc, "LayerNorm of a constant row is its bias (eps keeps it finite)");
    tg_pool_free(pool);
    tg_ctx_free(ctx);
    free(x);
    free(x0);
    free(y);
}

static void test_gelu(void)
{
    /* GELU(x) = x/2 (1 + erf(x/sqrt 2)) against double erf, across the
     * polynomial/exponential switch (|x| = sqrt 2), the saturation (|x| =
     * 4 sqrt 2) and the vector tail (n not a multiple of 16). */
    enum { N = 20001 };
    float *x = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = -10.0f + 20.0f * (float)i / (N - 1);
    float *y = malloc(sizeof(float) * N);
    memcpy(y, x, sizeof(float) * N);
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_pool *pool = NULL;
    tg_pool_create(ctx, 2, &pool);
    tg_gelu(pool, y, N);
    double max_rel = 0, max_abs = 0;
    for (int i = 0; i < N; i++) {
        double xd = x[i], want = 0.5 * xd * (1.0 + erf(xd / sqrt(2.0)));
        double e = fabs(y[i] - want);
        if (fabs(want) > 1e-3) {
            double r = e / fabs(want);
            if (r > max_rel) max_rel = r;
        } else if (e > max_abs) {
            max_abs = e;
        }
    }
    TAP_OK(max_rel < 4e-7, "GELU relative error %.3g (< 4e-7, ~3 ulp) on [-10, 10]", max_rel);
    TAP_OK(max_abs < 1e-9, "GELU absolute error %.3g near zero", max_abs);
    /* x/2 (1 + erf(x/sqrt 2)) in double (Python math.erf) */
    static const double cases[][2] = {{1.0, 0.8413447460685429},
                                      {-1.0, -0.15865525393145707},
                                      {3.0, 2.99595030590511},
                                      {-3.0, -0.00404969409489031},
                                      {0.0, 0.0},
                                      {-20.0, 0.0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        TAP_NEAR(tg_gelu_ref((float)cases[i][0]), cases[i][1], 4e-7 * fabs(cases[i][1]) + 1e-12,
                 "GELU(%g)", cases[i][0]);
    /* bias + GELU over rows */
    float u[3 * 5], bias[5] = {0.5f, -0.5f, 1.0f, -2.0f, 0.0f};
    for (int i = 0; i < 15; i++) u[i] = 0.25f * (float)(i - 7);
    float v[15];
    memcpy(v, u, sizeof v);
    tg_bias_gelu(pool, v, 3, 5, 5, bias);
    int okb = 1;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 5; c++) okb &= fabsf(v[r * 5 + c] - tg_gelu_ref(u[r * 5 + c] + bias[c])) < 1e-7f;
    TAP_OK(okb, "bias + GELU rows = GELU(x + b)");
    float f[2 * 5];
    tg_fill_rows(pool, f, 2, 5, 5, bias);
    TAP_OK(!memcmp(f, bias, sizeof bias) && !memcmp(f + 5, bias, sizeof bias), "fill rows with a bias");
    tg_add_bias_rows(f, 2, 5, 5, bias);
    TAP_OK(f[3] == -4.0f && f[9] == 0.0f, "add bias rows");
    tg_pool_free(pool);
    tg_ctx_free(ctx);
    free(x);
    free(y);
}

static void test_softmax(void)
{
    /* two rows of 21 (vector + tail): row 0 linear, row 1 with a large offset
     * (must not overflow) and one very negative value (underflows to 0). */
    enum { N = 21 };
    float s[2][N];
    for (int i = 0; i < N; i++) {
        s[0][i] = 0.1f * (float)i;
        s[1][i] = 1000.0f + (float)(i % 3);
    }
    s[1][5] = -1e30f;
    float in[2][N];
    memcpy(in, s, sizeof s);
    tg_softmax_rows(&s[0][0], 2, N, N);
    double max_rel = 0;
    for (int r = 0; r < 2; r++) {
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < N; i++) mx = in[r][i] > mx ? in[r][i] : mx;
        for (int i = 0; i < N; i++) sum += exp((double)in[r][i] - mx);
        for (int i = 0; i < N; i++) {
            double want = exp((double)in[r][i] - mx) / sum;
            if (want > 1e-30) {
                double e = fabs(s[r][i] - want) / want;
                if (e > max_rel) max_rel = e;
            }
        }
    }
    TAP_OK(max_rel < 5e-7, "softmax vs double, max relative error %.3g", max_rel);
    TAP_OK(s[1][5] < 1e-30f, "softmax of -1e30 is (almost) 0");
    double tot = 0;
    for (int i = 0; i < N; i++) tot += s[1][i];
    TAP_NEAR(tot, 1.0, 1e-6, "softmax row sums to 1 despite a +1000 offset");
}

/* torch 1.13 CPU, float32, F.interpolate(x.expand(1,3,h,w), size, mode='bilinear',
 * align_corners=False)[0,0] of x = arange(h*w)/7 (printed with repr). */
static void test_bilinear(void)
{
    /* 2x3 -> 3x4 */
    float src[6];
    for (int i = 0; i < 6; i++) src[i] = (float)i / 7.0f;
    float dst[12];
    TAP_EQ(tg_resize_bilinear(src, 2, 3, dst, 3, 4), 0, "resize 2x3 -> 3x4");
    static const float want[12] = {0.0f,        0.08928572f, 0.19642858f, 0.2857143f,
                                   0.21428572f, 0.30357143f, 0.4107143f,  0.5f,
                                   0.42857143f, 0.51785713f, 0.625f,      0.71428573f};
    int exact = 1;
    for (int i = 0; i < 12; i++) exact &= dst[i] == want[i];
    TAP_OK(exact, "2x3 -> 3x4 bit-identical to torch");
    /* same size: identity */
    float same[6];
    tg_resize_bilinear(src, 2, 3, same, 2, 3);
    TAP_OK(!memcmp(same, src, sizeof src), "same size is a copy");
    /* 4 -> 5 along one axis, hand-computed with PyTorch's rule: scale 0.8,
     * src = 0.8 (d + 0.5) - 0.5 = 0, 0.7, 1.5, 2.3, 3.1 (clamped, i1 = i0 at the end) */
    float row[4] = {0.0f, 1.0f, 2.0f, 4.0f}, out5[5];
    tg_resize_bilinear(row, 1, 4, out5, 1, 5);
    TAP_NEAR(out5[0], 0.0, 1e-7, "4 -> 5: d = 0 clamps to the first sample");
    TAP_NEAR(out5[1], 0.7, 1e-6, "4 -> 5: d = 1 at 0.7");
    TAP_NEAR(out5[2], 1.5, 1e-6, "4 -> 5: d = 2 at 1.5");
    TAP_NEAR(out5[3], 2.6, 1e-6, "4 -> 5: d = 3 at 2.3 (between 2 and 4)");
    TAP_NEAR(out5[4], 4.0, 1e-6, "4 -> 5: d = 4 at 3.1 (i1 = i0 = 3)");
    /* torch's weights come from a double source index: 7 -> 11 gives, at
     * output 5, weight 2^-24 on input 2 (a float source index would give 0) */
    float onehot[7] = {0, 0, 1, 0, 0, 0, 0}, o11[11];
    tg_resize_bilinear(onehot, 1, 7, o11, 1, 11);
    TAP_OK(o11[5] == 5.9604645e-08f, "7 -> 11: torch's double source index (weight 2^-24 at 5)");
    TAP_OK(o11[4] == 0.6363637f && o11[2] == 0.090909064f, "7 -> 11: torch's float weights");
    TAP_EQ(tg_resize_bilinear(src, 0, 3, dst, 3, 4), TG_EINVAL, "empty input size refused");
}

/* Kernel-set policy (tensor.h, TRANSGEO_BLAS_CORETYPE): "keep" obeys
 * OPENBLAS_CORETYPE; a name forces that set; auto (unset) re-executes once
 * with SkylakeX on an AVX-512 CPU whose loaded kernels lack AVX-512, even
 * when OPENBLAS_CORETYPE asked for them. Probed through child processes of
 * this test, each printing what it ended up with. */
static void probe(const char *self, const char *env, char *line, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "env -u TG_BLAS_REEXEC -u TRANSGEO_BLAS_CORETYPE -u OPENBLAS_CORETYPE %s '%s' --reexec",
             env, self);
    line[0] = '\0';
    FILE *f = popen(cmd, "r");
    if (f && fgets(line, (int)n, f)) {
    }
    if (f) pclose(f);
    strtok(line, "\n");
}

static void test_coretype(const char *self)
{
    char line[256];
    const char *sug = NULL;
    int want = tg_blas_suggest_coretype(&sug);
    tap_diag("OpenBLAS kernels: %s; OPENBLAS_CORETYPE=%s; suggestion: %s", tg_blas_corename(),
             getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)",
             want ? sug : "none");
    if (!strcmp(tg_blas_corename(), "unknown")) { /* built against another CBLAS */
        tap_skip("OpenBLAS kernel-set policy", "not built with OpenBLAS");
        return;
    }
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");

    probe(self, "TRANSGEO_BLAS_CORETYPE=keep OPENBLAS_CORETYPE=Haswell", line, sizeof line);
    TAP_OK(!strcmp(line, "no-reexec core=Haswell"), "keep: OPENBLAS_CORETYPE=Haswell is obeyed (%s)", line);

    probe(self, "TRANSGEO_BLAS_CORETYPE=Sandybridge OPENBLAS_CORETYPE=Haswell", line, sizeof line);
    TAP_OK(!strcmp(line, "probe core=Sandybridge env=Sandybridge"), "a named set is loaded after one re-exec (%s)",
           line);

    probe(self, "TRANSGEO_BLAS_CORETYPE=Haswell OPENBLAS_CORETYPE=Haswell", line, sizeof line);
    TAP_OK(!strcmp(line, "no-reexec core=Haswell"), "the named set already loaded: no re-exec (%s)", line);

    probe(self, "OPENBLAS_CORETYPE=Haswell", line, sizeof line);
    if (avx512)
        TAP_OK(!strcmp(line, "probe core=SkylakeX env=SkylakeX"),
               "auto, AVX-512 CPU, OPENBLAS_CORETYPE=Haswell: SkylakeX after one re-exec (%s)", line);
    else
        TAP_OK(!strcmp(line, "no-reexec core=Haswell"), "auto, CPU without AVX-512: Haswell kept (%s)", line);

    probe(self, "", line, sizeof line);
    if (avx512)
        TAP_OK(!strncmp(line, "probe core=SkylakeX", 19) || !strncmp(line, "no-reexec core=SkylakeX", 23) ||
                   !strncmp(line, "no-reexec core=Cooperlake", 25) ||
                   !strncmp(line, "no-reexec core=SapphireRapids", 29),
               "auto, AVX-512 CPU, nothing set: AVX-512 kernels after at most one re-exec (%s)", line);
    else
        TAP_OK(!strncmp(line, "no-reexec", 9), "auto, CPU without AVX-512: no re-exec (%s)", line);
}

/* The kernel tests again under each kernel set, in a child process (the set
 * is picked once per process): TG_KERNELS=NAME SELF --kernels. The child
 * must pass and say it ran NAME; a set the CPU lacks is skipped. */
static void test_kernel_sets(const char *self)
{
    __builtin_cpu_init();
    const struct {
        const char *name, *label, *lacking;
        int cpu_has;
    } sets[] = {
        {"base", "base (SSE2)", NULL, 1},
        {"avx2", "AVX2", "CPU without AVX2 and FMA",
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")},
        {"avx512", "AVX-512", "CPU without AVX-512F/DQ/BW/VL",
         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")},
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "LayerNorm, GELU, softmax, bias rows with the %s kernels", sets[i].label);
        if (!sets[i].cpu_has) {
            tap_skip(what, sets[i].lacking);
            continue;
        }
        char cmd[2048], want[64], line[512];
        snprintf(cmd, sizeof cmd, "env TG_KERNELS=%s '%s' --kernels 2>&1", sets[i].name, self);
        snprintf(want, sizeof want, "# kernel set: %s\n", sets[i].name);
        int right_set = 0, plan = 0, failed = 0;
        FILE *f = popen(cmd, "r");
        while (f && fgets(line, sizeof line, f)) {
            right_set |= !strcmp(line, want);
            plan |= !strncmp(line, "1..", 3);
            failed += !strncmp(line, "not ok", 6);
            if (!strncmp(line, "not ok", 6) || !strncmp(line, "# kernel set", 12))
                printf("#   child: %s", line[0] == '#' ? line + 2 : line);
        }
        int st = f ? pclose(f) : -1;
        TAP_OK(f && WIFEXITED(st) && WEXITSTATUS(st) == 0 && plan && !failed && right_set,
               "%s (child: TG_KERNELS=%s, says so, %d failed)", what, sets[i].name, failed);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--kernels")) { /* one kernel set, in a child */
        tap_diag("kernel set: %s", tg_kernels_name());
        test_layernorm();
        test_gelu();
        test_softmax();
        return tap_done();
    }
    if (argc > 1 && !strcmp(argv[1], "--probe")) { /* the re-executed child */
        printf("probe core=%s env=%s\n", tg_blas_corename(), getenv("OPENBLAS_CORETYPE"));
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--reexec")) {
        char *args[] = {argv[0], "--probe", NULL};
        tg_blas_reexec_preferred(args);
        printf("no-reexec core=%s\n", tg_blas_corename());
        return 0;
    }
    tap_diag("kernel set: %s (TG_KERNELS=%s); OpenBLAS kernels: %s", tg_kernels_name(),
             tap_env("TG_KERNELS", "(unset)"), tg_blas_corename());
    test_arena();
    test_pool();
    test_layernorm();
    test_gelu();
    test_softmax();
    test_kernel_sets(argv[0]);
    test_bilinear();
    test_coretype(argv[0]);
    return tap_done();
}
