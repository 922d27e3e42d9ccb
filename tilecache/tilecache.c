/*
 * tilecache.c - raster -> north-up metric RGB8 tiles with exact footprints.
 *
 * The contract (working CRS, grid anchoring, validity, stretch, memory bound)
 * is in tilecache.h. How it is done:
 *   open:  GDALOpenEx; checks (georeferencing, CRS, first/last block); working
 *          CRS (own CRS, else UTM of the centre on the raster's datum); raster
 *          outline (21 points per edge) -> grid; overview level by gdalwarp's
 *          -ovr AUTO rule, opened as its own dataset (OVERVIEW_LEVEL open
 *          option); band selection as an in-memory VRT (GDALTranslate -of VRT
 *          -b ...) when the bands used are not exactly the raster's bands;
 *          stretch from GDAL's approximate histogram.
 *   run:   for each tile row, warp the strip of the grid it needs with
 *          GDALWarp() (gdalwarp's library entry point) into a MEM dataset whose
 *          bands point into our buffer (band-sequential planes + alpha plane),
 *          then cut tiles out of the buffer. Successive tile rows overlap by
 *          tile_px - stride_px rows: those are moved up, not warped again.
 * GDAL messages are silenced per call (CPLQuietErrorHandler) and appended to
 * our error message.
 */
#define _GNU_SOURCE /* struct stat64 for GDAL's VSIStatBufL */
#include "config.h"
#include "transgeo/tilecache.h"

#include "base/gdal.h"
#include "transgeo/geo.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_alg.h>
#include <gdal_utils.h>
#include <ogr_srs_api.h>
#include <proj.h>

enum {
    MIN_TILE_PX = 8,
    MAX_TILE_PX = 16384,
    OUTLINE_SEG = 20,                      /* segments per raster edge (21 points) */
    OUTLINE_N = 4 * OUTLINE_SEG,           /* outline points */
    MAX_GRID_PX = INT_MAX / 2,             /* grid width/height in pixels */
    MAX_GRID_SIDE = 1000000                /* grid width/height in tiles */
};
#define MAX_UTM_DLON 9.0   /* degrees from the zone's central meridian */
#define MAX_SCALE_ERR 0.01 /* own CRS accepted when |k - 1| <= 1 % at the centre */
/* UPS accepted when the grid convergence on the whole outline is at most
 * this: what the UTM rule accepts (9 degrees from the central meridian at
 * 84 N turns the grid by atan(tan 9 * sin 84) = 8.95 degrees). */
#define MAX_CONVERGENCE_DEG 9.0

struct tg_tiler {
    tg_tile_options opt;      /* copy; target_crs points to target_crs_copy */
    char *target_crs_copy;
    char *path;
    GDALDatasetH ds;          /* the raster */
    GDALDatasetH ovr_ds;      /* its overview level, opened on its own, or NULL */
    GDALDatasetH vrt_ds;      /* band selection VRT over ds or ovr_ds, or NULL */
    GDALDatasetH warp_src;    /* what GDALWarp reads: vrt_ds, ovr_ds or ds */
    int src_has_alpha;        /* warp_src's last band is the alpha band */
    GDALDataType work_type;   /* GDT_Byte, or GDT_Float32 when a stretch is applied */
    int bps;                  /* bytes per sample of work_type */
    double gt[6], inv_gt[6];  /* raster geotransform and its inverse */
    OGRSpatialReferenceH src_srs, work_srs, ll_srs;
    OGRCoordinateTransformationH work_to_ll, work_to_src;
    char *src_name, *work_name, *work_wkt, *data_type;
    char work_reason[400];
    char band_reason[160];
    char validity[96];
    tg_tiler_info info;
    /* strip buffer: (n_channels + 1) planes of tile_px lines of buf_line bytes */
    unsigned char *buf;
    size_t buf_line, buf_plane;
    int buf_valid, buf_c0, buf_c1;
    long long buf_top;        /* grid pixel row held by buffer line 0 */
    /* one tile's planes for tg_tiles_get, and the tile output */
    unsigned char *one;
    unsigned char *tile_rgb, *tile_alpha;
};

/* ---- small helpers -------------------------------------------------------- */


/* GDAL reports through a per-thread handler stack: silence it for the
 * duration of one of our calls and read CPLGetLastErrorMsg() on failure. */
static void quiet_begin(void)
{
    tg_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
}
static void quiet_end(void) { CPLPopErrorHandler(); }
static const char *gdal_msg(void)
{
    const char *m = CPLGetLastErrorMsg();
    return m && *m ? m : "GDAL gave no detail";
}

static char *dupstr(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int srs_epsg(OGRSpatialReferenceH srs)
{
    const char *auth = OSRGetAuthorityName(srs, NULL);
    const char *code = OSRGetAuthorityCode(srs, NULL);
    if (auth && code && !strcmp(auth, "EPSG")) return atoi(code);
    return 0;
}

static char *srs_wkt(OGRSpatialReferenceH srs)
{
    char *w = NULL;
    const char *const o[] = {"FORMAT=WKT2_2019", NULL};
    if (OSRExportToWktEx(srs, &w, o) != OGRERR_NONE || !w) {
        CPLFree(w);
        return NULL;
    }
    char *d = dupstr(w);
    CPLFree(w);
    return d;
}

static void apply_gt(const double gt[6], double px, double py, double *x, double *y)
{
    *x = gt[0] + px * gt[1] + py * gt[2];
    *y = gt[3] + px * gt[4] + py * gt[5];
}

const char *tg_resampling_name(tg_resampling r)
{
    switch (r) {
    case TG_RESAMPLE_BILINEAR: return "bilinear";
    case TG_RESAMPLE_CUBIC: return "cubic";
    case TG_RESAMPLE_LANCZOS: return "lanczos";
    case TG_RESAMPLE_NEAREST: return "near";
    case TG_RESAMPLE_AVERAGE: return "average";
    }
    return "?";
}

int tg_resampling_parse(const char *name, tg_resampling *out)
{
    static const struct { const char *n; tg_resampling r; } tab[] = {
        {"bilinear", TG_RESAMPLE_BILINEAR}, {"cubic", TG_RESAMPLE_CUBIC},
        {"lanczos", TG_RESAMPLE_LANCZOS},   {"near", TG_RESAMPLE_NEAREST},
        {"nearest", TG_RESAMPLE_NEAREST},   {"average", TG_RESAMPLE_AVERAGE}};
    for (size_t i = 0; name && i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(name, tab[i].n)) {
            *out = tab[i].r;
            return 0;
        }
    return TG_EINVAL;
}

const char *tg_stretch_name(tg_stretch s)
{
    switch (s) {
    case TG_STRETCH_AUTO: return "auto";
    case TG_STRETCH_NONE: return "none";
    case TG_STRETCH_MINMAX: return "minmax";
    case TG_STRETCH_PERCENT: return "percent";
    case TG_STRETCH_RANGE: return "range";
    }
    return "?";
}

tg_tile_options tg_tile_options_default(void)
{
    tg_tile_options o;
    memset(&o, 0, sizeof o);
    o.tile_m = 64.0;
    o.gsd_m = 0.5;
    o.stride_m = 0.0;
    o.resampling = TG_RESAMPLE_BILINEAR;
    o.max_nodata_share = 0.5;
    o.stretch = TG_STRETCH_AUTO;
    o.percent_lo = 2.0;
    o.percent_hi = 98.0;
    o.target_crs = NULL;
    o.max_buffer_mb = 256.0;
    o.warp_memory_mb = 64.0;
    return o;
}

void tg_tiler_free(tg_tiler *t)
{
    if (!t) return;
    /* The VRT and the overview dataset reference ds: close them first. */
    if (t->vrt_ds) GDALClose(t->vrt_ds);
    if (t->ovr_ds) GDALClose(t->ovr_ds);
    if (t->ds) GDALClose(t->ds);
    if (t->work_to_ll) OCTDestroyCoordinateTransformation(t->work_to_ll);
    if (t->work_to_src) OCTDestroyCoordinateTransformation(t->work_to_src);
    if (t->src_srs) OSRRelease(t->src_srs);
    if (t->work_srs) OSRRelease(t->work_srs);
    if (t->ll_srs) OSRRelease(t->ll_srs);
    free(t->target_crs_copy);
    free(t->path);
    free(t->src_name);
    free(t->work_name);
    free(t->work_wkt);
    free(t->data_type);
    free(t->buf);
    free(t->one);
    free(t->tile_rgb);
    free(t->tile_alpha);
    free(t);
}

const tg_tiler_info *tg_tiler_get_info(const tg_tiler *t) { return t ? &t->info : NULL; }

/* ---- options ---------------------------------------------------------------- */

static int check_options(tg_ctx *ctx, const char *path, tg_tile_options *o)
{
    if (!(isfinite(o->tile_m) && o->tile_m > 0))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': tile_m %g must be a positive number of metres",
                            path, o->tile_m);
    if (!(isfinite(o->gsd_m) && o->gsd_m > 0))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': gsd_m %g must be a positive number of metres per pixel",
                            path, o->gsd_m);
    if (o->stride_m == 0) o->stride_m = o->tile_m / 2;
    if (!(isfinite(o->stride_m) && o->stride_m > 0))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': stride_m %g must be positive (0 = tile_m / 2)",
                            path, o->stride_m);
    if (!(o->max_nodata_share >= 0 && o->max_nodata_share <= 1))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': max_nodata_share %g must be within 0..1",
                            path, o->max_nodata_share);
    if ((unsigned)o->resampling > TG_RESAMPLE_AVERAGE)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': unknown resampling %d", path, (int)o->resampling);
    if ((unsigned)o->stretch > TG_STRETCH_RANGE)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': unknown stretch %d", path, (int)o->stretch);
    if (o->stretch == TG_STRETCH_PERCENT &&
        !(o->percent_lo >= 0 && o->percent_lo < o->percent_hi && o->percent_hi <= 100))
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': percentiles %g..%g must satisfy 0 <= lo < hi <= 100",
                            path, o->percent_lo, o->percent_hi);
    if (o->stretch == TG_STRETCH_RANGE)
        for (int c = 0; c < 3; c++)
            if (!(isfinite(o->range_lo[c]) && isfinite(o->range_hi[c]) && o->range_lo[c] < o->range_hi[c]))
                return tg_set_error(ctx, TG_EINVAL,
                                    "raster '%s': stretch range %g..%g of channel %d is empty",
                                    path, o->range_lo[c], o->range_hi[c], c + 1);
    if (!(o->max_buffer_mb > 0 && isfinite(o->max_buffer_mb)))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': max_buffer_mb %g must be positive",
                            path, o->max_buffer_mb);
    if (!(o->warp_memory_mb > 0 && o->warp_memory_mb < 10000))
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': warp_memory_mb %g must be within (0, 10000)",
                            path, o->warp_memory_mb);
    int nb = (o->bands[0] != 0) + (o->bands[1] != 0) + (o->bands[2] != 0);
    if (nb != 0 && nb != 3)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': bands %d,%d,%d: give all three (R,G,B) or none",
                            path, o->bands[0], o->bands[1], o->bands[2]);
    return 0;
}

