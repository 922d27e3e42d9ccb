/*
 * test_tilecache.c - tilecache (include/transgeo/tilecache.h) on the real rasters of
 * shared/data (facts from PROVENANCE.md) and on inputs made from them here
 * with GDAL (grey, UInt16/Int16/Float32, palette, Web Mercator, EPSG:4326,
 * rotated, without georeferencing/CRS, GCP-only, truncated, corrupt).
 *
 * What is compared to GDAL's own tools (gdalwarp, gdaltransform, geod) is in
 * tests/tiles_gdal.py; the command line is in tests/tiles_cli.sh.
 */
#define _GNU_SOURCE
#include "config.h"
#include "tap.h"
#include "transgeo/tilecache.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>
#include <proj.h>

#define HRO "201404_13SED190110_201404_0x1500m_CL_1"

static char g_data[1024], g_tmp[1024];

static const char *in_data(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/rasters/%s", g_data, name);
    return buf;
}
static const char *in_tmp(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", g_tmp, name);
    return buf;
}

/* ---- fixtures made with GDAL ------------------------------------------------ */

static char **argv_of(const char *args)
{
    return CSLTokenizeString2(args, " ", CSLT_HONOURSTRINGS);
}

static int translate(const char *src, const char *dst, const char *args)
{
    GDALDatasetH s = GDALOpen(src, GA_ReadOnly);
    if (!s) return -1;
    char **av = argv_of(args);
    GDALTranslateOptions *o = GDALTranslateOptionsNew(av, NULL);
    CSLDestroy(av);
    GDALDatasetH d = o ? GDALTranslate(dst, s, o, NULL) : NULL;
    if (o) GDALTranslateOptionsFree(o);
    if (d) GDALClose(d);
    GDALClose(s);
    return d ? 0 : -1;
}

static int warp(const char *src, const char *dst, const char *args)
{
    GDALDatasetH s = GDALOpen(src, GA_ReadOnly);
    if (!s) return -1;
    char **av = argv_of(args);
    GDALWarpAppOptions *o = GDALWarpAppOptionsNew(av, NULL);
    CSLDestroy(av);
    VSIUnlink(dst);
    GDALDatasetH d = o ? GDALWarp(dst, NULL, 1, &s, o, NULL) : NULL;
    if (o) GDALWarpAppOptionsFree(o);
    if (d) GDALClose(d);
    GDALClose(s);
    return d ? 0 : -1;
}

static int copy_prefix(const char *src, const char *dst, long n)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int rc = in && out ? 0 : -1;
    char buf[65536];
    while (!rc && n > 0) {
        size_t want = n < (long)sizeof buf ? (size_t)n : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        if (!got || fwrite(buf, 1, got, out) != got) break;
        n -= (long)got;
    }
    if (in) fclose(in);
    if (out) fclose(out);
    return rc;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

/* Copy the HRO base with a rotated (20 degrees) geotransform. */
static int make_rotated(const char *src, const char *dst)
{
    if (translate(src, dst, "-of GTiff")) return -1;
    GDALDatasetH d = GDALOpen(dst, GA_Update);
    if (!d) return -1;
    double a = 20 * M_PI / 180, p = 0.15;
    double gt[6] = {519467.5, p * cos(a), p * sin(a), 4311669.77, p * sin(a), -p * cos(a)};
    GDALSetGeoTransform(d, gt);
    GDALClose(d);
    return 0;
}

/* 1-band palette raster from band 1: entry i = (i, 255 - i, i / 2). */
static int make_palette(const char *src, const char *dst)
{
    if (translate(src, dst, "-b 1 -of GTiff")) return -1;
    GDALDatasetH d = GDALOpen(dst, GA_Update);
    if (!d) return -1;
    GDALColorTableH ct = GDALCreateColorTable(GPI_RGB);
    for (int i = 0; i < 256; i++) {
        GDALColorEntry e = {(short)i, (short)(255 - i), (short)(i / 2), 255};
        GDALSetColorEntry(ct, i, &e);
    }
    GDALRasterBandH b = GDALGetRasterBand(d, 1);
    GDALSetRasterColorTable(b, ct);
    GDALSetRasterColorInterpretation(b, GCI_PaletteIndex);
    GDALDestroyColorTable(ct);
    GDALClose(d);
    return 0;
}

/* 60 x 30 px in EPSG:4326 spanning 30 degrees of longitude. */
static int make_wide(const char *dst)
{
    GDALDatasetH d = GDALCreate(GDALGetDriverByName("GTiff"), dst, 60, 30, 3, GDT_Byte, NULL);
    if (!d) return -1;
    double gt[6] = {0, 0.5, 0, 30, 0, -0.5};
    GDALSetGeoTransform(d, gt);
    GDALSetProjection(d, "EPSG:4326");
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    OSRImportFromEPSG(s, 4326);
    GDALSetSpatialRef(d, s);
    OSRRelease(s);
    GDALClose(d);
    return 0;
}

/* Overwrite 256 bytes inside block (1, 0) of a tiled TIFF. */
static int corrupt_block(const char *path)
{
    GDALDatasetH d = GDALOpen(path, GA_ReadOnly);
    if (!d) return -1;
    const char *off = GDALGetMetadataItem(GDALGetRasterBand(d, 1), "BLOCK_OFFSET_1_0", "TIFF");
    long o = off ? atol(off) : -1;
    GDALClose(d);
    if (o <= 0) return -1;
    FILE *f = fopen(path, "r+b");
    if (!f) return -1;
    unsigned char junk[256];
    for (int i = 0; i < 256; i++) junk[i] = (unsigned char)(i * 37 + 11);
    int rc = fseek(f, o + 64, SEEK_SET) == 0 && fwrite(junk, 1, sizeof junk, f) == sizeof junk ? 0 : -1;
    fclose(f);
    return rc;
}

