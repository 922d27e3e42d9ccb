/* output.c - the batch output: a GeoPackage (photos, matched tiles, failures)
 * or CSV that a rerun resumes (tg_batch_out, see include/transgeo/batch.h). */
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

/* ======================================================================== */
/* output                                                                   */
/* ======================================================================== */

/* Field layout of the layer "photos" (and the CSV columns, which add "error"). */
enum { PF_FILE, PF_MODEL, PF_LON, PF_LAT, PF_SCORE, PF_ERROR_M, PF_TILE_ID, PF_GPS_LON,
       PF_GPS_LAT, PF_GPS_ERROR_M, PF_HEADING, PF_HEADING_SOURCE, PF_FOV, PF_CAMERA_SOURCE,
       PF_TILE_LON, PF_TILE_LAT, PF_PRIOR, PF_REFINED, PF_REFINE_TILES, PF_COUNT };
static const struct { const char *name; OGRFieldType type; } photo_fields[PF_COUNT] = {
    {"file", OFTString},     {"model", OFTString},   {"lon", OFTReal},
    {"lat", OFTReal},        {"score", OFTReal},     {"error_m", OFTReal},
    {"tile_id", OFTInteger64}, {"gps_lon", OFTReal}, {"gps_lat", OFTReal},
    {"gps_error_m", OFTReal}, {"heading", OFTReal},
    {"heading_source", OFTString}, {"fov_deg", OFTReal}, {"camera_source", OFTString},
    {"tile_lon", OFTReal},   {"tile_lat", OFTReal},   {"prior", OFTString},
    {"refined", OFTString},  {"refine_tiles", OFTInteger},
};
enum { TF_FILE, TF_RANK, TF_TILE_ID, TF_SCORE, TF_LON, TF_LAT, TF_COUNT };
static const struct { const char *name; OGRFieldType type; } tile_fields[TF_COUNT] = {
    {"file", OFTString}, {"rank", OFTInteger}, {"tile_id", OFTInteger64},
    {"score", OFTReal},  {"lon", OFTReal},     {"lat", OFTReal},
};
enum { FF_FILE, FF_ERROR, FF_COUNT };
static const struct { const char *name; OGRFieldType type; } fail_fields[FF_COUNT] = {
    {"file", OFTString}, {"error", OFTString},
};

#define LAYER_PHOTOS "photos"
#define LAYER_TILES "matched_tiles"
#define LAYER_FAILURES "failures"

struct tg_batch_out {
    int format;             /* tg_batch_format */
    char *path;
    CPLHashSet *done;       /* files already in the output (char*, owned) */
    long n_existing;
    /* GeoPackage */
    GDALDatasetH ds;
    OGRLayerH photos, tiles, fails;
    int pidx[PF_COUNT], tidx[TF_COUNT], fidx[FF_COUNT]; /* field indices */
    OGRSpatialReferenceH srs;
    int in_tx;              /* a transaction is open */
    /* CSV */
    FILE *fp;
    int fp_is_stdout;
};

int tg_batch_format_of(const char *path)
{
    if (!path) return 0;
    if (!strcmp(path, "-")) return TG_BATCH_STDOUT;
    size_t n = strlen(path);
    if (n > 5 && !strcasecmp(path + n - 5, ".gpkg")) return TG_BATCH_GPKG;
    if (n > 4 && !strcasecmp(path + n - 4, ".csv")) return TG_BATCH_CSV;
    return 0;
}

int tg_batch_out_format(const tg_batch_out *o)
{
    return o ? o->format : 0;
}

int tg_batch_out_has(const tg_batch_out *o, const char *file)
{
    return o && file && CPLHashSetLookup(o->done, file) != NULL;
}

long tg_batch_out_n_existing(const tg_batch_out *o)
{
    return o ? o->n_existing : 0;
}

static int remember(tg_ctx *ctx, tg_batch_out *o, const char *file)
{
    if (!file || CPLHashSetLookup(o->done, file)) return 0;
    char *d = tgb_strdup(file);
    if (!d) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
    CPLHashSetInsert(o->done, d);
    return 0;
}

static int gdal_fail(tg_ctx *ctx, int code, const tg_batch_out *o, const char *what)
{
    tg_set_error(ctx, code, "output '%s': %s", o->path, what);
    const char *m = CPLGetLastErrorMsg();
    if (m && *m) tg_append_error(ctx, "%s", m);
    return code;
}