/* ---- opening and georeferencing -------------------------------------------- */

static int open_raster(tg_ctx *ctx, tg_tiler *t)
{
    VSIStatBufL st;
    int exists = VSIStatL(t->path, &st) == 0;
    if (exists && VSI_ISDIR(st.st_mode))
        return tg_set_error(ctx, TG_EIO, "raster '%s' is a directory, not a raster file", t->path);
    /* A device or FIFO would be read forever (/dev/zero) or block the open. */
    if (exists && !VSI_ISREG(st.st_mode) && strncmp(t->path, "/vsi", 4))
        return tg_set_error(ctx, TG_EIO, "raster '%s' is not a regular file (a device, FIFO or socket)",
                            t->path);
    t->ds = GDALOpenEx(t->path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, NULL, NULL,
                       NULL);
    if (!t->ds) {
        if (!exists && strncmp(t->path, "/vsi", 4) && !strchr(t->path, ':')) {
            tg_set_error(ctx, TG_EIO, "raster '%s': no such file", t->path);
            return TG_EIO;
        }
        if (exists && access(t->path, R_OK) != 0 && strncmp(t->path, "/vsi", 4)) {
            tg_set_error(ctx, TG_EIO, "raster '%s' cannot be read (%s): check its permissions", t->path,
                         strerror(errno));
            return TG_EIO;
        }
        /* GDAL's text is not appended when reading a file fails, here and
         * below: a driver may quote the bytes it choked on (an XML parser,
         * a header field), and a file's contents never go into a message
         * (transgeo-sql(7), UNTRUSTED SQL AND DATABASES). */
        tg_set_error(ctx, TG_EFORMAT,
                     "raster '%s' cannot be opened as a raster (not a format GDAL reads, or a "
                     "truncated/corrupt header)", t->path);
        return TG_EFORMAT;
    }
    if (GDALGetRasterCount(t->ds) < 1 || GDALGetRasterXSize(t->ds) < 1 || GDALGetRasterYSize(t->ds) < 1)
        return tg_set_error(ctx, TG_EFORMAT, "raster '%s' has no raster bands", t->path);
    return 0;
}

/* Read the first and the last pixel of every band: a truncated file fails
 * here (its last strips/tiles are missing) rather than half-way through a run. */
static int probe_blocks(tg_ctx *ctx, tg_tiler *t)
{
    int w = GDALGetRasterXSize(t->ds), h = GDALGetRasterYSize(t->ds), nb = GDALGetRasterCount(t->ds);
    double v;
    for (int b = 1; b <= nb; b++) {
        GDALRasterBandH band = GDALGetRasterBand(t->ds, b);
        for (int k = 0; k < 2; k++) {
            int x = k ? w - 1 : 0, y = k ? h - 1 : 0;
            if (GDALRasterIO(band, GF_Read, x, y, 1, 1, &v, 1, 1, GDT_Float64, 0, 0) != CE_None) {
                tg_set_error(ctx, TG_EFORMAT,
                             "raster '%s': reading band %d at pixel (%d, %d) failed: the file is truncated "
                             "or corrupt (check it with gdalinfo -checksum)", t->path, b, x, y);
                return TG_EFORMAT;
            }
        }
    }
    return 0;
}

static int check_georef(tg_ctx *ctx, tg_tiler *t)
{
    if (GDALGetGeoTransform(t->ds, t->gt) != CE_None) {
        if (GDALGetGCPCount(t->ds) > 0)
            return tg_set_error(ctx, TG_EGEO,
                                "raster '%s' is georeferenced by GCPs only, not by a geotransform: "
                                "rectify it first (gdalwarp -t_srs EPSG:XXXX '%s' rectified.tif)",
                                t->path, t->path);
        if (GDALGetMetadata(t->ds, "RPC"))
            return tg_set_error(ctx, TG_EGEO,
                                "raster '%s' has RPCs only, no geotransform: orthorectify it first "
                                "(gdalwarp -rpc -t_srs EPSG:XXXX '%s' ortho.tif)", t->path, t->path);
        return tg_set_error(ctx, TG_EGEO,
                            "raster '%s' is not georeferenced (no geotransform): set its corners and CRS "
                            "with gdal_edit.py -a_ullr ULX ULY LRX LRY -a_srs EPSG:XXXX '%s', or put a "
                            "world file (.tfw/.wld) and a .prj next to it", t->path, t->path);
    }
    double det = t->gt[1] * t->gt[5] - t->gt[2] * t->gt[4];
    if (!isfinite(det) || fabs(det) < 1e-300 || !GDALInvGeoTransform(t->gt, t->inv_gt))
        return tg_set_error(ctx, TG_EGEO,
                            "raster '%s' has a degenerate geotransform (a pixel of zero or no "
                            "finite area; gdalinfo shows it): fix it with gdal_edit.py -a_ullr",
                            t->path);
    t->info.rotated = t->gt[2] != 0 || t->gt[4] != 0;
    OGRSpatialReferenceH srs = GDALGetSpatialRef(t->ds);
    if (!srs)
        return tg_set_error(ctx, TG_EGEO,
                            "raster '%s' has a geotransform but no CRS: set it with gdal_edit.py -a_srs "
                            "EPSG:XXXX '%s' (or put a .prj next to it)", t->path, t->path);
    t->src_srs = OSRClone(srs);
    if (!t->src_srs) return tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory", t->path);
    OSRSetAxisMappingStrategy(t->src_srs, OAMS_TRADITIONAL_GIS_ORDER);
    t->src_name = dupstr(OSRGetName(t->src_srs) ? OSRGetName(t->src_srs) : "unnamed CRS");
    t->info.src_epsg = srs_epsg(t->src_srs);
    if (!t->info.src_epsg) {
        OGRSpatialReferenceH c = OSRClone(t->src_srs);
        if (c && OSRAutoIdentifyEPSG(c) == OGRERR_NONE) t->info.src_epsg = srs_epsg(c);
        if (c) OSRRelease(c);
    }
    return 0;
}

/* Raster outline (OUTLINE_N points along the pixel-space border) in the source CRS. */
static void outline_src(const tg_tiler *t, double *x, double *y)
{
    double w = GDALGetRasterXSize(t->ds), h = GDALGetRasterYSize(t->ds);
    for (int i = 0; i < OUTLINE_SEG; i++) {
        double f = (double)i / OUTLINE_SEG;
        double px[4] = {f * w, w, (1 - f) * w, 0}, py[4] = {0, f * h, h, (1 - f) * h};
        for (int e = 0; e < 4; e++) apply_gt(t->gt, px[e], py[e], &x[e * OUTLINE_SEG + i], &y[e * OUTLINE_SEG + i]);
    }
}

static OGRSpatialReferenceH new_srs_epsg(int code)
{
    OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
    if (!s) return NULL;
    if (OSRImportFromEPSG(s, code) != OGRERR_NONE) {
        OSRRelease(s);
        return NULL;
    }
    OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
    return s;
}

/* A PJ of srs for proj_factors: from its WKT (as_proj4 0) or its PROJ
 * string (1). proj_factors fails on the WKT of polar CRSs whose axes are
 * "south along 180 E" / "south along 90 E" (EPSG:32661, and what GDAL reads
 * back from a polar stereographic GeoTIFF; PROJ 9.1: point outside domain),
 * and works on their PROJ string (easting, northing). */
static PJ *srs_pj(PJ_CONTEXT *pc, OGRSpatialReferenceH srs, int as_proj4)
{
    PJ *p = NULL;
    if (!as_proj4) {
        char *wkt = srs_wkt(srs);
        if (wkt) p = proj_create(pc, wkt);
        free(wkt);
        return p;
    }
    char *p4 = NULL, def[600];
    if (OSRExportToProj4(srs, &p4) == OGRERR_NONE && p4 &&
        snprintf(def, sizeof def, "%s +type=crs", p4) < (int)sizeof def)
        p = proj_create(pc, def);
    CPLFree(p4);
    return p;
}

/* The zone rule is geo's (tg_geo_utm_epsg): UTM with the Norway/Svalbard
 * exceptions, UPS beyond 84 N / 80 S. The CRS is built on the datum of src
 * (no datum shift) and replaced by its EPSG definition when PROJ finds an
 * equivalent one (NAD83 -> 269xx, WGS 84 -> 326xx/327xx, ...). For UPS on
 * WGS 84 that is the rule's own code (32661/32761) rather than the (E,N)
 * twins 5041/5042 PROJ may match first. *rule_epsg gets the rule's code. */
