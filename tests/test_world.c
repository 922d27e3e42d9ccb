/*
 * test_world.c - the demo-world generator (src/world/): determinism (two
 * runs, thread counts, a committed hash of the aerial pixels), the GeoTIFF's
 * georeferencing, EXIF GPS / GPano XMP of every panorama against truth.csv,
 * pairs, world.json, the panorama convention (a building seen at the column
 * its azimuth predicts, in its facade colour), option errors, cancellation,
 * and the exact-arithmetic math. Timings are printed, never asserted.
 */
#include "config.h"
#include "tap.h"
#include "transgeo/transgeo.h"
#include "world/world_int.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>
#include <jansson.h>
#include <ogr_srs_api.h>

/* FNV-1a 64 of the aerial's RGB pixels (pixel-interleaved, row-major) for
 * small_options(): the scene and the aerial renderer use exact arithmetic
 * only, so this must hold on every platform. Update it (and bump
 * TG_WORLD_VERSION) only when the generator is changed on purpose. */
#define EXPECTED_AERIAL_HASH 0x897d0ce6eaecec92ULL

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void small_options(tg_world_options *o, const char *dir)
{
    tg_world_options_default(o);
    o->seed = 20240601;
    o->size_m = 200;
    o->gsd_m = 0.5;
    o->n_panos = 3;
    o->pano_w = 256;
    o->pano_h = 128;
    o->n_photos = 2;
    o->photo_w = 160;
    o->photo_h = 120;
    o->supersample = 1;
    o->n_pairs = 2;
    o->tile_m = 40;
    o->tile_px = 80;
    o->n_threads = 2;
    o->out_dir = dir;
}

static const char *FILES[] = {
    "aerial.tif", "panos/0000.jpg", "panos/0001.jpg", "panos/0002.jpg", "photos/0000.jpg", "photos/0001.jpg",
    "pairs/ground/000000.jpg", "pairs/ground/000001.jpg", "pairs/aerial/000000.png", "pairs/aerial/000001.png",
    "truth.csv", "pairs.csv", "world.json", NULL};

static uint64_t aerial_hash(const char *dir, int *w, int *h)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/aerial.tif", dir);
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    if (!ds) return 0;
    *w = GDALGetRasterXSize(ds);
    *h = GDALGetRasterYSize(ds);
    unsigned char *buf = malloc((size_t)*w * (size_t)*h * 3);
    uint64_t hv = 0;
    if (buf && GDALDatasetRasterIO(ds, GF_Read, 0, 0, *w, *h, buf, *w, *h, GDT_Byte, 3, NULL, 3, (GSpacing)*w * 3,
                                   1) == CE_None)
        hv = fnv1a(0xcbf29ce484222325ULL, buf, (size_t)*w * (size_t)*h * 3);
    free(buf);
    GDALClose(ds);
    return hv;
}

/* ---- truth.csv -------------------------------------------------------------------------- */

typedef struct row {
    char file[64];
    double lon, lat, e, n, heading;
} row;