/* Look up (or create, in a new file) a layer and its fields; idx[i] = index of
 * field i. Existing layers must have every field (a file from another tool or
 * version is refused rather than mixed). */
static int gpkg_layer(tg_ctx *ctx, tg_batch_out *o, const char *name, OGRwkbGeometryType gt,
                      const void *fields_, int n_fields, int *idx, OGRLayerH *out)
{
    const struct { const char *name; OGRFieldType type; } *fields = fields_;
    OGRLayerH lyr = GDALDatasetGetLayerByName(o->ds, name);
    if (!lyr) {
        char **opts = NULL;
        opts = CSLSetNameValue(opts, "FID", "fid");
        if (gt != wkbNone) {
            opts = CSLSetNameValue(opts, "GEOMETRY_NAME", "geom");
            opts = CSLSetNameValue(opts, "SPATIAL_INDEX", "YES");
        }
        lyr = GDALDatasetCreateLayer(o->ds, name, gt != wkbNone ? o->srs : NULL, gt, opts);
        CSLDestroy(opts);
        if (!lyr) {
            char what[128];
            snprintf(what, sizeof what, "cannot create layer '%s'", name);
            return gdal_fail(ctx, TG_EIO, o, what);
        }
        for (int i = 0; i < n_fields; i++) {
            OGRFieldDefnH fd = OGR_Fld_Create(fields[i].name, fields[i].type);
            if (i == 0) OGR_Fld_SetNullable(fd, FALSE); /* file */
            OGRErr err = OGR_L_CreateField(lyr, fd, TRUE);
            OGR_Fld_Destroy(fd);
            if (err != OGRERR_NONE) {
                char what[160];
                snprintf(what, sizeof what, "cannot create field '%s' of layer '%s'",
                         fields[i].name, name);
                return gdal_fail(ctx, TG_EIO, o, what);
            }
        }
    }
    OGRFeatureDefnH defn = OGR_L_GetLayerDefn(lyr);
    for (int i = 0; i < n_fields; i++) {
        idx[i] = OGR_FD_GetFieldIndex(defn, fields[i].name);
        if (idx[i] < 0)
            return tg_set_error(ctx, TG_EIO,
                                "output '%s': layer '%s' has no field '%s', so it was not "
                                "written by transgeo locate; choose another output file",
                                o->path, name, fields[i].name);
    }
    *out = lyr;
    return 0;
}

static int read_done(tg_ctx *ctx, tg_batch_out *o, OGRLayerH lyr, int file_idx)
{
    OGR_L_ResetReading(lyr);
    OGRFeatureH f;
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
        int rc = 0;
        if (OGR_F_IsFieldSetAndNotNull(f, file_idx))
            rc = remember(ctx, o, OGR_F_GetFieldAsString(f, file_idx));
        OGR_F_Destroy(f);
        if (rc) return rc;
    }
    return 0;
}

static int gpkg_open(tg_ctx *ctx, tg_batch_out *o)
{
    static const char *const drivers[] = {"GPKG", NULL};
    struct stat st;
    int exists = stat(o->path, &st) == 0;
    if (exists && st.st_size == 0) { /* e.g. made by `touch`: start afresh */
        unlink(o->path);
        exists = 0;
    }
    if (exists) {
        o->ds = GDALOpenEx(o->path, GDAL_OF_VECTOR | GDAL_OF_UPDATE, drivers, NULL, NULL);
        if (!o->ds)
            return gdal_fail(ctx, TG_EIO, o,
                             "exists but cannot be opened for update as a GeoPackage "
                             "(remove it or choose another output file)");
    } else {
        GDALDriverH drv = GDALGetDriverByName("GPKG");
        if (!drv) return gdal_fail(ctx, TG_EIO, o, "this GDAL has no GPKG driver");
        o->ds = GDALCreate(drv, o->path, 0, 0, 0, GDT_Unknown, NULL);
        if (!o->ds) return gdal_fail(ctx, TG_EIO, o, "cannot create the GeoPackage");
    }
    int rc = gpkg_layer(ctx, o, LAYER_PHOTOS, wkbPoint, photo_fields, PF_COUNT, o->pidx, &o->photos);
    if (!rc) rc = gpkg_layer(ctx, o, LAYER_TILES, wkbPolygon, tile_fields, TF_COUNT, o->tidx, &o->tiles);
    if (!rc) rc = gpkg_layer(ctx, o, LAYER_FAILURES, wkbNone, fail_fields, FF_COUNT, o->fidx, &o->fails);
    if (!rc && exists) rc = read_done(ctx, o, o->photos, o->pidx[PF_FILE]);
    if (!rc && exists) rc = read_done(ctx, o, o->fails, o->fidx[FF_FILE]);
    return rc;
}