static OGRSpatialReferenceH make_zone_crs(OGRSpatialReferenceH src, double lon, double lat, int *rule_epsg)
{
    int epsg = tg_geo_utm_epsg(lon, lat);
    *rule_epsg = epsg;
    if (epsg < 0) return NULL;
    int ups = epsg == 32661 || epsg == 32761;
    OGRSpatialReferenceH crs = OSRCloneGeogCS(src);
    if (!crs) return NULL;
    OGRErr e = ups ? OSRSetPS(crs, epsg == 32661 ? 90.0 : -90.0, 0.0, 0.994, 2000000.0, 2000000.0)
                   : OSRSetUTM(crs, epsg % 100, epsg < 32700);
    if (e != OGRERR_NONE) {
        OSRRelease(crs);
        return NULL;
    }
    OSRSetAxisMappingStrategy(crs, OAMS_TRADITIONAL_GIS_ORDER);
    int code = 0;
    if (ups) {
        OGRSpatialReferenceH wgs = new_srs_epsg(4326);
        if (wgs && OSRIsSameGeogCS(crs, wgs)) code = epsg;
        if (wgs) OSRRelease(wgs);
    } else if (OSRAutoIdentifyEPSG(crs) == OGRERR_NONE) {
        code = srs_epsg(crs);
    }
    if (!code) {
        int n = 0, *conf = NULL;
        OGRSpatialReferenceH *m = OSRFindMatches(crs, NULL, &n, &conf);
        const char *const crit[] = {"IGNORE_DATA_AXIS_TO_SRS_AXIS_MAPPING=YES", "CRITERION=EQUIVALENT", NULL};
        for (int i = 0; m && i < n && !code; i++)
            if (conf[i] >= 70 && OSRIsSameEx(m[i], crs, crit)) code = srs_epsg(m[i]);
        if (m) OSRFreeSRSArray(m);
        CPLFree(conf);
    }
    if (code) {
        OGRSpatialReferenceH c = new_srs_epsg(code);
        if (c) {
            OSRRelease(crs);
            crs = c;
        }
    }
    return crs;
}

/* Grid convergence (angle from grid north to true north, degrees, PROJ's
 * proj_factors) of a projected CRS at n lon/lat points; worst |value| and
 * where. -1 when PROJ cannot evaluate it. */
static int crs_max_convergence(OGRSpatialReferenceH srs, int n, const double *lon, const double *lat,
                               const int *ok, double *worst_deg, int *worst_i)
{
    PJ_CONTEXT *pc = proj_context_create();
    PJ *p = pc ? srs_pj(pc, srs, 1) : NULL;
    int rc = p ? 0 : -1;
    *worst_deg = 0;
    *worst_i = 0;
    for (int i = 0; p && i < n; i++) {
        if (ok && !ok[i]) continue;
        PJ_FACTORS f = proj_factors(p, proj_coord(proj_torad(lon[i]), proj_torad(lat[i]), 0, 0));
        if (proj_errno(p)) {
            rc = -1;
            break;
        }
        double g = fabs(proj_todeg(f.meridian_convergence));
        if (g > *worst_deg) {
            *worst_deg = g;
            *worst_i = i;
        }
    }
    if (p) proj_destroy(p);
    if (pc) proj_context_destroy(pc);
    return rc;
}

/* The fix offered when UPS is refused: a polar stereographic with UPS's
 * parameters turned to the raster's meridian (grid north = true north
 * there), on the raster's datum, as a PROJ string. */
static void turned_ups(OGRSpatialReferenceH src, double lon, int north, char *out, size_t n)
{
    out[0] = '\0';
    OGRSpatialReferenceH s = OSRCloneGeogCS(src);
    char *p4 = NULL;
    lon = floor(fmod(lon + 540.0, 360.0) - 180.0 + 0.5); /* whole degrees: convergence <= 0.5 deg at the centre */
    if (s && OSRSetPS(s, north ? 90.0 : -90.0, lon, 0.994, 2000000.0, 2000000.0) == OGRERR_NONE &&
        OSRExportToProj4(s, &p4) == OGRERR_NONE && p4) {
        size_t l = strlen(p4);
        while (l && p4[l - 1] == ' ') p4[--l] = '\0';
        snprintf(out, n, "%s", p4);
    }
    CPLFree(p4);
    if (s) OSRRelease(s);
}

/* Point scale (meridional, parallel) and grid convergence (degrees) of a
 * projected CRS at lon/lat degrees. */
static int crs_factors(OGRSpatialReferenceH srs, double lon, double lat, double *km, double *kp, double *conv_deg)
{
    PJ_CONTEXT *pc = proj_context_create();
    int rc = -1;
    for (int pass = 0; pc && pass < 2 && rc; pass++) {
        PJ *p = srs_pj(pc, srs, pass);
        if (!p) continue;
        PJ_FACTORS f = proj_factors(p, proj_coord(proj_torad(lon), proj_torad(lat), 0, 0));
        if (!proj_errno(p) && f.meridional_scale > 0 && f.parallel_scale > 0) {
            *km = f.meridional_scale;
            *kp = f.parallel_scale;
            if (conv_deg) *conv_deg = proj_todeg(f.meridian_convergence);
            rc = 0;
        }
        proj_destroy(p);
    }
    if (pc) proj_context_destroy(pc);
    return rc;
}

/* A polar stereographic (+proj=stere centred on a pole), whose axes GDAL
 * names "south along a meridian" rather than east/north. */
static int polar_stereographic(OGRSpatialReferenceH s)
{
    char *p4 = NULL;
    int yes = OSRExportToProj4(s, &p4) == OGRERR_NONE && p4 && strstr(p4, "+proj=stere ") &&
              (strstr(p4, "+lat_0=90 ") || strstr(p4, "+lat_0=-90 "));
    CPLFree(p4);
    return yes;
}

/* Can the raster's own CRS be the working CRS? 1 yes; 0 no, with why. */
static int own_crs_ok(OGRSpatialReferenceH s, double lon, double lat, char *why, size_t n, double *k_out)
{
    *k_out = 1;
    if (!OSRIsProjected(s)) {
        snprintf(why, n, "the raster CRS is %s", OSRIsGeographic(s) ? "geographic (degrees)" : "not projected");
        return 0;
    }
    char *uname = NULL;
    double u = OSRGetLinearUnits(s, &uname);
    if (fabs(u - 1.0) > 1e-12) {
        snprintf(why, n, "the raster CRS is in %s (%.12g m), not metres", uname ? uname : "a non-metre unit", u);
        return 0;
    }
    OGRAxisOrientation a0 = OAO_Other, a1 = OAO_Other;
    OSRGetAxis(s, "PROJCS", 0, &a0);
    OSRGetAxis(s, "PROJCS", 1, &a1);
    double km = 1, kp = 1, conv = 0;
    int have_k = crs_factors(s, lon, lat, &km, &kp, &conv) == 0;
    if (!((a0 == OAO_East && a1 == OAO_North) || (a0 == OAO_North && a1 == OAO_East))) {
        /* A polar stereographic is north-up along its central meridian
         * (e.g. the one offered when UPS is refused, read back from GDAL). */
        if (!polar_stereographic(s)) {
            snprintf(why, n, "the raster CRS's axes are not east/north (not north-up)");
            return 0;
        }
        if (!have_k || fabs(conv) > MAX_CONVERGENCE_DEG) {
            snprintf(why, n, "the raster CRS is a polar stereographic whose grid north is turned %.1f degrees "
                     "from true north at the raster centre (at most %.0f allowed)", have_k ? fabs(conv) : 180.0,
                     MAX_CONVERGENCE_DEG);
            return 0;
        }
    }
    const char *proj = OSRGetAttrValue(s, "PROJECTION", 0);
    if (proj && (!strncasecmp(proj, "Mercator", 8) || strstr(proj, "Pseudo") || strstr(proj, "Popular"))) {
        snprintf(why, n, "the raster CRS is a Mercator projection (%s; scale %.3f at the centre): metric "
                 "units, but not true ground size", proj, have_k ? km : 0.0);
        return 0;
    }
    if (have_k && (fabs(km - 1) > MAX_SCALE_ERR || fabs(kp - 1) > MAX_SCALE_ERR)) {
        snprintf(why, n, "the raster CRS's scale at the centre is %.4f x %.4f, more than %.0f%% from true "
                 "ground size", km, kp, MAX_SCALE_ERR * 100);
        return 0;
    }
    *k_out = have_k ? km : 1;
    return 1;
}

