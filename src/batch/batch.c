/*
 * batch.c - the batch loop (see batch.h): worker threads run the locator on
 * a batch of photos while the calling thread writes the answers in input
 * order (locate) or gathers them into an evaluation report (eval). Photo
 * lists, outputs and the truth table are photolist.c, output.c, truth.c.
 */
#include "config.h"
#include "batch_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_hash_set.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <sqlite3.h>

#include "transgeo/exif.h"
#include "transgeo/geo.h"
#include "transgeo/image.h"
#include "transgeo/locate.h"

#include "base/gdal.h"
#include "transgeo/store.h"
#include "transgeo/store_pg.h"

/* ======================================================================== */
/* the batch: locate and evaluate                                           */
/* ======================================================================== */

void tg_batch_opts_default(tg_batch_opts *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->k = 5;
    o->fov_deg = NAN;
}

enum { MODE_LOCATE, MODE_EVAL };

/* One photo of the current batch. */
typedef struct job {
    char *file;            /* the path, as enumerated */
    char *error;           /* enumeration error or why it failed (a failure row) */
    int fatal;             /* a TG_E* code that must stop the run, else 0 */
    /* eval: a --truth row for this photo */
    int truth_from_csv;
    double t_lon, t_lat;
    int has_t_heading;     /* the truth row has a heading */
    double t_heading;
    tg_locate_job *lj;     /* between the locator's stages (score_batch > 1) */
    tg_locate_answer ans;  /* the locator's answer */
} job;

/* What the workers do with each job of a batch: the whole locator
 * (tg_locator_run: one photo per pass), or the stage before or after the
 * batch's one scoring pass. */
enum { STAGE_RUN, STAGE_PREPARE, STAGE_FINISH };

typedef struct shared {
    job *jobs;
    size_t n_jobs, next;
    pthread_mutex_t mu;
    int stop;              /* a fatal error happened: take no more jobs */
    int mode;
    const tg_locator *loc;
    int gps_prior;         /* opts.gps_prior */
    int n_threads;         /* threads of the caller's context, shared by the workers */
    int stage;             /* STAGE_* */
    int score_batch;       /* photos per scoring pass (1: STAGE_RUN) */
    tg_locate_job **ljs;   /* score_batch entries: the jobs of one pass */
} shared;

typedef struct worker {
    shared *sh;
    tg_ctx *ctx;
    pthread_t th;
} worker;

/* Record why job j failed: a photo failure (fatal = 0: a row of failures) or
 * an error that stops the run. Without memory for the text, the run stops. */
static void job_fail(job *j, int fatal, const char *msg)
{
    j->fatal = fatal;
    j->error = tgb_strdup(msg);
    if (!j->error) j->fatal = TG_ENOMEM;
}

/* Errors that concern one photo (it is listed in failures) rather than the run. */
static int photo_error(int rc)
{
    return rc == TG_EIO || rc == TG_EIMAGE || rc == TG_EFORMAT;
}

static void do_job(worker *w, job *j)
{
    if (j->error) return; /* could not even be enumerated */
    int rc = 0;
    if (w->sh->stage == STAGE_FINISH) {
        if (!j->lj) return;
        rc = tg_locator_finish(w->sh->loc, w->ctx, j->lj, &j->ans);
        tg_locate_job_free(j->lj);
        j->lj = NULL;
        if (rc) job_fail(j, photo_error(rc) ? 0 : rc, tg_errmsg(w->ctx));
        return;
    }
    tg_locate_input in = {.path = j->file};
    if (w->sh->mode == MODE_EVAL) {
        in.has_truth = j->truth_from_csv;
        in.truth_lon = j->t_lon;
        in.truth_lat = j->t_lat;
        in.truth_from_gps = !w->sh->gps_prior; /* the GPS is the prior, not the truth */
        in.has_truth_heading = j->has_t_heading;
        in.truth_heading_deg = j->t_heading;
    }
    if (w->sh->stage == STAGE_PREPARE) rc = tg_locator_prepare(w->sh->loc, w->ctx, &in, &j->lj);
    else rc = tg_locator_run(w->sh->loc, w->ctx, &in, &j->ans);
    if (rc) job_fail(j, photo_error(rc) ? 0 : rc, tg_errmsg(w->ctx));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        size_t i = sh->stop ? sh->n_jobs : sh->next++;
        pthread_mutex_unlock(&sh->mu);
        if (i >= sh->n_jobs) break;
        job *j = &sh->jobs[i];
        do_job(w, j);
        if (j->fatal) {
            pthread_mutex_lock(&sh->mu);
            sh->stop = 1;
            pthread_mutex_unlock(&sh->mu);
        }
    }
    return NULL;
}