/* CSV columns: the photos fields, then "error". */
static void csv_put_str(FILE *fp, const char *s)
{
    if (!s) return;
    if (strpbrk(s, ",\"\r\n") || (s[0] == ' ' || (s[0] && s[strlen(s) - 1] == ' '))) {
        fputc('"', fp);
        for (; *s; s++) {
            if (*s == '"') fputc('"', fp);
            fputc(*s, fp);
        }
        fputc('"', fp);
    } else {
        fputs(s, fp);
    }
}

static void csv_header(FILE *fp)
{
    for (int i = 0; i < PF_COUNT; i++) fprintf(fp, "%s,", photo_fields[i].name);
    fputs("error\n", fp);
}

/* Read the files of an existing CSV (through OGR's CSV reader, which knows the
 * quoting rules) and cut an unfinished last line (a run killed mid-write). */
static int csv_open_existing(tg_ctx *ctx, tg_batch_out *o)
{
    static const char *const drivers[] = {"CSV", NULL};
    int rc;
    FILE *fp = fopen(o->path, "r+");
    if (!fp) return tg_set_error(ctx, TG_EIO, "output '%s' cannot be opened: %s", o->path, strerror(errno));
    /* the last newline: everything after it is an unfinished row */
    if (fseeko(fp, 0, SEEK_END) != 0) goto ioerr;
    off_t size = ftello(fp), keep = 0;
    {
        char buf[4096];
        off_t pos = size;
        while (pos > 0 && keep == 0) {
            size_t chunk = pos > (off_t)sizeof buf ? sizeof buf : (size_t)pos;
            pos -= (off_t)chunk;
            if (fseeko(fp, pos, SEEK_SET) != 0 || fread(buf, 1, chunk, fp) != chunk) goto ioerr;
            for (size_t i = chunk; i > 0; i--)
                if (buf[i - 1] == '\n') {
                    keep = pos + (off_t)i;
                    break;
                }
        }
    }
    if (keep < size && ftruncate(fileno(fp), keep) != 0) goto ioerr;
    fclose(fp);
    fp = NULL;
    if (keep == 0) { /* nothing complete, not even the header: start afresh */
        o->fp = fopen(o->path, "w");
        if (!o->fp) goto ioerr;
        csv_header(o->fp);
        return 0;
    }
    GDALDatasetH ds = GDALOpenEx(o->path, GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers, NULL, NULL);
    OGRLayerH lyr = ds ? GDALDatasetGetLayer(ds, 0) : NULL;
    int idx = lyr ? OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(lyr), "file") : -1;
    int ierr = lyr ? OGR_FD_GetFieldIndex(OGR_L_GetLayerDefn(lyr), "error") : -1;
    if (idx < 0 || ierr < 0) {
        if (ds) GDALClose(ds);
        return tg_set_error(ctx, TG_EIO,
                            "output '%s' exists but is not a CSV written by transgeo locate "
                            "(no 'file' and 'error' columns); choose another output file",
                            o->path);
    }
    rc = read_done(ctx, o, lyr, idx);
    GDALClose(ds);
    if (rc) return rc;
    o->fp = fopen(o->path, "a");
    if (!o->fp) goto ioerr;
    return 0;
ioerr:
    rc = tg_set_error(ctx, TG_EIO, "output '%s': %s", o->path, strerror(errno));
    if (fp) fclose(fp);
    return rc;
}

