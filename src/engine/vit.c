/* vit.c - the ViT/DeiT encoder on float32 with sgemm (see vit.h). */
#include "config.h"
#include "vit.h"

#include "base/ctx_int.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

/* Attention runs over blocks of QB query rows, so that a block of scores
 * (QB x T floats) stays in L2 between the two products and the softmax. */
#define QB 64

/* A batch is cut into chunks of at most CHUNK_MAX images and about
 * CHUNK_BYTES of activations: larger chunks make the sgemm calls bigger
 * (weights are packed once per chunk) but the gain flattens out beyond a few
 * images while memory keeps growing. */
#define CHUNK_MAX 8
#define CHUNK_BYTES ((size_t)96 << 20)

/* ---- engine state ----------------------------------------------------- */

/* How the big products are spread over threads:
 *  split (default): rows are split over the pool and every thread calls a
 *     single-threaded sgemm; OpenBLAS stays at 1 thread for the whole call;
 *  blas (TG_GEMM=blas): OpenBLAS runs each product with the context's thread
 *     count (heads still go over the pool, OpenBLAS switched to 1 thread for
 *     them).
 * Measured on the shared 2-core Zen 5 (bench/engine.sh, cvusa ground, batch 4,
 * 4 alternating rounds): split 3.2-3.6 img/s and 0.09-0.10 CPU s/img, blas
 * 2.5-3.4 img/s and 0.10-0.14 CPU s/img: OpenBLAS's worker threads spin
 * between calls and lose their core to the pool (and to other processes).
 * split also never touches OpenBLAS's process-wide thread count during a
 * pass, so concurrent contexts do not fight over it. */
static int gemm_split;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void gemm_pick(void)
{
    const char *s = getenv("TG_GEMM");
    gemm_split = !(s && !strcmp(s, "blas"));
}

static int want_split(void)
{
    pthread_once(&gemm_once, gemm_pick);
    return gemm_split;
}

/* The engine's state in a context (base/ctx_int.h): the pool, made for the
 * context's thread count on first use and again only when that count
 * changes. Its workers sleep on a condition variable between passes. */
typedef struct engine_state {
    int want;                 /* tg_ctx_threads when the pool was made */
    tg_pool *pool;            /* NULL for one thread (or none could start) */
} engine_state;

static void engine_state_free(void *p)
{
    engine_state *s = p;
    if (!s) return;
    tg_pool_free(s->pool);
    free(s);
}

static int context_pool(tg_ctx *ctx, int n_threads, tg_pool **out)
{
    engine_state *s = tg_ctx_engine(ctx);
    if (s && s->want == n_threads) {
        *out = s->pool;
        return TG_OK;
    }
    tg_ctx_set_engine(ctx, NULL, NULL); /* another thread count: a new pool */
    s = calloc(1, sizeof *s);
    if (!s) return tg_set_error(ctx, TG_ENOMEM, "thread pool: out of memory");
    int rc = tg_pool_create(ctx, n_threads, &s->pool);
    if (rc) {
        free(s);
        return rc;
    }
    s->want = n_threads;
    tg_ctx_set_engine(ctx, s, engine_state_free);
    *out = s->pool;
    return TG_OK;
}

int tg_engine_begin(tg_ctx *ctx, tg_engine *e)
{
    memset(e, 0, sizeof *e);
    e->ctx = ctx;
    e->n_threads = tg_ctx_threads(ctx);
    e->fpenv = tg_fpenv_enter();
    int rc = context_pool(ctx, e->n_threads, &e->pool);
    if (rc) {
        tg_fpenv_leave(e->fpenv);
        return rc;
    }
    e->blas_prev = tg_blas_set_threads(want_split() ? 1 : e->n_threads);
    return TG_OK;
}

void tg_engine_end(tg_engine *e)
{
    e->pool = NULL; /* the context keeps it */
    if (e->blas_prev > 0) tg_blas_set_threads(e->blas_prev);
    tg_fpenv_leave(e->fpenv);
}

/* ---- products ------------------------------------------------------------ */

/* The split of a product's rows into sgemm calls depends on the row count
 * only, never on the thread count: an sgemm's rounding can depend on the
 * shape of the call (OpenBLAS picks kernels by size), so a fixed split is
 * what makes 1, 2 or 16 threads give the same bits (tests/test_engine.c).
 * GEMM_PARTS calls of whole 8-row groups, none under GEMM_MIN_ROWS rows. */
