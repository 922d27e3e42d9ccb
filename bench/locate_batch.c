/*
 * bench/locate_batch.c - photos/s of the locator one photo per pass
 * (tg_locator_run) against many photos per pass (tg_locator_prepare, one
 * tg_locator_score per batch, tg_locator_finish), in one process on one
 * opened store, with where the time goes. Run by bench/locate_batch.sh.
 *
 *   locate_batch_bench --db DB [--batches "8 32 64 128"] [--threads T]
 *                      [--rounds R] PHOTO...
 *
 * Every photo is located with k = 5, no prior, no refinement (the store's
 * tiles may be synthetic: nothing to cut). One thread runs the stages (the
 * CLI's workers parallelise prepare and finish; the pass uses --threads
 * BLAS threads, default 1). Times are wall clock (CLOCK_MONOTONIC); each
 * measurement is the best of --rounds (default 3) rounds, interleaved.
 *
 * Printed, key=value, one line per measurement:
 *   open      open_s (store + locator: the tiles loaded from SQLite)
 *   single    photos_s, ms_per_photo, and prepare_ms (decode + embed, the
 *             same work measured on its own), score_ms (the rest: the pass)
 *   batch N   photos_s, ms_per_photo, prepare_ms, score_ms, finish_ms per
 *             photo, ratio = photos_s / single's, same = 1 when every answer
 *             (tile ids, scores, error_m, heading) equals the single run's
 */
#include "config.h"
#include "transgeo/locate.h"
#include "transgeo/store.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int same_answer(const tg_locate_answer *a, const tg_locate_answer *b)
{
    if (a->n_matches != b->n_matches) return 0;
    for (int i = 0; i < a->n_matches; i++) {
        const tg_match *x = &a->matches[i], *y = &b->matches[i];
        if (x->tile_id != y->tile_id || x->score != y->score || x->error_m != y->error_m)
            return 0;
        if (!(x->heading_deg == y->heading_deg || (isnan(x->heading_deg) && isnan(y->heading_deg))))
            return 0;
    }
    return 1;
}

static void die(tg_ctx *ctx, const char *what)
{
    fprintf(stderr, "locate_batch_bench: %s: %s\n", what, tg_errmsg(ctx));
    exit(1);
}