static int choose_work_crs(tg_ctx *ctx, tg_tiler *t)
{
    int rc = 0;
    OGRCoordinateTransformationH to_ll = NULL;
    t->ll_srs = new_srs_epsg(4326);
    if (!t->ll_srs) return tg_set_error(ctx, TG_EGEO, "raster '%s': PROJ has no EPSG:4326 (proj.db missing?)", t->path);
    to_ll = OCTNewCoordinateTransformation(t->src_srs, t->ll_srs);
    if (!to_ll) {
        rc = tg_set_error(ctx, TG_EGEO, "raster '%s': no transformation from its CRS '%s' to EPSG:4326",
                          t->path, t->src_name);
        tg_append_error(ctx, "%s", gdal_msg());
        goto done;
    }
    /* Centre of the raster in lon/lat. */
    double cx, cy;
    apply_gt(t->gt, GDALGetRasterXSize(t->ds) / 2.0, GDALGetRasterYSize(t->ds) / 2.0, &cx, &cy);
    if (!OCTTransform(to_ll, 1, &cx, &cy, NULL) || !isfinite(cx) || !isfinite(cy)) {
        rc = tg_set_error(ctx, TG_EGEO, "raster '%s': its centre cannot be transformed to EPSG:4326 "
                          "(is its CRS right?)", t->path);
        tg_append_error(ctx, "%s", gdal_msg());
        goto done;
    }
    /* A geographic CRS with a broken geotransform "transforms" to any
     * number: a centre off the Earth is an error, not a UTM zone. */
    if (fabs(cy) > 90.0 || fabs(cx) > 540.0) {
        rc = tg_set_error(ctx, TG_EGEO, "raster '%s': its centre is at longitude %g, latitude %g, which is "
                          "not on the Earth (check its geotransform and CRS, e.g. with gdalinfo)", t->path, cx, cy);
        goto done;
    }
    t->info.center_lon = cx;
    t->info.center_lat = cy;

    char why[256];
    double k = 1;
    if (t->opt.target_crs) {
        OGRSpatialReferenceH s = OSRNewSpatialReference(NULL);
        if (!s || OSRSetFromUserInput(s, t->opt.target_crs) != OGRERR_NONE) {
            if (s) OSRRelease(s);
            rc = tg_set_error(ctx, TG_EINVAL, "raster '%s': target CRS '%s' is not a CRS GDAL knows",
                              t->path, t->opt.target_crs);
            tg_append_error(ctx, "%s", gdal_msg());
            goto done;
        }
        OSRSetAxisMappingStrategy(s, OAMS_TRADITIONAL_GIS_ORDER);
        double u = OSRIsProjected(s) ? OSRGetLinearUnits(s, NULL) : 0;
        if (fabs(u - 1.0) > 1e-12) {
            OSRRelease(s);
            rc = tg_set_error(ctx, TG_EINVAL, "raster '%s': target CRS '%s' must be projected in metres "
                              "(e.g. a UTM zone such as EPSG:32613)", t->path, t->opt.target_crs);
            goto done;
        }
        t->work_srs = s;
        snprintf(t->work_reason, sizeof t->work_reason, "target CRS given by the caller");
    } else if (own_crs_ok(t->src_srs, cx, cy, why, sizeof why, &k)) {
        t->work_srs = OSRClone(t->src_srs);
        OSRSetAxisMappingStrategy(t->work_srs, OAMS_TRADITIONAL_GIS_ORDER);
        snprintf(t->work_reason, sizeof t->work_reason,
                 "the raster's own CRS (projected, metres, north-up; scale %.5f at the centre)", k);
    } else {
        int rule = 0;
        t->work_srs = make_zone_crs(t->src_srs, cx, cy, &rule);
        int ups = rule == 32661 || rule == 32761, zone = rule % 100;
        char zname[32];
        if (ups) snprintf(zname, sizeof zname, "UPS %s", rule == 32661 ? "North" : "South");
        else snprintf(zname, sizeof zname, "UTM zone %d%c", zone, rule < 32700 ? 'N' : 'S');
        if (!t->work_srs) {
            rc = tg_set_error(ctx, TG_EGEO, "raster '%s': cannot build %s (EPSG:%d's definition) on the datum of '%s'",
                              t->path, zname, rule, t->src_name);
            tg_append_error(ctx, "%s", gdal_msg());
            goto done;
        }
        snprintf(t->work_reason, sizeof t->work_reason,
                 "%s of the raster centre (UTM/UPS rule of tg_geo_utm_epsg: EPSG:%d), on the raster's "
                 "datum, because %s", zname, rule, why);
        double ox[OUTLINE_N], oy[OUTLINE_N];
        int ok[OUTLINE_N];
        outline_src(t, ox, oy);
        if (!OCTTransformEx(to_ll, OUTLINE_N, ox, oy, NULL, ok))
            memset(ok, 0, sizeof ok); /* the grid step reports an outline it cannot transform */
        if (!ups) {
            /* Far from the zone's central meridian UTM is no longer near true size. */
            double cm = zone * 6.0 - 183.0;
            for (int i = 0; i < OUTLINE_N; i++) {
                double d = fmod(ox[i] - cm + 540.0, 360.0) - 180.0;
                if (ok[i] && fabs(d) > MAX_UTM_DLON) {
                    rc = tg_set_error(ctx, TG_EGEO,
                                      "raster '%s' reaches longitude %.3f, %.1f degrees from the central "
                                      "meridian of UTM zone %d: too wide for one UTM zone; split it or set "
                                      "a target CRS", t->path, ox[i], fabs(d), zone);
                    goto done;
                }
            }
        } else {
            /* UPS grid north is true north only along 0/180 E: elsewhere the
             * grid is turned by the longitude. Tiles must be north-up, so UPS
             * is used only where it is as close to north-up as the UTM rule
             * above allows; else refused with a CRS that is. */
            double g = 0;
            int gi = 0;
            char fix[300];
            if (crs_max_convergence(t->work_srs, OUTLINE_N, ox, oy, ok, &g, &gi)) {
                rc = tg_set_error(ctx, TG_EGEO, "raster '%s' is beyond UTM (centre at latitude %.3f): PROJ cannot "
                                  "evaluate the grid convergence of %s (EPSG:%d) on its outline; set a target "
                                  "CRS", t->path, cy, zname, rule);
                goto done;
            }
            if (g > MAX_CONVERGENCE_DEG) {
                turned_ups(t->src_srs, cx, rule == 32661, fix, sizeof fix);
                rc = tg_set_error(ctx, TG_EGEO,
                                  "raster '%s' is beyond UTM (centre at latitude %.3f), and in %s (EPSG:%d) its "
                                  "grid north is turned %.1f degrees from true north (at longitude %.3f, latitude "
                                  "%.3f; at most %.0f allowed): tiles would not be north-up. Use a polar stereographic "
                                  "turned to the raster's meridian: set it as the target CRS (transgeo tiles "
                                  "--t-srs) or reproject the raster first (gdalwarp -t_srs '%s' '%s' polar.tif)",
                                  t->path, cy, zname, rule, g, ox[gi], oy[gi], MAX_CONVERGENCE_DEG, fix, t->path);
                goto done;
            }
        }
    }
    t->info.work_epsg = srs_epsg(t->work_srs);
    t->work_name = dupstr(OSRGetName(t->work_srs) ? OSRGetName(t->work_srs) : "unnamed CRS");
    t->work_wkt = srs_wkt(t->work_srs);
    if (!t->work_name || !t->work_wkt) {
        rc = tg_set_error(ctx, TG_EGEO, "raster '%s': the working CRS cannot be written as WKT", t->path);
        goto done;
    }
    t->work_to_ll = OCTNewCoordinateTransformation(t->work_srs, t->ll_srs);
    t->work_to_src = OCTNewCoordinateTransformation(t->work_srs, t->src_srs);
    if (!t->work_to_ll || !t->work_to_src) {
        rc = tg_set_error(ctx, TG_EGEO, "raster '%s': no coordinate transformation from %s", t->path,
                          t->work_name);
        tg_append_error(ctx, "%s", gdal_msg());
    }
done:
    if (to_ll) OCTDestroyCoordinateTransformation(to_ll);
    return rc;
}

/* ---- grid ----------------------------------------------------------------- */

/* Grid tiles whose centre lies inside the outline polygon (even-odd rule,
 * one scanline per tile row through the tile centres). */
static long long count_inside(const tg_tiler *t, const double *x, const double *y)
{
    const tg_tiler_info *in = &t->info;
    long long n = 0;
    double xs[OUTLINE_N];
    for (int r = 0; r < in->n_rows; r++) {
        double yc = in->grid_y0 - r * in->stride_m - in->tile_m / 2;
        int m = 0;
        for (int i = 0; i < OUTLINE_N; i++) {
            int j = (i + 1) % OUTLINE_N;
            if ((y[i] > yc) != (y[j] > yc)) xs[m++] = x[i] + (yc - y[i]) * (x[j] - x[i]) / (y[j] - y[i]);
        }
        for (int a = 1; a < m; a++) /* insertion sort: m <= OUTLINE_N */
            for (int b = a; b > 0 && xs[b - 1] > xs[b]; b--) {
                double tmp = xs[b];
                xs[b] = xs[b - 1];
                xs[b - 1] = tmp;
            }
        for (int k = 0; k + 1 < m; k += 2) {
            double c0 = ceil((xs[k] - in->grid_x0 - in->tile_m / 2) / in->stride_m);
            double c1 = floor((xs[k + 1] - in->grid_x0 - in->tile_m / 2) / in->stride_m);
            if (c0 < 0) c0 = 0;
            if (c1 > in->n_cols - 1) c1 = in->n_cols - 1;
            if (c1 >= c0) n += (long long)(c1 - c0 + 1);
        }
    }
    return n;
}

