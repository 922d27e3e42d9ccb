/*
 * world.c - tg_world_generate: options, output layout, threads (see world.h).
 *
 * Order of work: validate the options, build the scene (layout.c), draw
 * every camera position from its own PRNG stream (panoramas, photos, pairs:
 * so that asking for more of one never moves another), render the aerial in
 * strips of 256 rows straight into the GeoTIFF, then the ground views in
 * parallel batches written in order, then truth.csv, pairs.csv and
 * world.json. Threads share the read-only scene; each has its own tracer.
 */
#include "config.h"
#include "world/world_out.h"

#include "base/gdal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>

#define PANO_Z 2.0          /* panorama camera height, m (a car roof mount) */
#define PHOTO_Z 1.7         /* hand-held photo height, m */
#define GROUND_ALT 200.0    /* ground elevation above sea level written to EXIF, m */
#define STRIP 256           /* aerial rows per GeoTIFF write (= tile height) */

enum { STREAM_PANO = 2, STREAM_PHOTO = 3, STREAM_PAIR = 4, STREAM_PANO_ROT = 5 };
/* GPS noise streams: their own, so that noise never moves a camera. */
enum { STREAM_GPS_NOISE = 0x677073 };

void tg_world_options_default(tg_world_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->size_m = 1500;
    o->gsd_m = 0.5;
    o->utm_epsg = 32633;
    o->center_e = 500000;
    o->center_n = 5340000;
    o->sun_azimuth_deg = -1;
    o->sun_elevation_deg = -1;
    o->write_aerial = 1;
    o->n_panos = 100;
    o->pano_w = 512;
    o->pano_h = 256;
    o->n_photos = 10;
    o->photo_w = 640;
    o->photo_h = 480;
    o->photo_fov_deg = 90;
    o->supersample = 2;
    o->jpeg_quality = 92;
    o->n_pairs = 0;
    o->tile_m = 64;
    o->tile_px = 128;
    o->edge_margin_m = -1;
    o->n_threads = 0;
}

/* ---- validation -------------------------------------------------------------------- */

static int bad(tg_ctx *ctx, const char *what) { return tg_set_error(ctx, TG_EINVAL, "world: %s", what); }