static int read_truth(const char *dir, row *rows, int max)
{
    char p[4096], line[512];
    snprintf(p, sizeof(p), "%s/truth.csv", dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    int n = 0;
    if (!fgets(line, sizeof(line), f) || strcmp(line, "file,lon,lat,easting,northing,heading\n")) {
        fclose(f);
        return -2;
    }
    while (n < max && fgets(line, sizeof(line), f)) {
        row *r = &rows[n];
        char *c = strchr(line, ',');
        if (!c || c - line >= (long)sizeof(r->file)) break;
        memcpy(r->file, line, (size_t)(c - line));
        r->file[c - line] = 0;
        if (sscanf(c + 1, "%lf,%lf,%lf,%lf,%lf", &r->lon, &r->lat, &r->e, &r->n, &r->heading) != 5) break;
        n++;
    }
    fclose(f);
    return n;
}

/* "(48) (12) (34.567891)" -> degrees */
static double parse_dms(const char *s)
{
    double d = NAN, m = NAN, sec = NAN;
    if (!s || sscanf(s, "(%lf) (%lf) (%lf)", &d, &m, &sec) != 3) return NAN;
    return d + m / 60 + sec / 3600;
}

static double parse_paren(const char *s)
{
    double v = NAN;
    if (!s || sscanf(s, "(%lf)", &v) != 1) return NAN;
    return v;
}

static void check_photo_metadata(const char *dir, const row *r)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, r->file);
    int pano = strncmp(r->file, "panos/", 6) == 0;
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    if (!TAP_OK(ds != NULL, "%s opens", r->file)) return;
    double lat = parse_dms(GDALGetMetadataItem(ds, "EXIF_GPSLatitude", NULL));
    double lon = parse_dms(GDALGetMetadataItem(ds, "EXIF_GPSLongitude", NULL));
    const char *latref = GDALGetMetadataItem(ds, "EXIF_GPSLatitudeRef", NULL);
    const char *lonref = GDALGetMetadataItem(ds, "EXIF_GPSLongitudeRef", NULL);
    if (latref && latref[0] == 'S') lat = -lat;
    if (lonref && lonref[0] == 'W') lon = -lon;
    TAP_NEAR(lat, r->lat, 1e-6, "%s: EXIF GPS latitude = truth.csv", r->file);
    TAP_NEAR(lon, r->lon, 1e-6, "%s: EXIF GPS longitude = truth.csv", r->file);
    double dir_deg = parse_paren(GDALGetMetadataItem(ds, "EXIF_GPSImgDirection", NULL));
    TAP_NEAR(dir_deg, r->heading, 1e-3, "%s: EXIF GPSImgDirection = truth.csv heading", r->file);
    double alt = parse_paren(GDALGetMetadataItem(ds, "EXIF_GPSAltitude", NULL));
    TAP_NEAR(alt, pano ? 202.0 : 201.7, 1e-6, "%s: EXIF GPSAltitude = ground 200 m + camera height", r->file);
    char **xmp = GDALGetMetadata(ds, "xml:XMP");
    const char *x = xmp && xmp[0] ? xmp[0] : "";
    if (pano) {
        TAP_OK(strstr(x, "GPano:ProjectionType=\"equirectangular\"") != NULL, "%s: GPano XMP, equirectangular",
               r->file);
        TAP_OK(strstr(x, "GPano:FullPanoWidthPixels=\"256\"") != NULL, "%s: GPano full width 256", r->file);
        TAP_EQ(GDALGetRasterXSize(ds), 256, "%s: width", r->file);
        TAP_EQ(GDALGetRasterYSize(ds), 128, "%s: height", r->file);
    } else {
        TAP_OK(strstr(x, "GPano") == NULL, "%s: a perspective photo has no GPano", r->file);
        const char *f35 = GDALGetMetadataItem(ds, "EXIF_FocalLengthIn35mmFilm", NULL);
        /* on the diagonal: 43.27 / 2 * 640 / 800 / tan(45 deg) = 17.3 -> 17 mm */
        TAP_OK(f35 && atoi(f35) == 17, "%s: 90 degree view on 640x480 = 17 mm (35 mm equivalent), got %s", r->file,
               f35 ? f35 : "none");
    }
    GDALClose(ds);
}

/* ---- the panorama convention -------------------------------------------------------------- */

/* A camera 6 m in front of a wall of a house/apartment, looking at a point
 * of the wall between two ground-floor windows: the pixel just above the
 * horizon in the column that the convention gives for that azimuth must
 * see this part, in the facade's colour. */