static int plan_grid(tg_ctx *ctx, tg_tiler *t)
{
    tg_tiler_info *in = &t->info;
    double tile_px = floor(t->opt.tile_m / t->opt.gsd_m + 0.5);
    if (tile_px < MIN_TILE_PX)
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': a tile of %g m at %g m/px is %.0f px wide; at least %d px are "
                            "needed: raise tile_m or lower gsd_m", t->path, t->opt.tile_m, t->opt.gsd_m,
                            tile_px, MIN_TILE_PX);
    if (tile_px > MAX_TILE_PX)
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': a tile of %g m at %g m/px is %.0f px wide; at most %d px are "
                            "supported: lower tile_m or raise gsd_m", t->path, t->opt.tile_m,
                            t->opt.gsd_m, tile_px, MAX_TILE_PX);
    in->tile_px = (int)tile_px;
    in->tile_m = t->opt.tile_m;
    in->gsd_m = t->opt.tile_m / tile_px;
    double stride_px = floor(t->opt.stride_m / in->gsd_m + 0.5);
    if (stride_px < 1 || stride_px > (double)MAX_GRID_PX)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': stride %g m is %.0f px at %g m/px: it must be "
                            "at least one pixel", t->path, t->opt.stride_m, stride_px, in->gsd_m);
    in->stride_px = (int)stride_px;
    in->stride_m = stride_px * in->gsd_m;

    double x[OUTLINE_N], y[OUTLINE_N];
    int ok[OUTLINE_N];
    outline_src(t, x, y);
    OGRCoordinateTransformationH src_to_work = OCTNewCoordinateTransformation(t->src_srs, t->work_srs);
    int good = src_to_work && OCTTransformEx(src_to_work, OUTLINE_N, x, y, NULL, ok);
    if (src_to_work) OCTDestroyCoordinateTransformation(src_to_work);
    for (int i = 0; good && i < OUTLINE_N; i++) good = ok[i] && isfinite(x[i]) && isfinite(y[i]);
    if (!good) {
        tg_set_error(ctx, TG_EGEO, "raster '%s': its outline cannot be transformed to the working CRS %s",
                     t->path, t->work_name);
        tg_append_error(ctx, "%s", gdal_msg());
        return TG_EGEO;
    }
    double xmin = x[0], xmax = x[0], ymin = y[0], ymax = y[0];
    for (int i = 1; i < OUTLINE_N; i++) {
        xmin = fmin(xmin, x[i]);
        xmax = fmax(xmax, x[i]);
        ymin = fmin(ymin, y[i]);
        ymax = fmax(ymax, y[i]);
    }
    in->extent[0] = xmin;
    in->extent[1] = ymin;
    in->extent[2] = xmax;
    in->extent[3] = ymax;
    /* Anchor: multiples of the stride in working-CRS coordinates. */
    double s = in->stride_m, tm = in->tile_m;
    in->grid_x0 = floor(xmin / s) * s;
    in->grid_y0 = ceil(ymax / s) * s;
    double w = xmax - in->grid_x0, h = in->grid_y0 - ymin;
    double nc = w <= tm ? 1 : ceil((w - tm) / s - 1e-9) + 1;
    double nr = h <= tm ? 1 : ceil((h - tm) / s - 1e-9) + 1;
    double wpx = (nc - 1) * in->stride_px + in->tile_px, hpx = (nr - 1) * in->stride_px + in->tile_px;
    if (wpx > MAX_GRID_PX || hpx > MAX_GRID_PX || nc > MAX_GRID_SIDE || nr > MAX_GRID_SIDE)
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': the grid would be %.0f x %.0f tiles (%.0f x %.0f px at %g m/px), "
                            "too large (at most %d tiles and %d px a side): raise gsd_m/stride_m or split "
                            "the raster", t->path, nc, nr, wpx, hpx, in->gsd_m, MAX_GRID_SIDE, MAX_GRID_PX);
    if (nc * nr > (double)TG_TILES_MAX_GRID)
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': the grid would be %.0f x %.0f = %.4g tiles of %g m every %g m; "
                            "at most %lld are supported: use a larger tile size (tile_m) or stride "
                            "(stride_m), or split the raster", t->path, nc, nr, nc * nr, in->tile_m,
                            in->stride_m, (long long)TG_TILES_MAX_GRID);
    in->n_cols = (int)nc;
    in->n_rows = (int)nr;
    in->n_grid = (long long)in->n_cols * in->n_rows;
    in->n_estimated = count_inside(t, x, y);
    return 0;
}

/* ---- bands, validity, overview, warp source -------------------------------- */

static int choose_bands(tg_ctx *ctx, tg_tiler *t, int *palette)
{
    tg_tiler_info *in = &t->info;
    int nb = GDALGetRasterCount(t->ds);
    *palette = 0;
    in->alpha_band = 0;
    for (int b = nb; b >= 1 && !in->alpha_band; b--)
        if (GDALGetRasterColorInterpretation(GDALGetRasterBand(t->ds, b)) == GCI_AlphaBand) in->alpha_band = b;
    if (t->opt.bands[0]) {
        for (int c = 0; c < 3; c++)
            if (t->opt.bands[c] < 1 || t->opt.bands[c] > nb)
                return tg_set_error(ctx, TG_EINVAL, "raster '%s' has %d band(s): band %d does not exist",
                                    t->path, nb, t->opt.bands[c]);
        memcpy(in->bands, t->opt.bands, sizeof in->bands);
        int grey = in->bands[0] == in->bands[1] && in->bands[1] == in->bands[2];
        in->n_channels = grey ? 1 : 3;
        snprintf(t->band_reason, sizeof t->band_reason, grey ? "band %d as grey (caller's choice)"
                 : "bands %d,%d,%d (caller's choice)", in->bands[0], in->bands[1], in->bands[2]);
        return 0;
    }
    int rgb[3] = {0, 0, 0};
    for (int b = 1; b <= nb; b++) {
        GDALColorInterp ci = GDALGetRasterColorInterpretation(GDALGetRasterBand(t->ds, b));
        if (ci == GCI_RedBand && !rgb[0]) rgb[0] = b;
        if (ci == GCI_GreenBand && !rgb[1]) rgb[1] = b;
        if (ci == GCI_BlueBand && !rgb[2]) rgb[2] = b;
    }
    if (rgb[0] && rgb[1] && rgb[2]) {
        memcpy(in->bands, rgb, sizeof rgb);
        in->n_channels = 3;
        snprintf(t->band_reason, sizeof t->band_reason, "bands %d,%d,%d (colour interpretation Red, Green, Blue)",
                 rgb[0], rgb[1], rgb[2]);
        return 0;
    }
    int other[3], n = 0;
    for (int b = 1; b <= nb && n < 3; b++)
        if (b != in->alpha_band) other[n++] = b;
    if (n == 1 && GDALGetRasterColorTable(GDALGetRasterBand(t->ds, other[0]))) {
        *palette = other[0];
        in->n_channels = 3;
        in->alpha_band = 0; /* gdal_translate -expand takes one band: validity from nodata only */
        snprintf(t->band_reason, sizeof t->band_reason, "band %d's palette expanded to RGB", other[0]);
        return 0;
    }
    if (n == 3) {
        memcpy(in->bands, other, sizeof other);
        in->n_channels = 3;
        snprintf(t->band_reason, sizeof t->band_reason,
                 "bands %d,%d,%d as R,G,B (no RGB colour interpretation; %d band(s) in all)", other[0],
                 other[1], other[2], nb);
        return 0;
    }
    if (n == 0) return tg_set_error(ctx, TG_EFORMAT, "raster '%s' has only an alpha band", t->path);
    in->bands[0] = in->bands[1] = in->bands[2] = other[0];
    in->n_channels = 1;
    snprintf(t->band_reason, sizeof t->band_reason, "band %d (grey/panchromatic) replicated to R, G, B",
             other[0]);
    return 0;
}

static void describe_validity(tg_tiler *t)
{
    tg_tiler_info *in = &t->info;
    GDALRasterBandH b = GDALGetRasterBand(t->ds, in->bands[0] ? in->bands[0] : 1);
    int flags = GDALGetMaskFlags(b), has_nd = 0;
    double nd = GDALGetRasterNoDataValue(b, &has_nd);
    if (in->alpha_band)
        snprintf(t->validity, sizeof t->validity, "alpha band %d", in->alpha_band);
    else if (has_nd)
        snprintf(t->validity, sizeof t->validity, "nodata %.10g", nd);
    else if (!(flags & GMF_ALL_VALID))
        snprintf(t->validity, sizeof t->validity, "per-dataset mask");
    else
        snprintf(t->validity, sizeof t->validity, "none (every pixel valid)");
}

/* gdalwarp's -ovr AUTO rule: the last overview whose decimation ratio is
 * below the target ratio while the next one's is above, or within 0.1 of it. */
static int choose_overview(tg_tiler *t)
{
    tg_tiler_info *in = &t->info;
    in->overview = -1;
    in->src_res_m = 0;
    char **to = CSLSetNameValue(NULL, "DST_SRS", t->work_wkt);
    void *tr = GDALCreateGenImgProjTransformer2(t->ds, NULL, to);
    CSLDestroy(to);
    if (!tr) return 0;
    double sgt[6], ext[4];
    int npx = 0, nln = 0;
    CPLErr e = GDALSuggestedWarpOutput2(t->ds, GDALGenImgProjTransform, tr, sgt, &npx, &nln, ext, 0);
    GDALDestroyGenImgProjTransformer(tr);
    if (e != CE_None || !(sgt[1] > 0)) return 0;
    in->src_res_m = sgt[1];
    double target = in->gsd_m / sgt[1];
    GDALRasterBandH b = GDALGetRasterBand(t->ds, 1);
    int n = GDALGetOverviewCount(b), w = GDALGetRasterXSize(t->ds);
    if (n <= 0 || target <= 1.0) return 0;
    int i = -1;
    for (; i < n - 1; i++) {
        GDALRasterBandH o = i < 0 ? NULL : GDALGetOverview(b, i), next = GDALGetOverview(b, i + 1);
        if ((i >= 0 && !o) || !next) break;
        double r = i < 0 ? 1.0 : (double)w / GDALGetRasterBandXSize(o);
        double rn = (double)w / GDALGetRasterBandXSize(next);
        if (r < target && rn > target) break;
        if (fabs(r - target) < 1e-1) break;
    }
    in->overview = i;
    return 0;
}