#define GEMM_PARTS 8
#define GEMM_MIN_ROWS 64

struct gemm_job {
    const float *x, *w;
    float *y;
    int ldx, ldy, rows, n, k;
    float beta;
    int per; /* rows per call */
};

static void gemm_task(void *arg, int task, int thread)
{
    (void)thread;
    struct gemm_job *j = arg;
    int r0 = task * j->per, r1 = r0 + j->per;
    if (r1 > j->rows) r1 = j->rows;
    if (r0 >= r1) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, j->n, j->k, 1.0f,
                j->x + (size_t)r0 * (size_t)j->ldx, j->ldx, j->w, j->k, j->beta,
                j->y + (size_t)r0 * (size_t)j->ldy, j->ldy);
}

/* y[rows, n] = x[rows, k] W^T + beta * y, W [n, k] row-major: a Linear layer
 * without its bias (sgemm NoTrans/Trans, see tensor.h). */
static void linear(tg_engine *e, const float *x, int ldx, const float *w, float *y, int ldy,
                   int rows, int n, int k, float beta)
{
    if (want_split()) {
        int per = (rows + GEMM_PARTS - 1) / GEMM_PARTS;
        per = (per + 7) & ~7;
        if (per < GEMM_MIN_ROWS) per = GEMM_MIN_ROWS;
        struct gemm_job j = {x, w, y, ldx, ldy, rows, n, k, beta, per};
        tg_pool_run(e->pool, (rows + per - 1) / per, gemm_task, &j);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, k, 1.0f, x, ldx, w, k, beta, y,
                ldy);
}

/* ---- scratch plan --------------------------------------------------------- */

struct plan {
    float *x;     /* [R, D] residual stream */
    float *h;     /* [R, D] LayerNorm output, then attention output */
    float *big;   /* [R, max(3D, M, 3PP)] qkv / MLP hidden / im2col */
    float *S;     /* [threads][QB, T] attention probabilities of a block of queries */
    float *probs; /* [Bc][heads][np][N] last-block prefix rows (map), or NULL */
    float *xc;    /* [Bc*np, D] last block: prefix rows of the residual */
    float *hc;    /* [Bc*np, D] last block: attention output / LN2 output */
    float *uc;    /* [Bc*np, M] last block: MLP hidden */
    float *yh;    /* [2, Bc, O] head outputs */
};

static int imax(int a, int b) { return a > b ? a : b; }

static void make_plan(tg_arena *a, const tg_vit *n, int Bc, int T, int threads, int want_map,
                      struct plan *p)
{
    size_t R = (size_t)Bc * (size_t)T, D = (size_t)n->D, np = (size_t)n->n_prefix;
    size_t wide = (size_t)imax(imax(3 * n->D, n->M), 3 * n->P * n->P);
    size_t N = (size_t)T - np;
    p->x = tg_arena_floats(a, R * D);
    p->h = tg_arena_floats(a, R * D);
    p->big = tg_arena_floats(a, R * wide);
    p->S = tg_arena_floats(a, (size_t)threads * (size_t)QB * (size_t)T);
    p->probs = want_map ? tg_arena_floats(a, (size_t)Bc * (size_t)n->heads * np * N) : NULL;
    p->xc = tg_arena_floats(a, (size_t)Bc * np * D);
    p->hc = tg_arena_floats(a, (size_t)Bc * np * D);
    p->uc = tg_arena_floats(a, (size_t)Bc * np * (size_t)n->M);
    p->yh = tg_arena_floats(a, 2 * (size_t)Bc * (size_t)n->out_dim);
}

size_t tg_vit_scratch_bytes(const tg_vit *n, int B, int n_tokens, int n_threads)
{
    tg_arena a;
    struct plan p;
    tg_arena_init(&a, NULL, 0);
    make_plan(&a, n, B, n_tokens, n_threads, 1, &p);
    return tg_arena_used(&a);
}

/* ---- embedding ------------------------------------------------------------- */

