/* geomblob.c - SpatiaLite BLOB-Geometry: the bounds check done before
 * libspatialite parses a BLOB, and the footprint/point BLOBs the store writes. */
#include "config.h"
#include "store_int.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spatialite/gaiageo.h> /* after sqlite3.h: it uses sqlite3_int64 */

/* ---- geometry blobs (libspatialite's gaia API: no SQL involved) --------- */

/* SpatiaLite BLOB-Geometry structure check (format: "BLOB-Geometry" in
 * SpatiaLite's documentation): START 0x00, endian (0x01 little, 0x00 big;
 * 0x81/0x80 for a TinyPoint), SRID, MBR, 0x7C, class, payload, END 0xFE.
 * libspatialite's parser allocates a polygon's rings from the count in the
 * BLOB before checking it against the BLOB's size, so a damaged BLOB can ask
 * for gigabytes (and crash on the failed allocation). This walk checks every
 * count against the bytes that remain before anything is handed to
 * gaiaFromSpatiaLiteBlobWkb. */
typedef struct blob_reader {
    const unsigned char *p;
    size_t n, off;
    int big;
} blob_reader;

static int rd_u32(blob_reader *r, uint32_t *v)
{
    if (r->n - r->off < 4) return -1;
    const unsigned char *q = r->p + r->off;
    *v = r->big ? (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]
                : (uint32_t)q[3] << 24 | (uint32_t)q[2] << 16 | (uint32_t)q[1] << 8 | q[0];
    r->off += 4;
    return 0;
}

static int rd_skip(blob_reader *r, uint64_t bytes)
{
    if (bytes > r->n - r->off) return -1;
    r->off += (size_t)bytes;
    return 0;
}

/* dims from a class code's thousands (0 XY, 1 XYZ, 2 XYM, 3 XYZM). */
static int class_dims(uint32_t cls) { return (cls / 1000) % 1000 == 0 ? 2 : (cls / 1000) % 1000 == 3 ? 4 : 3; }

/* A point sequence: uncompressed = n * dims doubles; compressed = first and
 * last points in doubles, the others as float deltas (an M stays double). */
static int rd_points(blob_reader *r, uint32_t cls)
{
    uint32_t n;
    if (rd_u32(r, &n)) return -1;
    int dims = class_dims(cls), compressed = cls >= 1000000;
    uint64_t full = (uint64_t)dims * 8;
    if (!compressed) return rd_skip(r, (uint64_t)n * full);
    int sub = (int)((cls / 1000) % 1000); /* 0 XY, 1 Z, 2 M, 3 ZM */
    uint64_t small = sub == 0 ? 8 : sub == 1 ? 12 : sub == 2 ? 16 : 20;
    if (n < 2) return rd_skip(r, (uint64_t)n * full);
    return rd_skip(r, 2 * full + (uint64_t)(n - 2) * small);
}

static int rd_geometry(blob_reader *r, uint32_t cls, int depth)
{
    uint32_t base = cls % 1000, n;
    uint32_t variant = (cls / 1000) % 1000;
    if (variant > 3 || depth > 8) return -1;
    if (cls >= 1000000 && base != 2 && base != 3) return -1; /* only lines/polygons compress */
    switch (base) {
    case 1: return rd_skip(r, (uint64_t)class_dims(cls) * 8);
    case 2: return rd_points(r, cls);
    case 3:
        if (rd_u32(r, &n) || (uint64_t)n * 4 > r->n - r->off) return -1;
        for (uint32_t i = 0; i < n; i++)
            if (rd_points(r, cls)) return -1;
        return 0;
    case 4: case 5: case 6: case 7:
        if (rd_u32(r, &n) || (uint64_t)n * 5 > r->n - r->off) return -1;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t sub;
            if (r->off >= r->n || r->p[r->off] != GAIA_MARK_ENTITY) return -1;
            r->off++;
            if (rd_u32(r, &sub) || rd_geometry(r, sub, depth + 1)) return -1;
        }
        return 0;
    default: return -1;
    }
}

int tg_store_geom_check(const void *blob, size_t n, int *srid, int *class_type)
{
    const unsigned char *p = blob;
    blob_reader r = {p, n, 0, 0};
    uint32_t v, cls;
    if (!p || n < 7 || p[0] != GAIA_MARK_START || p[n - 1] != GAIA_MARK_END) return TG_EINVAL;
    if (p[1] == GAIA_TINYPOINT_LITTLE_ENDIAN || p[1] == GAIA_TINYPOINT_BIG_ENDIAN) {
        r.big = p[1] == GAIA_TINYPOINT_BIG_ENDIAN;
        r.off = 2;
        if (rd_u32(&r, &v)) return TG_EINVAL;
        int t = p[6];
        size_t want = t == 1 ? 24 : t == 2 || t == 3 ? 32 : t == 4 ? 40 : 0;
        if (n != want) return TG_EINVAL;
        if (srid) *srid = (int)v;
        if (class_type) *class_type = t == 1 ? 1 : t == 2 ? 1001 : t == 3 ? 2001 : 3001;
        return TG_OK;
    }
    if (p[1] > 1 || n < 44 || p[38] != GAIA_MARK_MBR) return TG_EINVAL;
    r.big = p[1] == 0;
    r.off = 2;
    rd_u32(&r, &v);
    r.off = 39;
    if (rd_u32(&r, &cls) || rd_geometry(&r, cls, 0) || r.off != n - 1) return TG_EINVAL;
    if (srid) *srid = (int)v;
    if (class_type) *class_type = (int)cls;
    return TG_OK;
}

/* A POLYGON (EPSG:4326) from the four corners, lon/lat, counter-clockwise
 * (UL, LL, LR, UR, UL: the exterior ring orientation of ISO 19125 / RFC 7946). */
int tgst_footprint_blob(const double c[4][2], unsigned char **blob, int *size)
{
    gaiaGeomCollPtr g = gaiaAllocGeomColl();
    if (!g) return TG_ENOMEM;
    g->Srid = 4326;
    g->DeclaredType = GAIA_POLYGON;
    gaiaPolygonPtr p = gaiaAddPolygonToGeomColl(g, 5, 0);
    static const int order[5] = {0, 3, 2, 1, 0}; /* UL, LL, LR, UR, UL */
    for (int i = 0; i < 5; i++) gaiaSetPoint(p->Exterior->Coords, i, c[order[i]][0], c[order[i]][1]);
    gaiaMbrGeometry(g);
    *blob = NULL;
    gaiaToSpatiaLiteBlobWkb(g, blob, size);
    gaiaFreeGeomColl(g);
    return *blob ? TG_OK : TG_ENOMEM;
}

int tgst_point_blob(double lon, double lat, unsigned char **blob, int *size)
{
    gaiaGeomCollPtr g = gaiaAllocGeomColl();
    if (!g) return TG_ENOMEM;
    g->Srid = 4326;
    g->DeclaredType = GAIA_POINT;
    gaiaAddPointToGeomColl(g, lon, lat);
    gaiaMbrGeometry(g);
    *blob = NULL;
    gaiaToSpatiaLiteBlobWkb(g, blob, size);
    gaiaFreeGeomColl(g);
    return *blob ? TG_OK : TG_ENOMEM;
}