static int csv_open(tg_ctx *ctx, tg_batch_out *o)
{
    if (o->format == TG_BATCH_STDOUT) {
        o->fp = stdout;
        o->fp_is_stdout = 1;
        csv_header(o->fp);
        return 0;
    }
    struct stat st;
    if (stat(o->path, &st) == 0 && st.st_size > 0) return csv_open_existing(ctx, o);
    o->fp = fopen(o->path, "w");
    if (!o->fp)
        return tg_set_error(ctx, TG_EIO, "output '%s' cannot be created: %s", o->path, strerror(errno));
    csv_header(o->fp);
    return 0;
}

int tg_batch_out_open(tg_ctx *ctx, const char *path, tg_batch_out **out)
{
    if (out) *out = NULL;
    if (!path || !out) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    int fmt = tg_batch_format_of(path);
    if (!fmt)
        return tg_set_error(ctx, TG_EINVAL,
                            "output '%s': unknown format; name it *.gpkg (GeoPackage), *.csv, "
                            "or - (CSV on standard output)", path);
    tg_batch_out *o = calloc(1, sizeof *o);
    if (!o || !(o->path = tgb_strdup(path))) goto nomem;
    o->format = fmt;
    o->done = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    if (!o->done) goto nomem;
    tg_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
    int rc;
    if (fmt == TG_BATCH_GPKG) {
        o->srs = OSRNewSpatialReference(NULL);
        if (!o->srs || OSRImportFromEPSG(o->srs, 4326) != OGRERR_NONE) {
            CPLPopErrorHandler();
            rc = gdal_fail(ctx, TG_EGEO, o, "EPSG:4326 is unknown to PROJ (is proj.db installed?)");
            tg_batch_out_free(o);
            return rc;
        }
        OSRSetAxisMappingStrategy(o->srs, OAMS_TRADITIONAL_GIS_ORDER); /* x = lon */
        rc = gpkg_open(ctx, o);
    } else {
        rc = csv_open(ctx, o);
    }
    CPLPopErrorHandler();
    if (rc) {
        tg_batch_out_free(o);
        return rc;
    }
    o->n_existing = CPLHashSetSize(o->done);
    *out = o;
    return 0;
nomem:
    tg_batch_out_free(o);
    return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", path);
}

static int gpkg_begin(tg_ctx *ctx, tg_batch_out *o)
{
    if (o->in_tx) return 0;
    if (GDALDatasetStartTransaction(o->ds, FALSE) != OGRERR_NONE)
        return gdal_fail(ctx, TG_EIO, o, "cannot start a transaction");
    o->in_tx = 1;
    return 0;
}

static void set_real_or_null(OGRFeatureH f, int idx, int has, double v)
{
    if (has)
        OGR_F_SetFieldDouble(f, idx, v);
    else
        OGR_F_SetFieldNull(f, idx);
}