/* ---- collecting tiles ------------------------------------------------------ */

typedef struct {
    int col, row;
    double x_min, y_max, valid;
    double ll[4][2], clon, clat;
    int win[4];
    unsigned char *rgb;
} kept;

typedef struct {
    kept *t;
    int n, cap, stop_at, stop_code, px;
    int order_ok;
} bag;

static void bag_free(bag *b)
{
    for (int i = 0; i < b->n; i++) free(b->t[i].rgb);
    free(b->t);
    memset(b, 0, sizeof *b);
}

static int collect(const tg_tile *t, void *user)
{
    bag *b = user;
    if (b->n && (t->row < b->t[b->n - 1].row || (t->row == b->t[b->n - 1].row && t->col <= b->t[b->n - 1].col)))
        b->order_ok = 0;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->t = realloc(b->t, (size_t)b->cap * sizeof *b->t);
    }
    kept *k = &b->t[b->n++];
    k->col = t->col;
    k->row = t->row;
    k->x_min = t->x_min;
    k->y_max = t->y_max;
    k->valid = t->valid_share;
    memcpy(k->ll, t->corners_lonlat, sizeof k->ll);
    k->clon = t->center_lon;
    k->clat = t->center_lat;
    k->win[0] = t->src_xoff;
    k->win[1] = t->src_yoff;
    k->win[2] = t->src_xsize;
    k->win[3] = t->src_ysize;
    b->px = t->width;
    size_t n = (size_t)t->width * t->height * 3;
    k->rgb = malloc(n);
    memcpy(k->rgb, t->rgb, n);
    if (b->stop_at && b->n == b->stop_at) return b->stop_code;
    return 0;
}

static int run_all(tg_ctx *ctx, const char *path, const tg_tile_options *o, bag *b, tg_tiler **keep)
{
    tg_tiler *t = NULL;
    memset(b, 0, sizeof *b);
    b->order_ok = 1;
    int rc = tg_tiles_open(ctx, path, o, &t);
    if (!rc) rc = tg_tiles_run(ctx, t, collect, b, NULL, NULL);
    if (keep) *keep = t;
    else tg_tiler_free(t);
    return rc;
}

static const kept *find(const bag *b, double x_min, double y_max)
{
    for (int i = 0; i < b->n; i++)
        if (fabs(b->t[i].x_min - x_min) < 1e-6 && fabs(b->t[i].y_max - y_max) < 1e-6) return &b->t[i];
    return NULL;
}

static double mean_abs_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += abs((int)a[i] - (int)b[i]);
    return s / (double)n;
}

static int max_abs_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* Same tiles (positions, footprints, windows, pixels) in two bags. */
static int same_bags(const bag *a, const bag *b, int pixels)
{
    if (a->n != b->n || a->px != b->px) return 0;
    for (int i = 0; i < a->n; i++) {
        const kept *p = &a->t[i], *q = &b->t[i];
        if (p->col != q->col || p->row != q->row || memcmp(p->ll, q->ll, sizeof p->ll) ||
            memcmp(p->win, q->win, sizeof p->win) || p->valid != q->valid)
            return 0;
        if (pixels && memcmp(p->rgb, q->rgb, (size_t)a->px * a->px * 3)) return 0;
    }
    return 1;
}

/* ---- cases ----------------------------------------------------------------- */

static tg_tile_options small_opts(void)
{
    tg_tile_options o = tg_tile_options_default();
    o.tile_m = 16; /* the HRO scene is about 57 x 35 m */
    o.gsd_m = 0.25;
    return o;
}

static void test_defaults(void)
{
    tg_tile_options o = tg_tile_options_default();
    TAP_OK(o.tile_m == 64 && o.gsd_m == 0.5 && o.stride_m == 0 && o.max_nodata_share == 0.5,
           "defaults: 64 m tiles at 0.5 m/px, stride tile/2, skip above 50%% nodata");
    TAP_OK(o.resampling == TG_RESAMPLE_BILINEAR && o.stretch == TG_STRETCH_AUTO && o.percent_lo == 2 &&
           o.percent_hi == 98 && !o.bands[0] && !o.target_crs && o.max_buffer_mb == 256,
           "defaults: bilinear, auto stretch 2..98, automatic bands and CRS, 256 MiB buffer");
    tg_resampling r;
    TAP_OK(!tg_resampling_parse("lanczos", &r) && r == TG_RESAMPLE_LANCZOS &&
           tg_resampling_parse("bicubic", &r) == TG_EINVAL && !strcmp(tg_resampling_name(TG_RESAMPLE_CUBIC), "cubic"),
           "resampling names parse and print");
}