struct embed_job {
    const tg_vit *n;
    const float *x; /* input images of this chunk */
    const int *keep;
    int n_tok;      /* patch tokens per image */
    int T;
    float *cols;    /* [Bc * n_tok, 3PP] */
    float *xs;      /* residual stream */
};

/* Image b: im2col of its patch tokens and the additive part of the token
 * rows (pos_embed + conv bias; cls/dist + pos_embed for the prefix). */
static void embed_task(void *arg, int b, int thread)
{
    (void)thread;
    struct embed_job *j = arg;
    const tg_vit *n = j->n;
    int P = n->P, W = n->W, H = n->H, D = n->D, np = n->n_prefix;
    size_t kk = (size_t)3 * (size_t)P * (size_t)P;
    const float *img = j->x + (size_t)b * 3 * (size_t)H * (size_t)W;
    float *xb = j->xs + (size_t)b * (size_t)j->T * (size_t)D;
    for (int d = 0; d < D; d++) {
        xb[d] = n->cls[d] + n->pos[d];
        if (np > 1) xb[D + d] = n->dist[d] + n->pos[D + d];
    }
    for (int i = 0; i < j->n_tok; i++) {
        int k = j->keep ? j->keep[(size_t)b * (size_t)j->n_tok + (size_t)i] : i;
        int py = k / n->gw, px = k % n->gw;
        float *col = j->cols + ((size_t)b * (size_t)j->n_tok + (size_t)i) * kk;
        for (int c = 0; c < 3; c++)
            for (int ky = 0; ky < P; ky++)
                memcpy(col + ((size_t)c * P + ky) * P,
                       img + ((size_t)c * H + (size_t)py * P + ky) * W + (size_t)px * P,
                       (size_t)P * sizeof(float));
        const float *pos = n->pos + (size_t)(np + k) * D;
        float *row = xb + (size_t)(np + i) * D;
        for (int d = 0; d < D; d++) row[d] = pos[d] + n->pe_b[d];
    }
}

/* ---- attention ------------------------------------------------------------- */

struct attn_job {
    const tg_vit *n;
    const float *qkv; /* [Bc*T, 3D] */
    int T;
    int n_q;          /* query rows per image: T, or np in the last block */
    float *out;       /* attention output rows */
    int out_rows;     /* rows per image in out (T or np) */
    float *S;         /* per-thread [T, T] */
    float *probs;     /* [Bc][heads][np][N] or NULL */
    float scale;
};

static void attn_task(void *arg, int task, int thread)
{
    struct attn_job *j = arg;
    const tg_vit *n = j->n;
    int H = n->heads, D = n->D, dh = D / H, T = j->T, np = n->n_prefix;
    int b = task / H, h = task % H;
    const float *base = j->qkv + (size_t)b * (size_t)T * 3 * (size_t)D + (size_t)h * dh;
    const float *K = base + D, *V = base + 2 * D;
    float *S = j->S + (size_t)thread * QB * (size_t)T;
    float *O = j->out + (size_t)b * (size_t)j->out_rows * (size_t)D + (size_t)h * dh;
    for (int q0 = 0; q0 < j->n_q; q0 += QB) {
        int nq = j->n_q - q0 < QB ? j->n_q - q0 : QB;
        const float *Q = base + (size_t)q0 * 3 * (size_t)D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, T, dh, j->scale, Q, 3 * D, K,
                    3 * D, 0.0f, S, T);
        tg_softmax_rows(S, nq, T, T);
        if (j->probs && q0 == 0) {
            size_t N = (size_t)(T - np);
            for (int r = 0; r < np; r++)
                memcpy(j->probs + (((size_t)b * H + h) * np + r) * N, S + (size_t)r * T + np,
                       N * sizeof(float));
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nq, dh, T, 1.0f, S, T, V, 3 * D,
                    0.0f, O + (size_t)q0 * D, D);
    }
}

static void attention(tg_engine *e, struct attn_job *j, int Bc)
{
    /* Heads run in parallel on the pool, each with a single-threaded sgemm:
     * a 64-wide head is too small to split further. */
    int prev = want_split() || !e->pool ? 0 : tg_blas_set_threads(1);
    tg_pool_run(e->pool, Bc * j->n->heads, attn_task, j);
    if (prev > 0) tg_blas_set_threads(e->n_threads);
}

/* ---- forward ----------------------------------------------------------------- */