static int gpkg_add(tg_ctx *ctx, tg_batch_out *o, const tg_batch_record *r)
{
    int rc = gpkg_begin(ctx, o);
    if (rc) return rc;
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(o->photos));
    if (!f) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
    const int *p = o->pidx;
    OGR_F_SetFieldString(f, p[PF_FILE], r->file);
    if (r->model)
        OGR_F_SetFieldString(f, p[PF_MODEL], r->model);
    else
        OGR_F_SetFieldNull(f, p[PF_MODEL]);
    OGR_F_SetFieldDouble(f, p[PF_LON], r->lon);
    OGR_F_SetFieldDouble(f, p[PF_LAT], r->lat);
    OGR_F_SetFieldDouble(f, p[PF_SCORE], r->score);
    OGR_F_SetFieldDouble(f, p[PF_ERROR_M], r->error_m);
    OGR_F_SetFieldInteger64(f, p[PF_TILE_ID], (GIntBig)r->tile_id);
    set_real_or_null(f, p[PF_GPS_LON], r->has_gps, r->gps_lon);
    set_real_or_null(f, p[PF_GPS_LAT], r->has_gps, r->gps_lat);
    set_real_or_null(f, p[PF_GPS_ERROR_M], r->has_gps, r->gps_error_m);
    set_real_or_null(f, p[PF_HEADING], r->has_heading, r->heading_deg);
    if (r->heading_source) OGR_F_SetFieldString(f, p[PF_HEADING_SOURCE], r->heading_source);
    else OGR_F_SetFieldNull(f, p[PF_HEADING_SOURCE]);
    set_real_or_null(f, p[PF_FOV], r->fov_deg > 0, r->fov_deg);
    if (r->camera_source) OGR_F_SetFieldString(f, p[PF_CAMERA_SOURCE], r->camera_source);
    else OGR_F_SetFieldNull(f, p[PF_CAMERA_SOURCE]);
    OGR_F_SetFieldDouble(f, p[PF_TILE_LON], r->tile_lon);
    OGR_F_SetFieldDouble(f, p[PF_TILE_LAT], r->tile_lat);
    OGR_F_SetFieldString(f, p[PF_PRIOR], r->prior ? r->prior : "");
    OGR_F_SetFieldString(f, p[PF_REFINED], r->refined ? r->refined : "");
    OGR_F_SetFieldInteger(f, p[PF_REFINE_TILES], r->refine_tiles);
    OGRGeometryH pt = OGR_G_CreateGeometry(wkbPoint);
    OGR_G_SetPoint_2D(pt, 0, r->lon, r->lat);
    OGR_G_AssignSpatialReference(pt, o->srs);
    OGR_F_SetGeometryDirectly(f, pt);
    OGRErr err = OGR_L_CreateFeature(o->photos, f);
    OGR_F_Destroy(f);
    if (err != OGRERR_NONE) return gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'photos'");

    for (int i = 0; i < r->n_tiles; i++) {
        const tg_batch_tile *t = &r->tiles[i];
        f = OGR_F_Create(OGR_L_GetLayerDefn(o->tiles));
        if (!f) return tg_set_error(ctx, TG_ENOMEM, "output '%s': out of memory", o->path);
        const int *q = o->tidx;
        OGR_F_SetFieldString(f, q[TF_FILE], r->file);
        OGR_F_SetFieldInteger(f, q[TF_RANK], t->rank);
        OGR_F_SetFieldInteger64(f, q[TF_TILE_ID], (GIntBig)t->tile_id);
        OGR_F_SetFieldDouble(f, q[TF_SCORE], t->score);
        OGR_F_SetFieldDouble(f, q[TF_LON], t->lon);
        OGR_F_SetFieldDouble(f, q[TF_LAT], t->lat);
        if (t->wkt) {
            OGRGeometryH g = NULL;
            char *w = (char *)t->wkt; /* OGR_G_CreateFromWkt advances its own copy of the pointer */
            if (OGR_G_CreateFromWkt(&w, o->srs, &g) != OGRERR_NONE || !g) {
                OGR_F_Destroy(f);
                return tg_set_error(ctx, TG_EINTERNAL, "tile %lld: footprint '%.60s' is not WKT",
                                    (long long)t->tile_id, t->wkt);
            }
            OGR_F_SetGeometryDirectly(f, g);
        }
        err = OGR_L_CreateFeature(o->tiles, f);
        OGR_F_Destroy(f);
        if (err != OGRERR_NONE) return gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'matched_tiles'");
    }
    return 0;
}

static void csv_num(FILE *fp, int has, double v)
{
    if (has) fprintf(fp, "%.15g", v);
    fputc(',', fp);
}

int tg_batch_out_add(tg_ctx *ctx, tg_batch_out *o, const tg_batch_record *r)
{
    if (!o || !r || !r->file || (r->n_tiles > 0 && !r->tiles))
        return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    int rc;
    if (o->format == TG_BATCH_GPKG) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        rc = gpkg_add(ctx, o, r);
        CPLPopErrorHandler();
    } else {
        FILE *fp = o->fp;
        csv_put_str(fp, r->file);
        fputc(',', fp);
        csv_put_str(fp, r->model);
        fputc(',', fp);
        csv_num(fp, 1, r->lon);
        csv_num(fp, 1, r->lat);
        csv_num(fp, 1, r->score);
        csv_num(fp, 1, r->error_m);
        fprintf(fp, "%lld,", (long long)r->tile_id);
        csv_num(fp, r->has_gps, r->gps_lon);
        csv_num(fp, r->has_gps, r->gps_lat);
        csv_num(fp, r->has_gps, r->gps_error_m);
        csv_num(fp, r->has_heading, r->heading_deg);
        csv_put_str(fp, r->heading_source);
        fputc(',', fp);
        csv_num(fp, r->fov_deg > 0, r->fov_deg);
        csv_put_str(fp, r->camera_source);
        fputc(',', fp);
        csv_num(fp, 1, r->tile_lon);
        csv_num(fp, 1, r->tile_lat);
        csv_put_str(fp, r->prior);
        fputc(',', fp);
        csv_put_str(fp, r->refined);
        fputc(',', fp);
        fprintf(fp, "%d,", r->refine_tiles);
        fputc('\n', fp); /* error: empty */
        rc = ferror(fp) ? tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                                       o->fp_is_stdout ? "-" : o->path, strerror(errno))
                        : 0;
    }
    return rc ? rc : remember(ctx, o, r->file);
}