static void test_hro(tg_ctx *ctx, bag *base)
{
    char p[1200];
    tg_tile_options o = small_opts();
    tg_tiler *t = NULL;
    int rc = run_all(ctx, in_data(HRO ".tif", p, sizeof p), &o, base, &t);
    TAP_EQ(rc, 0, "HRO striped: open and run (%s)", tg_errmsg(ctx));
    if (rc) return;
    const tg_tiler_info *in = tg_tiler_get_info(t);
    TAP_EQ(in->work_epsg, 26913, "HRO: works in its own CRS EPSG:26913");
    TAP_OK(strstr(in->work_crs_reason, "own CRS") != NULL, "HRO: reason says own CRS: %s", in->work_crs_reason);
    TAP_EQ(in->tile_px, 64, "16 m at 0.25 m/px = 64 px");
    TAP_EQ(in->stride_px, 32, "default stride = half a tile = 32 px");
    TAP_NEAR(in->grid_x0, 519464, 1e-9, "grid x0 = floor(519467.496 / 8) * 8");
    TAP_NEAR(in->grid_y0, 4311672, 1e-9, "grid y0 = ceil(4311669.766 / 8) * 8");
    TAP_OK(in->n_cols == 7 && in->n_rows == 4, "grid 7 x 4 covers 57.4 x 34.8 m (got %d x %d)", in->n_cols,
           in->n_rows);
    TAP_OK(fabs(in->extent[0] - 519467.496) < 1e-3 && fabs(in->extent[2] - 519524.875) < 1e-3 &&
           fabs(in->extent[1] - 4311634.966) < 1e-3 && fabs(in->extent[3] - 4311669.766) < 1e-3,
           "extent = the PROVENANCE corners (UL 519467.496, 4311669.766; LR 519524.875, 4311634.966)");
    TAP_OK(in->grid_x0 + (in->n_cols - 1) * in->stride_m + in->tile_m >= in->extent[2] &&
           in->grid_y0 - (in->n_rows - 1) * in->stride_m - in->tile_m <= in->extent[1],
           "the grid covers the extent");
    TAP_OK(in->n_channels == 3 && in->bands[0] == 1 && in->bands[1] == 2 && in->bands[2] == 3,
           "bands 1,2,3 from colour interpretation (%s)", in->band_reason);
    TAP_OK(in->stretch == TG_STRETCH_NONE && in->overview == -1 && !in->rotated,
           "Byte: no stretch; 0.15 m source read at full resolution for 0.25 m");
    TAP_NEAR(in->center_lat, 38.953607, 1e-6, "centre lat (PROVENANCE gdaltransform)");
    TAP_NEAR(in->center_lon, -104.774996, 1e-6, "centre lon (PROVENANCE gdaltransform)");
    TAP_NEAR(in->xscale, 0.14981552941953233 / 0.25, 1e-9, "warper x scale = source / target pixel");
    TAP_EQ(base->n, 28, "all 28 tiles kept (no nodata in the base file)");
    TAP_OK(base->order_ok, "tiles come row by row, west to east");
    int geo_ok = 1, win_ok = 1;
    for (int i = 0; i < base->n; i++) {
        const kept *k = &base->t[i];
        if (fabs(k->x_min - (519464 + 8.0 * k->col)) > 1e-9 || fabs(k->y_max - (4311672 - 8.0 * k->row)) > 1e-9)
            geo_ok = 0;
        /* corners: UL is north-west of LR, centre inside */
        if (!(k->ll[0][0] < k->ll[2][0] && k->ll[0][1] > k->ll[2][1] && k->clon > k->ll[0][0] &&
              k->clon < k->ll[2][0] && k->clat < k->ll[0][1] && k->clat > k->ll[2][1]))
            geo_ok = 0;
        if (k->win[0] < 0 || k->win[1] < 0 || k->win[0] + k->win[2] > 383 || k->win[1] + k->win[3] > 232 ||
            k->win[2] <= 0 || k->win[3] <= 0)
            win_ok = 0;
    }
    TAP_OK(geo_ok, "tile positions on the stride grid; lon/lat corners in order UL, UR, LR, LL");
    TAP_OK(win_ok, "source windows inside the raster");
    /* tile (0, 0): x 519464..519480, y 4311656..4311672: source px 0..85.5, 0..91.8 */
    TAP_OK(base->t[0].win[0] == 0 && base->t[0].win[1] == 0 && base->t[0].win[2] == 84 && base->t[0].win[3] == 92,
           "tile (0,0) source window 0,0 84x92 (got %d,%d %dx%d)", base->t[0].win[0], base->t[0].win[1],
           base->t[0].win[2], base->t[0].win[3]);
    TAP_NEAR(base->t[0].valid, 12.504 * 13.766 / 256.0, 0.01, "tile (0,0) valid share = raster area inside it");

    /* tg_tiles_get gives the streamed tiles exactly. */
    int same = 1;
    for (int i = 0; i < base->n && same; i++) {
        tg_tile one;
        if (tg_tiles_get(ctx, t, base->t[i].col, base->t[i].row, &one) ||
            memcmp(one.rgb, base->t[i].rgb, 64 * 64 * 3) || one.valid_share != base->t[i].valid ||
            memcmp(one.corners_lonlat, base->t[i].ll, sizeof base->t[i].ll))
            same = 0;
    }
    TAP_OK(same, "tg_tiles_get(col, row) = the streamed tile, bytes and footprint");
    tg_tile one;
    rc = tg_tiles_get(ctx, t, 7, 0, &one);
    TAP_EQ(rc, TG_ENOTFOUND, "tg_tiles_get outside the grid: TG_ENOTFOUND");
    TAP_OK(strstr(tg_errmsg(ctx), "outside the 7 x 4 grid") != NULL, "  message: %s", tg_errmsg(ctx));

    /* Rows 1..2 only = the same tiles as in the full run. */
    bag part = {0};
    part.order_ok = 1;
    rc = tg_tiles_run_rows(ctx, t, 1, 3, collect, &part, NULL, NULL);
    int ok = !rc && part.n == 14;
    for (int i = 0; ok && i < part.n; i++) ok = !memcmp(part.t[i].rgb, base->t[7 + i].rgb, 64 * 64 * 3);
    TAP_OK(ok, "tg_tiles_run_rows(1, 3) = rows 1 and 2 of the full run");
    bag_free(&part);
    TAP_EQ(tg_tiles_run_rows(ctx, t, 2, 9, collect, &part, NULL, NULL), TG_EINVAL, "rows beyond the grid: TG_EINVAL");
    bag_free(&part);

    /* Cancellation by the tile callback and by the progress callback. */
    part.stop_at = 3;
    part.stop_code = 1;
    rc = tg_tiles_run(ctx, t, collect, &part, NULL, NULL);
    TAP_OK(rc == TG_ECANCEL && part.n == 3, "tile callback returning 1 at the 3rd tile: TG_ECANCEL after 3");
    TAP_OK(strstr(tg_errmsg(ctx), "cancelled by the tile callback at tile (col 2, row 0)") != NULL,
           "  message: %s", tg_errmsg(ctx));
    bag_free(&part);
    part.stop_at = 2;
    part.stop_code = TG_EDB;
    rc = tg_tiles_run(ctx, t, collect, &part, NULL, NULL);
    TAP_OK(rc == TG_EDB && tg_errcode(ctx) == TG_EDB, "tile callback returning TG_EDB: the run returns TG_EDB");
    bag_free(&part);
    rc = tg_tiles_run(ctx, t, NULL, NULL, NULL, NULL);
    TAP_EQ(rc, 0, "a NULL tile callback is allowed (and the tiler can run again)");
    tg_tiler_free(t);
}