/* Run the workers over sh->jobs at sh->stage: n_workers - 1 threads plus the
 * caller. */
static int run_stage(tg_ctx *ctx, shared *sh, worker *ws, int n_workers)
{
    sh->next = 0;
    sh->stop = 0;
    int started = 0, rc = 0;
    int n = (size_t)n_workers > sh->n_jobs ? (int)sh->n_jobs : n_workers;
    /* the cores are shared by the active workers: a lone photo gets them all
     * (and then the same numbers as SQL's tg_locate, which uses one context) */
    int per = sh->n_threads / (n > 0 ? n : 1);
    for (int i = 0; i < n; i++) tg_ctx_set_threads(ws[i].ctx, per < 1 ? 1 : per);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            rc = tg_set_error(ctx, TG_ENOMEM, "cannot start a worker thread: %s", strerror(errno));
            break;
        }
        started = i;
    }
    if (!rc) worker_main(&ws[0]);
    for (int i = 1; i <= started; i++) pthread_join(ws[i].th, NULL);
    if (rc) return rc;
    for (size_t i = 0; i < sh->n_jobs; i++)
        if (sh->jobs[i].fatal)
            return tg_set_error(ctx, sh->jobs[i].fatal, "%s",
                                sh->jobs[i].error ? sh->jobs[i].error : "out of memory");
    return 0;
}

/* Locate sh->jobs: one at a time in each worker (score_batch 1), or each
 * chunk of score_batch photos embedded by the workers, scored in one pass
 * by the caller's thread (with all of ctx's threads: the product is one
 * BLAS call) and finished by the workers. */
static int run_jobs(tg_ctx *ctx, shared *sh, worker *ws, int n_workers)
{
    /* ranking on the server uses the store's connection: the caller's thread
     * scores (the staged path) however small the passes */
    if (sh->score_batch <= 1 && !tg_locator_ranks_on_server(sh->loc)) {
        sh->stage = STAGE_RUN;
        return run_stage(ctx, sh, ws, n_workers);
    }
    sh->stage = STAGE_PREPARE;
    int rc = run_stage(ctx, sh, ws, n_workers);
    for (size_t c0 = 0; !rc && c0 < sh->n_jobs; c0 += (size_t)sh->score_batch) {
        size_t nc = sh->n_jobs - c0 < (size_t)sh->score_batch ? sh->n_jobs - c0
                                                             : (size_t)sh->score_batch;
        for (size_t i = 0; i < nc; i++) sh->ljs[i] = sh->jobs[c0 + i].lj;
        rc = tg_locator_score(sh->loc, ctx, sh->ljs, nc);
    }
    if (rc) return rc; /* the jobs' stages are freed with the jobs */
    sh->stage = STAGE_FINISH;
    return run_stage(ctx, sh, ws, n_workers);
}

static void job_clear(job *j)
{
    tg_locate_job_free(j->lj);
    free(j->file);
    free(j->error);
    tg_locate_answer_clear(&j->ans);
    memset(j, 0, sizeof *j);
}

/* What locate and eval share: the database, the locator, the workers. */
typedef struct run {
    tg_store *st;
    tg_locator *loc;
    shared sh;
    worker *ws;
    int n_workers;
    job *jobs;
    size_t batch;
    CPLHashSet *seen;      /* files met in this run (a file named twice runs once) */
} run;