static int build_warp_source(tg_ctx *ctx, tg_tiler *t, int palette)
{
    tg_tiler_info *in = &t->info;
    GDALDatasetH base = t->ds;
    if (in->overview >= 0) {
        char lvl[48];
        snprintf(lvl, sizeof lvl, "OVERVIEW_LEVEL=%d", in->overview);
        const char *const oo[] = {lvl, NULL};
        t->ovr_ds = GDALOpenEx(t->path, GDAL_OF_RASTER | GDAL_OF_READONLY, NULL, oo, NULL);
        if (t->ovr_ds && GDALGetRasterCount(t->ovr_ds) == GDALGetRasterCount(t->ds))
            base = t->ovr_ds;
        else {
            if (t->ovr_ds) GDALClose(t->ovr_ds);
            t->ovr_ds = NULL;
            in->overview = -1; /* cannot reopen at that level: read full resolution */
        }
    }
    int list[5], n = 0, nb = GDALGetRasterCount(t->ds);
    if (palette)
        list[n++] = palette;
    else
        for (int c = 0; c < in->n_channels; c++) list[n++] = in->bands[c];
    if (in->alpha_band) list[n++] = in->alpha_band;
    t->src_has_alpha = in->alpha_band != 0;
    int identity = !palette && n == nb;
    for (int i = 0; identity && i < n; i++) identity = list[i] == i + 1;
    if (identity) {
        t->warp_src = base;
        return 0;
    }
    char **argv = CSLAddString(NULL, "-of");
    argv = CSLAddString(argv, "VRT");
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", list[i]);
        argv = CSLAddString(argv, "-b");
        argv = CSLAddString(argv, num);
    }
    if (palette) {
        argv = CSLAddString(argv, "-expand");
        argv = CSLAddString(argv, "rgb");
    }
    if (in->alpha_band) {
        char ci[32];
        snprintf(ci, sizeof ci, "-colorinterp_%d", n);
        argv = CSLAddString(argv, ci);
        argv = CSLAddString(argv, "alpha");
    }
    GDALTranslateOptions *to = GDALTranslateOptionsNew(argv, NULL);
    CSLDestroy(argv);
    if (!to) {
        tg_set_error(ctx, TG_EINTERNAL, "raster '%s': band selection options refused", t->path);
        tg_append_error(ctx, "%s", gdal_msg());
        return TG_EINTERNAL;
    }
    int usage = 0;
    t->vrt_ds = GDALTranslate("", base, to, &usage);
    GDALTranslateOptionsFree(to);
    if (!t->vrt_ds) {
        tg_set_error(ctx, TG_EFORMAT, "raster '%s': cannot select bands %d,%d,%d", t->path, in->bands[0],
                     in->bands[1], in->bands[2]);
        tg_append_error(ctx, "%s", gdal_msg());
        return TG_EFORMAT;
    }
    t->warp_src = t->vrt_ds;
    return 0;
}

/* Per-band value -> 0..255 mapping (see tg_stretch). */
static int band_percentiles(tg_tiler *t, GDALRasterBandH b, double plo, double phi, double *lo, double *hi)
{
    double mm[2];
    if (GDALComputeRasterMinMax(b, TRUE, mm) != CE_None || !isfinite(mm[0]) || !isfinite(mm[1])) return -1;
    if (mm[1] <= mm[0]) {
        *lo = mm[0];
        *hi = mm[0] + 1;
        return 0;
    }
    GDALDataType dt = GDALGetRasterDataType(b);
    int integer = !GDALDataTypeIsFloating(dt) && !GDALDataTypeIsComplex(dt);
    int nbins = 65536;
    double a = mm[0], z = mm[1];
    if (integer && mm[1] - mm[0] + 1 <= 65536) {
        nbins = (int)(mm[1] - mm[0] + 1);
        a = mm[0] - 0.5;
        z = mm[1] + 0.5;
    }
    GUIntBig *h = calloc((size_t)nbins, sizeof *h);
    if (!h) return -2;
    if (GDALGetRasterHistogramEx(b, a, z, nbins, h, FALSE, TRUE, GDALDummyProgress, NULL) != CE_None) {
        free(h);
        return -1;
    }
    double total = 0;
    for (int i = 0; i < nbins; i++) total += (double)h[i];
    if (total <= 0) {
        free(h);
        *lo = mm[0];
        *hi = mm[1];
        return 0;
    }
    double width = (z - a) / nbins, cum = 0;
    int ilo = -1, ihi = nbins - 1;
    for (int i = 0; i < nbins; i++) {
        cum += (double)h[i];
        if (ilo < 0 && cum >= total * plo / 100.0 && cum > 0) ilo = i;
        if (cum >= total * phi / 100.0) {
            ihi = i;
            break;
        }
    }
    free(h);
    if (ilo < 0) ilo = 0;
    *lo = a + (ilo + 0.5) * width;
    *hi = a + (ihi + 0.5) * width;
    if (*hi <= *lo) *hi = *lo + (integer ? 1 : width);
    (void)t;
    return 0;
}

static int compute_stretch(tg_ctx *ctx, tg_tiler *t, int palette)
{
    tg_tiler_info *in = &t->info;
    GDALDataType dt = GDALGetRasterDataType(GDALGetRasterBand(t->ds, in->bands[0] ? in->bands[0] : 1));
    tg_stretch s = t->opt.stretch;
    if (s == TG_STRETCH_AUTO) s = (dt == GDT_Byte || palette) ? TG_STRETCH_NONE : TG_STRETCH_PERCENT;
    if (palette && s != TG_STRETCH_NONE)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': a palette raster takes no stretch (use none)",
                            t->path);
    in->stretch = s;
    for (int c = 0; c < 3; c++) {
        in->stretch_lo[c] = 0;
        in->stretch_hi[c] = 255;
    }
    t->work_type = s == TG_STRETCH_NONE ? GDT_Byte : GDT_Float32;
    t->bps = GDALGetDataTypeSizeBytes(t->work_type);
    if (s == TG_STRETCH_NONE) return 0;
    for (int c = 0; c < 3; c++) {
        if (s == TG_STRETCH_RANGE) {
            in->stretch_lo[c] = t->opt.range_lo[c];
            in->stretch_hi[c] = t->opt.range_hi[c];
            continue;
        }
        if (c > 0 && in->bands[c] == in->bands[c - 1]) {
            in->stretch_lo[c] = in->stretch_lo[c - 1];
            in->stretch_hi[c] = in->stretch_hi[c - 1];
            continue;
        }
        GDALRasterBandH b = GDALGetRasterBand(t->ds, in->bands[c]);
        int rc;
        if (s == TG_STRETCH_MINMAX) {
            double mm[2];
            rc = GDALComputeRasterMinMax(b, TRUE, mm) == CE_None ? 0 : -1;
            in->stretch_lo[c] = mm[0];
            in->stretch_hi[c] = mm[1] > mm[0] ? mm[1] : mm[0] + 1;
        } else {
            rc = band_percentiles(t, b, t->opt.percent_lo, t->opt.percent_hi, &in->stretch_lo[c],
                                  &in->stretch_hi[c]);
        }
        if (rc == -2) return tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory for a histogram", t->path);
        if (rc) {
            tg_set_error(ctx, TG_EFORMAT, "raster '%s': statistics of band %d failed (for the %s stretch): "
                         "the file is truncated or corrupt", t->path, in->bands[c], tg_stretch_name(s));
            return TG_EFORMAT;
        }
    }
    return 0;
}

/* The warper widens its kernel by 1/XSCALE (destination pixels per source
 * pixel) when downsampling, and estimates that scale per processing chunk
 * from the chunk's windows, so the same pixel can come out differently in a
 * strip and in a single-tile warp (GDAL's XSCALE/YSCALE warp options exist for
 * this reason). We fix it once per raster: the length of one warp-source pixel
 * step along x (and y), in working-CRS metres at the raster centre, over gsd. */
static int compute_scale(tg_ctx *ctx, tg_tiler *t)
{
    tg_tiler_info *in = &t->info;
    double px[3], py[3], x[3], y[3];
    double cx = GDALGetRasterXSize(t->ds) / 2.0, cy = GDALGetRasterYSize(t->ds) / 2.0;
    double dx[3] = {0, 1, 0}, dy[3] = {0, 0, 1};
    int ok[3] = {0};
    for (int i = 0; i < 3; i++) {
        px[i] = cx + dx[i];
        py[i] = cy + dy[i];
        apply_gt(t->gt, px[i], py[i], &x[i], &y[i]);
    }
    OGRCoordinateTransformationH ct = OCTNewCoordinateTransformation(t->src_srs, t->work_srs);
    int good = ct && OCTTransformEx(ct, 3, x, y, NULL, ok) && ok[0] && ok[1] && ok[2];
    if (ct) OCTDestroyCoordinateTransformation(ct);
    if (!good)
        return tg_set_error(ctx, TG_EGEO, "raster '%s': its centre cannot be transformed to %s", t->path,
                            t->work_name);
    double lx = hypot(x[1] - x[0], y[1] - y[0]), ly = hypot(x[2] - x[0], y[2] - y[0]);
    /* Per warp-source pixel: an overview's pixels are larger by its decimation. */
    double fx = (double)GDALGetRasterXSize(t->ds) / GDALGetRasterXSize(t->warp_src);
    double fy = (double)GDALGetRasterYSize(t->ds) / GDALGetRasterYSize(t->warp_src);
    in->xscale = lx * fx / in->gsd_m;
    in->yscale = ly * fy / in->gsd_m;
    if (!(in->xscale > 0 && isfinite(in->xscale) && in->yscale > 0 && isfinite(in->yscale)))
        return tg_set_error(ctx, TG_EGEO, "raster '%s': its pixel size in %s cannot be computed", t->path,
                            t->work_name);
    /* The warper's kernel spans 1/scale source pixels: bound it (see
     * "Limits" in tilecache.h). */
    double ratio = 1.0 / fmin(in->xscale, in->yscale);
    if (ratio > TG_TILES_MAX_DOWNSAMPLE)
        return tg_set_error(ctx, TG_EINVAL,
                            "raster '%s': a gsd of %g m per pixel (tile %g m) is %.3g times coarser than "
                            "the %s pixels read (%g m); at most %g times is supported: use a smaller "
                            "tile_m/gsd_m, or build overviews (gdaladdo) or resample the raster "
                            "(gdalwarp -tr) first", t->path, in->gsd_m, in->tile_m, ratio,
                            in->overview >= 0 ? "overview" : "raster", fmin(lx * fx, ly * fy),
                            TG_TILES_MAX_DOWNSAMPLE);
    return 0;
}

/* ---- open ------------------------------------------------------------------- */