static int cancel_after_first(double done, double total, const char *msg, void *user)
{
    int *calls = user;
    (*calls)++;
    return done < total / 2;
}

static void test_progress(tg_ctx *ctx)
{
    char p[1200];
    tg_tile_options o = small_opts();
    tg_tiler *t = NULL;
    if (tg_tiles_open(ctx, in_data(HRO ".tif", p, sizeof p), &o, &t)) return;
    int calls = 0;
    int rc = tg_tiles_run(ctx, t, NULL, NULL, cancel_after_first, &calls);
    TAP_OK(rc == TG_ECANCEL && calls >= 2, "progress returning 0: TG_ECANCEL (%d calls)", calls);
    TAP_OK(strstr(tg_errmsg(ctx), "cancelled by the progress callback") != NULL, "  message: %s", tg_errmsg(ctx));
    tg_tiler_free(t);
}

static void test_memory_bound(tg_ctx *ctx, const bag *base)
{
    char p[1200];
    tg_tile_options o = small_opts();
    o.max_buffer_mb = 0.02; /* 20 KiB: one tile column per strip */
    bag b;
    tg_tiler *t = NULL;
    int rc = run_all(ctx, in_data(HRO ".tif", p, sizeof p), &o, &b, &t);
    const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in && in->cols_per_strip == 1, "20 KiB budget: one tile column per strip");
    TAP_OK(in && in->buffer_bytes <= (size_t)(64 * 64 * 4) * 2 + 4 * 64 * 64,
           "buffers within one tile's strip + one tile (%zu bytes)", in ? in->buffer_bytes : 0);
    TAP_OK(same_bags(base, &b, 1), "column-chunked strips give the same tiles, byte for byte");
    tg_tiler_free(t);
    bag_free(&b);
}

static void test_twins(tg_ctx *ctx, const bag *base)
{
    char p[1200];
    tg_tile_options o = small_opts();
    o.max_nodata_share = 1; /* keep every grid tile to compare footprints */
    static const struct { const char *file, *validity; } v[] = {
        {HRO "_alpha.tif", "alpha band 4"}, {HRO "_mask.tif", "per-dataset mask"},
        {HRO "_nodata.tif", "nodata 0"}, {"cog_rgb.tif", "none (every pixel valid)"}};
    bag all[4];
    for (int i = 0; i < 4; i++) {
        tg_tiler *t = NULL;
        int rc = run_all(ctx, in_data(v[i].file, p, sizeof p), &o, &all[i], &t);
        const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
        TAP_OK(!rc && in && !strcmp(in->validity, v[i].validity), "%s: validity from %s (%s)", v[i].file,
               v[i].validity, in ? in->validity : tg_errmsg(ctx));
        int same_fp = all[i].n == base->n;
        for (int k = 0; same_fp && k < base->n; k++)
            same_fp = !memcmp(all[i].t[k].ll, base->t[k].ll, sizeof base->t[k].ll) &&
                      !memcmp(all[i].t[k].win, base->t[k].win, sizeof base->t[k].win);
        TAP_OK(same_fp, "%s: the same 28 footprints and windows as the striped file", v[i].file);
        tg_tiler_free(t);
    }
    /* The COG twin is JPEG-compressed (lossy): pixels close, not equal. */
    double worst = 0;
    for (int k = 0; k < base->n && all[3].n == base->n; k++)
        worst = fmax(worst, mean_abs_diff(all[3].t[k].rgb, base->t[k].rgb, 64 * 64 * 3));
    TAP_OK(all[3].n == base->n && worst < 4.0, "COG (JPEG) twin: mean |diff| per tile <= 4 levels (worst %.2f)", worst);
    /* Skip decisions with the default 0.5: mask and nodata (same 0-valued pixels)
     * agree; the alpha file masks a 15 x 15 m block in the north-west. */
    int agree = 1, alpha_sub = 1, nskip[3] = {0, 0, 0};
    for (int k = 0; k < base->n; k++) {
        int s[3];
        for (int i = 0; i < 3; i++) {
            s[i] = 1.0 - all[i].t[k].valid > 0.5;
            nskip[i] += s[i];
        }
        if (s[1] != s[2]) agree = 0;
        if (s[1] && !s[0]) alpha_sub = 0;
        /* the mask file masks whole pixels; the nodata file's per-band
         * nodata counts a pixel invalid only where every band is 0 */
        if (fabs(all[1].t[k].valid - all[2].t[k].valid) > 0.02) agree = 0;
    }
    TAP_OK(agree, "mask and nodata variants: valid shares within 2%%, same tiles skipped");
    TAP_OK(alpha_sub && nskip[0] == 3 && all[0].t[0].valid < 0.01,
           "alpha variant skips 3 tiles, tile (0,0) fully transparent (skips %d/%d/%d)", nskip[0], nskip[1],
           nskip[2]);

    /* The same mask as an external .msk file: the same valid shares. */
    char q[1200];
    CPLSetConfigOption("GDAL_TIFF_INTERNAL_MASK", "NO");
    int made = translate(in_data(HRO "_mask.tif", p, sizeof p), in_tmp("tc_extmask.tif", q, sizeof q), "-of GTiff");
    CPLSetConfigOption("GDAL_TIFF_INTERNAL_MASK", NULL);
    char msk[1300];
    snprintf(msk, sizeof msk, "%s.msk", q);
    bag ext;
    memset(&ext, 0, sizeof ext);
    tg_tiler *te = NULL;
    int rce = made ? -1 : run_all(ctx, q, &o, &ext, &te);
    int same_ext = !rce && file_size(msk) > 0 && ext.n == all[1].n &&
                   !strcmp(tg_tiler_get_info(te)->validity, "per-dataset mask");
    for (int k = 0; same_ext && k < ext.n; k++) same_ext = ext.t[k].valid == all[1].t[k].valid;
    TAP_OK(same_ext, "external .msk mask: the same valid shares as the internal mask");
    tg_tiler_free(te);
    bag_free(&ext);
    for (int i = 0; i < 4; i++) bag_free(&all[i]);

    /* Default run on the alpha file: exactly the tiles with >= 50 % valid. */
    bag a;
    o.max_nodata_share = 0.5;
    int rc = run_all(ctx, in_data(HRO "_alpha.tif", p, sizeof p), &o, &a, NULL);
    int ok = !rc && a.n == 25;
    for (int i = 0; ok && i < a.n; i++) ok = a.t[i].valid >= 0.5;
    TAP_OK(ok, "alpha file, default max_nodata_share 0.5: 25 tiles, all >= 50%% valid");
    int zero_ok = 1; /* invalid pixels are black */
    for (int i = 0; !rc && i < a.n; i++)
        if (a.t[i].col == 1 && a.t[i].row == 1)
            for (int y = 0; y < 8; y++)
                for (int x = 0; x < 8; x++)
                    if (a.t[i].rgb[(y * 64 + x) * 3] || a.t[i].rgb[(y * 64 + x) * 3 + 1]) zero_ok = 0;
    TAP_OK(zero_ok, "transparent pixels are 0 in rgb");
    bag_free(&a);
}

