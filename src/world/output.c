/*
 * output.c - files of a demo world through GDAL: the aerial GeoTIFF, JPEGs
 * with EXIF GPS (GDAL's JPEG driver writes EXIF_* metadata items) and a GPano
 * XMP packet, PNG crops; and the UTM <-> WGS 84 conversions (OGR/PROJ).
 *
 * XMP: GDAL's JPEG driver (3.6) writes no XMP, so the APP1 XMP segment
 * ("http://ns.adobe.com/xap/1.0/\0" + packet, Adobe XMP spec part 3, 1.1.3)
 * is inserted after the leading APPn segments of the JPEG GDAL wrote.
 */
#include "config.h"
#include "world/world_out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_srs_api.h>

/* GDAL's PAM would drop .aux.xml files next to outputs: off, per thread, while we write. */
typedef struct pam_guard {
    char *old;
} pam_guard;

static void pam_off(pam_guard *g)
{
    const char *v = CPLGetThreadLocalConfigOption("GDAL_PAM_ENABLED", NULL);
    g->old = v ? CPLStrdup(v) : NULL;
    CPLSetThreadLocalConfigOption("GDAL_PAM_ENABLED", "NO");
}

static void pam_restore(pam_guard *g)
{
    CPLSetThreadLocalConfigOption("GDAL_PAM_ENABLED", g->old);
    CPLFree(g->old);
    g->old = NULL;
}

/* ---- CRS -------------------------------------------------------------------------- */