static int run_open(tg_ctx *ctx, run *r, const char *db_path, const tg_batch_opts *o, int mode)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->sh.mu, NULL);
    if (!db_path || !*db_path) return tg_set_error(ctx, TG_EINVAL, "no database given (--db DB)");
    struct stat sb;
    if (!tg_store_is_pg(db_path) && stat(db_path, &sb) != 0)
        return tg_set_error(ctx, TG_EIO, "database '%s': %s (index rasters into it first: "
                            "transgeo index RASTER --db %s)", db_path, strerror(errno), db_path);
    int rc = tg_store_open(ctx, db_path, TG_STORE_READONLY, &r->st);
    if (rc) return rc;
    rc = tg_store_has_schema(ctx, r->st);
    if (rc < 0) return rc;
    if (rc == 0)
        return tg_set_error(ctx, TG_ENOTFOUND, "database '%s' has no transgeo tables: index a "
                            "raster into it first (transgeo index RASTER --db %s)", db_path, db_path);
    tg_locate_opts lo;
    tg_locate_opts_default(&lo);
    lo.model = o->model;
    lo.k = o->k;
    lo.fov_deg = o->fov_deg;
    lo.heading_search = o->heading_search;
    lo.ignore_heading = o->ignore_heading;
    tg_store_prior prior = {.lon = o->near_lon, .lat = o->near_lat, .radius_m = o->radius_m};
    if (mode == MODE_LOCATE && o->has_near) lo.prior = &prior;
    lo.gps_prior = o->gps_prior;
    lo.gps_radius_m = o->gps_radius_m;
    lo.refine = o->refine;
    lo.refine_max_tiles = o->refine_max_tiles;
    /* evaluation ranks each truth among every tile: local unless asked */
    lo.ranking = mode == MODE_EVAL && o->ranking == TG_RANKING_AUTO ? TG_RANKING_LOCAL : o->ranking;
    r->sh.gps_prior = o->gps_prior;
    rc = tg_locator_open(ctx, r->st, &lo, &r->loc);
    if (rc) return rc;
    if (lo.prior && tg_locator_n_candidates(r->loc) == 0)
        return tg_set_error(ctx, TG_ENOTFOUND,
                            "no tile of model '%s' has its centre within %g m of (%.7f, %.7f) "
                            "(lon, lat): widen --radius or check --near",
                            tg_locator_model(r->loc)->name, o->radius_m, o->near_lon, o->near_lat);
    int nt = o->threads > 0 ? o->threads : tg_ctx_threads(ctx);
    if (nt < 1) nt = 1;
    r->n_workers = nt;
    if (o->score_batch < 0)
        return tg_set_error(ctx, TG_EINVAL, "%d photos per scoring pass: expected 1 or more (0: "
                            "the default, %d)", o->score_batch, TG_BATCH_SCORE_DEFAULT);
    int nsb = o->score_batch > 0 ? o->score_batch : TG_BATCH_SCORE_DEFAULT;
    r->batch = o->batch_size > 0 ? (size_t)o->batch_size : (size_t)(8 * nt < 16 ? 16 : 8 * nt);
    if (o->batch_size <= 0 && r->batch < (size_t)nsb) r->batch = (size_t)nsb;
    r->sh.score_batch = nsb;
    r->sh.ljs = calloc((size_t)nsb, sizeof *r->sh.ljs);
    r->jobs = calloc(r->batch, sizeof *r->jobs);
    r->ws = calloc((size_t)nt, sizeof *r->ws);
    r->seen = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    if (!r->jobs || !r->ws || !r->seen || !r->sh.ljs)
        return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
    r->sh.n_threads = tg_ctx_threads(ctx);
    for (int i = 0; i < nt; i++) {
        r->ws[i].sh = &r->sh;
        if (tg_ctx_create(&r->ws[i].ctx) != 0)
            return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
    }
    r->sh.jobs = r->jobs;
    r->sh.mode = mode;
    r->sh.loc = r->loc;
    return 0;
}

static void run_close(run *r)
{
    for (size_t i = 0; r->jobs && i < r->batch; i++) job_clear(&r->jobs[i]);
    free(r->jobs);
    for (int i = 0; r->ws && i < r->n_workers; i++) tg_ctx_free(r->ws[i].ctx);
    free(r->ws);
    free(r->sh.ljs);
    if (r->seen) CPLHashSetDestroy(r->seen);
    tg_locator_free(r->loc);
    tg_store_close(r->st);
    pthread_mutex_destroy(&r->sh.mu);
}

/* Count the entries of the inputs (for the progress total); 0 when unknown. */
static long count_inputs(tg_ctx *ctx, const char *const *inputs, size_t n_inputs,
                         const char *exclude)
{
    tg_photo_list *l = NULL;
    if (tg_photo_list_open(ctx, inputs, n_inputs, &l) != 0) return 0;
    long n = 0;
    tg_photo_entry e;
    if (!tg_photo_list_uses_stdin(l)) {
        if (exclude) tg_photo_list_exclude(ctx, l, exclude);
        while (tg_photo_list_next(ctx, l, &e) == 1) n++;
    }
    tg_photo_list_free(l);
    tg_clear_error(ctx);
    return n;
}