static void test_overviews(tg_ctx *ctx)
{
    char p[1200];
    tg_tile_options o = tg_tile_options_default();
    o.tile_m = 9.6; /* 16 px at 0.6 m: 4x the 0.15 m source */
    o.gsd_m = 0.6;
    static const struct { const char *file; int ovr; } v[] = {
        {HRO ".tif", 1}, {"cog_rgb.tif", 0}, {HRO "_mask.tif", -1}};
    for (int i = 0; i < 3; i++) {
        tg_tiler *t = NULL;
        int rc = tg_tiles_open(ctx, in_data(v[i].file, p, sizeof p), &o, &t);
        const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
        TAP_OK(!rc && in->overview == v[i].ovr, "%s at 0.6 m/px reads overview %d (gdalwarp -ovr AUTO rule; got %d)",
               v[i].file, v[i].ovr, in ? in->overview : -9);
        if (!rc) rc = tg_tiles_run(ctx, t, NULL, NULL, NULL, NULL);
        TAP_EQ(rc, 0, "  and runs (%s)", tg_errmsg(ctx));
        tg_tiler_free(t);
    }
}

static void test_crs(tg_ctx *ctx, const bag *base)
{
    char p[1200], q[1200];
    tg_tile_options o = small_opts();
    /* US survey feet -> UTM 13N on NAD83 = the HRO grid: same positions. */
    bag ft;
    tg_tiler *t = NULL;
    int rc = run_all(ctx, in_data("hro_colorado_stateplane_ftUS.tif", p, sizeof p), &o, &ft, &t);
    const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in->work_epsg == 26913 && in->src_epsg == 2232, "ftUS raster (EPSG:2232) -> EPSG:26913 (%s)",
           in ? in->work_crs_reason : tg_errmsg(ctx));
    TAP_OK(in && strstr(in->work_crs_reason, "US survey foot") != NULL, "  reason names the unit");
    TAP_OK(in && in->grid_x0 == 519464 && in->grid_y0 == 4311672, "  grid anchored like the metre original");
    double worst = 0;
    int matched = 0;
    for (int i = 0; i < ft.n; i++) {
        const kept *k = find(base, ft.t[i].x_min, ft.t[i].y_max);
        if (!k || ft.t[i].valid < 0.99 || k->valid < 0.99) continue;
        matched++;
        worst = fmax(worst, mean_abs_diff(k->rgb, ft.t[i].rgb, 64 * 64 * 3));
    }
    TAP_OK(matched >= 8 && worst < 4.0, "  %d full tiles match the metre original within 4 levels mean (worst %.2f)",
           matched, worst);
    tg_tiler_free(t);
    bag_free(&ft);

    /* SIRGAS 2000 / UTM 25S: metric, own CRS; 6 bands -> 1,2,3. */
    o.tile_m = 1140; /* 40 px at 28.5 m */
    o.gsd_m = 28.5;
    t = NULL;
    rc = tg_tiles_open(ctx, in_data("L7_ETMs.tif", p, sizeof p), &o, &t);
    in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in->work_epsg == 31985 && in->n_channels == 3 && in->bands[2] == 3,
           "L7 (SIRGAS 2000 / UTM 25S): own CRS, bands 1,2,3 of 6");
    TAP_OK(in && in->center_lat < 0 && fabs(in->center_lat + 7.995376) < 1e-5, "  centre lat -7.995376");
    tg_tiler_free(t);

    /* Web Mercator, World Mercator and EPSG:4326 copies of the HRO scene -> WGS 84 / UTM 13N. */
    o = small_opts();
    static const struct { const char *name, *srs, *why; } w[] = {
        {"tc_3857.tif", "EPSG:3857", "Mercator"}, {"tc_3395.tif", "EPSG:3395", "Mercator"},
        {"tc_4326.tif", "EPSG:4326", "geographic"}};
    for (int i = 0; i < 3; i++) {
        char args[128];
        snprintf(args, sizeof args, "-t_srs %s -r bilinear", w[i].srs);
        if (warp(in_data(HRO ".tif", p, sizeof p), in_tmp(w[i].name, q, sizeof q), args)) {
            TAP_OK(0, "make %s", w[i].name);
            continue;
        }
        bag b;
        t = NULL;
        rc = run_all(ctx, q, &o, &b, &t);
        in = t ? tg_tiler_get_info(t) : NULL;
        TAP_OK(!rc && in->work_epsg == 32613, "%s raster -> EPSG:32613 (%s)", w[i].srs,
               in ? in->work_crs_reason : tg_errmsg(ctx));
        TAP_OK(in && strstr(in->work_crs_reason, w[i].why) != NULL, "  reason: %s",
               in ? in->work_crs_reason : "");
        double wd = 0;
        int m = 0;
        for (int k = 0; k < b.n; k++) {
            const kept *e = find(base, b.t[k].x_min, b.t[k].y_max);
            if (!e || b.t[k].valid < 0.99 || e->valid < 0.99) continue;
            m++;
            wd = fmax(wd, mean_abs_diff(e->rgb, b.t[k].rgb, 64 * 64 * 3));
        }
        /* True ground size: a 16 m tile from the Mercator copy shows the same
         * ground as the UTM original (a Mercator-metre tile would be 1.29x smaller). */
        TAP_OK(m >= 8 && wd < 6.0, "  %d full tiles show the same ground as the UTM original (worst mean %.2f)", m, wd);
        tg_tiler_free(t);
        bag_free(&b);
    }

    /* target_crs override. */
    o.target_crs = "EPSG:32613";
    t = NULL;
    rc = tg_tiles_open(ctx, in_data(HRO ".tif", p, sizeof p), &o, &t);
    in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in->work_epsg == 32613 && strstr(in->work_crs_reason, "caller"), "target_crs EPSG:32613 is used");
    tg_tiler_free(t);
}

