/* demo_map.c - orthophoto + truth/estimate overlay as a PNG (see demo_map.h).
 * GDAL does the reading, resampling, rasterising and PNG writing; this file
 * only builds the geometries. */
#include "config.h"
#include "demo_map.h"
#include "transgeo/geo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gdal.h>
#include <gdal_alg.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>
#include <cpl_conv.h>
#include <cpl_string.h>

/* A closed square ring of half-size h (map units) around (x, y). */
static OGRGeometryH square(double x, double y, double h)
{
    OGRGeometryH ring = OGR_G_CreateGeometry(wkbLinearRing);
    OGR_G_AddPoint_2D(ring, x - h, y - h);
    OGR_G_AddPoint_2D(ring, x + h, y - h);
    OGR_G_AddPoint_2D(ring, x + h, y + h);
    OGR_G_AddPoint_2D(ring, x - h, y + h);
    OGR_G_AddPoint_2D(ring, x - h, y - h);
    OGRGeometryH poly = OGR_G_CreateGeometry(wkbPolygon);
    OGR_G_AddGeometryDirectly(poly, ring);
    return poly;
}

static OGRGeometryH segment(double x0, double y0, double x1, double y1)
{
    OGRGeometryH l = OGR_G_CreateGeometry(wkbLineString);
    OGR_G_AddPoint_2D(l, x0, y0);
    OGR_G_AddPoint_2D(l, x1, y1);
    return l;
}

int demo_map_write(tg_ctx *ctx, const char *aerial_path, const demo_map_point *pts, size_t n,
                   int max_px, const char *out_png)
{
    int rc = TG_OK;
    GDALDatasetH src = NULL, mem = NULL, png = NULL;
    tg_geo_transform *tr = NULL;
    OGRGeometryH *geoms = NULL;
    double *burn = NULL, *xs = NULL, *ys = NULL;
    size_t n_geoms = 0;

    GDALAllRegister();
    src = GDALOpen(aerial_path, GA_ReadOnly);
    if (!src) {
        rc = tg_set_error(ctx, TG_EIO, "demo map: cannot open '%s'", aerial_path);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        goto done;
    }
    int W = GDALGetRasterXSize(src), H = GDALGetRasterYSize(src);
    double gt[6];
    const char *wkt = GDALGetProjectionRef(src);
    if (GDALGetGeoTransform(src, gt) != CE_None || !wkt || !*wkt || GDALGetRasterCount(src) < 3) {
        rc = tg_set_error(ctx, TG_EGEO, "demo map: '%s' is not a georeferenced RGB raster",
                          aerial_path);
        goto done;
    }
    double scale = W > max_px ? (double)W / max_px : 1.0;
    int w = (int)(W / scale), h = (int)(H / scale);
    mem = GDALCreate(GDALGetDriverByName("MEM"), "", w, h, 3, GDT_Byte, NULL);
    if (!mem) {
        rc = tg_set_error(ctx, TG_ENOMEM, "demo map: cannot create a %dx%d image", w, h);
        goto done;
    }
    GDALRasterIOExtraArg extra;
    INIT_RASTERIO_EXTRA_ARG(extra);
    extra.eResampleAlg = GRIORA_Bilinear;
    {
        size_t npx = (size_t)w * h * 3;
        GByte *buf = malloc(npx);
        if (!buf) {
            rc = tg_set_error(ctx, TG_ENOMEM, "demo map: out of memory");
            goto done;
        }
        int bands[3] = {1, 2, 3};
        CPLErr e = GDALDatasetRasterIOEx(src, GF_Read, 0, 0, W, H, buf, w, h, GDT_Byte, 3, bands,
                                         0, 0, 0, &extra);
        if (e == CE_None)
            e = GDALDatasetRasterIO(mem, GF_Write, 0, 0, w, h, buf, w, h, GDT_Byte, 3, bands, 0, 0,
                                    0);
        free(buf);
        if (e != CE_None) {
            rc = tg_set_error(ctx, TG_EIO, "demo map: cannot read '%s'", aerial_path);
            tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
            goto done;
        }
    }
    double mgt[6] = {gt[0], gt[1] * W / w, gt[2], gt[3], gt[4], gt[5] * H / h};
    GDALSetGeoTransform(mem, mgt);
    GDALSetProjection(mem, wkt);

    /* True and estimated positions into the raster's CRS. */
    xs = malloc(sizeof *xs * (2 * n + 1));
    ys = malloc(sizeof *ys * (2 * n + 1));
    geoms = calloc(3 * n + 1, sizeof *geoms);
    burn = malloc(sizeof *burn * 3 * (3 * n + 1));
    if (!xs || !ys || !geoms || !burn) {
        rc = tg_set_error(ctx, TG_ENOMEM, "demo map: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        xs[2 * i] = pts[i].true_lon, ys[2 * i] = pts[i].true_lat;
        xs[2 * i + 1] = pts[i].est_lon, ys[2 * i + 1] = pts[i].est_lat;
    }
    if ((rc = tg_geo_transform_create(ctx, "EPSG:4326", wkt, &tr)) ||
        (rc = tg_geo_transform_points(ctx, tr, 2 * n, xs, ys)))
        goto done;
    double px = fabs(mgt[1]); /* map units per output pixel */
    static const double red[3] = {230, 40, 40}, green[3] = {40, 220, 60}, blue[3] = {40, 120, 255},
                        yellow[3] = {255, 230, 0};
    for (size_t i = 0; i < n; i++) {
        const double *line = pts[i].correct ? green : red;
        geoms[n_geoms] = segment(xs[2 * i], ys[2 * i], xs[2 * i + 1], ys[2 * i + 1]);
        memcpy(burn + 3 * n_geoms++, line, sizeof red);
        geoms[n_geoms] = square(xs[2 * i + 1], ys[2 * i + 1], 2.5 * px);
        memcpy(burn + 3 * n_geoms++, blue, sizeof red);
        geoms[n_geoms] = square(xs[2 * i], ys[2 * i], 2.0 * px);
        memcpy(burn + 3 * n_geoms++, yellow, sizeof red);
    }
    int bands[3] = {1, 2, 3};
    char **opts = CSLSetNameValue(NULL, "ALL_TOUCHED", "TRUE");
    CPLErr e = GDALRasterizeGeometries(mem, 3, bands, (int)n_geoms, geoms, NULL, NULL, burn, opts,
                                       NULL, NULL);
    CSLDestroy(opts);
    if (e != CE_None) {
        rc = tg_set_error(ctx, TG_EIO, "demo map: rasterising the overlay failed");
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
        goto done;
    }
    png = GDALCreateCopy(GDALGetDriverByName("PNG"), out_png, mem, FALSE, NULL, NULL, NULL);
    if (!png) {
        rc = tg_set_error(ctx, TG_EIO, "demo map: cannot write '%s'", out_png);
        tg_append_error(ctx, "%s", CPLGetLastErrorMsg());
    }
done:
    if (png) GDALClose(png);
    if (mem) GDALClose(mem);
    if (src) GDALClose(src);
    for (size_t i = 0; i < n_geoms; i++) OGR_G_DestroyGeometry(geoms[i]);
    free(geoms);
    free(burn);
    free(xs);
    free(ys);
    tg_geo_transform_free(tr);
    return rc;
}