static void check_convention(const tg_world_options *o)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    wscene *sc = NULL;
    if (!TAP_OK(wscene_build(ctx, o, &sc) == 0, "scene builds: %s", tg_errmsg(ctx))) {
        tg_ctx_free(ctx);
        return;
    }
    wtracer tr;
    wtracer_init(&tr, sc);
    const int W = 512, H = 256;
    unsigned char *rgb = malloc((size_t)W * H * 3);
    int *ids = malloc(sizeof(int) * (size_t)W * H);
    int found = 0, tried = 0;
    for (int b = 0; b < sc->n_blds && found < 3; b++) {
        const wbuilding *B = &sc->blds[b];
        if (B->kind != WB_HOUSE && B->kind != WB_APART) continue;
        if (B->win_w <= 0 || B->shop) continue;
        /* a saturated facade, so that its colour tells it from grey/sky; the
     * tolerance allows for the bluish sky light on walls in shade */
        double sum = B->facade.r + B->facade.g + B->facade.b;
        double cr = B->facade.r / sum, cg = B->facade.g / sum;
        if (fabs(cr - 1.0 / 3) + fabs(cg - 1.0 / 3) < 0.09) continue;
        int pi = B->part0;
        const wpart *p = &sc->parts[pi];
        if (p->h < 5) continue;
        /* the long wall +v (face 2): s runs from u = +a to u = -a */
        double len = 2 * p->a, pitch = B->win_pitch;
        int nwin = (int)floor((len - 1.2) / pitch);
        if (nwin < 2) continue;
        double margin = 0.5 * (len - nwin * pitch), s = margin + pitch; /* between windows 0 and 1 */
        if (fabs((s - margin) - pitch * floor((s - margin) / pitch) - 0.5 * pitch) < 0.5 * B->win_w + 0.2) continue;
        double u = p->a - s, vx = -p->uy, vy = p->ux;
        double wx = p->cx + p->ux * u + vx * p->b, wy = p->cy + p->uy * u + vy * p->b; /* wall point */
        double cx = wx + vx * 6, cy = wy + vy * 6;
        if (cx < sc->ex0 + 10 || cx > sc->ex1 - 10 || cy < sc->ey0 + 10 || cy > sc->ey1 - 10) continue;
        if (winside(sc, cx, cy, 1.0, 0.5) || winside(sc, cx, cy, 2.0, 0.5)) continue;
        /* clear line of sight at camera height to the wall point */
        double d[3] = {wx - cx, wy - cy, 0}, l = sqrt(d[0] * d[0] + d[1] * d[1]);
        d[0] /= l;
        d[1] /= l;
        double org[3] = {cx, cy, 2.0};
        whit h;
        if (wtrace(&tr, org, d, 100, &h) != WH_WALL || h.obj != pi) continue;
        tried++;
        wrender_pano(&tr, cx, cy, 2.0, W, H, 1, rgb, ids);
        /* azimuth of the wall point, clockwise from (grid) north */
        double az = atan2(wx - cx, wy - cy) * 180 / WPI;
        int col = (int)floor((az + 180) / 360 * W);
        if (col >= W) col -= W;
        int rowi = H / 2 - 1; /* just above the horizon */
        int id = ids[rowi * W + col];
        const unsigned char *px = rgb + ((size_t)rowi * W + col) * 3;
        double pr = px[0] / 255.0, pg = px[1] / 255.0, pb = px[2] / 255.0, ps = pr + pg + pb;
        double dchroma = fabs(pr / ps - cr) + fabs(pg / ps - cg);
        double bright = ps / sum;
        TAP_OK(id == pi, "building %d: the column for azimuth %.1f deg (col %d of %d, north = centre) sees it", b,
               az, col, W);
        TAP_OK(dchroma < 0.05 && bright > 0.25 && bright < 1.4,
               "building %d: pixel (%d,%d,%d) has its facade colour (%.0f,%.0f,%.0f): chroma diff %.3f, brightness "
               "%.2f",
               b, px[0], px[1], px[2], B->facade.r * 255, B->facade.g * 255, B->facade.b * 255, dchroma, bright);
        /* the opposite column looks away from it */
        int opp = (col + W / 2) % W;
        TAP_OK(ids[rowi * W + opp] != pi, "building %d: not seen in the opposite column %d", b, opp);
        found++;
    }
    TAP_OK(found >= 1, "found %d buildings with a clear view for the convention check (%d tried)", found, tried);
    free(rgb);
    free(ids);
    wtracer_free(&tr);
    wscene_free(sc);
    tg_ctx_free(ctx);
}