static void test_rotated(tg_ctx *ctx)
{
    char p[1200], q[1200];
    if (make_rotated(in_data(HRO ".tif", p, sizeof p), in_tmp("tc_rotated.tif", q, sizeof q))) {
        TAP_OK(0, "make a rotated copy");
        return;
    }
    tg_tile_options o = small_opts();
    bag b;
    tg_tiler *t = NULL;
    int rc = run_all(ctx, q, &o, &b, &t);
    const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in->rotated && in->work_epsg == 26913, "rotated geotransform (20 deg): accepted, warped north-up");
    TAP_OK(b.n > 10 && (long long)b.n <= in->n_grid, "  %d tiles kept of a %d x %d grid", b.n, in ? in->n_cols : 0,
           in ? in->n_rows : 0);
    int in_range = 1;
    for (int i = 0; i < b.n; i++) in_range &= b.t[i].valid >= 0.5;
    TAP_OK(in_range, "  every kept tile is at least half valid");
    tg_tiler_free(t);
    bag_free(&b);
}

static void test_types(tg_ctx *ctx, const bag *base)
{
    char p[1200], q[1200];
    const char *src = in_data(HRO ".tif", p, sizeof p);
    tg_tile_options o = small_opts();
    const size_t n = 64 * 64 * 3;

    /* Grey: one band, replicated; equal to the RGB run's red channel. */
    bag g;
    translate(src, in_tmp("tc_grey.tif", q, sizeof q), "-b 1");
    tg_tiler *t = NULL;
    int rc = run_all(ctx, q, &o, &g, &t);
    const tg_tiler_info *in = t ? tg_tiler_get_info(t) : NULL;
    int ok = !rc && in->n_channels == 1 && g.n == base->n;
    for (int i = 0; ok && i < g.n; i++)
        for (size_t k = 0; ok && k < n; k += 3)
            ok = g.t[i].rgb[k] == g.t[i].rgb[k + 1] && g.t[i].rgb[k] == g.t[i].rgb[k + 2] &&
                 g.t[i].rgb[k] == base->t[i].rgb[k];
    TAP_OK(ok, "single band: R = G = B = the RGB file's red (%s)", in ? in->band_reason : tg_errmsg(ctx));
    tg_tiler_free(t);
    bag_free(&g);

    /* UInt16 12-bit (16 v + 5), Int16 (16 v - 1000), Float32 and Float64 (v / 255). */
    static const struct { const char *name, *args; double lo, hi; const char *type; } v[] = {
        {"tc_u16.tif", "-ot UInt16 -scale 0 255 5 4085", 5, 4085, "UInt16"},
        {"tc_i16.tif", "-ot Int16 -scale 0 255 -1000 3080", -1000, 3080, "Int16"},
        {"tc_f32.tif", "-ot Float32 -scale 0 255 0 1", 0, 1, "Float32"},
        {"tc_f64.tif", "-ot Float64 -scale 0 255 0 1", 0, 1, "Float64"}};
    for (int i = 0; i < 4; i++) {
        if (translate(src, in_tmp(v[i].name, q, sizeof q), v[i].args)) {
            TAP_OK(0, "make %s", v[i].name);
            continue;
        }
        bag b;
        t = NULL;
        o = small_opts();
        rc = run_all(ctx, q, &o, &b, &t);
        in = t ? tg_tiler_get_info(t) : NULL;
        TAP_OK(!rc && in->stretch == TG_STRETCH_PERCENT && !strcmp(in->data_type, v[i].type) &&
               in->stretch_lo[0] > v[i].lo && in->stretch_hi[0] < v[i].hi && in->stretch_lo[0] < in->stretch_hi[0],
               "%s: automatic 2..98 percentile stretch (R %.6g..%.6g)", v[i].type, in ? in->stretch_lo[0] : 0,
               in ? in->stretch_hi[0] : 0);
        tg_tiler_free(t);
        bag_free(&b);
        /* An explicit range that undoes the scaling gives the Byte tiles back. */
        o.stretch = TG_STRETCH_RANGE;
        for (int c = 0; c < 3; c++) {
            o.range_lo[c] = v[i].lo;
            o.range_hi[c] = v[i].hi;
        }
        rc = run_all(ctx, q, &o, &b, NULL);
        int worst = 0;
        for (int k = 0; !rc && k < b.n && b.n == base->n; k++)
            worst = max_abs_diff(b.t[k].rgb, base->t[k].rgb, n) > worst ? max_abs_diff(b.t[k].rgb, base->t[k].rgb, n)
                                                                        : worst;
        TAP_OK(!rc && b.n == base->n && worst <= 1, "%s with range %g..%g = the Byte tiles within 1 level (max %d)",
               v[i].type, v[i].lo, v[i].hi, worst);
        bag_free(&b);
    }

    /* Palette expanded to RGB: red = band 1, green = 255 - band 1. */
    o = small_opts();
    if (!make_palette(src, in_tmp("tc_palette.tif", q, sizeof q))) {
        bag b;
        t = NULL;
        rc = run_all(ctx, q, &o, &b, &t);
        in = t ? tg_tiler_get_info(t) : NULL;
        int good = !rc && b.n == base->n && strstr(in->band_reason, "palette") != NULL;
        int worst = 0;
        for (int k = 0; good && k < b.n; k++)
            for (size_t j = 0; j < n; j += 3) {
                if (b.t[k].rgb[j] != base->t[k].rgb[j]) good = 0;
                int d = abs((int)b.t[k].rgb[j + 1] - (255 - (int)base->t[k].rgb[j]));
                if (base->t[k].rgb[j] && d > worst) worst = d; /* 0 = outside the raster */
            }
        TAP_OK(good && worst <= 1, "palette raster: expanded to RGB before warping (green max |diff| %d)", worst);
        tg_tiler_free(t);
        bag_free(&b);
    } else
        TAP_OK(0, "make a palette raster");

    /* NAIP RGBN: bands 1,2,3 by default; 3,2,1 on request swaps R and B exactly. */
    o.tile_m = 320;
    o.gsd_m = 5;
    bag a, b;
    const char *naip = in_data("m_4709963_se_14_1_20090818.tif", q, sizeof q);
    t = NULL;
    rc = run_all(ctx, naip, &o, &a, &t);
    in = t ? tg_tiler_get_info(t) : NULL;
    TAP_OK(!rc && in->n_channels == 3 && in->bands[0] == 1 && in->bands[2] == 3 && !strcmp(in->validity, "nodata 0"),
           "NAIP RGBN: bands 1,2,3 of 4, validity nodata 0 (%s)", in ? in->band_reason : tg_errmsg(ctx));
    TAP_OK(in && in->n_estimated > 0 && llabs(in->n_estimated - a.n) <= in->n_cols + in->n_rows,
           "  estimated %lld tiles, kept %d", in ? in->n_estimated : 0, a.n);
    tg_tiler_free(t);
    o.bands[0] = 3;
    o.bands[1] = 2;
    o.bands[2] = 1;
    rc = run_all(ctx, naip, &o, &b, &t);
    in = t ? tg_tiler_get_info(t) : NULL;
    ok = !rc && a.n == b.n && a.n > 50 && strstr(in->band_reason, "caller") != NULL;
    for (int k = 0; ok && k < a.n; k++)
        for (size_t j = 0; ok && j < (size_t)a.px * a.px * 3; j += 3)
            ok = a.t[k].rgb[j] == b.t[k].rgb[j + 2] && a.t[k].rgb[j + 1] == b.t[k].rgb[j + 1] &&
                 a.t[k].rgb[j + 2] == b.t[k].rgb[j];
    TAP_OK(ok, "NAIP with bands 3,2,1: R and B swapped, byte for byte (%d tiles)", b.n);
    tg_tiler_free(t);
    bag_free(&a);
    bag_free(&b);
}