static int check_options(tg_ctx *ctx, const tg_world_options *o)
{
    char m[256];
#define RANGE(cond, ...)                     \
    do {                                     \
        if (!(cond)) {                       \
            snprintf(m, sizeof(m), __VA_ARGS__); \
            return bad(ctx, m);              \
        }                                    \
    } while (0)
    if (!o->out_dir || !*o->out_dir) return bad(ctx, "out_dir is required (the directory to write the world to)");
    RANGE(o->size_m >= 100 && o->size_m <= 6000, "size_m %g is out of range: expected 100..6000 m", o->size_m);
    RANGE(o->gsd_m >= 0.05 && o->gsd_m <= 5, "gsd_m %g is out of range: expected 0.05..5 m per pixel", o->gsd_m);
    double px = o->size_m / o->gsd_m;
    RANGE(fabs(px - floor(px + 0.5)) <= 1e-6 * px,
          "size_m / gsd_m = %.6g is not a whole number of pixels: choose a size_m that is a multiple of gsd_m",
          px);
    RANGE(px <= 100000, "the aerial would be %.0f pixels wide: at most 100000 (raise gsd_m or lower size_m)", px);
    RANGE((o->utm_epsg >= 32601 && o->utm_epsg <= 32660) || (o->utm_epsg >= 32701 && o->utm_epsg <= 32760),
          "utm_epsg %d is not a WGS 84 / UTM zone: expected 32601..32660 (north) or 32701..32760 (south)",
          o->utm_epsg);
    RANGE(o->center_e - o->size_m / 2 >= 100000 && o->center_e + o->size_m / 2 <= 900000,
          "center_e %.3f puts the world outside UTM eastings 100000..900000", o->center_e);
    RANGE(o->center_n - o->size_m / 2 >= 0 && o->center_n + o->size_m / 2 <= 9900000,
          "center_n %.3f puts the world outside UTM northings 0..9900000", o->center_n);
    RANGE(o->n_panos >= 0 && o->n_panos <= 1000000, "n_panos %d is out of range: expected 0..1000000", o->n_panos);
    RANGE(o->n_photos >= 0 && o->n_photos <= 1000000, "n_photos %d is out of range: expected 0..1000000",
          o->n_photos);
    RANGE(o->n_pairs >= 0 && o->n_pairs <= 10000000, "n_pairs %d is out of range: expected 0..10000000", o->n_pairs);
    RANGE(o->pano_w >= 16 && o->pano_w <= 16384 && o->pano_w % 2 == 0 && o->pano_h * 2 == o->pano_w,
          "panorama size %dx%d: expected an even width 16..16384 and height = width / 2 (360 x 180 degrees)",
          o->pano_w, o->pano_h);
    RANGE(o->photo_w >= 16 && o->photo_w <= 16384 && o->photo_h >= 16 && o->photo_h <= 16384,
          "photo size %dx%d is out of range: expected 16..16384 pixels each way", o->photo_w, o->photo_h);
    RANGE(o->photo_fov_deg >= 10 && o->photo_fov_deg <= 150, "photo_fov_deg %g is out of range: expected 10..150",
          o->photo_fov_deg);
    RANGE(o->gps_noise_m >= 0 && o->gps_noise_m <= 1000, "gps_noise_m %g is out of range: expected 0..1000 m",
          o->gps_noise_m);
    RANGE(o->supersample >= 1 && o->supersample <= 4, "supersample %d is out of range: expected 1..4",
          o->supersample);
    RANGE(o->jpeg_quality >= 1 && o->jpeg_quality <= 100, "jpeg_quality %d is out of range: expected 1..100",
          o->jpeg_quality);
    RANGE(o->tile_m > 0 && o->tile_m <= o->size_m, "tile_m %g is out of range: expected 0 < tile_m <= size_m (%g)",
          o->tile_m, o->size_m);
    RANGE(o->tile_px >= 8 && o->tile_px <= 4096, "tile_px %d is out of range: expected 8..4096", o->tile_px);
    RANGE(o->edge_margin_m < 0 || o->edge_margin_m < o->size_m / 2 - 10,
          "edge_margin_m %g leaves no room: expected less than size_m / 2 - 10", o->edge_margin_m);
    RANGE(o->sun_azimuth_deg < 360, "sun_azimuth_deg %g is out of range: expected 0..360 (or < 0: from the seed)",
          o->sun_azimuth_deg);
    RANGE(o->sun_elevation_deg <= 90, "sun_elevation_deg %g is out of range: expected 0..90 (or <= 0: from the seed)",
          o->sun_elevation_deg);
    RANGE(o->n_threads >= 0, "n_threads %d: expected 0 (as the context) or more", o->n_threads);
#undef RANGE
    return 0;
}

/* ---- threads ------------------------------------------------------------------------- */

typedef int (*job_fn)(void *arg, int job, int thread);

typedef struct pool {
    job_fn fn;
    void *arg;
    int n_jobs, next, rc;
    pthread_mutex_t mu;
} pool;

typedef struct worker {
    pool *p;
    int id;
} worker;

