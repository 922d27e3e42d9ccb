/* truth.c - the --truth CSV of evaluation: which true position (and heading)
 * belongs to which photo (see batch_int.h, transgeo(1) EVAL). */
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

static unsigned long truth_hash(const void *p)
{
    return CPLHashSetHashStr(((const struct truth_row *)p)->key);
}
static int truth_eq(const void *a, const void *b)
{
    return !strcmp(((const struct truth_row *)a)->key, ((const struct truth_row *)b)->key);
}
static void truth_row_free(void *p)
{
    struct truth_row *r = p;
    free(r->key);
    free(r);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int tgb_truth_load(tg_ctx *ctx, const char *path, truth *t)
{
    static const char *const drivers[] = {"CSV", NULL};
    memset(t, 0, sizeof *t);
    t->by_path = CPLHashSetNew(truth_hash, truth_eq, truth_row_free);
    t->by_base = CPLHashSetNew(truth_hash, truth_eq, truth_row_free);
    if (!t->by_path || !t->by_base) return tg_set_error(ctx, TG_ENOMEM, "out of memory");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return tg_set_error(ctx, TG_EIO, "truth file '%s': %s", path, strerror(errno));
    tg_gdal_init();
    CPLPushErrorHandler(CPLQuietErrorHandler);
    GDALDatasetH ds = GDALOpenEx(path, GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers, NULL, NULL);
    CPLPopErrorHandler();
    OGRLayerH lyr = ds ? GDALDatasetGetLayer(ds, 0) : NULL;
    int rc = 0;
    if (!lyr) {
        rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s' is not a CSV file (expected a header "
                          "row file,lat,lon)", path);
        goto done;
    }
    OGRFeatureDefnH d = OGR_L_GetLayerDefn(lyr);
    int ifile = OGR_FD_GetFieldIndex(d, "file"), ilat = OGR_FD_GetFieldIndex(d, "lat"),
        ilon = OGR_FD_GetFieldIndex(d, "lon"), ihead = OGR_FD_GetFieldIndex(d, "heading");
    if (ifile < 0 || ilat < 0 || ilon < 0) {
        rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s': the header must name the columns "
                          "file, lat and lon (degrees WGS84)", path);
        goto done;
    }
    OGRFeatureH f;
    long line = 1;
    CPLHashSet *dup_base = CPLHashSetNew(CPLHashSetHashStr, CPLHashSetEqualStr, free);
    while ((f = OGR_L_GetNextFeature(lyr)) != NULL) {
        line++;
        const char *file = OGR_F_GetFieldAsString(f, ifile);
        const char *slat = OGR_F_GetFieldAsString(f, ilat), *slon = OGR_F_GetFieldAsString(f, ilon);
        char *e1, *e2;
        double lat = strtod(slat, &e1), lon = strtod(slon, &e2);
        if (!*file || e1 == slat || *e1 || e2 == slon || *e2 || !isfinite(lat) ||
            !isfinite(lon) || fabs(lat) > 90 || fabs(lon) > 180) {
            rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s', line %ld: '%s', '%s', '%s' is not "
                              "a file with lat and lon in degrees", path, line, file, slat, slon);
            OGR_F_Destroy(f);
            break;
        }
        /* heading: optional column, empty = unknown */
        int has_h = 0;
        double hd = 0;
        if (ihead >= 0) {
            const char *sh = OGR_F_GetFieldAsString(f, ihead);
            char *e3;
            if (*sh) {
                hd = strtod(sh, &e3);
                if (e3 == sh || *e3 || !isfinite(hd) || hd < -360 || hd > 720) {
                    rc = tg_set_error(ctx, TG_EFORMAT, "truth file '%s', line %ld: heading '%s' "
                                      "is not degrees clockwise from north (empty: unknown)",
                                      path, line, sh);
                    OGR_F_Destroy(f);
                    break;
                }
                has_h = 1;
            }
        }
        struct truth_row *a = malloc(sizeof *a), *b = malloc(sizeof *b);
        char *bk = tgb_strdup(base_name(file));
        if (a) a->key = tgb_strdup(file);
        if (b) b->key = tgb_strdup(base_name(file));
        if (!a || !b || !a->key || !b->key || !bk) {
            if (a) free(a->key);
            if (b) free(b->key);
            free(a);
            free(b);
            free(bk);
            OGR_F_Destroy(f);
            rc = tg_set_error(ctx, TG_ENOMEM, "out of memory");
            break;
        }
        a->lat = b->lat = lat;
        a->lon = b->lon = lon;
        a->has_heading = b->has_heading = has_h;
        a->heading = b->heading = hd;
        CPLHashSetInsert(t->by_path, a); /* a later row for the same file wins */
        if (CPLHashSetLookup(dup_base, bk)) {
            free(bk);
            truth_row_free(b);
        } else if (CPLHashSetLookup(t->by_base, b)) { /* ambiguous basename */
            CPLHashSetRemove(t->by_base, b);
            truth_row_free(b);
            CPLHashSetInsert(dup_base, bk);
        } else {
            free(bk);
            CPLHashSetInsert(t->by_base, b);
        }
        OGR_F_Destroy(f);
    }
    CPLHashSetDestroy(dup_base);
done:
    if (ds) GDALClose(ds);
    return rc;
}

const struct truth_row *tgb_truth_find(const truth *t, const char *file)
{
    struct truth_row key = {(char *)file, 0, 0, 0, 0};
    const struct truth_row *r = CPLHashSetLookup(t->by_path, &key);
    if (r) return r;
    /* the longest trailing part after a '/' that a row names: "panos/0001.jpg"
     * of truth.csv is "world/panos/0001.jpg" as enumerated (base names repeat
     * across panos/ and photos/) */
    for (const char *p = strchr(file, '/'); p; p = strchr(p + 1, '/')) {
        key.key = (char *)(p + 1);
        if ((r = CPLHashSetLookup(t->by_path, &key))) return r;
    }
    key.key = (char *)base_name(file);
    return CPLHashSetLookup(t->by_base, &key);
}

void tgb_truth_free(truth *t)
{
    if (t->by_path) CPLHashSetDestroy(t->by_path);
    if (t->by_base) CPLHashSetDestroy(t->by_base);
}