/* Fill the batch: the next photos not yet in out (or seen). Returns the count
 * (>= 0) or a negative TG_E* code. */
static long fill_batch(tg_ctx *ctx, run *r, tg_photo_list *l, const tg_batch_out *out,
                       long *n_skipped)
{
    size_t n = 0;
    tg_photo_entry e;
    int rc = 0;
    while (n < r->batch && (rc = tg_photo_list_next(ctx, l, &e)) == 1) {
        if (CPLHashSetLookup(r->seen, e.path) || (out && tg_batch_out_has(out, e.path))) {
            (*n_skipped)++;
            continue;
        }
        char *key = tgb_strdup(e.path);
        job *j = &r->jobs[n];
        job_clear(j);
        j->file = tgb_strdup(e.path);
        if (e.error) j->error = tgb_strdup(e.error);
        if (!key || !j->file || (e.error && !j->error)) {
            free(key);
            return tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
        }
        CPLHashSetInsert(r->seen, key);
        n++;
    }
    if (rc < 0) return rc;
    r->sh.n_jobs = n;
    return (long)n;
}

/* The prior and refinement columns of an answer (tg_batch_record). */
static void answer_strings(const tg_locate_answer *a, char *prior, size_t np, char *refined,
                           size_t nr)
{
    snprintf(prior, np, "%s%s", tg_prior_name(a->prior), a->gps_outside ? "; gps outside tiles" : "");
    if (a->refined == TG_REFINED_RASTER) snprintf(refined, nr, "raster");
    else if (a->refined == TG_REFINED_STORED && a->refine_note[0])
        snprintf(refined, nr, "stored: %.180s", a->refine_note);
    else if (a->refined == TG_REFINED_STORED) snprintf(refined, nr, "stored");
    else refined[0] = '\0';
}