/* The written panorama is the renderer's view from the truth.csv position. */
static void check_pano_file(const tg_world_options *o, const char *dir, const row *r)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    wscene *sc = NULL;
    wscene_build(ctx, o, &sc);
    wtracer tr;
    wtracer_init(&tr, sc);
    int W = o->pano_w, H = o->pano_h;
    unsigned char *mine = malloc((size_t)W * H * 3), *file = malloc((size_t)W * H * 3);
    double x = r->e - (o->center_e - o->size_m / 2), y = r->n - (o->center_n - o->size_m / 2);
    wrender_pano(&tr, x, y, 2.0, W, H, o->supersample, mine, NULL);
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, r->file);
    GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
    double mad = 1e9, mad_rolled = 0;
    if (ds && GDALDatasetRasterIO(ds, GF_Read, 0, 0, W, H, file, W, H, GDT_Byte, 3, NULL, 3, (GSpacing)W * 3, 1) ==
                  CE_None) {
        double s = 0, s2 = 0;
        for (size_t i = 0; i < (size_t)W * H * 3; i++) s += fabs((double)mine[i] - file[i]);
        /* the same view turned by 90 degrees must differ much more */
        for (int rr = 0; rr < H; rr++)
            for (int c = 0; c < W; c++)
                for (int k = 0; k < 3; k++)
                    s2 += fabs((double)mine[((size_t)rr * W + (c + W / 4) % W) * 3 + k] -
                               file[((size_t)rr * W + c) * 3 + k]);
        mad = s / ((double)W * H * 3);
        mad_rolled = s2 / ((double)W * H * 3);
    }
    if (ds) GDALClose(ds);
    TAP_OK(mad < 4.0, "%s is the rendering at its truth.csv position (mean |diff| %.2f levels, JPEG)", r->file, mad);
    TAP_OK(mad_rolled > 4 * mad, "%s: turned by 90 degrees it differs (%.2f levels)", r->file, mad_rolled);
    free(mine);
    free(file);
    wtracer_free(&tr);
    wscene_free(sc);
    tg_ctx_free(ctx);
}

/* Timing of the renderers (reported only). */
static void report_timing(void)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_world_options o;
    tg_world_options_default(&o);
    o.seed = 5;
    o.size_m = 300;
    wscene *sc = NULL;
    double t0 = now();
    int rc = wscene_build(ctx, &o, &sc);
    double t1 = now();
    if (!TAP_OK(rc == 0 && sc, "timed scene (300 m, seed 5) builds")) {
        tap_diag("%s", tg_errmsg(ctx));
        tg_ctx_free(ctx);
        return;
    }
    wtracer tr;
    wtracer_init(&tr, sc);
    unsigned char *rgb = malloc(512 * 256 * 3 * sizeof(unsigned char) + 300 * 300 * 3);
    wrng r;
    wrng_seed(&r, 5, 2);
    double x, y;
    wpick_street_point(sc, &r, 0, 20, 280, &x, &y);
    double t2 = now();
    wrender_pano(&tr, x, y, 2.0, 512, 256, 1, rgb, NULL);
    double t3 = now();
    wrender_pano(&tr, x, y, 2.0, 512, 256, 2, rgb, NULL);
    double t4 = now();
    wrender_aerial_rows(&tr, 0, 150, 0.5, 300, 300, 0, 300, rgb);
    double t5 = now();
    tap_diag("timing (one thread): scene 300 m %.3f s; panorama 512x256 %.3f s (1 ray/px), %.3f s (4 rays/px, "
             "the default); aerial %.2f s per megapixel",
             t1 - t0, t3 - t2, t4 - t3, (t5 - t4) / 0.09);
    free(rgb);
    wtracer_free(&tr);
    wscene_free(sc);
    tg_ctx_free(ctx);
}

/* ---- option errors ---------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    void (*set)(tg_world_options *o);
    const char *msg; /* substring of the message */
} bad_case;