int tg_tiles_open(tg_ctx *ctx, const char *path, const tg_tile_options *opt, tg_tiler **out)
{
    if (out) *out = NULL;
    if (!path || !out) return tg_set_error(ctx, TG_EINVAL, "tg_tiles_open: path and out must not be NULL");
    tg_clear_error(ctx);
    quiet_begin();
    int rc = 0, palette = 0;
    tg_tiler *t = calloc(1, sizeof *t);
    if (!t) {
        rc = tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory", path);
        goto fail;
    }
    t->opt = opt ? *opt : tg_tile_options_default();
    t->path = dupstr(path);
    if (t->opt.target_crs) {
        t->target_crs_copy = dupstr(t->opt.target_crs);
        t->opt.target_crs = t->target_crs_copy;
    }
    if (!t->path || (opt && opt->target_crs && !t->target_crs_copy)) {
        rc = tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory", path);
        goto fail;
    }
    if ((rc = check_options(ctx, path, &t->opt))) goto fail;
    if ((rc = open_raster(ctx, t))) goto fail;
    if ((rc = check_georef(ctx, t))) goto fail;
    if ((rc = probe_blocks(ctx, t))) goto fail;
    if ((rc = choose_work_crs(ctx, t))) goto fail;
    if ((rc = plan_grid(ctx, t))) goto fail;
    if ((rc = choose_bands(ctx, t, &palette))) goto fail;
    describe_validity(t);
    if ((rc = compute_stretch(ctx, t, palette))) goto fail;
    if ((rc = choose_overview(t))) goto fail;
    if ((rc = build_warp_source(ctx, t, palette))) goto fail;
    if ((rc = compute_scale(ctx, t))) goto fail;
    t->data_type = dupstr(GDALGetDataTypeName(GDALGetRasterDataType(GDALGetRasterBand(t->ds, 1))));

    /* Strip buffer: as many tile columns as the budget allows (at least one). */
    tg_tiler_info *in = &t->info;
    size_t planes = (size_t)in->n_channels + 1, T = (size_t)in->tile_px, S = (size_t)in->stride_px;
    double budget = t->opt.max_buffer_mb * 1024.0 * 1024.0;
    double per_col_px = (double)T * planes * t->bps; /* bytes per grid pixel column of a strip */
    double max_w = budget / per_col_px;
    long long cps = max_w < (double)T ? 1 : (long long)floor((max_w - (double)T) / (double)S) + 1;
    if (cps > in->n_cols) cps = in->n_cols;
    if (cps < 1) cps = 1;
    in->cols_per_strip = (int)cps;
    size_t strip_w = (size_t)(cps - 1) * S + T;
    t->buf_line = strip_w * (size_t)t->bps;
    t->buf_plane = t->buf_line * T;
    in->buffer_bytes = t->buf_plane * planes + planes * T * T * (size_t)t->bps + 4 * T * T;

    in->path = t->path;
    in->raster_width = GDALGetRasterXSize(t->ds);
    in->raster_height = GDALGetRasterYSize(t->ds);
    in->raster_bands = GDALGetRasterCount(t->ds);
    in->data_type = t->data_type ? t->data_type : "?";
    in->src_crs_name = t->src_name;
    in->work_crs_name = t->work_name;
    in->work_wkt = t->work_wkt;
    in->work_crs_reason = t->work_reason;
    in->band_reason = t->band_reason;
    in->validity = t->validity;
    in->resampling = t->opt.resampling;
    in->max_nodata_share = t->opt.max_nodata_share;
    quiet_end();
    *out = t;
    return 0;
fail:
    quiet_end();
    tg_tiler_free(t);
    return rc;
}

/* ---- warping ------------------------------------------------------------------ */

/* Warp grid pixels [gx, gx+w) x [gy, gy+h) into planes (plane k at
 * base + k*plane, lines of `line` bytes), which are zeroed first. */
static int warp_window(tg_ctx *ctx, tg_tiler *t, long long gx, long long gy, int w, int h,
                       unsigned char *base, size_t line, size_t plane)
{
    tg_tiler_info *in = &t->info;
    int nb = in->n_channels + 1, rc = 0;
    for (int k = 0; k < nb; k++) memset(base + (size_t)k * plane, 0, line * (size_t)h);
    GDALDriverH mem = GDALGetDriverByName("MEM");
    GDALDatasetH dst = mem ? GDALCreate(mem, "", w, h, 0, t->work_type, NULL) : NULL;
    char **argv = NULL;
    GDALWarpAppOptions *wo = NULL;
    if (!dst) {
        rc = tg_set_error(ctx, TG_ENOMEM, "raster '%s': cannot create a warp buffer", t->path);
        goto done;
    }
    for (int k = 0; k < nb; k++) {
        char p[64], po[32], lo[48];
        snprintf(p, sizeof p, "DATAPOINTER=%p", (void *)(base + (size_t)k * plane));
        snprintf(po, sizeof po, "PIXELOFFSET=%d", t->bps);
        snprintf(lo, sizeof lo, "LINEOFFSET=%zu", line);
        char *bo[] = {p, po, lo, NULL};
        if (GDALAddBand(dst, t->work_type, bo) != CE_None) {
            rc = tg_set_error(ctx, TG_EINTERNAL, "raster '%s': cannot wrap the warp buffer", t->path);
            tg_append_error(ctx, "%s", gdal_msg());
            goto done;
        }
    }
    GDALSetRasterColorInterpretation(GDALGetRasterBand(dst, nb), GCI_AlphaBand);
    double gt[6] = {in->grid_x0 + (double)gx * in->gsd_m, in->gsd_m, 0,
                    in->grid_y0 - (double)gy * in->gsd_m, 0, -in->gsd_m};
    GDALSetGeoTransform(dst, gt);
    GDALSetProjection(dst, t->work_wkt);

    char thr[48], wm[32], xs[64], ys[64];
    snprintf(thr, sizeof thr, "NUM_THREADS=%d", ctx ? tg_ctx_threads(ctx) : 1);
    snprintf(wm, sizeof wm, "%g", t->opt.warp_memory_mb);
    snprintf(xs, sizeof xs, "XSCALE=%.17g", in->xscale);
    snprintf(ys, sizeof ys, "YSCALE=%.17g", in->yscale);
    const char *args[] = {"-r", tg_resampling_name(t->opt.resampling), "-ovr", "NONE", "-wo", "INIT_DEST=0",
                          "-wo", "SKIP_NOSOURCE=YES", "-wo", thr, "-wo", xs, "-wo", ys, "-wm", wm, "-dstalpha",
                          t->src_has_alpha ? "-srcalpha" : "-nosrcalpha", "-q", NULL};
    for (int i = 0; args[i]; i++) argv = CSLAddString(argv, args[i]);
    wo = GDALWarpAppOptionsNew(argv, NULL);
    if (!wo) {
        rc = tg_set_error(ctx, TG_EINTERNAL, "raster '%s': warp options refused", t->path);
        tg_append_error(ctx, "%s", gdal_msg());
        goto done;
    }
    CPLErrorReset();
    int usage = 0;
    GDALDatasetH src = t->warp_src;
    GDALDatasetH r = GDALWarp(NULL, dst, 1, &src, wo, &usage);
    if (!r || CPLGetLastErrorType() == CE_Failure) {
        rc = tg_set_error(ctx, TG_EFORMAT,
                          "raster '%s': warping grid pixels (%lld, %lld) + %d x %d failed: the file may be "
                          "truncated or corrupt (check it with gdalinfo -checksum)", t->path, gx, gy, w, h);
    }
done:
    if (wo) GDALWarpAppOptionsFree(wo);
    CSLDestroy(argv);
    if (dst) GDALClose(dst);
    return rc;
}

static inline unsigned char to_u8(float v, float lo, float scale)
{
    float s = (v - lo) * scale + 0.5f;
    if (!(s > 0)) return 0; /* also NaN */
    if (s >= 255.0f) return 255;
    return (unsigned char)s;
}

/* Cut a tile out of planes (xo = its first column in the planes) into
 * t->tile_rgb / t->tile_alpha. Returns valid_share; the RGB is only filled
 * when the tile is kept (or force). */
static double extract_tile(tg_tiler *t, const unsigned char *base, size_t line, size_t plane, size_t xo,
                           int force, int *keep)
{
    const tg_tiler_info *in = &t->info;
    int T = in->tile_px, nch = in->n_channels;
    const unsigned char *ap = base + (size_t)nch * plane;
    double sum = 0;
    for (int y = 0; y < T; y++) {
        unsigned char *dst = t->tile_alpha + (size_t)y * T;
        if (t->work_type == GDT_Byte) {
            const unsigned char *src = ap + (size_t)y * line + xo;
            memcpy(dst, src, (size_t)T);
        } else {
            const float *src = (const float *)(const void *)(ap + (size_t)y * line) + xo;
            for (int x = 0; x < T; x++) dst[x] = to_u8(src[x], 0.0f, 1.0f);
        }
        unsigned rowsum = 0;
        for (int x = 0; x < T; x++) rowsum += dst[x];
        sum += rowsum;
    }
    double share = sum / (255.0 * T * T);
    *keep = 1.0 - share <= in->max_nodata_share + 1e-12;
    if (!*keep && !force) return share;
    for (int c = 0; c < 3; c++) {
        const unsigned char *pl = base + (size_t)(nch == 1 ? 0 : c) * plane;
        float lo = (float)in->stretch_lo[c], sc = (float)(255.0 / (in->stretch_hi[c] - in->stretch_lo[c]));
        for (int y = 0; y < T; y++) {
            unsigned char *dst = t->tile_rgb + (size_t)y * T * 3 + c;
            const unsigned char *a = t->tile_alpha + (size_t)y * T;
            if (t->work_type == GDT_Byte) {
                const unsigned char *src = pl + (size_t)y * line + xo;
                for (int x = 0; x < T; x++) dst[3 * x] = a[x] ? src[x] : 0;
            } else {
                const float *src = (const float *)(const void *)(pl + (size_t)y * line) + xo;
                for (int x = 0; x < T; x++) dst[3 * x] = a[x] ? to_u8(src[x], lo, sc) : 0;
            }
        }
    }
    return share;
}

/* Footprint, centre, source window, geotransform of tile (col, row).
 * Returns 0 when PROJ cannot take the footprint to EPSG:4326 (then NaN). */