int tg_batch_locate(tg_ctx *ctx, const char *db_path, const char *const *inputs, size_t n_inputs,
                    const char *out_path, const tg_batch_opts *opts, tg_batch_summary *summary)
{
    tg_batch_opts def;
    if (!opts) {
        tg_batch_opts_default(&def);
        opts = &def;
    }
    if (summary) memset(summary, 0, sizeof *summary);
    if (opts->k < 1) return tg_set_error(ctx, TG_EINVAL, "k = %d: expected 1 or more matches", opts->k);
    if (opts->has_near && (!isfinite(opts->radius_m) || opts->radius_m <= 0))
        return tg_set_error(ctx, TG_EINVAL, "radius %g m: expected a distance > 0 metres",
                            opts->radius_m);
    if (!tg_batch_format_of(out_path))
        return tg_set_error(ctx, TG_EINVAL,
                            "output '%s': unknown format; name it *.gpkg (GeoPackage), *.csv, "
                            "or - (CSV on standard output)", out_path ? out_path : "(none)");
    tg_batch_summary sum = {0, 0, 0};
    tg_photo_list *list = NULL;
    tg_batch_out *out = NULL;
    run r;
    int rc = tg_photo_list_open(ctx, inputs, n_inputs, &list);
    if (rc) return rc;
    rc = run_open(ctx, &r, db_path, opts, MODE_LOCATE);
    if (rc) goto done;
    rc = tg_batch_out_open(ctx, out_path, &out);
    if (rc) goto done;
    if (tg_batch_out_format(out) != TG_BATCH_STDOUT) {
        rc = tg_photo_list_exclude(ctx, list, out_path);
        if (rc) goto done;
    }
    long total = opts->progress ? count_inputs(ctx, inputs, n_inputs,
                                               tg_batch_out_format(out) != TG_BATCH_STDOUT
                                                   ? out_path : NULL)
                                : 0;
    long done_n = 0;
    for (;;) {
        long skipped = 0;
        long n = fill_batch(ctx, &r, list, out, &skipped);
        sum.n_skipped += skipped;
        done_n += skipped;
        if (n < 0) {
            rc = (int)n;
            goto done;
        }
        if (n == 0) break;
        rc = run_jobs(ctx, &r.sh, r.ws, r.n_workers);
        if (rc) goto done;
        for (long i = 0; i < n; i++) {
            job *j = &r.jobs[i];
            if (j->error) {
                rc = tg_batch_out_add_failure(ctx, out, j->file, j->error);
                if (rc) goto done;
                sum.n_failed++;
                continue;
            }
            const tg_locate_answer *ans = &j->ans;
            const tg_match *mt = ans->matches;
            tg_batch_tile tiles[64], *tp = tiles;
            if (ans->n_matches > 64 && !(tp = calloc((size_t)ans->n_matches, sizeof *tp))) {
                rc = tg_set_error(ctx, TG_ENOMEM, "batch: out of memory");
                goto done;
            }
            for (int t = 0; t < ans->n_matches; t++) {
                tp[t].rank = mt[t].rank;
                tp[t].tile_id = mt[t].tile_id;
                tp[t].score = mt[t].score;
                tp[t].lon = mt[t].lon;
                tp[t].lat = mt[t].lat;
                tp[t].wkt = NULL;
                if (tg_batch_out_format(out) == TG_BATCH_GPKG && !rc) {
                    char *wkt = NULL;
                    rc = tg_locator_tile_wkt(r.loc, ctx, mt[t].tile_id, &wkt);
                    tp[t].wkt = wkt;
                }
            }
            int has_gps = ans->has_meta && ans->meta.has_gps;
            char prior[64], refined[200];
            answer_strings(ans, prior, sizeof prior, refined, sizeof refined);
            int got = ans->n_matches > 0;
            tg_batch_record rec = {
                .file = j->file, .model = tg_locator_model(r.loc)->name,
                .lon = got ? ans->lon : mt[0].lon, .lat = got ? ans->lat : mt[0].lat,
                .score = mt[0].score, .error_m = got ? ans->error_m : mt[0].error_m,
                .tile_lon = mt[0].lon, .tile_lat = mt[0].lat, .prior = prior, .refined = refined,
                .refine_tiles = ans->n_refine_tiles,
                .tile_id = mt[0].tile_id, .has_gps = has_gps, .gps_lon = ans->meta.lon_deg,
                .gps_lat = ans->meta.lat_deg, .gps_error_m = has_gps ? ans->gps_error_m : 0,
                .has_heading = isfinite(ans->heading_deg), .heading_deg = ans->heading_deg,
                .n_tiles = ans->n_matches, .tiles = tp,
                .heading_source = ans->has_camera ? tg_heading_source_name(ans->heading_source)
                                                  : NULL,
                .fov_deg = ans->has_camera ? ans->camera.hfov_deg : 0,
                .camera_source = ans->has_camera ? tg_camera_source_name(ans->camera.source)
                                                 : NULL};
            if (!rc) rc = tg_batch_out_add(ctx, out, &rec);
            for (int t = 0; t < ans->n_matches; t++) free((char *)tp[t].wkt);
            if (tp != tiles) free(tp);
            if (rc) goto done;
            sum.n_located++;
        }
        rc = tg_batch_out_commit(ctx, out);
        if (rc) goto done;
        done_n += n;
        if (opts->progress &&
            !opts->progress((double)done_n, (double)(total > done_n ? total : done_n), NULL,
                            opts->progress_user)) {
            rc = tg_set_error(ctx, TG_ECANCEL, "cancelled after %ld photos; run the same command "
                              "again to resume", done_n);
            goto done;
        }
    }
    rc = tg_batch_out_close(ctx, out);
    out = NULL;
done:
    if (out) { /* a fatal error: keep what was committed, drop the batch in progress */
        tg_batch_out_free(out);
    }
    run_close(&r);
    tg_photo_list_free(list);
    if (summary) *summary = sum;
    return rc;
}