static void b_size(tg_world_options *o) { o->size_m = 50; }
static void b_gsd(tg_world_options *o) { o->gsd_m = 0; }
static void b_whole(tg_world_options *o) { o->gsd_m = 0.3; o->size_m = 100.1; }
static void b_epsg(tg_world_options *o) { o->utm_epsg = 4326; }
static void b_center(tg_world_options *o) { o->center_e = 50000; }
static void b_pano(tg_world_options *o) { o->pano_h = 200; }
static void b_panos(tg_world_options *o) { o->n_panos = -1; }
static void b_ss(tg_world_options *o) { o->supersample = 9; }
static void b_q(tg_world_options *o) { o->jpeg_quality = 0; }
static void b_tile(tg_world_options *o) { o->tile_m = 1e6; }
static void b_tilepx(tg_world_options *o) { o->tile_px = 2; }
static void b_fov(tg_world_options *o) { o->photo_fov_deg = 179; }
static void b_out(tg_world_options *o) { o->out_dir = NULL; }
static void b_margin(tg_world_options *o) { o->edge_margin_m = 1000; }
static void b_sun(tg_world_options *o) { o->sun_azimuth_deg = 400; }

static const bad_case BAD[] = {
    {"size_m 50", b_size, "size_m 50 is out of range: expected 100..6000 m"},
    {"gsd_m 0", b_gsd, "gsd_m 0 is out of range"},
    {"size not a multiple of gsd", b_whole, "is not a whole number of pixels"},
    {"EPSG:4326", b_epsg, "utm_epsg 4326 is not a WGS 84 / UTM zone"},
    {"center_e 50000", b_center, "center_e 50000.000 puts the world outside UTM eastings"},
    {"panorama 256x200", b_pano, "panorama size 256x200: expected an even width"},
    {"n_panos -1", b_panos, "n_panos -1 is out of range"},
    {"supersample 9", b_ss, "supersample 9 is out of range: expected 1..4"},
    {"jpeg_quality 0", b_q, "jpeg_quality 0 is out of range"},
    {"tile_m 1e6", b_tile, "tile_m 1e+06 is out of range"},
    {"tile_px 2", b_tilepx, "tile_px 2 is out of range"},
    {"photo_fov 179", b_fov, "photo_fov_deg 179 is out of range"},
    {"no out_dir", b_out, "out_dir is required"},
    {"edge margin 1000", b_margin, "edge_margin_m 1000 leaves no room"},
    {"sun azimuth 400", b_sun, "sun_azimuth_deg 400 is out of range"},
    {NULL, NULL, NULL}};

static int cancel_after_two(double done, double total, const char *msg, void *user)
{
    (void)total;
    (void)msg;
    (*(int *)user)++;
    return done < 2;
}