static int forward_chunk(tg_engine *e, const tg_vit *n, const tg_vit_job *job, int b0, int Bc,
                         const struct plan *p)
{
    int D = n->D, M = n->M, np = n->n_prefix, O = n->out_dim, H = n->heads;
    int n_tok = job->keep ? job->n_keep : n->gh * n->gw;
    int T = np + n_tok, R = Bc * T;
    size_t img_sz = (size_t)3 * (size_t)n->H * (size_t)n->W;
    size_t kk = (size_t)3 * (size_t)n->P * (size_t)n->P;
    float scale = (float)(1.0 / sqrt((double)(D / H)));
    int want_out = job->out != NULL, want_map = job->att != NULL;

    /* patch embedding: x[token] = pos + b_pe (+ cls/dist), then += W_pe . col */
    struct embed_job ej = {n, job->x + (size_t)b0 * img_sz,
                           job->keep ? job->keep + (size_t)b0 * (size_t)n_tok : NULL,
                           n_tok, T, p->big, p->x};
    tg_pool_run(e->pool, Bc, embed_task, &ej);
    for (int b = 0; b < Bc; b++)
        linear(e, p->big + (size_t)b * (size_t)n_tok * kk, (int)kk, n->pe_w,
               p->x + ((size_t)b * T + np) * D, D, n_tok, D, (int)kk, 1.0f);

    const float *pending = NULL; /* bias of the last product into x, added by the next LN */
    for (int i = 0; i < n->depth; i++) {
        const tg_vit_block *bk = &n->blocks[i];
        int last = i == n->depth - 1;
        /* attention: h = LN1(x); qkv = h W^T + b */
        tg_layernorm(e->pool, p->x, D, pending, p->h, D, R, D, bk->ln1_w, bk->ln1_b, n->eps);
        pending = NULL; /* added to x in place by the LayerNorm */
        tg_fill_rows(e->pool, p->big, R, 3 * D, 3 * D, bk->qkv_b);
        linear(e, p->h, D, bk->qkv_w, p->big, 3 * D, R, 3 * D, D, 1.0f);
        if (!last) {
            struct attn_job aj = {n, p->big, T, T, p->h, T, p->S, NULL, scale};
            attention(e, &aj, Bc);
            linear(e, p->h, D, bk->proj_w, p->x, D, R, D, D, 1.0f);
            /* MLP: x += fc2(GELU(fc1(LN2(x + b_proj)))) */
            tg_layernorm(e->pool, p->x, D, bk->proj_b, p->h, D, R, D, bk->ln2_w, bk->ln2_b, n->eps);
            linear(e, p->h, D, bk->fc1_w, p->big, M, R, M, D, 0.0f);
            tg_bias_gelu(e->pool, p->big, R, M, M, bk->fc1_b);
            linear(e, p->big, M, bk->fc2_w, p->x, D, R, D, M, 1.0f);
            pending = bk->fc2_b;
            continue;
        }
        /* Last block: only the prefix rows (cls, dist) matter after attention. */
        struct attn_job aj = {n, p->big, T, np, p->hc, np, p->S, want_map ? p->probs : NULL, scale};
        attention(e, &aj, Bc);
        if (want_map) {
            /* m[p] = sum_r (sum_h S_h[r, np + p]), numpy's order (heads, then rows) */
            size_t N = (size_t)n_tok;
            for (int b = 0; b < Bc; b++) {
                float *m = job->att + (size_t)(b0 + b) * N;
                for (size_t q = 0; q < N; q++) {
                    float tot = 0.0f;
                    for (int r = 0; r < np; r++) {
                        float s = 0.0f;
                        for (int h = 0; h < H; h++)
                            s += p->probs[(((size_t)b * H + h) * np + r) * N + q];
                        tot = r ? tot + s : s;
                    }
                    m[q] = tot;
                }
            }
        }
        if (!want_out) break;
        int Rc = Bc * np;
        for (int b = 0; b < Bc; b++) /* prefix rows of the residual stream */
            memcpy(p->xc + (size_t)b * np * D, p->x + (size_t)b * T * D,
                   (size_t)np * D * sizeof(float));
        linear(e, p->hc, D, bk->proj_w, p->xc, D, Rc, D, D, 1.0f);
        tg_layernorm(NULL, p->xc, D, bk->proj_b, p->hc, D, Rc, D, bk->ln2_w, bk->ln2_b, n->eps);
        linear(e, p->hc, D, bk->fc1_w, p->uc, M, Rc, M, D, 0.0f);
        tg_bias_gelu(e->pool, p->uc, Rc, M, M, bk->fc1_b);
        linear(e, p->uc, M, bk->fc2_w, p->xc, D, Rc, D, M, 1.0f);
        /* final norm (+ fc2 bias), then the heads on rows 0 (cls) and 1 (dist) */
        tg_layernorm(NULL, p->xc, D, bk->fc2_b, p->hc, D, Rc, D, n->norm_w, n->norm_b, n->eps);
        float *y0 = p->yh, *y1 = p->yh + (size_t)Bc * O;
        linear(e, p->hc, np * D, n->head_w, y0, O, Bc, O, D, 0.0f);
        if (np > 1) linear(e, p->hc + D, np * D, n->hd_w, y1, O, Bc, O, D, 0.0f);
        for (int b = 0; b < Bc; b++) {
            float *out = job->out + (size_t)(b0 + b) * O;
            const float *a0 = y0 + (size_t)b * O, *a1 = y1 + (size_t)b * O;
            for (int o = 0; o < O; o++) {
                float c = a0[o] + n->head_b[o];
                /* Deit.py: (head(x) + head_dist(x_dist)) / 2 */
                out[o] = np > 1 ? (c + (a1[o] + n->hd_b[o])) / 2.0f : c;
            }
        }
    }
    return TG_OK;
}

