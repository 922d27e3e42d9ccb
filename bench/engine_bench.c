/* engine_bench.c - time the C engine on one branch of a model (bench/engine.sh
 * runs it next to bench/engine_ref.py, the PyTorch reference, and prints
 * ratios).
 *
 *   engine_bench --model M.safetensors --branch ground|aerial|aerial_scan
 *                [--threads N] [--batch B] [--seconds S] [--warmup W]
 *
 * "aerial" is the whole aerial embedding: for a zoom model stage 1 at
 * aerial_hw, quantise, select, stage 2 at zoom_hw (for a model without zoom,
 * the plain 'aerial' net). Inputs are fixed-seed normalised noise.
 * Prints one JSON line: impl, branch, threads, batch, images/s, peak RSS (MB),
 * the OpenBLAS kernel set. */
#include "config.h"
#include "transgeo/model.h"
#include "engine/tensor.h"
#include "transgeo/transgeo_model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system) of the whole process, all threads */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *noise(size_t n, unsigned seed)
{
    float *x = malloc(n * sizeof(float));
    if (!x) return NULL;
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 4.0f;
    }
    return x;
}

int main(int argc, char **argv)
{
    const char *model_path = NULL, *branch = "ground";
    int threads = 1, batch = 1;
    double seconds = 5.0, warmup = 1.0;
    static const struct option opts[] = {{"model", 1, 0, 'm'},   {"branch", 1, 0, 'b'},
                                         {"threads", 1, 0, 't'}, {"batch", 1, 0, 'n'},
                                         {"seconds", 1, 0, 's'}, {"warmup", 1, 0, 'w'},
                                         {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'b': branch = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'n': batch = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'w': warmup = atof(optarg); break;
        default: return 2;
        }
    }
    if (!model_path || batch < 1 || threads < 1) {
        fprintf(stderr, "usage: engine_bench --model M --branch ground|aerial|aerial_scan "
                        "[--threads N] [--batch B] [--seconds S]\n");
        return 2;
    }
    tg_ctx *ctx = NULL;
    tg_model *m = NULL;
    tg_ctx_create(&ctx);
    tg_ctx_set_threads(ctx, threads);
    if (tg_model_load(ctx, model_path, &m)) {
        fprintf(stderr, "engine_bench: %s\n", tg_errmsg(ctx));
        return 1;
    }
    const tg_model_config *c = tg_model_config_get(m);
    int is_ground = !strcmp(branch, "ground"), is_scan = !strcmp(branch, "aerial_scan");
    int hz = 0, wz = 0, hs = 0, ws = 0;
    if (is_ground)
        tg_model_input_hw(ctx, m, TG_BRANCH_GROUND, &hz, &wz);
    else if (is_scan)
        tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL_SCAN, &hz, &wz);
    else
        tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL, &hz, &wz);
    if (!is_ground && !is_scan && c->zoom) tg_model_input_hw(ctx, m, TG_BRANCH_AERIAL_SCAN, &hs, &ws);
    float *x = noise((size_t)batch * 3 * hz * wz, 1);
    float *xs = hs ? noise((size_t)batch * 3 * hs * ws, 2) : NULL;
    float *out = malloc(sizeof(float) * (size_t)batch * c->out_dim);
    float *att = hs ? malloc(sizeof(float) * (size_t)batch * (hs / c->patch) * (ws / c->patch)) : NULL;
    long iters = 0;
    double t0 = now(), t_start = 0, cpu_start = 0;
    for (;;) {
        int rc;
        if (is_ground)
            rc = tg_model_forward(ctx, m, TG_BRANCH_GROUND, x, batch, out);
        else if (is_scan)
            rc = tg_model_forward(ctx, m, TG_BRANCH_AERIAL_SCAN, x, batch, out);
        else if (c->zoom) {
            rc = tg_model_scan(ctx, m, xs, batch, att, NULL);
            tg_zoom_guide g = {0};
            g.att = att;
            if (!rc) rc = tg_model_forward_zoom(ctx, m, x, batch, &g, out, NULL);
        } else if (c->has_zoom) {
            rc = tg_model_forward_zoom(ctx, m, x, batch, NULL, out, NULL);
        } else {
            rc = tg_model_forward(ctx, m, TG_BRANCH_AERIAL, x, batch, out);
        }
        if (rc) {
            fprintf(stderr, "engine_bench: %s\n", tg_errmsg(ctx));
            return 1;
        }
        double t = now();
        if (!t_start) {
            if (t - t0 >= warmup) {
                t_start = t;
                cpu_start = cpu_now();
            }
            continue;
        }
        iters++;
        if (t - t_start >= seconds) break;
    }
    double el = now() - t_start, cpu = cpu_now() - cpu_start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"c\", \"preset\": \"%s\", \"branch\": \"%s\", \"threads\": %d, \"batch\": %d, "
           "\"images_per_s\": %.4f, \"cpu_s_per_image\": %.4f, \"peak_rss_mb\": %.1f, \"blas_core\": "
           "\"%s\", \"requested_core\": \"%s\", \"iters\": %ld}\n",
           c->preset, branch, threads, batch, (double)iters * batch / el,
           cpu / ((double)iters * batch), ru.ru_maxrss / 1024.0, tg_blas_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "auto", iters);
    free(x);
    free(xs);
    free(out);
    free(att);
    tg_model_free(m);
    tg_ctx_free(ctx);
    return 0;
}