/* ---- evaluation --------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of v[0..n) (sorted in place); NaN for n = 0. */
static double median(double *v, long n)
{
    if (n == 0) return NAN;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The report's heading medians: over every labelled photo with a heading
 * error, and over those whose best tile is the true one (a heading is only
 * meaningful where the place is right: issue 17's measure). */
static int heading_medians(tg_ctx *ctx, tg_eval_report *rep)
{
    double *all = malloc((rep->n_photos ? rep->n_photos : 1) * sizeof *all);
    double *top = malloc((rep->n_photos ? rep->n_photos : 1) * sizeof *top);
    if (!all || !top) {
        free(all);
        free(top);
        return tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
    }
    long na = 0, nt = 0;
    for (size_t i = 0; i < rep->n_photos; i++) {
        const tg_eval_photo *p = &rep->photos[i];
        if (!p->labelled || !isfinite(p->heading_error_deg)) continue;
        all[na++] = p->heading_error_deg;
        if (p->item.rank == 1) top[nt++] = p->heading_error_deg;
    }
    rep->n_heading = na;
    rep->heading_err_median_deg = median(all, na);
    rep->n_heading_top1 = nt;
    rep->heading_err_median_top1_deg = median(top, nt);
    free(all);
    free(top);
    return TG_OK;
}

int tg_batch_eval(tg_ctx *ctx, const char *db_path, const char *const *inputs, size_t n_inputs,
                  const char *truth_csv, const tg_batch_opts *opts, tg_eval_report **out)
{
    tg_batch_opts def;
    if (out) *out = NULL;
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_batch_eval: NULL argument");
    if (!opts) {
        tg_batch_opts_default(&def);
        opts = &def;
    }
    if (opts->gps_prior && !truth_csv)
        return tg_set_error(ctx, TG_EINVAL,
                            "evaluation with the GPS prior needs true positions other than the "
                            "photos' GPS: give a truth CSV (--truth FILE)");
    tg_photo_list *list = NULL;
    truth tr = {0};
    tg_eval_report *rep = calloc(1, sizeof *rep);
    tg_eval_item *items = NULL;
    size_t cap = 0;
    run r;
    int rc = tg_photo_list_open(ctx, inputs, n_inputs, &list);
    if (rc) {
        free(rep);
        return rc;
    }
    rc = run_open(ctx, &r, db_path, opts, MODE_EVAL);
    if (!rc && !rep) rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
    if (!rc && truth_csv) rc = tgb_truth_load(ctx, truth_csv, &tr);
    if (rc) goto done;
    snprintf(rep->model, sizeof rep->model, "%s", tg_locator_model(r.loc)->name);
    rep->n_tiles = (long)tg_locator_n_tiles(r.loc);
    long total = opts->progress ? count_inputs(ctx, inputs, n_inputs, NULL) : 0, done_n = 0;
    for (;;) {
        long skipped = 0;
        long n = fill_batch(ctx, &r, list, NULL, &skipped);
        done_n += skipped;
        if (n < 0) {
            rc = (int)n;
            goto done;
        }
        if (n == 0) break;
        for (long i = 0; i < n && truth_csv; i++) {
            const struct truth_row *t = tgb_truth_find(&tr, r.jobs[i].file);
            if (t) {
                r.jobs[i].truth_from_csv = 1;
                r.jobs[i].t_lon = t->lon;
                r.jobs[i].t_lat = t->lat;
                r.jobs[i].has_t_heading = t->has_heading;
                r.jobs[i].t_heading = t->heading;
            }
        }
        rc = run_jobs(ctx, &r.sh, r.ws, r.n_workers);
        if (rc) goto done;
        for (long i = 0; i < n; i++) {
            job *j = &r.jobs[i];
            tg_eval_photo p;
            memset(&p, 0, sizeof p);
            p.heading_deg = p.heading_error_deg = NAN;
            if (j->error) {
                rep->n_failed++;
                p.error = j->error;
                j->error = NULL;
            } else if (!j->ans.has_truth) {
                rep->n_unlabelled++;
            } else {
                const tg_locate_answer *a = &j->ans;
                p.labelled = 1;
                p.truth_from_csv = j->truth_from_csv;
                p.true_lon = a->truth_lon;
                p.true_lat = a->truth_lat;
                p.true_tile_id = a->truth_tile_id;
                p.top1_tile_id = a->matches[0].tile_id;
                p.top1_lon = a->matches[0].lon;
                p.top1_lat = a->matches[0].lat;
                p.top1_score = a->matches[0].score;
                p.item.rank = a->truth_rank;
                p.item.error_m = a->truth_error_m;
                p.heading_deg = a->heading_deg;
                p.heading_source = a->heading_source;
                p.n_headings = a->n_headings;
                p.has_true_heading = j->has_t_heading;
                p.true_heading_deg = j->t_heading;
                p.heading_error_deg = a->heading_error_deg;
                p.item.radius_m = a->error_m;
                p.est_lon = a->lon;
                p.est_lat = a->lat;
                p.tile_error_m = a->truth_tile_error_m;
                p.prior = a->prior;
                p.refined = a->refined;
                p.refine_tiles = a->n_refine_tiles;
                rc = tg_geo_distance_m(ctx, a->truth_tile_lon, a->truth_tile_lat, a->truth_lon,
                                       a->truth_lat, &p.oracle_m);
                if (!rc && j->truth_from_csv && a->has_meta && a->meta.has_gps) {
                    p.item.has_gps = 1;
                    rc = tg_geo_distance_m(ctx, a->meta.lon_deg, a->meta.lat_deg, a->truth_lon,
                                           a->truth_lat, &p.item.gps_error_m);
                }
                if (!rc)
                rc = tg_locator_tile_covers(r.loc, ctx, p.top1_tile_id, p.true_lon, p.true_lat,
                                            &p.item.hit);
            }
            p.file = j->file;
            j->file = NULL;
            if (!rc && rep->n_photos == cap) {
                size_t nc = cap ? cap * 2 : 64;
                tg_eval_photo *np = realloc(rep->photos, nc * sizeof *np);
                if (np) {
                    rep->photos = np;
                    cap = nc;
                } else {
                    rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
                }
            }
            if (rc) {
                free(p.file);
                free(p.error);
                goto done;
            }
            rep->photos[rep->n_photos++] = p;
        }
        done_n += n;
        if (opts->progress &&
            !opts->progress((double)done_n, (double)(total > done_n ? total : done_n), NULL,
                            opts->progress_user)) {
            rc = tg_set_error(ctx, TG_ECANCEL, "evaluation cancelled after %ld photos", done_n);
            goto done;
        }
    }
    /* the summary over the labelled photos */
    long n_lab = 0;
    for (size_t i = 0; i < rep->n_photos; i++) n_lab += rep->photos[i].labelled;
    if (n_lab == 0) {
        rc = tg_set_error(ctx, TG_ENOTFOUND,
                          "evaluation: none of the %zu photos has a known position (%ld without "
                          "GPS%s, %ld unreadable): give photos with GPS EXIF or --truth CSV",
                          rep->n_photos, rep->n_unlabelled, truth_csv ? " or --truth row" : "",
                          rep->n_failed);
        goto done;
    }
    items = malloc((size_t)n_lab * sizeof *items);
    if (!items) {
        rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
        goto done;
    }
    size_t m = 0;
    for (size_t i = 0; i < rep->n_photos; i++)
        if (rep->photos[i].labelled) items[m++] = rep->photos[i].item;
    rc = tg_eval_compute(ctx, items, m, rep->n_tiles, &rep->stats);
    if (!rc) rc = heading_medians(ctx, rep);
    if (!rc) {
        /* reuse items' error fields as scratch for the two medians */
        double *a = (double *)malloc((m ? m : 1) * 2 * sizeof *a), *b = a ? a + (m ? m : 1) : NULL;
        size_t nr = 0;
        if (!a) {
            rc = tg_set_error(ctx, TG_ENOMEM, "evaluation: out of memory");
            goto done;
        }
        for (size_t i = 0; i < rep->n_photos; i++) {
            const tg_eval_photo *p = &rep->photos[i];
            if (!p->labelled) continue;
            rep->n_refined += p->refined == TG_REFINED_RASTER;
            rep->n_refine_tiles += p->refine_tiles;
            if (p->item.rank != 1) continue;
            a[nr] = p->item.error_m;
            b[nr++] = p->oracle_m;
        }
        rep->n_right = (long)nr;
        rep->right_median_m = median(a, (long)nr);
        rep->right_oracle_median_m = median(b, (long)nr);
        free(a);
    }
done:
    free(items);
    tgb_truth_free(&tr);
    run_close(&r);
    tg_photo_list_free(list);
    if (rc) {
        tg_eval_report_free(rep);
        return rc;
    }
    *out = rep;
    return 0;
}

void tg_eval_report_free(tg_eval_report *rep)
{
    if (!rep) return;
    for (size_t i = 0; i < rep->n_photos; i++) {
        free(rep->photos[i].file);
        free(rep->photos[i].error);
    }
    free(rep->photos);
    free(rep);
}
