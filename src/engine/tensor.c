/* tensor.c - arena, thread pool, FP environment, BLAS threads and the
 * row-wise kernels of the engine (see tensor.h). */
#include "config.h"
#include "tensor.h"

/* The vector helpers below are always inlined; GCC still notes the ABI of
 * 64-byte vector arguments for the baseline target. */
#pragma GCC diagnostic ignored "-Wpsabi"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define TG_X86 1
#endif

#ifdef TG_HAVE_OPENBLAS
/* OpenBLAS's cblas.h declares these; repeated here for the few packagings
 * whose cblas.h is the reference one (identical prototypes are harmless). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
#endif

/* ======================================================================
 * Arena
 * ====================================================================== */

void tg_arena_init(tg_arena *a, void *base, size_t size)
{
    a->base = base;
    a->size = base ? size : 0;
    a->used = 0;
    a->failed = 0;
}

void *tg_arena_alloc(tg_arena *a, size_t n)
{
    size_t start = (a->used + (TG_ARENA_ALIGN - 1)) & ~(size_t)(TG_ARENA_ALIGN - 1);
    if (start < a->used || start + n < start) { /* size_t overflow */
        if (!a->failed) a->failed = n ? n : 1;
        return NULL;
    }
    if (!a->base) {
        a->used = start + n;
        /* a distinct, aligned, never dereferenced address (dry run) */
        return (void *)(uintptr_t)TG_ARENA_ALIGN;
    }
    if (start + n > a->size) {
        if (!a->failed) a->failed = n ? n : 1;
        return NULL;
    }
    a->used = start + n;
    return a->base + start;
}

float *tg_arena_floats(tg_arena *a, size_t n)
{
    if (n > SIZE_MAX / sizeof(float)) {
        if (!a->failed) a->failed = SIZE_MAX;
        return NULL;
    }
    return tg_arena_alloc(a, n * sizeof(float));
}

size_t tg_arena_used(const tg_arena *a) { return a->used; }

void tg_arena_reset(tg_arena *a)
{
    a->used = 0;
    a->failed = 0;
}

/* ======================================================================
 * Floating-point environment, BLAS
 * ====================================================================== */

unsigned tg_fpenv_enter(void)
{
#ifdef TG_X86
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return saved;
#else
    return 0;
#endif
}

void tg_fpenv_leave(unsigned saved)
{
#ifdef TG_X86
    _mm_setcsr(saved);
#else
    (void)saved;
#endif
}

int tg_blas_set_threads(int n)
{
#ifdef TG_HAVE_OPENBLAS
    int prev = openblas_get_num_threads();
    if (n >= 1 && n != prev) openblas_set_num_threads(n);
    return prev;
#else
    (void)n;
    return 0;
#endif
}

const char *tg_blas_corename(void)
{
#ifdef TG_HAVE_OPENBLAS
    const char *s = openblas_get_corename();
    return s && *s ? s : "unknown";
#else
    return "unknown";
#endif
}