int tg_batch_out_add_failure(tg_ctx *ctx, tg_batch_out *o, const char *file, const char *error)
{
    if (!o || !file) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    if (!error) error = "unknown error";
    int rc = 0;
    if (o->format == TG_BATCH_GPKG) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        rc = gpkg_begin(ctx, o);
        if (!rc) {
            OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(o->fails));
            OGR_F_SetFieldString(f, o->fidx[FF_FILE], file);
            OGR_F_SetFieldString(f, o->fidx[FF_ERROR], error);
            if (OGR_L_CreateFeature(o->fails, f) != OGRERR_NONE)
                rc = gdal_fail(ctx, TG_EIO, o, "cannot write to layer 'failures'");
            OGR_F_Destroy(f);
        }
        CPLPopErrorHandler();
    } else {
        csv_put_str(o->fp, file);
        for (int i = 1; i < PF_COUNT; i++) fputc(',', o->fp);
        fputc(',', o->fp);
        csv_put_str(o->fp, error);
        fputc('\n', o->fp);
        if (ferror(o->fp))
            rc = tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                              o->fp_is_stdout ? "-" : o->path, strerror(errno));
    }
    return rc ? rc : remember(ctx, o, file);
}

int tg_batch_out_commit(tg_ctx *ctx, tg_batch_out *o)
{
    if (!o) return tg_set_error(ctx, TG_EINVAL, "batch output: NULL argument");
    if (o->format == TG_BATCH_GPKG) {
        if (!o->in_tx) return 0;
        o->in_tx = 0;
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        int rc = GDALDatasetCommitTransaction(o->ds) != OGRERR_NONE
                     ? gdal_fail(ctx, TG_EIO, o, "cannot commit") : 0;
        CPLPopErrorHandler();
        return rc;
    }
    if (fflush(o->fp) != 0 || ferror(o->fp))
        return tg_set_error(ctx, TG_EIO, "output '%s': write failed: %s",
                            o->fp_is_stdout ? "-" : o->path, strerror(errno));
    return 0;
}

int tg_batch_out_close(tg_ctx *ctx, tg_batch_out *o)
{
    if (!o) return 0;
    int rc = tg_batch_out_commit(ctx, o);
    if (o->format == TG_BATCH_GPKG && o->ds) {
        CPLPushErrorHandler(CPLQuietErrorHandler);
        CPLErrorReset();
        GDALClose(o->ds); /* builds the spatial indexes, writes gpkg_contents extents */
        o->ds = NULL;
        if (!rc && CPLGetLastErrorType() >= CE_Failure)
            rc = gdal_fail(ctx, TG_EIO, o, "error while closing");
        CPLPopErrorHandler();
    } else if (o->fp && !o->fp_is_stdout) {
        if (fclose(o->fp) != 0 && !rc)
            rc = tg_set_error(ctx, TG_EIO, "output '%s': %s", o->path, strerror(errno));
        o->fp = NULL;
    }
    tg_batch_out_free(o);
    return rc;
}

void tg_batch_out_free(tg_batch_out *o)
{
    if (!o) return;
    CPLPushErrorHandler(CPLQuietErrorHandler);
    if (o->ds) {
        if (o->in_tx) GDALDatasetRollbackTransaction(o->ds);
        GDALClose(o->ds);
    }
    CPLPopErrorHandler();
    if (o->fp && !o->fp_is_stdout) fclose(o->fp);
    if (o->fp_is_stdout) fflush(stdout);
    if (o->srs) OSRDestroySpatialReference(o->srs);
    if (o->done) CPLHashSetDestroy(o->done);
    free(o->path);
    free(o);
}