int main(int argc, char **argv)
{
    const char *db = NULL, *batches = "8 32 64 128";
    int threads = 1, rounds = 3, c;
    static const struct option lo[] = {{"db", required_argument, NULL, 'd'},
                                       {"batches", required_argument, NULL, 'b'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"rounds", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "d:b:t:r:", lo, NULL)) != -1) {
        if (c == 'd') db = optarg;
        else if (c == 'b') batches = optarg;
        else if (c == 't') threads = atoi(optarg);
        else if (c == 'r') rounds = atoi(optarg);
        else return 2;
    }
    int n = argc - optind;
    if (!db || n < 1 || threads < 1 || rounds < 1) {
        fprintf(stderr, "usage: locate_batch_bench --db DB [--batches LIST] [--threads T] "
                        "[--rounds R] PHOTO...\n");
        return 2;
    }
    char **photos = argv + optind;
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) return 1;
    tg_ctx_set_threads(ctx, threads);
    double t0 = now();
    tg_store *st = NULL;
    tg_locator *loc = NULL;
    tg_locate_opts o;
    tg_locate_opts_default(&o);
    o.refine = TG_REFINE_OFF;
    if (tg_store_open(ctx, db, TG_STORE_READONLY, &st)) die(ctx, db);
    if (tg_locator_open(ctx, st, &o, &loc)) die(ctx, "open");
    printf("open tiles=%zu dim=%d open_s=%.3f\n", tg_locator_n_tiles(loc), tg_locator_dim(loc),
           now() - t0);

    tg_locate_answer *ref = calloc((size_t)n, sizeof *ref), ans;
    tg_locate_job **jobs = calloc((size_t)n, sizeof *jobs);
    if (!ref || !jobs) return 1;
    /* Rounds interleave every measurement (the machine is shared: each gets
     * the same chance of a quiet moment); each keeps its best round. */
    int nb_list = 0, bl[32];
    char *list = strdup(batches), *save = NULL;
    for (char *tok = strtok_r(list, " ,", &save); tok && nb_list < 32; tok = strtok_r(NULL, " ,", &save))
        if (atoi(tok) >= 1) bl[nb_list++] = atoi(tok);
    free(list);
    double prep = INFINITY, single = INFINITY, best[32], bp[32], bs[32], bf[32];
    int same[32];
    for (int x = 0; x < nb_list; x++) best[x] = INFINITY, same[x] = 1;
    for (int r = 0; r < rounds; r++) {
        /* decode + embed alone (the prepare stage) */
        double a = now();
        for (int i = 0; i < n; i++) {
            tg_locate_input in = {.path = photos[i]};
            if (tg_locator_prepare(loc, ctx, &in, &jobs[i])) die(ctx, photos[i]);
            tg_locate_job_free(jobs[i]);
            jobs[i] = NULL;
        }
        double t = now() - a;
        if (t < prep) prep = t;
        /* one photo per pass */
        a = now();
        for (int i = 0; i < n; i++) {
            tg_locate_input in = {.path = photos[i]};
            tg_locate_answer_clear(&ref[i]);
            if (tg_locator_run(loc, ctx, &in, &ref[i])) die(ctx, photos[i]);
        }
        t = now() - a;
        if (t < single) single = t;
        for (int x = 0; x < nb_list; x++) {
            int bsz = bl[x];
            double tp = 0, ts = 0, tf = 0;
            for (int b0 = 0; b0 < n; b0 += bsz) {
                int nb = n - b0 < bsz ? n - b0 : bsz;
                double t1 = now();
                for (int i = 0; i < nb; i++) {
                    tg_locate_input in = {.path = photos[b0 + i]};
                    if (tg_locator_prepare(loc, ctx, &in, &jobs[b0 + i])) die(ctx, photos[b0 + i]);
                }
                double t2 = now();
                if (tg_locator_score(loc, ctx, jobs + b0, (size_t)nb)) die(ctx, "score");
                double t3 = now();
                for (int i = 0; i < nb; i++) {
                    if (tg_locator_finish(loc, ctx, jobs[b0 + i], &ans)) die(ctx, "finish");
                    same[x] &= same_answer(&ans, &ref[b0 + i]);
                    tg_locate_answer_clear(&ans);
                    tg_locate_job_free(jobs[b0 + i]);
                    jobs[b0 + i] = NULL;
                }
                double t4 = now();
                tp += t2 - t1;
                ts += t3 - t2;
                tf += t4 - t3;
            }
            if (tp + ts + tf < best[x]) {
                best[x] = tp + ts + tf;
                bp[x] = tp;
                bs[x] = ts;
                bf[x] = tf;
            }
        }
    }
    double single_ps = n / single;
    printf("single photos=%d photos_s=%.2f ms_per_photo=%.3f prepare_ms=%.3f score_ms=%.3f\n", n,
           single_ps, 1e3 * single / n, 1e3 * prep / n, 1e3 * (single - prep) / n);
    for (int x = 0; x < nb_list; x++)
        printf("batch %d photos_s=%.2f ms_per_photo=%.3f prepare_ms=%.3f score_ms=%.3f "
               "finish_ms=%.3f ratio=%.2f same=%d\n",
               bl[x], n / best[x], 1e3 * best[x] / n, 1e3 * bp[x] / n, 1e3 * bs[x] / n,
               1e3 * bf[x] / n, (n / best[x]) / single_ps, same[x]);
    for (int i = 0; i < n; i++) tg_locate_answer_clear(&ref[i]);
    free(ref);
    free(jobs);
    tg_locator_free(loc);
    tg_store_close(st);
    tg_ctx_free(ctx);
    return 0;
}