static int tile_geometry(const tg_tiler *t, int col, int row, tg_tile *o)
{
    const tg_tiler_info *in = &t->info;
    o->col = col;
    o->row = row;
    o->width = o->height = in->tile_px;
    o->x_min = in->grid_x0 + col * in->stride_m;
    o->x_max = o->x_min + in->tile_m;
    o->y_max = in->grid_y0 - row * in->stride_m;
    o->y_min = o->y_max - in->tile_m;
    double gt[6] = {o->x_min, in->gsd_m, 0, o->y_max, 0, -in->gsd_m};
    memcpy(o->geotransform, gt, sizeof gt);
    double cx[5] = {o->x_min, o->x_max, o->x_max, o->x_min, (o->x_min + o->x_max) / 2};
    double cy[5] = {o->y_max, o->y_max, o->y_min, o->y_min, (o->y_min + o->y_max) / 2};
    for (int i = 0; i < 4; i++) {
        o->corners_work[i][0] = cx[i];
        o->corners_work[i][1] = cy[i];
    }
    double lx[5], ly[5];
    int ok[5] = {0};
    memcpy(lx, cx, sizeof lx);
    memcpy(ly, cy, sizeof ly);
    int good = OCTTransformEx(t->work_to_ll, 5, lx, ly, NULL, ok);
    for (int i = 0; i < 4; i++) {
        o->corners_lonlat[i][0] = good && ok[i] ? lx[i] : NAN;
        o->corners_lonlat[i][1] = good && ok[i] ? ly[i] : NAN;
    }
    o->center_lon = good && ok[4] ? lx[4] : NAN;
    o->center_lat = good && ok[4] ? ly[4] : NAN;
    /* Source window: the four corners back in source pixels, bbox, clipped. */
    double sx[4], sy[4];
    int sok[4] = {0};
    memcpy(sx, cx, sizeof sx);
    memcpy(sy, cy, sizeof sy);
    o->src_xoff = o->src_yoff = o->src_xsize = o->src_ysize = 0;
    if (OCTTransformEx(t->work_to_src, 4, sx, sy, NULL, sok) && sok[0] && sok[1] && sok[2] && sok[3]) {
        double pmin[2] = {INFINITY, INFINITY}, pmax[2] = {-INFINITY, -INFINITY};
        for (int i = 0; i < 4; i++) {
            double p[2];
            apply_gt(t->inv_gt, sx[i], sy[i], &p[0], &p[1]);
            for (int k = 0; k < 2; k++) {
                pmin[k] = fmin(pmin[k], p[k]);
                pmax[k] = fmax(pmax[k], p[k]);
            }
        }
        double lim[2] = {in->raster_width, in->raster_height};
        double a[2], b[2];
        for (int k = 0; k < 2; k++) {
            a[k] = fmax(0, floor(pmin[k]));
            b[k] = fmin(lim[k], ceil(pmax[k]));
        }
        if (b[0] > a[0] && b[1] > a[1]) {
            o->src_xoff = (int)a[0];
            o->src_yoff = (int)a[1];
            o->src_xsize = (int)(b[0] - a[0]);
            o->src_ysize = (int)(b[1] - a[1]);
        }
    }
    o->work_epsg = in->work_epsg;
    o->work_wkt = t->work_wkt;
    int finite = isfinite(o->center_lon) && isfinite(o->center_lat);
    for (int i = 0; i < 4; i++) finite &= isfinite(o->corners_lonlat[i][0]) && isfinite(o->corners_lonlat[i][1]);
    return finite;
}

static int alloc_tile_out(tg_ctx *ctx, tg_tiler *t)
{
    size_t T = (size_t)t->info.tile_px;
    if (!t->tile_rgb) t->tile_rgb = malloc(T * T * 3);
    if (!t->tile_alpha) t->tile_alpha = malloc(T * T);
    if (!t->tile_rgb || !t->tile_alpha)
        return tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory for a %zu px tile", t->path, T);
    return 0;
}

static int fill_tile(tg_tiler *t, int col, int row, double share, tg_tile *o)
{
    memset(o, 0, sizeof *o);
    int finite = tile_geometry(t, col, row, o);
    o->rgb = t->tile_rgb;
    o->alpha = t->tile_alpha;
    o->valid_share = share;
    return finite;
}

int tg_tiles_get(tg_ctx *ctx, tg_tiler *t, int col, int row, tg_tile *out)
{
    if (!t || !out) return tg_set_error(ctx, TG_EINVAL, "tg_tiles_get: tiler and out must not be NULL");
    tg_clear_error(ctx);
    const tg_tiler_info *in = &t->info;
    if (col < 0 || row < 0 || col >= in->n_cols || row >= in->n_rows)
        return tg_set_error(ctx, TG_ENOTFOUND, "raster '%s': tile (col %d, row %d) is outside the %d x %d grid",
                            t->path, col, row, in->n_cols, in->n_rows);
    int rc = alloc_tile_out(ctx, t);
    if (rc) return rc;
    size_t T = (size_t)in->tile_px, line = T * (size_t)t->bps, plane = line * T;
    if (!t->one) t->one = malloc(plane * (size_t)(in->n_channels + 1));
    if (!t->one) return tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory for a tile", t->path);
    quiet_begin();
    rc = warp_window(ctx, t, (long long)col * in->stride_px, (long long)row * in->stride_px, (int)T, (int)T,
                     t->one, line, plane);
    quiet_end();
    if (rc) return rc;
    int keep;
    double share = extract_tile(t, t->one, line, plane, 0, 1, &keep);
    if (!fill_tile(t, col, row, share, out))
        return tg_set_error(ctx, TG_EGEO, "raster '%s': the footprint of tile (col %d, row %d) cannot be "
                            "transformed from %s to EPSG:4326", t->path, col, row, t->work_name);
    return 0;
}

int tg_tiles_run_rows(tg_ctx *ctx, tg_tiler *t, int row_begin, int row_end, tg_tile_fn on_tile, void *user,
                      tg_progress_fn progress, void *progress_user)
{
    if (!t) return tg_set_error(ctx, TG_EINVAL, "tg_tiles_run: tiler must not be NULL");
    tg_clear_error(ctx);
    const tg_tiler_info *in = &t->info;
    if (row_begin < 0 || row_end > in->n_rows || row_begin > row_end)
        return tg_set_error(ctx, TG_EINVAL, "raster '%s': tile rows %d..%d are outside 0..%d", t->path,
                            row_begin, row_end, in->n_rows);
    int rc = alloc_tile_out(ctx, t);
    if (rc) return rc;
    size_t planes = (size_t)in->n_channels + 1;
    if (!t->buf) t->buf = malloc(t->buf_plane * planes);
    if (!t->buf)
        return tg_set_error(ctx, TG_ENOMEM, "raster '%s': out of memory for a %zu-byte strip buffer "
                            "(lower max_buffer_mb)", t->path, t->buf_plane * planes);
    const int T = in->tile_px, S = in->stride_px, cps = in->cols_per_strip;
    const double total = (double)(row_end - row_begin) * in->n_cols;
    t->buf_valid = 0;
    quiet_begin();
    for (int row = row_begin; row < row_end; row++) {
        for (int c0 = 0; c0 < in->n_cols; c0 += cps) {
            int c1 = c0 + cps < in->n_cols ? c0 + cps : in->n_cols;
            int w = (c1 - c0 - 1) * S + T;
            long long top = (long long)row * S, gx = (long long)c0 * S;
            if (t->buf_valid && t->buf_c0 == c0 && t->buf_c1 == c1 && top > t->buf_top && top - t->buf_top < T) {
                /* Rows shared with the previous tile row: move them up, warp the rest. */
                size_t shift = (size_t)(top - t->buf_top), keep = (size_t)T - shift;
                for (size_t k = 0; k < planes; k++) {
                    unsigned char *p = t->buf + k * t->buf_plane;
                    memmove(p, p + shift * t->buf_line, keep * t->buf_line);
                }
                rc = warp_window(ctx, t, gx, t->buf_top + T, w, (int)shift, t->buf + keep * t->buf_line,
                                 t->buf_line, t->buf_plane);
            } else {
                rc = warp_window(ctx, t, gx, top, w, T, t->buf, t->buf_line, t->buf_plane);
            }
            t->buf_valid = rc == 0;
            t->buf_c0 = c0;
            t->buf_c1 = c1;
            t->buf_top = top;
            if (rc) goto done;
            for (int col = c0; col < c1; col++) {
                int keep;
                double share = extract_tile(t, t->buf, t->buf_line, t->buf_plane, (size_t)(col - c0) * S, 0,
                                            &keep);
                if (!keep || !on_tile) continue;
                tg_tile tile;
                if (!fill_tile(t, col, row, share, &tile)) continue; /* outside PROJ's domain */
                int r = on_tile(&tile, user);
                if (r > 0) {
                    rc = tg_set_error(ctx, TG_ECANCEL, "raster '%s': cancelled by the tile callback at tile "
                                      "(col %d, row %d)", t->path, col, row);
                    goto done;
                }
                if (r < 0) {
                    rc = r;
                    if (tg_errcode(ctx) == 0)
                        tg_set_error(ctx, r, "raster '%s': the tile callback failed at tile (col %d, row %d) "
                                     "with %s", t->path, col, row, tg_strerror(r));
                    goto done;
                }
            }
            if (progress && !progress((double)(row - row_begin) * in->n_cols + c1, total, NULL, progress_user)) {
                rc = tg_set_error(ctx, TG_ECANCEL, "raster '%s': cancelled by the progress callback at tile "
                                  "row %d", t->path, row);
                goto done;
            }
        }
    }
done:
    quiet_end();
    if (rc) t->buf_valid = 0;
    return rc;
}

int tg_tiles_run(tg_ctx *ctx, tg_tiler *t, tg_tile_fn on_tile, void *user, tg_progress_fn progress,
                 void *progress_user)
{
    if (!t) return tg_set_error(ctx, TG_EINVAL, "tg_tiles_run: tiler must not be NULL");
    return tg_tiles_run_rows(ctx, t, 0, t->info.n_rows, on_tile, user, progress, progress_user);
}