static void test_errors(tg_ctx *ctx)
{
    char base[1200], q[1200], naip[1200];
    in_data(HRO ".tif", base, sizeof base);
    in_data("m_4709963_se_14_1_20090818.tif", naip, sizeof naip);
    /* inputs */
    char nogeo[1200], nocrs[1200], gcp[1200], trunc_hdr[1200], trunc_cog[1200], wide[1200], corrupt[1200], dir[1200];
    char aux[1300];
    in_tmp("tc_nogeo.tif", nogeo, sizeof nogeo);
    in_tmp("tc_nocrs.tif", nocrs, sizeof nocrs);
    in_tmp("tc_gcp.tif", gcp, sizeof gcp);
    in_tmp("tc_trunc.tif", trunc_hdr, sizeof trunc_hdr);
    in_tmp("tc_trunc_cog.tif", trunc_cog, sizeof trunc_cog);
    in_tmp("tc_wide.tif", wide, sizeof wide);
    in_tmp("tc_corrupt.tif", corrupt, sizeof corrupt);
    snprintf(dir, sizeof dir, "%s", g_tmp);
    translate(base, nogeo, "-co PROFILE=BASELINE");
    snprintf(aux, sizeof aux, "%s.aux.xml", nogeo);
    VSIUnlink(aux);
    translate(base, nocrs, "-co PROFILE=BASELINE -co TFW=YES");
    snprintf(aux, sizeof aux, "%s.aux.xml", nocrs);
    VSIUnlink(aux);
    translate(base, gcp, "-gcp 0 0 519467.5 4311669.8 -gcp 383 0 519524.9 4311669.8 -gcp 0 232 519467.5 4311635 "
                         "-a_srs EPSG:26913");
    copy_prefix(base, trunc_hdr, file_size(base) / 2); /* the IFD is at the end */
    in_data("cog_rgb.tif", q, sizeof q);
    copy_prefix(q, trunc_cog, file_size(q) / 2); /* COG: IFD first, tiles missing */
    make_wide(wide);
    copy_prefix(naip, corrupt, file_size(naip));
    corrupt_block(corrupt);

    tg_tile_options d = tg_tile_options_default(), tiny = d, band = d, tcrs = d, bad = d, huge = d, gsd0 = d;
    tiny.tile_m = 3.5; /* 7 px at 0.5 m */
    band.bands[0] = 1;
    band.bands[1] = 2;
    band.bands[2] = 9;
    tcrs.target_crs = "EPSG:4326";
    bad.target_crs = "not a crs";
    huge.tile_m = 0.0001; /* 10 px of 10 um: 570,000 tiles across 57 m */
    huge.gsd_m = 0.00001;
    gsd0.gsd_m = 0;
    static char provenance[1200];
    snprintf(provenance, sizeof provenance, "%s/PROVENANCE.md", g_data);
    const struct {
        const char *what, *path;
        const tg_tile_options *o;
        int code;
        const char *msg;
    } cases[] = {
        {"missing file", "/nonexistent/x.tif", &d, TG_EIO, "no such file"},
        {"a directory", dir, &d, TG_EIO, "is a directory"},
        {"a text file", provenance, &d, TG_EFORMAT, "cannot be opened as a raster"},
        {"truncated striped TIFF (IFD lost)", trunc_hdr, &d, TG_EFORMAT, "truncated/corrupt"},
        {"truncated COG (tiles lost)", trunc_cog, &d, TG_EFORMAT, "truncated or corrupt"},
        {"no georeferencing", nogeo, &d, TG_EGEO, "gdal_edit.py -a_ullr"},
        {"no CRS", nocrs, &d, TG_EGEO, "no CRS: set it with gdal_edit.py -a_srs"},
        {"GCPs only", gcp, &d, TG_EGEO, "GCPs only"},
        {"30 degrees wide in EPSG:4326", wide, &d, TG_EGEO, "too wide for one UTM zone"},
        {"tile of 7 px", base, &tiny, TG_EINVAL, "is 7 px wide; at least 8 px"},
        {"band 9 of 3", base, &band, TG_EINVAL, "band 9 does not exist"},
        {"geographic target CRS", base, &tcrs, TG_EINVAL, "must be projected in metres"},
        {"unknown target CRS", base, &bad, TG_EINVAL, "is not a CRS GDAL knows"},
        {"grid too large", base, &huge, TG_EINVAL, "too large"},
        {"gsd 0", base, &gsd0, TG_EINVAL, "gsd_m 0 must be a positive"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_tiler *t = (tg_tiler *)1;
        int rc = tg_tiles_open(ctx, cases[i].path, cases[i].o, &t);
        TAP_OK(rc == cases[i].code && t == NULL && tg_errcode(ctx) == rc, "%s: %s (code %d, want %d)", cases[i].what,
               tg_strerror(cases[i].code), rc, cases[i].code);
        if (!TAP_OK(strstr(tg_errmsg(ctx), cases[i].msg) != NULL, "  message has '%s'", cases[i].msg))
            tap_diag("message: %s", tg_errmsg(ctx));
    }
    /* A block corrupt in the middle is found during the run. */
    tg_tile_options o = d;
    o.tile_m = 320;
    o.gsd_m = 5;
    tg_tiler *t = NULL;
    int rc = tg_tiles_open(ctx, corrupt, &o, &t);
    TAP_EQ(rc, 0, "corrupt middle block: open succeeds (first and last blocks are fine)");
    if (!rc) {
        rc = tg_tiles_run(ctx, t, NULL, NULL, NULL, NULL);
        TAP_EQ(rc, TG_EFORMAT, "  the run fails with TG_EFORMAT");
        if (!TAP_OK(strstr(tg_errmsg(ctx), "truncated or corrupt") && strstr(tg_errmsg(ctx), "tc_corrupt.tif"),
                    "  message names the file and the cause"))
            tap_diag("message: %s", tg_errmsg(ctx));
    }
    tg_tiler_free(t);
    TAP_EQ(tg_tiles_open(ctx, NULL, &d, &t), TG_EINVAL, "NULL path: TG_EINVAL");
    tg_tiler_free(NULL); /* must be a no-op: a crash here fails the whole file */
}

int main(void)
{
    snprintf(g_data, sizeof g_data, "%s", tap_shared());
    snprintf(g_tmp, sizeof g_tmp, "%s", tap_env("TG_TMPDIR", "/tmp"));
    GDALAllRegister();
    CPLSetErrorHandler(CPLQuietErrorHandler);
    char probe[1200];
    if (file_size(in_data(HRO ".tif", probe, sizeof probe)) < 0) {
        tap_skip("tilecache tests", "shared/data/rasters not found (set TG_SHARED_DATA)");
        return tap_done();
    }
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) return 1;
    tg_ctx_set_threads(ctx, 1);
    bag base;
    memset(&base, 0, sizeof base);
    test_defaults();
    test_hro(ctx, &base);
    if (base.n == 28) {
        test_progress(ctx);
        test_memory_bound(ctx, &base);
        test_twins(ctx, &base);
        test_crs(ctx, &base);
        test_types(ctx, &base);
    }
    test_overviews(ctx);
    test_rotated(ctx);
    test_errors(ctx);
    bag_free(&base);
    tg_ctx_free(ctx);
    GDALDestroyDriverManager();
    OSRCleanup();
    return tap_done();
}