static void *work(void *u)
{
    worker *w = u;
    pool *p = w->p;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int j = p->rc ? p->n_jobs : p->next++;
        pthread_mutex_unlock(&p->mu);
        if (j >= p->n_jobs) break;
        int rc = p->fn(p->arg, j, w->id);
        if (rc) {
            pthread_mutex_lock(&p->mu);
            if (!p->rc) p->rc = rc;
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Run fn(arg, job, thread) for job in [0, n_jobs) on n_threads threads. */
static int run_jobs(int n_threads, int n_jobs, job_fn fn, void *arg)
{
    pool p = {fn, arg, n_jobs, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    if (n_threads > n_jobs) n_threads = n_jobs;
    if (n_threads <= 1) {
        worker w = {&p, 0};
        work(&w);
        return p.rc;
    }
    pthread_t th[64];
    worker ws[64];
    if (n_threads > 64) n_threads = 64;
    int started = 0;
    for (int i = 1; i < n_threads; i++) {
        ws[i].p = &p;
        ws[i].id = i;
        if (pthread_create(&th[i], NULL, work, &ws[i]) != 0) break;
        started = i;
    }
    ws[0].p = &p;
    ws[0].id = 0;
    work(&ws[0]);
    for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    return p.rc;
}

/* ---- generation state ---------------------------------------------------------------------- */

typedef struct shot {
    double x, y;            /* local position */
    double e, n;            /* UTM */
    double lon, lat;
    double gps_lon, gps_lat; /* what the EXIF says (lon, lat unless gps_noise_m > 0) */
    double gps_hpe_m;        /* its stated GPSHPositioningError, 0 = none written */
    double heading_grid;    /* deg, clockwise from grid north (photos) */
    double heading_true;    /* deg, clockwise from true north (image centre) */
    int roll;               /* panoramas with pano_rotate: columns rolled (0 = north-aligned) */
} shot;

typedef struct gen {
    tg_ctx *ctx;
    const tg_world_options *o;
    wscene *sc;
    wgeo geo;
    wtracer *tr;
    int n_threads;
    double e0, n0;          /* UTM of the local origin (south-west corner) */
    shot *panos, *photos, *pairs;
    /* per batch */
    unsigned char **buf;    /* one image per batch slot */
    unsigned char **buf2;   /* pairs: aerial crops */
    int batch0;             /* first item of the current batch */
    /* aerial strip */
    unsigned char *strip;
    int strip_row0, strip_rows, aer_w, aer_h;
    double done, total;
    char path[4096];
} gen;

static int progress(gen *g, const char *msg)
{
    g->done += 1;
    if (g->o->progress && !g->o->progress(g->done, g->total, msg, g->o->progress_user))
        return tg_set_error(g->ctx, TG_ECANCEL, "world: cancelled by the caller after %s", msg);
    return 0;
}

static int make_dir(tg_ctx *ctx, const char *path)
{
    if (mkdir(path, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    if (e == EEXIST) return tg_set_error(ctx, TG_EIO, "world: '%s' exists and is not a directory", path);
    return tg_set_error(ctx, TG_EIO, "world: cannot create directory '%s': %s (does its parent exist?)", path,
                        strerror(e));
}

static const char *join(gen *g, const char *a, const char *b)
{
    snprintf(g->path, sizeof(g->path), "%s/%s", a, b);
    return g->path;
}

static int digits(int n)
{
    int d = 4;
    for (int v = 10000; v <= n - 1 && d < 9; v *= 10) d++;
    return d;
}

static int place(gen *g, shot *s, int n, uint64_t stream, int sidewalk, int random_heading)
{
    const tg_world_options *o = g->o;
    wrng r, gn;
    wrng_seed(&r, o->seed, stream);
    wrng_seed(&gn, o->seed, STREAM_GPS_NOISE + stream);
    double margin = o->edge_margin_m >= 0 ? o->edge_margin_m : (o->tile_m / 2 > 10 ? o->tile_m / 2 : 10);
    for (int i = 0; i < n; i++) {
        if (wpick_street_point(g->sc, &r, sidewalk, margin, o->size_m - margin, &s[i].x, &s[i].y))
            return tg_set_error(g->ctx, TG_EINTERNAL,
                                "world: no street position found inside the %g m margin of a %g m world (seed %llu):"
                                " lower edge_margin_m or raise size_m",
                                margin, o->size_m, (unsigned long long)o->seed);
        s[i].heading_grid = random_heading ? wrng_range(&r, 0, 360) : 0;
        s[i].e = g->e0 + s[i].x;
        s[i].n = g->n0 + s[i].y;
        double conv;
        int rc = wgeo_lonlat(g->ctx, &g->geo, s[i].e, s[i].n, &s[i].lon, &s[i].lat);
        if (!rc) rc = wgeo_grid_to_true(g->ctx, &g->geo, s[i].e, s[i].n, &conv);
        if (rc) return rc;
        double h = s[i].heading_grid + conv;
        h = fmod(h, 360.0);
        if (h < 0) h += 360;
        if (h >= 359.99995) h = 0; /* prints as 360.0000 otherwise */
        s[i].heading_true = h;
        s[i].gps_lon = s[i].lon;
        s[i].gps_lat = s[i].lat;
        s[i].gps_hpe_m = 0;
        if (o->gps_noise_m > 0) {
            /* A city's GPS: heavy-tailed. With probability 0.8 a clear fix,
             * a 2-D normal of sigma 0.73 M; else multipath, sigma 2.5 M: the
             * median distance is M (0.8 P(R1 < M) + 0.2 P(R2 < M) = 0.50).
             * The fix states its own component's 68 % radius (1.51 sigma) as
             * GPSHPositioningError, as phones report a worse accuracy in
             * street canyons. */
            double sigma = wrng_u(&gn) < 0.8 ? 0.73 * o->gps_noise_m : 2.5 * o->gps_noise_m;
            /* normal deviates as sums of 12 uniforms - 6 (Irwin-Hall; exact
             * arithmetic only, so the same on every machine) */
            double nx = -6, ny = -6;
            for (int k = 0; k < 12; k++) {
                nx += wrng_u(&gn);
                ny += wrng_u(&gn);
            }
            double ge = s[i].e + sigma * nx, gnn = s[i].n + sigma * ny;
            rc = wgeo_lonlat(g->ctx, &g->geo, ge, gnn, &s[i].gps_lon, &s[i].gps_lat);
            if (rc) return rc;
            s[i].gps_hpe_m = 1.51 * sigma;
        }
    }
    return 0;
}

/* pano_rotate: a whole number of columns per panorama from its own stream
 * (positions unchanged), and the true heading of the centre column. */
static int rotate_panos(gen *g)
{
    const tg_world_options *o = g->o;
    wrng r;
    wrng_seed(&r, o->seed, STREAM_PANO_ROT);
    for (int i = 0; i < o->n_panos; i++) {
        shot *s = &g->panos[i];
        s->roll = (int)(wrng_next(&r) % (uint64_t)o->pano_w);
        double conv;
        int rc = wgeo_grid_to_true(g->ctx, &g->geo, s->e, s->n, &conv);
        if (rc) return rc;
        double h = fmod(360.0 * s->roll / o->pano_w + conv, 360.0);
        if (h < 0) h += 360;
        if (h >= 359.99995) h = 0;
        s->heading_grid = 360.0 * s->roll / o->pano_w;
        s->heading_true = h;
    }
    return 0;
}

/* ---- the aerial ------------------------------------------------------------------------------ */

#define AER_ROWS_PER_JOB 16

static int aerial_job(void *arg, int job, int thread)
{
    gen *g = arg;
    int r0 = g->strip_row0 + job * AER_ROWS_PER_JOB, r1 = r0 + AER_ROWS_PER_JOB;
    if (r1 > g->strip_row0 + g->strip_rows) r1 = g->strip_row0 + g->strip_rows;
    unsigned char *dst = g->strip + (size_t)(r0 - g->strip_row0) * (size_t)g->aer_w * 3;
    return wrender_aerial_rows(&g->tr[thread], 0, g->o->size_m, g->o->gsd_m, g->aer_w, g->aer_h, r0, r1, dst);
}

static int write_aerial(gen *g)
{
    const tg_world_options *o = g->o;
    const char *path = join(g, o->out_dir, "aerial.tif");
    char pathc[4096];
    snprintf(pathc, sizeof(pathc), "%s", path);
    double gt[6] = {g->e0, o->gsd_m, 0, g->n0 + o->size_m, 0, -o->gsd_m};
    void *ds = NULL;
    int rc = waerial_open(g->ctx, pathc, g->aer_w, g->aer_h, &g->geo, gt, &ds);
    if (rc) return rc;
    g->strip = malloc((size_t)g->aer_w * STRIP * 3);
    if (!g->strip) {
        waerial_close(g->ctx, ds, pathc);
        return tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory for a %d x %d aerial strip", g->aer_w, STRIP);
    }
    for (int row0 = 0; row0 < g->aer_h; row0 += STRIP) {
        g->strip_row0 = row0;
        g->strip_rows = row0 + STRIP <= g->aer_h ? STRIP : g->aer_h - row0;
        int jobs = (g->strip_rows + AER_ROWS_PER_JOB - 1) / AER_ROWS_PER_JOB;
        if (run_jobs(g->n_threads, jobs, aerial_job, g)) {
            rc = tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory rendering the aerial");
            break;
        }
        if ((rc = waerial_write(g->ctx, ds, pathc, row0, g->aer_w, g->strip_rows, g->strip))) break;
        if ((rc = progress(g, "aerial"))) break;
    }
    free(g->strip);
    g->strip = NULL;
    int rc2 = waerial_close(g->ctx, ds, pathc);
    return rc ? rc : rc2;
}

/* ---- ground views --------------------------------------------------------------------------- */

static int pano_job(void *arg, int job, int thread)
{
    gen *g = arg;
    const shot *s = &g->panos[g->batch0 + job];
    int rc = wrender_pano(&g->tr[thread], s->x, s->y, PANO_Z, g->o->pano_w, g->o->pano_h, g->o->supersample,
                          g->buf[job], NULL);
    if (rc || !s->roll) return rc;
    /* pano_rotate: the centre column looks at grid heading 360 roll / W, so
     * column c shows what north-aligned column (c + roll) mod W shows */
    int w = g->o->pano_w, h = g->o->pano_h;
    unsigned char *row = malloc((size_t)w * 3);
    if (!row) return TG_ENOMEM;
    for (int r = 0; r < h; r++) {
        unsigned char *p = g->buf[job] + (size_t)r * w * 3;
        memcpy(row, p, (size_t)w * 3);
        for (int c = 0; c < w; c++) memcpy(p + (size_t)c * 3, row + (size_t)((c + s->roll) % w) * 3, 3);
    }
    free(row);
    return 0;
}

static int photo_job(void *arg, int job, int thread)
{
    gen *g = arg;
    const shot *s = &g->photos[g->batch0 + job];
    wrender_photo(&g->tr[thread], s->x, s->y, PHOTO_Z, s->heading_grid, g->o->photo_fov_deg, g->o->photo_w,
                  g->o->photo_h, g->o->supersample, g->buf[job]);
    return 0;
}

/* Aerial crop centred on (x, y): tile_px^2 pixels over tile_m; rendered at
 * k x k samples per pixel (k = ceil(tile gsd / gsd_m)) and box averaged. */
static int crop(wtracer *tr, const tg_world_options *o, double x, double y, unsigned char *out)
{
    double tg = o->tile_m / o->tile_px;
    int k = (int)ceil(tg / o->gsd_m - 1e-9);
    if (k < 1) k = 1;
    int n = o->tile_px * k;
    double x0 = x - o->tile_m / 2, ytop = y + o->tile_m / 2;
    if (k == 1) return wrender_aerial_rows(tr, x0, ytop, tg, n, n, 0, n, out);
    unsigned char *fine = malloc((size_t)n * (size_t)n * 3);
    if (!fine) return TG_ENOMEM;
    int rc = wrender_aerial_rows(tr, x0, ytop, tg / k, n, n, 0, n, fine);
    if (!rc)
        for (int r = 0; r < o->tile_px; r++)
            for (int c = 0; c < o->tile_px; c++)
                for (int b = 0; b < 3; b++) {
                    unsigned sum = 0;
                    for (int j = 0; j < k; j++)
                        for (int i = 0; i < k; i++)
                            sum += fine[(((size_t)(r * k + j)) * (size_t)n + (size_t)(c * k + i)) * 3 + (size_t)b];
                    out[((size_t)r * (size_t)o->tile_px + (size_t)c) * 3 + (size_t)b] =
                        (unsigned char)((sum + (unsigned)(k * k) / 2) / (unsigned)(k * k));
                }
    free(fine);
    return rc;
}

static int pair_job(void *arg, int job, int thread)
{
    gen *g = arg;
    const shot *s = &g->pairs[g->batch0 + job];
    int rc = wrender_pano(&g->tr[thread], s->x, s->y, PANO_Z, g->o->pano_w, g->o->pano_h, g->o->supersample,
                          g->buf[job], NULL);
    if (!rc) rc = crop(&g->tr[thread], g->o, s->x, s->y, g->buf2[job]);
    return rc;
}

static int alloc_batch(gen *g, int batch, size_t bytes, size_t bytes2)
{
    g->buf = calloc((size_t)batch, sizeof(*g->buf));
    g->buf2 = calloc((size_t)batch, sizeof(*g->buf2));
    if (!g->buf || !g->buf2) return TG_ENOMEM;
    for (int i = 0; i < batch; i++) {
        g->buf[i] = malloc(bytes);
        if (!g->buf[i]) return TG_ENOMEM;
        if (bytes2 && !(g->buf2[i] = malloc(bytes2))) return TG_ENOMEM;
    }
    return 0;
}

static void free_batch(gen *g, int batch)
{
    for (int i = 0; g->buf && i < batch; i++) free(g->buf[i]);
    for (int i = 0; g->buf2 && i < batch; i++) free(g->buf2[i]);
    free(g->buf);
    free(g->buf2);
    g->buf = g->buf2 = NULL;
}

static int write_views(gen *g, int kind)
{
    const tg_world_options *o = g->o;
    int n = kind == 0 ? o->n_panos : kind == 1 ? o->n_photos : o->n_pairs;
    if (!n) return 0;
    int w = kind == 1 ? o->photo_w : o->pano_w, h = kind == 1 ? o->photo_h : o->pano_h;
    int batch = g->n_threads * 2;
    if (batch > n) batch = n;
    size_t b2 = kind == 2 ? (size_t)o->tile_px * (size_t)o->tile_px * 3 : 0;
    int rc = alloc_batch(g, batch, (size_t)w * (size_t)h * 3, b2);
    if (rc) {
        free_batch(g, batch);
        return tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory for %d images of %d x %d", batch, w, h);
    }
    const char *dir = kind == 0 ? "panos" : kind == 1 ? "photos" : "pairs";
    int nd = kind == 2 ? (digits(n) > 6 ? digits(n) : 6) : digits(n);
    job_fn fn = kind == 0 ? pano_job : kind == 1 ? photo_job : pair_job;
    double f35 = 0;
    /* the 35 mm equivalent is defined on the frame's diagonal (43.27 mm; EXIF
     * 2.32 FocalLengthIn35mmFilm, camera.h): half the equivalent frame's width
     * for this aspect over tan(hfov / 2) */
    if (kind == 1)
        f35 = 21.6333 * w / sqrt((double)w * w + (double)h * h) / tan(0.5 * o->photo_fov_deg * WDEG);
    char *xmp = kind == 0 ? wgpano_xmp(w, h, 0) : NULL;
    for (g->batch0 = 0; !rc && g->batch0 < n; g->batch0 += batch) {
        int nb = n - g->batch0 < batch ? n - g->batch0 : batch;
        if (run_jobs(g->n_threads, nb, fn, g)) {
            rc = tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory rendering %s", dir);
            break;
        }
        for (int k = 0; !rc && k < nb; k++) {
            int i = g->batch0 + k;
            const shot *s = kind == 0 ? &g->panos[i] : kind == 1 ? &g->photos[i] : &g->pairs[i];
            char name[64], path[4096];
            if (kind == 2) {
                snprintf(name, sizeof(name), "pairs/ground/%0*d.jpg", nd, i);
                snprintf(path, sizeof(path), "%s/%s", o->out_dir, name);
                rc = wwrite_jpeg(g->ctx, path, g->buf[k], w, h, o->jpeg_quality, NULL, NULL);
                if (rc) break;
                snprintf(name, sizeof(name), "pairs/aerial/%0*d.png", nd, i);
                snprintf(path, sizeof(path), "%s/%s", o->out_dir, name);
                rc = wwrite_png(g->ctx, path, g->buf2[k], o->tile_px, o->tile_px);
            } else {
                snprintf(name, sizeof(name), "%s/%0*d.jpg", dir, nd, i);
                snprintf(path, sizeof(path), "%s/%s", o->out_dir, name);
                /* a rotated panorama keeps its heading to itself (NAN: none written) */
                double hd = kind == 0 && o->pano_rotate ? NAN : s->heading_true;
                char **md = wexif_items(s->gps_lon, s->gps_lat, GROUND_ALT + (kind == 0 ? PANO_Z : PHOTO_Z),
                                        hd, f35, o->seed, s->gps_hpe_m);
                if (kind == 0) {
                    free(xmp);
                    xmp = wgpano_xmp(w, h, hd);
                }
                if (!md || (kind == 0 && !xmp)) {
                    wexif_free(md);
                    rc = tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory writing '%s'", path);
                    break;
                }
                rc = wwrite_jpeg(g->ctx, path, g->buf[k], w, h, o->jpeg_quality, md, xmp);
                wexif_free(md);
            }
            if (!rc) rc = progress(g, dir);
        }
    }
    free(xmp);
    free_batch(g, batch);
    return rc;
}

/* ---- index files ------------------------------------------------------------------------------ */

static int write_csvs(gen *g)
{
    const tg_world_options *o = g->o;
    const char *path = join(g, o->out_dir, "truth.csv");
    FILE *f = fopen(path, "w");
    if (!f) return tg_set_error(g->ctx, TG_EIO, "world: cannot create '%s': %s", path, strerror(errno));
    fprintf(f, "file,lon,lat,easting,northing,heading\n");
    int ndp = digits(o->n_panos), ndf = digits(o->n_photos);
    for (int i = 0; i < o->n_panos; i++) {
        const shot *s = &g->panos[i];
        fprintf(f, "panos/%0*d.jpg,%.9f,%.9f,%.3f,%.3f,%.4f\n", ndp, i, s->lon, s->lat, s->e, s->n, s->heading_true);
    }
    for (int i = 0; i < o->n_photos; i++) {
        const shot *s = &g->photos[i];
        fprintf(f, "photos/%0*d.jpg,%.9f,%.9f,%.3f,%.3f,%.4f\n", ndf, i, s->lon, s->lat, s->e, s->n,
                s->heading_true);
    }
    if (fclose(f) != 0) return tg_set_error(g->ctx, TG_EIO, "world: cannot write '%s' (disk full?)", path);
    if (!o->n_pairs) return 0;
    path = join(g, o->out_dir, "pairs.csv");
    f = fopen(path, "w");
    if (!f) return tg_set_error(g->ctx, TG_EIO, "world: cannot create '%s': %s", path, strerror(errno));
    fprintf(f, "id,ground,aerial,lon,lat,easting,northing\n");
    int nd = digits(o->n_pairs) > 6 ? digits(o->n_pairs) : 6;
    for (int i = 0; i < o->n_pairs; i++) {
        const shot *s = &g->pairs[i];
        fprintf(f, "%d,pairs/ground/%0*d.jpg,pairs/aerial/%0*d.png,%.9f,%.9f,%.3f,%.3f\n", i, nd, i, nd, i, s->lon,
                s->lat, s->e, s->n);
    }
    if (fclose(f) != 0) return tg_set_error(g->ctx, TG_EIO, "world: cannot write '%s' (disk full?)", path);
    return 0;
}

static int write_json(gen *g)
{
    const tg_world_options *o = g->o;
    const wscene *sc = g->sc;
    double clon, clat, conv;
    int rc = wgeo_lonlat(g->ctx, &g->geo, o->center_e, o->center_n, &clon, &clat);
    if (!rc) rc = wgeo_grid_to_true(g->ctx, &g->geo, o->center_e, o->center_n, &conv);
    if (rc) return rc;
    char crs[32];
    snprintf(crs, sizeof(crs), "EPSG:%d", o->utm_epsg);
    json_t *gt = json_pack("[f,f,f,f,f,f]", g->e0, o->gsd_m, 0.0, g->n0 + o->size_m, 0.0, -o->gsd_m);
    json_t *seed = o->seed <= (uint64_t)INT64_MAX ? json_integer((json_int_t)o->seed)
                                                 : json_sprintf("%llu", (unsigned long long)o->seed);
    json_t *j = json_pack(
        "{s:s, s:i, s:o, s:f, s:f, s:i, s:i, s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:o, s:b, s:f,"
        " s:{s:f, s:f},"
        " s:{s:i, s:i, s:f, s:s, s:s, s:s, s:s, s:i},"
        " s:{s:i, s:i, s:f, s:f, s:i},"
        " s:{s:f, s:i, s:s, s:s, s:s, s:s},"
        " s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:f}",
        "generator", "transgeo world", "version", TG_WORLD_VERSION, "seed", seed, "size_m", o->size_m, "gsd_m",
        o->gsd_m, "width", g->aer_w, "height", g->aer_h, "crs", crs, "epsg", o->utm_epsg, "center_e", o->center_e,
        "center_n", o->center_n, "center_lon", clon, "center_lat", clat, "grid_to_true_deg", conv + 0.0, "geotransform", gt,
        "aerial", o->write_aerial, "ground_altitude_m", GROUND_ALT,
        "sun", "azimuth_deg", sc->sun_az_deg, "elevation_deg", sc->sun_el_deg,
        "panorama", "width", o->pano_w, "height", o->pano_h, "camera_height_m", PANO_Z, "projection",
        "equirectangular", "north", "centre column (u = W/2)", "azimuth_deg", "360 * u / W - 180, u = column + 0.5",
        "elevation_deg", "90 - 180 * v / H, v = row + 0.5", "supersample", o->supersample,
        "photo", "width", o->photo_w, "height", o->photo_h, "hfov_deg", o->photo_fov_deg, "camera_height_m", PHOTO_Z,
        "supersample", o->supersample,
        "pairs", "tile_m", o->tile_m, "tile_px", o->tile_px, "index", "pairs.csv", "ground", "pairs/ground/*.jpg",
        "aerial", "pairs/aerial/*.png", "aerial_north", "up",
        "counts", "panos", o->n_panos, "photos", o->n_photos, "pairs", o->n_pairs, "buildings", sc->n_houses, "cars",
        sc->n_cars, "trees", sc->n_trees, "roads", sc->n_roads, "gps_noise_m", o->gps_noise_m);
    if (!j) return tg_set_error(g->ctx, TG_ENOMEM, "world: out of memory building world.json");
    const char *path = join(g, o->out_dir, "world.json");
    rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (rc) return tg_set_error(g->ctx, TG_EIO, "world: cannot write '%s'", path);
    FILE *f = fopen(path, "a"); /* a final newline, as text files have */
    if (f) {
        fputc('\n', f);
        fclose(f);
    }
    return 0;
}

/* ---- entry ------------------------------------------------------------------------------------ */

int tg_world_generate(tg_ctx *ctx, const tg_world_options *o)
{
    if (!o) return tg_set_error(ctx, TG_EINVAL, "world: options are NULL (use tg_world_options_default)");
    int rc = check_options(ctx, o);
    if (rc) return rc;
    gen g;
    memset(&g, 0, sizeof(g));
    g.ctx = ctx;
    g.o = o;
    g.n_threads = o->n_threads > 0 ? o->n_threads : tg_ctx_threads(ctx);
    if (g.n_threads > 64) g.n_threads = 64;
    g.e0 = o->center_e - o->size_m / 2;
    g.n0 = o->center_n - o->size_m / 2;
    g.aer_w = g.aer_h = (int)floor(o->size_m / o->gsd_m + 0.5);
    tg_gdal_init();
    if ((rc = wgeo_init(ctx, &g.geo, o->utm_epsg))) return rc;
    if ((rc = make_dir(ctx, o->out_dir))) goto done;
    if (o->n_panos && (rc = make_dir(ctx, join(&g, o->out_dir, "panos")))) goto done;
    if (o->n_photos && (rc = make_dir(ctx, join(&g, o->out_dir, "photos")))) goto done;
    if (o->n_pairs) {
        if ((rc = make_dir(ctx, join(&g, o->out_dir, "pairs")))) goto done;
        if ((rc = make_dir(ctx, join(&g, o->out_dir, "pairs/ground")))) goto done;
        if ((rc = make_dir(ctx, join(&g, o->out_dir, "pairs/aerial")))) goto done;
    }
    if ((rc = wscene_build(ctx, o, &g.sc))) goto done;
    g.tr = calloc((size_t)g.n_threads, sizeof(wtracer));
    if (!g.tr) goto oom;
    for (int i = 0; i < g.n_threads; i++)
        if (wtracer_init(&g.tr[i], g.sc)) goto oom;
    g.panos = calloc((size_t)o->n_panos + 1, sizeof(shot));
    g.photos = calloc((size_t)o->n_photos + 1, sizeof(shot));
    g.pairs = calloc((size_t)o->n_pairs + 1, sizeof(shot));
    if (!g.panos || !g.photos || !g.pairs) goto oom;
    if ((rc = place(&g, g.panos, o->n_panos, STREAM_PANO, 0, 0))) goto done;
    if (o->pano_rotate && (rc = rotate_panos(&g))) goto done;
    if ((rc = place(&g, g.photos, o->n_photos, STREAM_PHOTO, 1, 1))) goto done;
    if ((rc = place(&g, g.pairs, o->n_pairs, STREAM_PAIR, 0, 0))) goto done;
    g.total = (o->write_aerial ? (g.aer_h + STRIP - 1) / STRIP : 0) + o->n_panos + o->n_photos + o->n_pairs;
    if (o->write_aerial && (rc = write_aerial(&g))) goto done;
    if ((rc = write_views(&g, 0))) goto done;
    if ((rc = write_views(&g, 1))) goto done;
    if ((rc = write_views(&g, 2))) goto done;
    if ((rc = write_csvs(&g))) goto done;
    rc = write_json(&g);
    goto done;
oom:
    rc = tg_set_error(ctx, TG_ENOMEM, "world: out of memory (size %g m, %d threads)", o->size_m, g.n_threads);
done:
    if (g.tr)
        for (int i = 0; i < g.n_threads; i++) wtracer_free(&g.tr[i]);
    free(g.tr);
    free(g.panos);
    free(g.photos);
    free(g.pairs);
    wscene_free(g.sc);
    wgeo_free(&g.geo);
    return rc;
}