int main(void)
{
    GDALAllRegister();
    char tmp[900], da[1024], db[1024], dc[1024];
    snprintf(tmp, sizeof(tmp), "%s", tap_env("TG_TMPDIR", "/tmp"));
    snprintf(da, sizeof(da), "%s/world_a", tmp);
    snprintf(db, sizeof(db), "%s/world_b", tmp);
    snprintf(dc, sizeof(dc), "%s/world_c", tmp);
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);

    /* exact-arithmetic math against libm */
    double maxe = 0, maxx = 0;
    for (int i = -20000; i <= 20000; i++) {
        double x = i * 0.00731, s, c;
        wsincos(x, &s, &c);
        double e = fabs(s - sin(x)) + fabs(c - cos(x));
        if (e > maxe) maxe = e;
        double ex = fabs(wexp_neg(-fabs(x)) - exp(-fabs(x))) / exp(-fabs(x));
        if (ex > maxx) maxx = ex;
    }
    TAP_OK(maxe < 2e-15, "wsincos matches libm to %.2g on [-146, 146]", maxe);
    TAP_OK(maxx < 2e-15, "wexp_neg matches libm exp to %.2g (relative)", maxx);

    /* defaults */
    tg_world_options o;
    tg_world_options_default(&o);
    TAP_OK(o.seed == 1 && o.size_m == 1500 && o.gsd_m == 0.5 && o.utm_epsg == 32633 && o.pano_w == 512 &&
               o.pano_h == 256 && o.n_panos == 100 && o.supersample == 2 && o.out_dir == NULL,
           "defaults: seed 1, 1500 m, 0.5 m/px, EPSG:32633, 100 panoramas of 512x256");

    /* option errors */
    TAP_EQ(tg_world_generate(ctx, NULL), TG_EINVAL, "NULL options: TG_EINVAL");
    for (const bad_case *b = BAD; b->what; b++) {
        small_options(&o, da);
        b->set(&o);
        int rc = tg_world_generate(ctx, &o);
        TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), b->msg), "%s: TG_EINVAL, '%s'", b->what, tg_errmsg(ctx));
    }
    small_options(&o, "/nonexistent-dir/sub/world");
    TAP_OK(tg_world_generate(ctx, &o) == TG_EIO && strstr(tg_errmsg(ctx), "cannot create directory '/nonexistent-dir"),
           "missing parent directory: TG_EIO, '%s'", tg_errmsg(ctx));

    /* cancellation */
    {
        char dx[1024];
        snprintf(dx, sizeof(dx), "%s/world_cancel", tmp);
        small_options(&o, dx);
        int calls = 0;
        o.progress = cancel_after_two;
        o.progress_user = &calls;
        int rc = tg_world_generate(ctx, &o);
        TAP_OK(rc == TG_ECANCEL && strstr(tg_errmsg(ctx), "cancelled"), "progress returning 0 cancels: '%s'",
               tg_errmsg(ctx));
        TAP_EQ(calls, 2, "no progress call after the cancelling one");
    }

    /* two runs, same options */
    small_options(&o, da);
    double t0 = now();
    int rc = tg_world_generate(ctx, &o);
    double t1 = now();
    if (!TAP_OK(rc == 0, "generate a 200 m world: %s", tg_errmsg(ctx))) return tap_done();
    tap_diag("200 m world, 3 panoramas, 2 photos, 2 pairs, 2 threads: %.2f s", t1 - t0);
    small_options(&o, db);
    TAP_OK(tg_world_generate(ctx, &o) == 0, "generate it again: %s", tg_errmsg(ctx));
    for (const char **f = FILES; *f; f++) {
        char pa[1200], pb[1200];
        snprintf(pa, sizeof(pa), "%s/%s", da, *f);
        snprintf(pb, sizeof(pb), "%s/%s", db, *f);
        size_t na = 0, nb = 0;
        unsigned char *a = slurp(pa, &na), *b = slurp(pb, &nb);
        TAP_OK(a && b && na == nb && na > 0 && !memcmp(a, b, na), "%s: byte-identical in both runs (%zu bytes)", *f,
               na);
        free(a);
        free(b);
    }
    /* one thread, other counts: the same aerial */
    small_options(&o, dc);
    o.n_threads = 1;
    o.n_panos = 1;
    o.n_photos = 0;
    o.n_pairs = 0;
    TAP_OK(tg_world_generate(ctx, &o) == 0, "generate it with 1 thread and other counts: %s", tg_errmsg(ctx));
    int w = 0, h = 0, w2 = 0, h2 = 0;
    uint64_t ha = aerial_hash(da, &w, &h), hc = aerial_hash(dc, &w2, &h2);
    TAP_OK(ha != 0 && ha == hc, "aerial pixels independent of threads and counts (%016llx)", (unsigned long long)ha);
    TAP_OK(ha == EXPECTED_AERIAL_HASH, "aerial pixel hash %016llx = the committed %016llx (platform drift?)",
           (unsigned long long)ha, (unsigned long long)EXPECTED_AERIAL_HASH);
    {
        char p1[1200], p2[1200];
        snprintf(p1, sizeof(p1), "%s/panos/0000.jpg", da);
        snprintf(p2, sizeof(p2), "%s/panos/0000.jpg", dc);
        size_t n1, n2;
        unsigned char *a = slurp(p1, &n1), *b = slurp(p2, &n2);
        TAP_OK(a && b && n1 == n2 && !memcmp(a, b, n1), "panorama 0 is the same when fewer are asked for");
        free(a);
        free(b);
    }

    /* the GeoTIFF */
    {
        char p[1200];
        snprintf(p, sizeof(p), "%s/aerial.tif", da);
        GDALDatasetH ds = GDALOpen(p, GA_ReadOnly);
        TAP_OK(ds != NULL, "aerial.tif opens");
        if (ds) {
            TAP_OK(!strcmp(GDALGetDriverShortName(GDALGetDatasetDriver(ds)), "GTiff"), "aerial.tif is a GeoTIFF");
            TAP_EQ(GDALGetRasterXSize(ds), 400, "aerial width = 200 m / 0.5 m");
            TAP_EQ(GDALGetRasterYSize(ds), 400, "aerial height");
            TAP_EQ(GDALGetRasterCount(ds), 3, "3 bands");
            GDALRasterBandH b1 = GDALGetRasterBand(ds, 1);
            TAP_EQ(GDALGetRasterDataType(b1), GDT_Byte, "Byte");
            TAP_EQ(GDALGetRasterColorInterpretation(b1), GCI_RedBand, "band 1 is red");
            int bx = 0, by = 0;
            GDALGetBlockSize(b1, &bx, &by);
            TAP_OK(bx == 256 && by == 256, "tiled 256 x 256 (%d x %d)", bx, by);
            const char *comp = GDALGetMetadataItem(ds, "COMPRESSION", "IMAGE_STRUCTURE");
            TAP_OK(comp && !strcmp(comp, "DEFLATE"), "DEFLATE compressed (%s)", comp ? comp : "none");
            double gt[6];
            GDALGetGeoTransform(ds, gt);
            TAP_OK(gt[0] == 499900 && gt[1] == 0.5 && gt[2] == 0 && gt[3] == 5340100 && gt[4] == 0 && gt[5] == -0.5,
                   "geotransform [%.3f %g %g %.3f %g %g] = centre 500000/5340000 +- 100 m at 0.5 m", gt[0], gt[1],
                   gt[2], gt[3], gt[4], gt[5]);
            OGRSpatialReferenceH srs = OSRNewSpatialReference(GDALGetProjectionRef(ds));
            if (srs) OSRAutoIdentifyEPSG(srs);
            const char *code = srs ? OSRGetAuthorityCode(srs, NULL) : NULL;
            TAP_OK(code && !strcmp(code, "32633"), "CRS is EPSG:32633 (%s)", code ? code : "none");
            if (srs) OSRDestroySpatialReference(srs);
            GDALClose(ds);
        }
    }

    /* truth.csv and the EXIF/XMP of every photo */
    row rows[16];
    int nr = read_truth(da, rows, 16);
    TAP_EQ(nr, 5, "truth.csv: 3 panoramas + 2 photos");
    {
        OGRSpatialReferenceH utm = OSRNewSpatialReference(NULL), wgs = OSRNewSpatialReference(NULL);
        OSRImportFromEPSG(utm, 32633);
        OSRImportFromEPSG(wgs, 4326);
        OSRSetAxisMappingStrategy(utm, OAMS_TRADITIONAL_GIS_ORDER);
        OSRSetAxisMappingStrategy(wgs, OAMS_TRADITIONAL_GIS_ORDER);
        OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(utm, wgs);
        for (int i = 0; i < nr; i++) {
            double x = rows[i].e, y = rows[i].n, z = 0;
            OCTTransform(ct, 1, &x, &y, &z);
            TAP_OK(fabs(x - rows[i].lon) < 1e-8 && fabs(y - rows[i].lat) < 1e-8,
                   "%s: lon/lat is easting/northing in EPSG:4326", rows[i].file);
            double m = 20; /* max(10, tile_m / 2) */
            TAP_OK(rows[i].e >= 499900 + m && rows[i].e <= 500100 - m && rows[i].n >= 5339900 + m &&
                       rows[i].n <= 5340100 - m,
                   "%s: inside the world, %g m from its edge", rows[i].file, m);
            if (!strncmp(rows[i].file, "panos/", 6))
                TAP_OK(rows[i].heading < 0.05 || rows[i].heading > 359.95,
                       "%s: heading %.4f (centre column = grid north, ~ true north here)", rows[i].file,
                       rows[i].heading);
            check_photo_metadata(da, &rows[i]);
        }
        OCTDestroyCoordinateTransformation(ct);
        OSRDestroySpatialReference(utm);
        OSRDestroySpatialReference(wgs);
    }

    /* world.json */
    {
        char p[1200];
        snprintf(p, sizeof(p), "%s/world.json", da);
        json_error_t err;
        json_t *j = json_load_file(p, 0, &err);
        TAP_OK(j != NULL, "world.json parses (%s)", j ? "ok" : err.text);
        if (j) {
            TAP_EQ(json_integer_value(json_object_get(j, "seed")), 20240601, "world.json seed");
            TAP_EQ(json_integer_value(json_object_get(j, "version")), TG_WORLD_VERSION, "world.json version");
            TAP_OK(!strcmp(json_string_value(json_object_get(j, "crs")), "EPSG:32633"), "world.json crs");
            json_t *c = json_object_get(j, "counts");
            TAP_EQ(json_integer_value(json_object_get(c, "panos")), 3, "world.json counts.panos");
            TAP_OK(json_integer_value(json_object_get(c, "buildings")) > 10, "world.json: %lld buildings",
                   (long long)json_integer_value(json_object_get(c, "buildings")));
            json_decref(j);
        }
    }

    /* pairs: the aerial crop matches aerial.tif around the same point */
    {
        char p[1200], line[512];
        snprintf(p, sizeof(p), "%s/pairs.csv", da);
        FILE *f = fopen(p, "r");
        int n = 0;
        if (f) {
            TAP_OK(fgets(line, sizeof(line), f) && !strcmp(line, "id,ground,aerial,lon,lat,easting,northing\n"),
                   "pairs.csv header");
            while (fgets(line, sizeof(line), f)) {
                int id;
                char g[128], a[128];
                double lon, lat, e, nn;
                if (sscanf(line, "%d,%127[^,],%127[^,],%lf,%lf,%lf,%lf", &id, g, a, &lon, &lat, &e, &nn) != 7) break;
                char pa[1300];
                snprintf(pa, sizeof(pa), "%s/%s", da, a);
                GDALDatasetH cs = GDALOpen(pa, GA_ReadOnly);
                snprintf(pa, sizeof(pa), "%s/aerial.tif", da);
                GDALDatasetH as = GDALOpen(pa, GA_ReadOnly);
                double mc[3] = {0}, ma[3] = {0};
                if (cs && as && GDALGetRasterXSize(cs) == 80) {
                    unsigned char cb[80 * 80 * 3], ab[80 * 80 * 3];
                    /* tile 40 m = 80 px at 0.5 m: the same window of aerial.tif */
                    int xoff = (int)floor((e - 20 - 499900) / 0.5 + 0.5), yoff = (int)floor((5340100 - (nn + 20)) / 0.5 + 0.5);
                    int ok = GDALDatasetRasterIO(cs, GF_Read, 0, 0, 80, 80, cb, 80, 80, GDT_Byte, 3, NULL, 3, 240, 1) ==
                                 CE_None &&
                             GDALDatasetRasterIO(as, GF_Read, xoff, yoff, 80, 80, ab, 80, 80, GDT_Byte, 3, NULL, 3, 240,
                                                 1) == CE_None;
                    TAP_OK(ok, "pair %d: crop and aerial window read", id);
                    double diff = 0;
                    for (int k = 0; k < 80 * 80 * 3; k++) {
                        mc[k % 3] += cb[k];
                        ma[k % 3] += ab[k];
                        diff += fabs((double)cb[k] - ab[k]);
                    }
                    diff /= 80 * 80 * 3;
                    TAP_OK(diff < 12, "pair %d: crop = aerial.tif window at the same place (mean |diff| %.1f, "
                                      "sub-pixel offset)", id, diff);
                } else {
                    TAP_OK(0, "pair %d: %s opens, 80 x 80", id, a);
                }
                if (cs) GDALClose(cs);
                if (as) GDALClose(as);
                n++;
            }
            fclose(f);
        }
        TAP_EQ(n, 2, "pairs.csv lists 2 pairs");
    }

    /* the panorama file is the view from its position; the convention */
    small_options(&o, da);
    if (nr > 0) check_pano_file(&o, da, &rows[0]);
    check_convention(&o);
    report_timing();

    tg_ctx_free(ctx);
    return tap_done();
}