int tg_blas_suggest_coretype(const char **suggest)
{
    if (suggest) *suggest = NULL;
#if defined(TG_HAVE_OPENBLAS) && defined(TG_X86) && defined(__GNUC__)
    const char *policy = getenv("TRANSGEO_BLAS_CORETYPE");
    const char *core = tg_blas_corename();
    if (policy && *policy && strcasecmp(policy, "auto")) {
        if (!strcasecmp(policy, "keep") || !strncasecmp(core, policy, strlen(policy))) return 0;
        if (suggest) *suggest = policy;
        return 1;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl"))
        return 0;
    static const char *const avx512_cores[] = {"skylakex", "cooperlake", "sapphirerapids"};
    for (size_t i = 0; i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        if (!strncasecmp(core, avx512_cores[i], strlen(avx512_cores[i]))) return 0;
    if (suggest) *suggest = "SkylakeX";
    return 1;
#else
    return 0;
#endif
}


/* ======================================================================
 * Thread pool
 * ====================================================================== */

struct tg_pool {
    int n_threads;            /* including the caller */
    pthread_t *tids;          /* n_threads - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* caller -> workers: a new job or quit */
    pthread_cond_t done;      /* -> caller: the last task of the job finished */
    unsigned long generation; /* incremented per job */
    int quit;
    /* current job */
    tg_pool_fn fn;
    void *arg;
    int n_tasks;
    int next_task;            /* next task to hand out */
    int tasks_done;           /* tasks finished */
};

/* Take the next task of job `gen`, or -1 when none is left or the job is no
 * longer the current one (a worker that woke late must not run a newer job's
 * tasks with an older job's function). Tasks are coarse (row blocks, heads),
 * so a mutex per task costs nothing measurable. */
static int pool_next(tg_pool *p, unsigned long gen)
{
    pthread_mutex_lock(&p->mu);
    int t = p->generation == gen && p->next_task < p->n_tasks ? p->next_task++ : -1;
    pthread_mutex_unlock(&p->mu);
    return t;
}

static void pool_task_done(tg_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (++p->tasks_done == p->n_tasks) pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

struct worker_arg {
    tg_pool *pool;
    int id;
};

static void *pool_worker(void *varg)
{
    struct worker_arg *wa = varg;
    tg_pool *p = wa->pool;
    int id = wa->id;
    free(wa);
    tg_fpenv_enter(); /* this thread's MXCSR: FTZ/DAZ like the caller's pass */
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->generation == seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = p->generation;
        tg_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        for (int t; (t = pool_next(p, seen)) >= 0;) {
            fn(arg, t, id);
            pool_task_done(p);
        }
    }
    return NULL;
}

int tg_pool_create(tg_ctx *ctx, int n_threads, tg_pool **out)
{
    *out = NULL;
    if (n_threads <= 1) return TG_OK;
    tg_pool *p = calloc(1, sizeof *p);
    if (!p) return tg_set_error(ctx, TG_ENOMEM, "thread pool: out of memory");
    p->tids = calloc((size_t)n_threads, sizeof *p->tids);
    if (!p->tids) {
        free(p);
        return tg_set_error(ctx, TG_ENOMEM, "thread pool: out of memory");
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n_threads = 1;
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->pool = p;
        wa->id = i;
        if (pthread_create(&p->tids[i - 1], NULL, pool_worker, wa) != 0) {
            free(wa);
            break;
        }
        p->n_threads++;
    }
    if (p->n_threads == 1) { /* could not start any worker: run serially */
        tg_pool_free(p);
        return TG_OK;
    }
    *out = p;
    return TG_OK;
}

void tg_pool_free(tg_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->tids[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->tids);
    free(p);
}

int tg_pool_threads(const tg_pool *p) { return p ? p->n_threads : 1; }

void tg_pool_run(tg_pool *p, int n_tasks, tg_pool_fn fn, void *arg)
{
    if (n_tasks <= 0) return;
    if (!p || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++) fn(arg, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    p->next_task = 0;
    p->tasks_done = 0;
    unsigned long gen = ++p->generation;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t; (t = pool_next(p, gen)) >= 0;) {
        fn(arg, t, 0);
        pool_task_done(p);
    }
    /* Wait only for tasks that workers took. A worker that has not woken up
     * yet (descheduled on a busy machine) does not hold the caller back: it
     * finds no task left, or the next job. */
    pthread_mutex_lock(&p->mu);
    while (p->tasks_done < n_tasks) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ======================================================================
 * Vector kernels
 *
 * Written once with GCC vector extensions (16 floats = one AVX-512 register,
 * two AVX2, four SSE registers) in always_inline bodies, then compiled three
 * times with different target ISAs; the widest the CPU supports is chosen
 * once at run time. Tails are processed through a padded vector so that
 * every element gets exactly the same arithmetic wherever it sits.
 * ====================================================================== */

#define VL 16
typedef float v16f __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t v16i __attribute__((vector_size(VL * sizeof(int32_t))));
#define INLINE static inline __attribute__((always_inline))

INLINE v16f vsplat(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
INLINE v16f vload(const float *p)
{
    v16f v;
    memcpy(&v, p, sizeof v);
    return v;
}
INLINE void vstore(float *p, v16f v) { memcpy(p, &v, sizeof v); }
/* m ? a : b with m a comparison mask (all ones / all zeros per lane) */
INLINE v16f vsel(v16i m, v16f a, v16f b) { return (v16f)((m & (v16i)a) | (~m & (v16i)b)); }
INLINE v16f vmax(v16f a, v16f b) { return vsel(a > b, a, b); }
INLINE v16f vmin(v16f a, v16f b) { return vsel(a < b, a, b); }
INLINE float vhsum(v16f v)
{
    float s = 0;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}
INLINE float vhmax(v16f v)
{
    float m = v[0];
    for (int i = 1; i < VL; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* exp(x) in float32, |relative error| < 2 ulp for x in [-87.3, 88.3]
 * (clamped outside). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and
 * the degree-6 minimax polynomial of Cephes expf (S. Moshier, cephes/single/expf.c). */
INLINE v16f vexp(v16f x)
{
    const v16f magic = vsplat(12582912.0f); /* 1.5 * 2^23: round-to-nearest trick */
    x = vmin(vmax(x, vsplat(-87.33654f)), vsplat(88.37626f));
    v16f t = x * vsplat(1.44269504088896341f) + magic;
    v16f n = t - magic;
    v16f r = x - n * vsplat(0.693359375f);
    r = r - n * vsplat(-2.12194440e-4f);
    v16f p = vsplat(1.9875691500e-4f);
    p = p * r + vsplat(1.3981999507e-3f);
    p = p * r + vsplat(8.3334519073e-3f);
    p = p * r + vsplat(4.1665795894e-2f);
    p = p * r + vsplat(1.6666665459e-1f);
    p = p * r + vsplat(5.0000001201e-1f);
    p = p * r * r + r + vsplat(1.0f);
    v16i e = ((v16i)t - 0x4B400000 + 127) << 23; /* 2^n as float bits */
    return p * (v16f)e;
}

/* GELU(x) = x/2 (1 + erf(x / sqrt 2)), with 1 + erf computed without
 * cancellation for negative x. a = |x| / sqrt 2:
 *  - a <= 0.5: erf(a) = a P(a^2), P of degree 4 (relative error 6e-8);
 *  - a > 0.5: erfc(a) = exp(-a^2) R(1 / (1 + a)), R of degree 10 fitted to
 *    erfcx on [0.5, 6] (relative error 2e-7 evaluated in float; beyond 6,
 *    erfc < 2e-17 and R(6) is used), with a^2 = x^2 / 2 taken as the exact
 *    double-float x*x (Dekker's split) so that exp's argument carries no
 *    rounding error (a rounded a^2 costs 1e-6 relative at a = 3).
 * Coefficients fitted for this file (least squares on Chebyshev nodes
 * against Python's math.erf/erfc). Measured (tests/test_tensor.c): relative
 * error < 4e-7 where |GELU(x)| > 1e-3, absolute error < 1e-9 elsewhere;
 * PyTorch's own float erf (Abramowitz-Stegun 7.1.26) is within 1.5e-7
 * absolute. */
INLINE v16f vgelu(v16f x)
{
    v16f a = vmax(x, -x) * vsplat(0.70710678118654752f);
    v16f z = a * a;
    v16f ps = vsplat(0.004728139843791723f);
    ps = ps * z + vsplat(-0.02676265873014927f);
    ps = ps * z + vsplat(0.11282918602228165f);
    ps = ps * z + vsplat(-0.37612614035606384f);
    ps = ps * z + vsplat(1.128379225730896f);
    v16f erf_small = a * ps; /* erf(a), a <= 0.5 */
    v16f t = vsplat(1.0f) / (vsplat(1.0f) + vmin(a, vsplat(6.0f)));
    v16f pr = vsplat(-0.6855641007423401f);
    pr = pr * t + vsplat(2.228877067565918f);
    pr = pr * t + vsplat(-2.243211030960083f);
    pr = pr * t + vsplat(-0.6175013184547424f);
    pr = pr * t + vsplat(3.121854066848755f);
    pr = pr * t + vsplat(-2.321331262588501f);
    pr = pr * t + vsplat(0.17703619599342346f);
    pr = pr * t + vsplat(0.20047403872013092f);
    pr = pr * t + vsplat(0.5731881856918335f);
    pr = pr * t + vsplat(0.5636255145072937f);
    pr = pr * t + vsplat(1.538125070510432e-05f);
    /* x^2 = sq + sq_lo exactly (Dekker): split x into two 12-bit halves;
     * |x| <= 13 covers every non-zero erfc (exp(-84.5) ~ 2e-37) */
    v16f xc = vmin(vmax(x, vsplat(-13.0f)), vsplat(13.0f));
    v16f sp = xc * vsplat(4097.0f);
    v16f xh = sp - (sp - xc), xl = xc - xh;
    v16f sq = xc * xc;
    v16f sq_lo = ((xh * xh - sq) + vsplat(2.0f) * xh * xl) + xl * xl;
    v16f erfc_big = vexp(vsplat(-0.5f) * sq) * (vsplat(1.0f) - vsplat(0.5f) * sq_lo) * pr;
    v16i small = a <= vsplat(0.5f);
    v16i pos = x >= vsplat(0.0f);
    v16f one = vsplat(1.0f), two = vsplat(2.0f);
    v16f r_small = vsel(pos, one + erf_small, one - erf_small);
    v16f r_big = vsel(pos, two - erfc_big, erfc_big);
    return x * vsplat(0.5f) * vsel(small, r_small, r_big);
}

INLINE void gelu_body(float *x, size_t n)
{
    size_t i = 0;
    for (; i + VL <= n; i += VL) vstore(x + i, vgelu(vload(x + i)));
    if (i < n) {
        float buf[VL] = {0};
        memcpy(buf, x + i, (n - i) * sizeof(float));
        vstore(buf, vgelu(vload(buf)));
        memcpy(x + i, buf, (n - i) * sizeof(float));
    }
}

/* load up to VL floats, the rest filled with `fill` */
INLINE v16f vload_tail(const float *p, size_t m, float fill)
{
    float buf[VL];
    for (int j = 0; j < VL; j++) buf[j] = fill;
    memcpy(buf, p, m * sizeof(float));
    return vload(buf);
}

INLINE void softmax_body(float *x, int n)
{
    size_t nn = (size_t)n, i;
    v16f vm = vsplat(-INFINITY);
    for (i = 0; i + VL <= nn; i += VL) vm = vmax(vm, vload(x + i));
    if (i < nn) vm = vmax(vm, vload_tail(x + i, nn - i, -INFINITY));
    v16f mx = vsplat(vhmax(vm));
    v16f vs = vsplat(0.0f);
    for (i = 0; i + VL <= nn; i += VL) {
        v16f e = vexp(vload(x + i) - mx);
        vstore(x + i, e);
        vs += e;
    }
    if (i < nn) {
        float buf[VL] = {0};
        memcpy(buf, x + i, (nn - i) * sizeof(float));
        v16f e = vexp(vload(buf) - mx);
        vstore(buf, e);
        for (size_t j = nn - i; j < VL; j++) buf[j] = 0.0f;
        vs += vload(buf);
        memcpy(x + i, buf, (nn - i) * sizeof(float));
    }
    v16f inv = vsplat(1.0f / vhsum(vs));
    for (i = 0; i + VL <= nn; i += VL) vstore(x + i, vload(x + i) * inv);
    for (; i < nn; i++) x[i] *= inv[0];
}

INLINE void layernorm_body(float *x, const float *add, float *y, int d, const float *w,
                           const float *b, float eps)
{
    size_t nn = (size_t)d, i;
    if (add) {
        for (i = 0; i + VL <= nn; i += VL) vstore(x + i, vload(x + i) + vload(add + i));
        for (; i < nn; i++) x[i] += add[i];
    }
    v16f vs = vsplat(0.0f);
    for (i = 0; i + VL <= nn; i += VL) vs += vload(x + i);
    if (i < nn) vs += vload_tail(x + i, nn - i, 0.0f);
    float mean = vhsum(vs) / (float)d;
    v16f vm = vsplat(mean);
    v16f vq = vsplat(0.0f);
    for (i = 0; i + VL <= nn; i += VL) {
        v16f dlt = vload(x + i) - vm;
        vq += dlt * dlt;
    }
    if (i < nn) {
        v16f dlt = vload_tail(x + i, nn - i, mean) - vm;
        vq += dlt * dlt;
    }
    float var = vhsum(vq) / (float)d;
    float rstd = 1.0f / sqrtf(var + eps);
    v16f vr = vsplat(rstd);
    for (i = 0; i + VL <= nn; i += VL)
        vstore(y + i, (vload(x + i) - vm) * vr * vload(w + i) + vload(b + i));
    for (; i < nn; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}

INLINE void bias_gelu_body(float *u, int n, const float *b)
{
    size_t nn = (size_t)n, i = 0;
    for (; i + VL <= nn; i += VL) vstore(u + i, vgelu(vload(u + i) + vload(b + i)));
    if (i < nn) {
        float buf[VL] = {0};
        for (size_t j = 0; j < nn - i; j++) buf[j] = u[i + j] + b[i + j];
        vstore(buf, vgelu(vload(buf)));
        memcpy(u + i, buf, (nn - i) * sizeof(float));
    }
}

INLINE void bias_body(float *y, int rows, int n, int ld, const float *b)
{
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * (size_t)ld;
        int i = 0;
        for (; i + VL <= n; i += VL) vstore(yr + i, vload(yr + i) + vload(b + i));
        for (; i < n; i++) yr[i] += b[i];
    }
}

typedef struct kernels {
    void (*gelu)(float *, size_t);
    void (*softmax)(float *, int);
    void (*layernorm)(float *, const float *, float *, int, const float *, const float *, float);
    void (*bias)(float *, int, int, int, const float *);
    void (*bias_gelu)(float *, int, const float *);
} kernels;

#define DEFINE_KERNELS(SUF, ATTR)                                                          \
    ATTR static void gelu_##SUF(float *x, size_t n) { gelu_body(x, n); }                   \
    ATTR static void softmax_##SUF(float *x, int n) { softmax_body(x, n); }                \
    ATTR static void layernorm_##SUF(float *x, const float *add, float *y, int d,          \
                                     const float *w, const float *b, float eps)            \
    {                                                                                      \
        layernorm_body(x, add, y, d, w, b, eps);                                           \
    }                                                                                      \
    ATTR static void bias_gelu_##SUF(float *u, int n, const float *b)                      \
    {                                                                                      \
        bias_gelu_body(u, n, b);                                                           \
    }                                                                                      \
    ATTR static void bias_##SUF(float *y, int rows, int n, int ld, const float *b)         \
    {                                                                                      \
        bias_body(y, rows, n, ld, b);                                                      \
    }                                                                                      \
    static const kernels kernels_##SUF = {gelu_##SUF, softmax_##SUF, layernorm_##SUF, bias_##SUF,  \
                                          bias_gelu_##SUF};

DEFINE_KERNELS(base, )
#if defined(TG_X86) && defined(__GNUC__)
DEFINE_KERNELS(avx2, __attribute__((target("avx2,fma"))))
DEFINE_KERNELS(avx512, __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma"))))
#endif

static const kernels *kern;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static void kern_pick(void)
{
    kern = &kernels_base;
#if defined(TG_X86) && defined(__GNUC__)
    __builtin_cpu_init();
    const char *force = getenv("TG_KERNELS"); /* debugging: base | avx2 | avx512 */
    int want = force && *force ? (!strcmp(force, "base") ? 0 : !strcmp(force, "avx2") ? 1 : 2) : 2;
    if (want >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        kern = &kernels_avx512;
    else if (want >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        kern = &kernels_avx2;
#endif
}

static const kernels *K(void)
{
    pthread_once(&kern_once, kern_pick);
    return kern;
}

const char *tg_kernels_name(void)
{
    const kernels *k = K();
#if defined(TG_X86) && defined(__GNUC__)
    if (k == &kernels_avx512) return "avx512";
    if (k == &kernels_avx2) return "avx2";
#endif
    return k == &kernels_base ? "base" : "unknown";
}

/* ---- row-parallel wrappers ----------------------------------------------- */

/* Row blocks handed to pool tasks: big enough to amortise a task, small
 * enough to balance two to a few threads. */
#define ROWS_PER_TASK 32

struct ln_job {
    const kernels *k;
    float *x;
    const float *add;
    float *y;
    int ldx, ldy, rows, d;
    const float *w, *b;
    float eps;
};

static void ln_task(void *arg, int task, int thread)
{
    (void)thread;
    struct ln_job *j = arg;
    int r0 = task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK;
    if (r1 > j->rows) r1 = j->rows;
    for (int r = r0; r < r1; r++)
        j->k->layernorm(j->x + (size_t)r * (size_t)j->ldx, j->add, j->y + (size_t)r * (size_t)j->ldy,
                        j->d, j->w, j->b, j->eps);
}

void tg_layernorm(tg_pool *pool, float *x, int ldx, const float *add, float *y, int ldy, int rows,
                  int d, const float *w, const float *b, float eps)
{
    struct ln_job j = {K(), x, add, y, ldx, ldy, rows, d, w, b, eps};
    tg_pool_run(pool, (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, ln_task, &j);
}

struct gelu_job {
    const kernels *k;
    float *x;
    size_t n, chunk;
};

static void gelu_task(void *arg, int task, int thread)
{
    (void)thread;
    struct gelu_job *j = arg;
    size_t i0 = (size_t)task * j->chunk, i1 = i0 + j->chunk;
    if (i1 > j->n) i1 = j->n;
    j->k->gelu(j->x + i0, i1 - i0);
}

void tg_gelu(tg_pool *pool, float *x, size_t n)
{
    /* chunks of 64 Ki floats, a multiple of the vector length */
    struct gelu_job j = {K(), x, n, (size_t)1 << 16};
    size_t tasks = (n + j.chunk - 1) / j.chunk;
    tg_pool_run(pool, (int)tasks, gelu_task, &j);
}

struct rows_job {
    const kernels *k;
    float *y;
    int rows, n, ld;
    const float *b;
    int gelu; /* 1: bias + GELU, 0: fill with b */
};

static void rows_task(void *arg, int task, int thread)
{
    (void)thread;
    struct rows_job *j = arg;
    int r0 = task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK;
    if (r1 > j->rows) r1 = j->rows;
    for (int r = r0; r < r1; r++) {
        float *yr = j->y + (size_t)r * (size_t)j->ld;
        if (j->gelu)
            j->k->bias_gelu(yr, j->n, j->b);
        else
            memcpy(yr, j->b, (size_t)j->n * sizeof(float));
    }
}

void tg_bias_gelu(tg_pool *pool, float *u, int rows, int n, int ld, const float *b)
{
    struct rows_job j = {K(), u, rows, n, ld, b, 1};
    tg_pool_run(pool, (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rows_task, &j);
}

void tg_fill_rows(tg_pool *pool, float *y, int rows, int n, int ld, const float *b)
{
    struct rows_job j = {NULL, y, rows, n, ld, b, 0};
    tg_pool_run(pool, (rows + ROWS_PER_TASK - 1) / ROWS_PER_TASK, rows_task, &j);
}

void tg_softmax_rows(float *x, int rows, int n, int ld)
{
    const kernels *k = K();
    for (int r = 0; r < rows; r++) k->softmax(x + (size_t)r * (size_t)ld, n);
}

void tg_add_bias_rows(float *y, int rows, int n, int ld, const float *b)
{
    K()->bias(y, rows, n, ld, b);
}

float tg_gelu_ref(float x)
{
    float v = x;
    K()->gelu(&v, 1);
    return v;
}

/* ======================================================================
 * Bilinear resize (PyTorch CPU, align_corners=False)
 * ====================================================================== */

/* One axis: for each output index its two source indices and weights, as
 * PyTorch 1.13 computes them for a float tensor (UpSample.h,
 * compute_source_index_and_lambda): the scale is float (in / out), the
 * source index is computed in double (at::acc_type<float, false>), and the
 * weights are rounded to float: lambda1 = (float)(src - i0), lambda0 =
 * 1.f - lambda1 in float. */
static void linear_axis(int in, int out, int *i0, int *i1, float *l0, float *l1)
{
    float scale = (float)in / (float)out; /* area_pixel_compute_scale, no scale factor */
    for (int d = 0; d < out; d++) {
        if (in == out) {
            i0[d] = i1[d] = d;
            l0[d] = 1.0f;
            l1[d] = 0.0f;
            continue;
        }
        double src = (double)scale * ((double)d + 0.5) - 0.5;
        if (src < 0.0) src = 0.0;
        int a = (int)src;
        i0[d] = a;
        i1[d] = a + (a < in - 1 ? 1 : 0);
        l1[d] = (float)(src - (double)a);
        l0[d] = 1.0f - l1[d];
    }
}

int tg_resize_bilinear(const float *src, int in_h, int in_w, float *dst, int out_h, int out_w)
{
    if (in_h < 1 || in_w < 1 || out_h < 1 || out_w < 1) return TG_EINVAL;
    int *h0 = malloc(sizeof(int) * 2 * ((size_t)out_h + (size_t)out_w));
    float *lh0 = malloc(sizeof(float) * 2 * ((size_t)out_h + (size_t)out_w));
    if (!h0 || !lh0) {
        free(h0);
        free(lh0);
        return TG_ENOMEM;
    }
    int *h1 = h0 + out_h, *w0 = h1 + out_h, *w1 = w0 + out_w;
    float *lh1 = lh0 + out_h, *lw0 = lh1 + out_h, *lw1 = lw0 + out_w;
    linear_axis(in_h, out_h, h0, h1, lh0, lh1);
    linear_axis(in_w, out_w, w0, w1, lw0, lw1);
    for (int y = 0; y < out_h; y++) {
        const float *r0 = src + (size_t)h0[y] * (size_t)in_w;
        const float *r1 = src + (size_t)h1[y] * (size_t)in_w;
        for (int x = 0; x < out_w; x++) {
            /* UpSampleKernel.cpp (generic N-d kernel, AVX2/AVX-512 builds)
             * interpolates the innermost dimension first; GCC contracts
             * t0*w0 + t1*w1 into fma(t0, w0, t1*w1). fmaf() reproduces that
             * exactly on any CPU. */
            float t0 = fmaf(r0[w0[x]], lw0[x], r0[w1[x]] * lw1[x]);
            float t1 = fmaf(r1[w0[x]], lw0[x], r1[w1[x]] * lw1[x]);
            float o = fmaf(t0, lh0[y], t1 * lh1[y]);
            dst[(size_t)y * (size_t)out_w + (size_t)x] = o;
        }
    }
    free(h0);
    free(lh0);
    return TG_OK;
}