int wgeo_init(tg_ctx *ctx, wgeo *g, int epsg)
{
    memset(g, 0, sizeof(*g));
    g->utm = OSRNewSpatialReference(NULL);
    g->wgs = OSRNewSpatialReference(NULL);
    if (!g->utm || !g->wgs) goto fail;
    CPLErrorReset();
    if (OSRImportFromEPSG(g->utm, epsg) != OGRERR_NONE) {
        tg_set_error(ctx, TG_EGEO, "world: EPSG:%d is unknown to PROJ (is proj-data installed?)", epsg);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        wgeo_free(g);
        return TG_EGEO;
    }
    if (OSRImportFromEPSG(g->wgs, 4326) != OGRERR_NONE) {
        tg_set_error(ctx, TG_EGEO, "world: EPSG:4326 is unknown to PROJ (is proj-data installed?)");
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        wgeo_free(g);
        return TG_EGEO;
    }
    OSRSetAxisMappingStrategy(g->utm, OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(g->wgs, OAMS_TRADITIONAL_GIS_ORDER);
    g->fwd = OCTNewCoordinateTransformation(g->utm, g->wgs);
    g->inv = OCTNewCoordinateTransformation(g->wgs, g->utm);
    if (!g->fwd || !g->inv) {
        tg_set_error(ctx, TG_EGEO, "world: no transformation between EPSG:%d and EPSG:4326", epsg);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        wgeo_free(g);
        return TG_EGEO;
    }
    char *wkt = NULL;
    if (OSRExportToWkt(g->utm, &wkt) != OGRERR_NONE || !wkt) goto fail;
    g->wkt = wkt;
    g->epsg = epsg;
    return 0;
fail:
    wgeo_free(g);
    return tg_set_error(ctx, TG_ENOMEM, "world: out of memory creating the CRS EPSG:%d", epsg);
}

void wgeo_free(wgeo *g)
{
    if (!g) return;
    if (g->fwd) OCTDestroyCoordinateTransformation(g->fwd);
    if (g->inv) OCTDestroyCoordinateTransformation(g->inv);
    if (g->utm) OSRDestroySpatialReference(g->utm);
    if (g->wgs) OSRDestroySpatialReference(g->wgs);
    CPLFree(g->wkt);
    memset(g, 0, sizeof(*g));
}

int wgeo_lonlat(tg_ctx *ctx, const wgeo *g, double e, double n, double *lon, double *lat)
{
    double x = e, y = n, z = 0;
    if (!OCTTransform(g->fwd, 1, &x, &y, &z) || !isfinite(x) || !isfinite(y))
        return tg_set_error(ctx, TG_EGEO, "world: cannot convert E %.3f N %.3f (EPSG:%d) to longitude/latitude",
                            e, n, g->epsg);
    *lon = x;
    *lat = y;
    return 0;
}

int wgeo_grid_to_true(tg_ctx *ctx, const wgeo *g, double e, double n, double *deg)
{
    double lon, lat;
    int rc = wgeo_lonlat(ctx, g, e, n, &lon, &lat);
    if (rc) return rc;
    double x = lon, y = lat + 1e-4, z = 0;
    if (!OCTTransform(g->inv, 1, &x, &y, &z))
        return tg_set_error(ctx, TG_EGEO, "world: cannot convert lon %.6f lat %.6f to EPSG:%d", lon, lat, g->epsg);
    /* grid azimuth of true north; a grid azimuth a is the true azimuth a - that */
    *deg = -atan2(x - e, y - n) * (180.0 / WPI);
    return 0;
}

/* ---- rasters ---------------------------------------------------------------------- */

int waerial_open(tg_ctx *ctx, const char *path, int w, int h, const wgeo *g, const double gt[6], void **out)
{
    *out = NULL;
    GDALDriverH drv = GDALGetDriverByName("GTiff");
    if (!drv) return tg_set_error(ctx, TG_EIO, "world: GDAL has no GTiff driver");
    char **opt = NULL;
    opt = CSLSetNameValue(opt, "TILED", "YES");
    opt = CSLSetNameValue(opt, "BLOCKXSIZE", "256");
    opt = CSLSetNameValue(opt, "BLOCKYSIZE", "256");
    opt = CSLSetNameValue(opt, "COMPRESS", "DEFLATE");
    opt = CSLSetNameValue(opt, "PREDICTOR", "2");
    opt = CSLSetNameValue(opt, "PHOTOMETRIC", "RGB");
    opt = CSLSetNameValue(opt, "INTERLEAVE", "PIXEL");
    opt = CSLSetNameValue(opt, "BIGTIFF", "IF_SAFER");
    pam_guard pg;
    pam_off(&pg);
    CPLErrorReset();
    GDALDatasetH ds = GDALCreate(drv, path, w, h, 3, GDT_Byte, opt);
    CSLDestroy(opt);
    if (!ds) {
        pam_restore(&pg);
        tg_set_error(ctx, TG_EIO, "world: cannot create '%s' (is the directory writable?)", path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    double t[6];
    memcpy(t, gt, sizeof(t));
    if (GDALSetGeoTransform(ds, t) != CE_None || GDALSetProjection(ds, g->wkt) != CE_None) {
        pam_restore(&pg);
        tg_set_error(ctx, TG_EGEO, "world: cannot georeference '%s'", path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        GDALClose(ds);
        return TG_EGEO;
    }
    GDALSetMetadataItem(ds, "TIFFTAG_SOFTWARE", "transgeo world", NULL);
    pam_restore(&pg);
    *out = ds;
    return 0;
}

int waerial_write(tg_ctx *ctx, void *ds, const char *path, int row0, int w, int rows, const unsigned char *rgb)
{
    CPLErrorReset();
    if (GDALDatasetRasterIO((GDALDatasetH)ds, GF_Write, 0, row0, w, rows, (void *)rgb, w, rows, GDT_Byte, 3, NULL, 3,
                            (GSpacing)3 * w, 1) != CE_None) {
        tg_set_error(ctx, TG_EIO, "world: cannot write rows %d..%d of '%s' (disk full?)", row0, row0 + rows - 1,
                     path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    return 0;
}

int waerial_close(tg_ctx *ctx, void *ds, const char *path)
{
    if (!ds) return 0;
    pam_guard pg;
    pam_off(&pg);
    CPLErrorReset();
    GDALClose((GDALDatasetH)ds); /* void before GDAL 3.7: errors go to CPLGetLastErrorType() */
    int bad = CPLGetLastErrorType() >= CE_Failure;
    pam_restore(&pg);
    if (bad) {
        tg_set_error(ctx, TG_EIO, "world: cannot finish writing '%s' (disk full?)", path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    return 0;
}

static GDALDatasetH mem_rgb(const unsigned char *rgb, int w, int h)
{
    GDALDriverH mem = GDALGetDriverByName("MEM");
    if (!mem) return NULL;
    GDALDatasetH ds = GDALCreate(mem, "", w, h, 3, GDT_Byte, NULL);
    if (!ds) return NULL;
    if (GDALDatasetRasterIO(ds, GF_Write, 0, 0, w, h, (void *)rgb, w, h, GDT_Byte, 3, NULL, 3, (GSpacing)3 * w,
                            1) != CE_None) {
        GDALClose(ds);
        return NULL;
    }
    for (int b = 1; b <= 3; b++)
        GDALSetRasterColorInterpretation(GDALGetRasterBand(ds, b), (GDALColorInterp)(GCI_RedBand + b - 1));
    return ds;
}

static int write_all(tg_ctx *ctx, const char *path, const unsigned char *a, size_t na, const unsigned char *b,
                     size_t nb, const unsigned char *c, size_t nc)
{
    FILE *f = fopen(path, "wb");
    if (!f) return tg_set_error(ctx, TG_EIO, "world: cannot create '%s': %s", path, strerror(errno));
    int ok = fwrite(a, 1, na, f) == na && (!nb || fwrite(b, 1, nb, f) == nb) && (!nc || fwrite(c, 1, nc, f) == nc);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return tg_set_error(ctx, TG_EIO, "world: cannot write '%s' (disk full?)", path);
    return 0;
}

/* Encode through GDAL into /vsimem/, then write out, optionally with an
 * XMP segment inserted after the leading APPn segments. */
static int encode(tg_ctx *ctx, const char *driver, const char *path, const unsigned char *rgb, int w, int h,
                  char **md, char **opt, const char *xmp)
{
    char vpath[96];
    snprintf(vpath, sizeof(vpath), "/vsimem/tg_world_%p_%p.%s", (void *)ctx, (void *)rgb,
             strcmp(driver, "PNG") ? "jpg" : "png");
    GDALDriverH drv = GDALGetDriverByName(driver);
    if (!drv) return tg_set_error(ctx, TG_EIO, "world: GDAL has no %s driver (GDAL built without it?)", driver);
    pam_guard pg;
    pam_off(&pg);
    CPLErrorReset();
    GDALDatasetH src = mem_rgb(rgb, w, h);
    if (!src) {
        pam_restore(&pg);
        return tg_set_error(ctx, TG_ENOMEM, "world: out of memory preparing '%s'", path);
    }
    if (md) GDALSetMetadata(src, md, NULL);
    GDALDatasetH dst = GDALCreateCopy(drv, vpath, src, FALSE, opt, NULL, NULL);
    int bad = !dst;
    if (dst) {
        GDALClose(dst);
        if (CPLGetLastErrorType() >= CE_Failure) bad = 1;
    }
    GDALClose(src);
    pam_restore(&pg);
    if (bad) {
        VSIUnlink(vpath);
        tg_set_error(ctx, TG_EIO, "world: GDAL %s driver cannot encode '%s'", driver, path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        return TG_EIO;
    }
    vsi_l_offset len = 0;
    GByte *buf = VSIGetMemFileBuffer(vpath, &len, TRUE);
    VSIUnlink(vpath);
    if (!buf) return tg_set_error(ctx, TG_EIO, "world: GDAL wrote no data for '%s'", path);
    int rc;
    if (!xmp) {
        rc = write_all(ctx, path, buf, (size_t)len, NULL, 0, NULL, 0);
    } else {
        /* SOI, then APPn segments (FF En, big-endian length incl. itself) */
        size_t pos = 2;
        while (pos + 4 <= len && buf[pos] == 0xFF && buf[pos + 1] >= 0xE0 && buf[pos + 1] <= 0xEF)
            pos += 2 + ((size_t)buf[pos + 2] << 8 | buf[pos + 3]);
        static const char ns[] = "http://ns.adobe.com/xap/1.0/"; /* + its NUL */
        size_t nx = strlen(xmp), seglen = 2 + sizeof(ns) + nx;
        if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8 || pos > len || seglen > 65535) {
            CPLFree(buf);
            return tg_set_error(ctx, TG_EINTERNAL, "world: cannot add XMP to '%s' (unexpected JPEG layout)", path);
        }
        unsigned char *seg = malloc(4 + sizeof(ns) + nx);
        if (!seg) {
            CPLFree(buf);
            return tg_set_error(ctx, TG_ENOMEM, "world: out of memory writing '%s'", path);
        }
        seg[0] = 0xFF;
        seg[1] = 0xE1;
        seg[2] = (unsigned char)(seglen >> 8);
        seg[3] = (unsigned char)(seglen & 255);
        memcpy(seg + 4, ns, sizeof(ns));
        memcpy(seg + 4 + sizeof(ns), xmp, nx);
        rc = write_all(ctx, path, buf, pos, seg, 4 + sizeof(ns) + nx, buf + pos, (size_t)len - pos);
        free(seg);
    }
    CPLFree(buf);
    return rc;
}

int wwrite_jpeg(tg_ctx *ctx, const char *path, const unsigned char *rgb, int w, int h, int quality,
                char **exif, const char *xmp)
{
    char q[16];
    snprintf(q, sizeof(q), "%d", quality);
    char **opt = CSLSetNameValue(NULL, "QUALITY", q);
    int rc = encode(ctx, "JPEG", path, rgb, w, h, exif, opt, xmp);
    CSLDestroy(opt);
    return rc;
}

int wwrite_png(tg_ctx *ctx, const char *path, const unsigned char *rgb, int w, int h)
{
    return encode(ctx, "PNG", path, rgb, w, h, NULL, NULL, NULL);
}

/* ---- EXIF / XMP text --------------------------------------------------------------- */

/* "(D) (M) (S.ssssss)" of |v| degrees, rounded to a microsecond of arc. */
static void dms(double v, char *buf, size_t n)
{
    long long us = (long long)(fabs(v) * 3600e6 + 0.5);
    long long d = us / 3600000000LL, m = (us / 60000000LL) % 60, s = us % 60000000LL;
    snprintf(buf, n, "(%lld) (%lld) (%lld.%06lld)", d, m, s / 1000000, s % 1000000);
}

char **wexif_items(double lon, double lat, double alt_m, double heading_deg, double focal35_mm, uint64_t seed,
                   double hpe_m)
{
    char buf[96];
    char **md = NULL;
    md = CSLSetNameValue(md, "EXIF_GPSVersionID", "0x02 0x03 0x00 0x00");
    md = CSLSetNameValue(md, "EXIF_GPSLatitudeRef", lat >= 0 ? "N" : "S");
    dms(lat, buf, sizeof(buf));
    md = CSLSetNameValue(md, "EXIF_GPSLatitude", buf);
    md = CSLSetNameValue(md, "EXIF_GPSLongitudeRef", lon >= 0 ? "E" : "W");
    dms(lon, buf, sizeof(buf));
    md = CSLSetNameValue(md, "EXIF_GPSLongitude", buf);
    md = CSLSetNameValue(md, "EXIF_GPSAltitudeRef", "0x00");
    snprintf(buf, sizeof(buf), "(%.2f)", alt_m);
    md = CSLSetNameValue(md, "EXIF_GPSAltitude", buf);
    if (hpe_m > 0) {
        snprintf(buf, sizeof(buf), "(%.2f)", hpe_m);
        md = CSLSetNameValue(md, "EXIF_GPSHPositioningError", buf);
    }
    if (!isnan(heading_deg)) { /* NAN: no heading (rotated panoramas) */
        md = CSLSetNameValue(md, "EXIF_GPSImgDirectionRef", "T");
        snprintf(buf, sizeof(buf), "(%.4f)", heading_deg);
        md = CSLSetNameValue(md, "EXIF_GPSImgDirection", buf);
    }
    md = CSLSetNameValue(md, "EXIF_Make", "transgeo");
    snprintf(buf, sizeof(buf), "demo world %llu", (unsigned long long)seed);
    md = CSLSetNameValue(md, "EXIF_Model", buf);
    snprintf(buf, sizeof(buf), "transgeo world %d", TG_WORLD_VERSION);
    md = CSLSetNameValue(md, "EXIF_Software", buf);
    md = CSLSetNameValue(md, "EXIF_DateTimeOriginal", "2024:06:21 12:00:00");
    if (focal35_mm > 0) {
        snprintf(buf, sizeof(buf), "%d", (int)(focal35_mm + 0.5));
        md = CSLSetNameValue(md, "EXIF_FocalLengthIn35mmFilm", buf);
        /* a 1/2.3" sensor (7.66 mm diagonal): actual focal length */
        snprintf(buf, sizeof(buf), "(%.3f)", focal35_mm * 7.66 / 43.2666);
        md = CSLSetNameValue(md, "EXIF_FocalLength", buf);
    }
    return md;
}

void wexif_free(char **md) { CSLDestroy(md); }

char *wgpano_xmp(int w, int h, double heading_deg)
{
    char *s = malloc(2048), pose[64] = "";
    if (!s) return NULL;
    if (!isnan(heading_deg)) /* NAN: no heading (rotated panoramas) */
        snprintf(pose, sizeof pose, "   GPano:PoseHeadingDegrees=\"%.4f\"\n", heading_deg);
    snprintf(s, 2048,
             "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
             "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"transgeo world %d\">\n"
             " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
             "  <rdf:Description rdf:about=\"\"\n"
             "    xmlns:GPano=\"http://ns.google.com/photos/1.0/panorama/\"\n"
             "   GPano:UsePanoramaViewer=\"True\"\n"
             "   GPano:ProjectionType=\"equirectangular\"\n"
             "%s"
             "   GPano:PosePitchDegrees=\"0.0\"\n"
             "   GPano:PoseRollDegrees=\"0.0\"\n"
             "   GPano:CroppedAreaImageWidthPixels=\"%d\"\n"
             "   GPano:CroppedAreaImageHeightPixels=\"%d\"\n"
             "   GPano:FullPanoWidthPixels=\"%d\"\n"
             "   GPano:FullPanoHeightPixels=\"%d\"\n"
             "   GPano:CroppedAreaLeftPixels=\"0\"\n"
             "   GPano:CroppedAreaTopPixels=\"0\"/>\n"
             " </rdf:RDF>\n"
             "</x:xmpmeta>\n"
             "<?xpacket end=\"w\"?>",
             TG_WORLD_VERSION, pose, w, h, w, h);
    return s;
}