int tg_vit_forward(tg_engine *e, const tg_vit *n, const tg_vit_job *job)
{
    tg_ctx *ctx = e->ctx;
    int G = n->gh * n->gw;
    if (!job || !job->x || job->B < 1 || (!job->out && !job->att))
        return tg_set_error(ctx, TG_EINVAL, "forward: need an input, B >= 1 and an output");
    if (job->keep) {
        if (job->att)
            return tg_set_error(ctx, TG_EINVAL, "forward: the attention map needs all patches");
        if (job->n_keep < 1 || job->n_keep > G)
            return tg_set_error(ctx, TG_EINVAL, "forward: %d kept patches, expected 1..%d",
                                job->n_keep, G);
        for (size_t i = 0; i < (size_t)job->B * (size_t)job->n_keep; i++)
            if (job->keep[i] < 0 || job->keep[i] >= G)
                return tg_set_error(ctx, TG_EINVAL,
                                    "forward: kept patch index %d (image %zu) is outside 0..%d",
                                    job->keep[i], i / (size_t)job->n_keep, G - 1);
    }
    int n_tok = job->keep ? job->n_keep : G;
    int T = n->n_prefix + n_tok;
    int threads = tg_pool_threads(e->pool);
    size_t per_image = tg_vit_scratch_bytes(n, 2, T, threads) - tg_vit_scratch_bytes(n, 1, T, threads);
    int Bc = per_image ? (int)(CHUNK_BYTES / per_image) : CHUNK_MAX;
    if (Bc > CHUNK_MAX) Bc = CHUNK_MAX;
    if (Bc < 1) Bc = 1;
    if (Bc > job->B) Bc = job->B;

    tg_arena a;
    struct plan p;
    tg_arena_init(&a, NULL, 0);
    make_plan(&a, n, Bc, T, threads, job->att != NULL, &p);
    size_t need = tg_arena_used(&a);
    void *mem = tg_ctx_scratch(ctx, need);
    if (!mem) return TG_ENOMEM; /* message set by tg_ctx_scratch */
    tg_arena_init(&a, mem, need);
    make_plan(&a, n, Bc, T, threads, job->att != NULL, &p);
    if (a.failed)
        return tg_set_error(ctx, TG_EINTERNAL, "forward: scratch plan needs %zu more bytes than %zu",
                            a.failed, need);
    for (int b0 = 0; b0 < job->B; b0 += Bc) {
        int nb = job->B - b0 < Bc ? job->B - b0 : Bc;
        int rc = forward_chunk(e, n, job, b0, nb, &p);
        if (rc) return rc;
    }
    return TG_OK;
}
