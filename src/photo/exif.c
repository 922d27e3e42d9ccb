/* exif.c - GPS position, heading and orientation of a photo (see exif.h). */
#include "config.h"
#include "transgeo/exif.h"

#include "photo/exif_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cpl_conv.h>
#include <cpl_minixml.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <jansson.h>

/* ---- raw EXIF (TIFF structure) reader -----------------------------------
 *
 * EXIF is a little TIFF file: header ("II"/"MM", 42, offset of IFD0), IFD0
 * with the Orientation (0x0112), ImageDescription (0x010E) and GPS IFD
 * pointer (0x8825) tags, and the GPS IFD (EXIF 2.32 / CIPA DC-008, 4.6.6).
 * Each IFD: u16 count, count * 12-byte entries {u16 tag, u16 type, u32 count,
 * u32 value-or-offset}, values of <= 4 bytes stored inline. Every read is
 * bounds-checked against the block; nothing else is assumed (entry order,
 * word-aligned offsets and non-overlap are not checked: real files break
 * all three, see shared/data/PROVENANCE.md). */

typedef struct blk {
    VSILFILE *fp;
    vsi_l_offset base;  /* where the TIFF header starts in the file */
    uint64_t len;       /* bytes available from base */
    int be;             /* big-endian ("MM") */
} blk;

typedef struct ent {
    unsigned tag, type;
    uint32_t count;
    uint64_t voff;      /* offset of the value bytes within the block */
} ent;

/* Bytes per value for TIFF types 1..13 (13 = IFD, a LONG). */
static const unsigned type_size[14] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4};

static int blk_read(const blk *b, uint64_t off, void *dst, size_t n)
{
    if (off > b->len || n > b->len - off) return -1;
    if (VSIFSeekL(b->fp, b->base + off, SEEK_SET) != 0) return -1;
    return VSIFReadL(dst, 1, n, b->fp) == n ? 0 : -1;
}

static uint32_t get_u16(const blk *b, const unsigned char *p)
{
    return b->be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t get_u32(const blk *b, const unsigned char *p)
{
    return b->be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                 : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Value i of a numeric entry as a double; -1 for a wrong type, an index out
 * of range, a short read or a zero denominator. */
static int ent_num(const blk *b, const ent *e, uint32_t i, double *v)
{
    if (e->type < 1 || e->type > 13 || e->type == 2 || e->type == 7 || i >= e->count) return -1;
    unsigned sz = type_size[e->type];
    unsigned char p[8];
    if (blk_read(b, e->voff + (uint64_t)i * sz, p, sz)) return -1;
    switch (e->type) {
    case 1: *v = p[0]; return 0;
    case 6: *v = (int8_t)p[0]; return 0;
    case 3: *v = get_u16(b, p); return 0;
    case 8: *v = (int16_t)get_u16(b, p); return 0;
    case 4: case 13: *v = get_u32(b, p); return 0;
    case 9: *v = (int32_t)get_u32(b, p); return 0;
    case 5: {
        uint32_t n = get_u32(b, p), d = get_u32(b, p + 4);
        if (d == 0) return -1;
        *v = (double)n / (double)d;
        return 0;
    }
    case 10: {
        int32_t n = (int32_t)get_u32(b, p), d = (int32_t)get_u32(b, p + 4);
        if (d == 0) return -1;
        *v = (double)n / (double)d;
        return 0;
    }
    case 11: {
        uint32_t u = get_u32(b, p);
        float f;
        memcpy(&f, &u, 4);
        *v = f;
        return 0;
    }
    case 12: {
        uint64_t u = b->be ? (uint64_t)get_u32(b, p) << 32 | get_u32(b, p + 4)
                           : (uint64_t)get_u32(b, p + 4) << 32 | get_u32(b, p);
        memcpy(v, &u, 8);
        return 0;
    }
    default: return -1;
    }
}

/* A text entry (ASCII, or BYTE/UNDEFINED holding text), at most max bytes;
 * malloc'd, NUL-terminated, trailing NULs/blanks removed. NULL if not text. */
static char *ent_str(const blk *b, const ent *e, size_t max)
{
    if (e->type != 2 && e->type != 1 && e->type != 7) return NULL;
    size_t n = e->count < max ? e->count : max;
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n && blk_read(b, e->voff, s, n)) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    size_t l = strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\n' || s[l - 1] == '\r')) s[--l] = '\0';
    return s;
}

static char ent_char(const blk *b, const ent *e)
{
    char *s = ent_str(b, e, 8);
    char c = s ? s[0] : 0;
    free(s);
    return c;
}

typedef struct rawexif {
    int orientation;        /* 0 if absent */
    char *description;      /* ImageDescription (ASCII), malloc'd, or NULL */
    uint32_t gps_ifd;       /* 0 if absent */
    int has_lat, has_lon, has_alt, has_dir;
    double lat, lon, alt, dir;
    char lat_ref, lon_ref, dir_ref, status;
    int alt_below;          /* GPSAltitudeRef == 1 */
    uint32_t exif_ifd;      /* Exif SubIFD offset, 0 if absent */
    int has_f35;            /* the camera tags of the Exif SubIFD (0 / absent) */
    double f35, focal, fp_x, fp_y;
    int fp_unit, px_w, px_h;

    int has_dop, has_hpe;   /* GPSDOP (tag 11), GPSHPositioningError (tag 31) */
    double dop, hpe;
} rawexif;

/* d, m, s (count 1..3) -> degrees; -1 if any value is unreadable. */
static int ent_dms(const blk *b, const ent *e, double *out)
{
    double v[3] = {0, 0, 0};
    if (e->count < 1) return -1;
    uint32_t n = e->count < 3 ? e->count : 3;
    for (uint32_t i = 0; i < n; i++)
        if (ent_num(b, e, i, &v[i])) return -1;
    *out = v[0] + v[1] / 60.0 + v[2] / 3600.0;
    return 0;
}

typedef void (*ent_fn)(const blk *b, const ent *e, rawexif *r);

static void walk_ifd(const blk *b, uint64_t off, ent_fn fn, rawexif *r)
{
    unsigned char p[12];
    if (blk_read(b, off, p, 2)) return;
    uint32_t n = get_u16(b, p);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t pos = off + 2 + (uint64_t)i * 12;
        if (blk_read(b, pos, p, 12)) return; /* truncated IFD: keep what we have */
        ent e;
        e.tag = get_u16(b, p);
        e.type = get_u16(b, p + 2);
        e.count = get_u32(b, p + 4);
        if (e.type < 1 || e.type > 13) continue;
        uint64_t bytes = (uint64_t)type_size[e.type] * e.count;
        e.voff = bytes <= 4 ? pos + 8 : get_u32(b, p + 8);
        fn(b, &e, r);
    }
}

static void ifd0_entry(const blk *b, const ent *e, rawexif *r)
{
    double v;
    switch (e->tag) {
    case 0x0112: /* Orientation */
        if (!ent_num(b, e, 0, &v) && v >= 1 && v <= 8) r->orientation = (int)v;
        break;
    case 0x8825: /* GPSInfo IFD pointer */
        if (!ent_num(b, e, 0, &v) && v > 0 && v < 4294967296.0) r->gps_ifd = (uint32_t)v;
        break;
    case 0x8769: /* Exif SubIFD pointer (the camera's tags) */
        if (!ent_num(b, e, 0, &v) && v > 0 && v < 4294967296.0) r->exif_ifd = (uint32_t)v;
        break;
    case 0x010E: /* ImageDescription: only real ASCII (a wrong-typed one is no JSON) */
        if (e->type == 2 && !r->description) r->description = ent_str(b, e, 1 << 20);
        break;
    default: break;
    }
}

static void gps_entry(const blk *b, const ent *e, rawexif *r)
{
    double v;
    switch (e->tag) {
    case 1: r->lat_ref = ent_char(b, e); break;
    case 2: r->has_lat = !ent_dms(b, e, &r->lat); break;
    case 3: r->lon_ref = ent_char(b, e); break;
    case 4: r->has_lon = !ent_dms(b, e, &r->lon); break;
    case 5: /* GPSAltitudeRef: BYTE 0/1; tolerate any numeric type (corrupt files use RATIONAL) */
        if (!ent_num(b, e, 0, &v)) r->alt_below = v == 1.0;
        break;
    case 6: r->has_alt = !ent_num(b, e, 0, &r->alt); break;
    case 9: r->status = ent_char(b, e); break;
    case 16: r->dir_ref = ent_char(b, e); break;
    case 17: r->has_dir = !ent_num(b, e, 0, &r->dir); break;
    case 11: r->has_dop = !ent_num(b, e, 0, &r->dop); break;
    case 31: r->has_hpe = !ent_num(b, e, 0, &r->hpe); break;
    default: break;
    }
}

/* Exif SubIFD (EXIF 2.32, 4.6.5): what camera.h needs for the field of view.
 * A value of the wrong kind, or not finite, stays absent. */
static void exif_entry(const blk *b, const ent *e, rawexif *r)
{
    double v;
    if (ent_num(b, e, 0, &v) || !isfinite(v)) return;
    switch (e->tag) {
    case 0xA405: r->has_f35 = 1; r->f35 = v; break;          /* FocalLengthIn35mmFilm */
    case 0x920A: r->focal = v; break;                        /* FocalLength */
    case 0xA20E: r->fp_x = v; break;                         /* FocalPlaneXResolution */
    case 0xA20F: r->fp_y = v; break;                         /* FocalPlaneYResolution */
    case 0xA210: if (v >= 1 && v <= 5) r->fp_unit = (int)v; break;
    case 0xA002: if (v >= 1 && v <= 1e6) r->px_w = (int)v; break; /* PixelXDimension */
    case 0xA003: if (v >= 1 && v <= 1e6) r->px_h = (int)v; break; /* PixelYDimension */
    default: break;
    }
}

static int bytes_eq(const unsigned char *p, const char *s, size_t n) { return memcmp(p, s, n) == 0; }

/* Find the EXIF TIFF block in a JPEG, TIFF, PNG or WebP file. */
static int find_exif_block(VSILFILE *fp, uint64_t fsize, uint64_t *base, uint64_t *len)
{
    unsigned char h[16];
    if (fsize < 12 || VSIFSeekL(fp, 0, SEEK_SET) || VSIFReadL(h, 1, 12, fp) != 12) return -1;
    if (h[0] == 0xFF && h[1] == 0xD8) { /* JPEG: APPn segments up to SOS */
        uint64_t pos = 2;
        for (int iter = 0; iter < 4096 && pos + 4 <= fsize; iter++) {
            if (VSIFSeekL(fp, pos, SEEK_SET) || VSIFReadL(h, 1, 4, fp) != 4) return -1;
            if (h[0] != 0xFF) return -1;
            unsigned m = h[1];
            if (m == 0xFF) { pos++; continue; }              /* fill byte */
            if (m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) { pos += 2; continue; }
            if (m == 0xDA || m == 0xD9) return -1;           /* image data: no EXIF before it */
            unsigned l = (unsigned)h[2] << 8 | h[3];
            if (l < 2) return -1;
            if (m == 0xE1 && l >= 8) {
                unsigned char id[6];
                if (VSIFReadL(id, 1, 6, fp) != 6) return -1;
                if (bytes_eq(id, "Exif\0\0", 6)) {
                    *base = pos + 10;
                    *len = l - 8;
                    if (*base + *len > fsize) *len = fsize - *base;
                    return 0;
                }
            }
            pos += 2 + (uint64_t)l;
        }
        return -1;
    }
    if (bytes_eq(h, "II*\0", 4) || bytes_eq(h, "MM\0*", 4)) {
        *base = 0;
        *len = fsize;
        return 0;
    }
    uint64_t cbase = 0, clen = 0;
    if (bytes_eq(h, "\x89PNG\r\n\x1a\n", 8)) { /* PNG: eXIf chunk */
        uint64_t pos = 8;
        for (int iter = 0; iter < 100000 && pos + 8 <= fsize; iter++) {
            if (VSIFSeekL(fp, pos, SEEK_SET) || VSIFReadL(h, 1, 8, fp) != 8) return -1;
            uint64_t l = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
            if (bytes_eq(h + 4, "eXIf", 4)) { cbase = pos + 8; clen = l; break; }
            if (bytes_eq(h + 4, "IEND", 4)) return -1;
            pos += 12 + l;
        }
    } else if (bytes_eq(h, "RIFF", 4) && bytes_eq(h + 8, "WEBP", 4)) { /* WebP: EXIF chunk */
        uint64_t pos = 12;
        for (int iter = 0; iter < 100000 && pos + 8 <= fsize; iter++) {
            if (VSIFSeekL(fp, pos, SEEK_SET) || VSIFReadL(h, 1, 8, fp) != 8) return -1;
            uint64_t l = (uint64_t)h[4] | (uint64_t)h[5] << 8 | (uint64_t)h[6] << 16 | (uint64_t)h[7] << 24;
            if (bytes_eq(h, "EXIF", 4)) { cbase = pos + 8; clen = l; break; }
            pos += 8 + l + (l & 1);
        }
    }
    if (!clen || cbase >= fsize) return -1;
    if (cbase + clen > fsize) clen = fsize - cbase;
    /* Some writers keep JPEG's "Exif\0\0" prefix inside the chunk. */
    if (clen >= 6 && !VSIFSeekL(fp, cbase, SEEK_SET) && VSIFReadL(h, 1, 6, fp) == 6 &&
        bytes_eq(h, "Exif\0\0", 6)) {
        cbase += 6;
        clen -= 6;
    }
    *base = cbase;
    *len = clen;
    return 0;
}

static void raw_read(const char *gdal_path, rawexif *r)
{
    memset(r, 0, sizeof *r);
    VSILFILE *fp = VSIFOpenL(gdal_path, "rb");
    if (!fp) return;
    uint64_t fsize = 0, base = 0, len = 0;
    if (VSIFSeekL(fp, 0, SEEK_END) == 0) fsize = VSIFTellL(fp);
    if (find_exif_block(fp, fsize, &base, &len) == 0 && len >= 8) {
        blk b = {fp, base, len, 0};
        unsigned char h[8];
        if (!blk_read(&b, 0, h, 8) && (bytes_eq(h, "II", 2) || bytes_eq(h, "MM", 2))) {
            b.be = h[0] == 'M';
            if (get_u16(&b, h + 2) == 42) {
                walk_ifd(&b, get_u32(&b, h + 4), ifd0_entry, r);
                if (r->gps_ifd) walk_ifd(&b, r->gps_ifd, gps_entry, r);
                if (r->exif_ifd) walk_ifd(&b, r->exif_ifd, exif_entry, r);
            }
        }
    }
    VSIFCloseL(fp);
}

/* ---- value helpers ------------------------------------------------------ */

/* Locale-independent strtod of the whole of s (blanks around allowed). */
static int parse_num(const char *s, double *v)
{
    if (!s) return -1;
    char *end = NULL;
    double d = CPLStrtod(s, &end);
    if (end == s) return -1;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (*end) return -1;
    if (!isfinite(d)) return -1;
    *v = d;
    return 0;
}

/* "136169/100" or "1361.69" (XMP rationals). */
static int parse_rational(const char *s, double *v)
{
    if (!s) return -1;
    const char *slash = strchr(s, '/');
    if (!slash) return parse_num(s, v);
    char num[64];
    size_t n = (size_t)(slash - s);
    if (n >= sizeof num) return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    double a, d;
    if (parse_num(num, &a) || parse_num(slash + 1, &d) || d == 0.0) return -1;
    *v = a / d;
    return 0;
}

/* XMP GPSCoordinate: "DDD,MM,SSk" or "DDD,MM.mmk" (XMP spec part 2, 1.2.7.4),
 * k in N S E W; also a plain decimal with or without the letter. */
static int parse_xmp_coord(const char *s, double *v)
{
    if (!s) return -1;
    double part[3] = {0, 0, 0};
    int np = 0;
    const char *p = s;
    while (*p == ' ') p++;
    while (np < 3) {
        char *end = NULL;
        double d = CPLStrtod(p, &end);
        if (end == p || !isfinite(d)) return -1;
        part[np++] = d;
        p = end;
        if (*p != ',') break;
        p++;
    }
    while (*p == ' ') p++;
    int neg = part[0] < 0;
    if (*p == 'S' || *p == 's' || *p == 'W' || *p == 'w') { neg = 1; p++; }
    else if (*p == 'N' || *p == 'n' || *p == 'E' || *p == 'e') p++;
    while (*p == ' ') p++;
    if (*p) return -1;
    double deg = fabs(part[0]) + part[1] / 60.0 + part[2] / 3600.0;
    *v = neg ? -deg : deg;
    return 0;
}

/* GDAL's EXIF_* text: rationals as "(52) (31) (8.1)", integers as "1",
 * bytes as "0x00". Up to 3 numbers; returns how many were read. */
static int parse_gdal_nums(const char *s, double v[3])
{
    int n = 0;
    if (!s) return 0;
    const char *p = s;
    while (*p && n < 3) {
        while (*p == ' ' || *p == '(' || *p == ')') p++;
        if (!*p) break;
        char *end = NULL;
        double d;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) d = (double)strtol(p, &end, 16);
        else d = CPLStrtod(p, &end);
        if (end == p) break;
        v[n++] = d;
        p = end;
    }
    return n;
}

static int valid_pos(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && fabs(lat) <= 90.0 && fabs(lon) <= 180.0 &&
           !(lat == 0.0 && lon == 0.0);
}

static int norm_heading(double h, double *out)
{
    if (!isfinite(h) || h < -360.0 || h > 720.0) return -1;
    h = fmod(h, 360.0);
    if (h < 0) h += 360.0;
    if (h >= 360.0) h = 0.0;
    *out = h;
    return 0;
}

static double apply_ref(double v, char ref)
{
    if (ref == 'S' || ref == 's' || ref == 'W' || ref == 'w') return -fabs(v);
    return v;
}

/* ---- XMP ----------------------------------------------------------------- */

#define NS_EXIF "http://ns.adobe.com/exif/1.0/"
#define NS_GPANO "http://ns.google.com/photos/1.0/panorama/"
#define NS_TIFF "http://ns.adobe.com/tiff/1.0/"

enum { X_LAT, X_LON, X_ALT, X_ALTREF, X_DIR, X_DIRREF, X_PROJ, X_POSE, X_ORIENT,
       X_FULLW, X_FULLH, X_CROPW, X_CROPH, X_LEFT, X_TOP, X_PITCH, X_ROLL, X_N };
static const struct { const char *uri, *local; } xmp_props[X_N] = {
    {NS_EXIF, "GPSLatitude"}, {NS_EXIF, "GPSLongitude"}, {NS_EXIF, "GPSAltitude"},
    {NS_EXIF, "GPSAltitudeRef"}, {NS_EXIF, "GPSImgDirection"}, {NS_EXIF, "GPSImgDirectionRef"},
    {NS_GPANO, "ProjectionType"}, {NS_GPANO, "PoseHeadingDegrees"}, {NS_TIFF, "Orientation"},
    {NS_GPANO, "FullPanoWidthPixels"}, {NS_GPANO, "FullPanoHeightPixels"},
    {NS_GPANO, "CroppedAreaImageWidthPixels"}, {NS_GPANO, "CroppedAreaImageHeightPixels"},
    {NS_GPANO, "CroppedAreaLeftPixels"}, {NS_GPANO, "CroppedAreaTopPixels"},
    {NS_GPANO, "PosePitchDegrees"}, {NS_GPANO, "PoseRollDegrees"},
};

/* A GPano pixel count: a whole number in [lo, 1e6]. */
static int xmp_px(const char *s, int lo, int *out)
{
    double v;
    if (parse_num(s, &v) || v < lo || v > 1e6 || v != floor(v)) return -1;
    *out = (int)v;
    return 0;
}

typedef struct ns_scope {
    const char *prefix;   /* "" for the default namespace */
    size_t plen;
    const char *uri;
    const struct ns_scope *up;
} ns_scope;

static const char *ns_lookup(const ns_scope *s, const char *prefix, size_t plen)
{
    for (; s; s = s->up)
        if (s->plen == plen && strncmp(s->prefix, prefix, plen) == 0) return s->uri;
    return NULL;
}

static const char *node_text(const CPLXMLNode *n)
{
    for (const CPLXMLNode *c = n->psChild; c; c = c->psNext)
        if (c->eType == CXT_Text) return c->pszValue;
    return NULL;
}

/* Match a qualified name against the wanted properties; an unprefixed
 * attribute has no namespace, an unprefixed element the default one. */
static void xmp_match(const ns_scope *scope, const char *qname, int is_attr, const char *value,
                      const char *vals[X_N])
{
    if (!value) return;
    const char *colon = strchr(qname, ':');
    const char *local = colon ? colon + 1 : qname;
    const char *uri = colon ? ns_lookup(scope, qname, (size_t)(colon - qname))
                            : is_attr ? NULL : ns_lookup(scope, "", 0);
    if (!uri) return;
    for (int i = 0; i < X_N; i++)
        if (!vals[i] && strcmp(local, xmp_props[i].local) == 0 && strcmp(uri, xmp_props[i].uri) == 0)
            vals[i] = value;
}

#define XMP_MAX_DEPTH 64
#define XMP_MAX_NS 64

static void xmp_walk(const CPLXMLNode *n, const ns_scope *up, int depth, const char *vals[X_N])
{
    if (depth > XMP_MAX_DEPTH) return;
    for (; n; n = n->psNext) {
        if (n->eType != CXT_Element) continue;
        ns_scope local[XMP_MAX_NS];
        int nl = 0;
        const ns_scope *scope = up;
        for (const CPLXMLNode *a = n->psChild; a; a = a->psNext) {
            if (a->eType != CXT_Attribute || nl >= XMP_MAX_NS) continue;
            const char *v = node_text(a);
            if (!v) continue;
            if (strncmp(a->pszValue, "xmlns:", 6) == 0) {
                local[nl] = (ns_scope){a->pszValue + 6, strlen(a->pszValue + 6), v, scope};
                scope = &local[nl++];
            } else if (strcmp(a->pszValue, "xmlns") == 0) {
                local[nl] = (ns_scope){"", 0, v, scope};
                scope = &local[nl++];
            }
        }
        for (const CPLXMLNode *a = n->psChild; a; a = a->psNext)
            if (a->eType == CXT_Attribute) xmp_match(scope, a->pszValue, 1, node_text(a), vals);
        xmp_match(scope, n->pszValue, 0, node_text(n), vals);
        xmp_walk(n->psChild, scope, depth + 1, vals);
    }
}

/* ---- assembling --------------------------------------------------------- */

static int meta_from_src(const tg_photo_src *src, tg_photo_meta *out)
{
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    GDALDatasetH ds = src->ds;
    rawexif r;
    raw_read(src->gdal_path, &r);

    /* GDAL's EXIF text (6 significant digits): fallback only when the raw
     * reader found no GPS IFD at all (BigTIFF, EXIF_* items that GDAL keeps
     * as plain metadata). Values the raw reader saw and rejected (zero
     * denominator, wrong type) stay rejected. */
    int use_g = r.gps_ifd == 0;
    const char *g_lat = GDALGetMetadataItem(ds, "EXIF_GPSLatitude", NULL);
    const char *g_lon = GDALGetMetadataItem(ds, "EXIF_GPSLongitude", NULL);
    const char *g_latref = GDALGetMetadataItem(ds, "EXIF_GPSLatitudeRef", NULL);
    const char *g_lonref = GDALGetMetadataItem(ds, "EXIF_GPSLongitudeRef", NULL);
    const char *g_alt = GDALGetMetadataItem(ds, "EXIF_GPSAltitude", NULL);
    const char *g_altref = GDALGetMetadataItem(ds, "EXIF_GPSAltitudeRef", NULL);
    const char *g_dir = GDALGetMetadataItem(ds, "EXIF_GPSImgDirection", NULL);
    const char *g_dirref = GDALGetMetadataItem(ds, "EXIF_GPSImgDirectionRef", NULL);
    const char *g_status = GDALGetMetadataItem(ds, "EXIF_GPSStatus", NULL);
    const char *g_orient = GDALGetMetadataItem(ds, "EXIF_Orientation", NULL);
    const char *g_desc = GDALGetMetadataItem(ds, "EXIF_ImageDescription", NULL);

    /* XMP. */
    const char *xv[X_N] = {0};
    CPLXMLNode *xmp = NULL;
    char **xmd = GDALGetMetadata(ds, "xml:XMP");
    if (xmd && xmd[0]) {
        xmp = CPLParseXMLString(xmd[0]);
        if (xmp) xmp_walk(xmp, NULL, 0, xv);
    }

    /* Mapillary JSON. */
    json_t *mj = NULL;
    const char *desc = r.description ? r.description : g_desc;
    if (desc && desc[0] == '{') {
        json_error_t je;
        mj = json_loads(desc, 0, &je);
        if (mj && !json_is_object(mj)) {
            json_decref(mj);
            mj = NULL;
        }
    }

    /* Position: EXIF (raw) > EXIF (GDAL text) > XMP > Mapillary. */
    double lat, lon, v[3];
    int raw_void = r.status == 'V' || r.status == 'v';
    int g_void = g_status && (g_status[0] == 'V' || g_status[0] == 'v');
    if (!out->has_gps && r.has_lat && r.has_lon && !raw_void) {
        lat = apply_ref(r.lat, r.lat_ref);
        lon = apply_ref(r.lon, r.lon_ref);
        if (valid_pos(lat, lon)) {
            out->has_gps = 1; out->lat_deg = lat; out->lon_deg = lon; out->pos_source = TG_META_EXIF;
            /* The accuracy describes this fix only: read from the same IFD. */
            if (r.has_hpe && isfinite(r.hpe) && r.hpe > 0) {
                out->has_hpe = 1;
                out->hpe_m = r.hpe;
            }
            if (r.has_dop && isfinite(r.dop) && r.dop > 0) {
                out->has_dop = 1;
                out->dop = r.dop;
            }
        }
    }
    if (!out->has_gps && use_g && g_lat && g_lon && !g_void) {
        double a[3] = {0, 0, 0}, o[3] = {0, 0, 0};
        if (parse_gdal_nums(g_lat, a) >= 1 && parse_gdal_nums(g_lon, o) >= 1) {
            lat = apply_ref(a[0] + a[1] / 60.0 + a[2] / 3600.0, g_latref ? g_latref[0] : 0);
            lon = apply_ref(o[0] + o[1] / 60.0 + o[2] / 3600.0, g_lonref ? g_lonref[0] : 0);
            if (valid_pos(lat, lon)) {
                out->has_gps = 1; out->lat_deg = lat; out->lon_deg = lon; out->pos_source = TG_META_EXIF;
            }
        }
    }
    if (!out->has_gps && !parse_xmp_coord(xv[X_LAT], &lat) && !parse_xmp_coord(xv[X_LON], &lon) &&
        valid_pos(lat, lon)) {
        out->has_gps = 1; out->lat_deg = lat; out->lon_deg = lon; out->pos_source = TG_META_XMP;
    }
    if (!out->has_gps && mj) {
        json_t *jl = json_object_get(mj, "MAPLatitude"), *jo = json_object_get(mj, "MAPLongitude");
        int ok = 1;
        if (json_is_number(jl)) lat = json_number_value(jl);
        else ok = json_is_string(jl) && !parse_num(json_string_value(jl), &lat);
        if (ok) {
            if (json_is_number(jo)) lon = json_number_value(jo);
            else ok = json_is_string(jo) && !parse_num(json_string_value(jo), &lon);
        }
        if (ok && valid_pos(lat, lon)) {
            out->has_gps = 1; out->lat_deg = lat; out->lon_deg = lon; out->pos_source = TG_META_MAPILLARY;
        }
    }

    /* Altitude: same order. */
    double alt;
    if (r.has_alt && isfinite(r.alt)) {
        out->has_alt = 1;
        out->alt_m = r.alt_below ? -fabs(r.alt) : r.alt;
    } else if (use_g && g_alt && parse_gdal_nums(g_alt, v) >= 1 && isfinite(v[0])) {
        double ref[3] = {0, 0, 0};
        int below = g_altref && parse_gdal_nums(g_altref, ref) >= 1 && ref[0] == 1.0;
        out->has_alt = 1;
        out->alt_m = below ? -fabs(v[0]) : v[0];
    } else if (!parse_rational(xv[X_ALT], &alt)) {
        double ref = 0;
        int below = xv[X_ALTREF] && !parse_num(xv[X_ALTREF], &ref) && ref == 1.0;
        out->has_alt = 1;
        out->alt_m = below ? -fabs(alt) : alt;
    } else if (mj) {
        json_t *ja = json_object_get(mj, "MAPAltitude");
        int ok = 1;
        if (json_is_number(ja)) alt = json_number_value(ja);
        else ok = json_is_string(ja) && !parse_num(json_string_value(ja), &alt);
        if (ok && isfinite(alt)) {
            out->has_alt = 1;
            out->alt_m = alt;
        }
    }

    /* Heading: EXIF > XMP exif: > GPano > Mapillary TrueHeading. */
    double hd;
    if (r.has_dir && !norm_heading(r.dir, &hd)) {
        out->has_heading = 1; out->heading_deg = hd; out->heading_source = TG_META_EXIF;
        out->heading_ref = (r.dir_ref == 'T' || r.dir_ref == 'M') ? r.dir_ref : 0;
    } else if (use_g && g_dir && parse_gdal_nums(g_dir, v) >= 1 && !norm_heading(v[0], &hd)) {
        out->has_heading = 1; out->heading_deg = hd; out->heading_source = TG_META_EXIF;
        out->heading_ref = g_dirref && (g_dirref[0] == 'T' || g_dirref[0] == 'M') ? g_dirref[0] : 0;
    } else if (!parse_rational(xv[X_DIR], &hd) && !norm_heading(hd, &hd)) {
        out->has_heading = 1; out->heading_deg = hd; out->heading_source = TG_META_XMP;
        const char *rf = xv[X_DIRREF];
        out->heading_ref = rf && (rf[0] == 'T' || rf[0] == 'M') ? rf[0] : 0;
    } else if (!parse_num(xv[X_POSE], &hd) && !norm_heading(hd, &hd)) {
        out->has_heading = 1; out->heading_deg = hd; out->heading_source = TG_META_GPANO;
    } else if (mj) {
        json_t *ch = json_object_get(mj, "MAPCompassHeading");
        json_t *th = json_is_object(ch) ? json_object_get(ch, "TrueHeading") : NULL;
        int ok = 1;
        if (json_is_number(th)) hd = json_number_value(th);
        else ok = json_is_string(th) && !parse_num(json_string_value(th), &hd);
        if (ok && !norm_heading(hd, &hd)) {
            out->has_heading = 1; out->heading_deg = hd; out->heading_source = TG_META_MAPILLARY;
            out->heading_ref = 'T';
        }
    }

    /* Orientation: EXIF (raw) > GDAL's EXIF_Orientation > XMP tiff:Orientation. */
    double o;
    if (r.orientation) out->orientation = r.orientation;
    else if (g_orient && !parse_num(g_orient, &o) && o >= 1 && o <= 8) out->orientation = (int)o;
    else if (!parse_num(xv[X_ORIENT], &o) && o >= 1 && o <= 8) out->orientation = (int)o;

    /* Camera: EXIF SubIFD (raw) > GDAL's EXIF_* text when there is no raw
     * EXIF at all; GPano sizes and pose from XMP. */
    int use_gc = r.exif_ifd == 0;
    if (r.has_f35) {
        out->has_focal35 = 1;
        out->focal35_mm = r.f35;
    } else if (use_gc) {
        const char *t = GDALGetMetadataItem(ds, "EXIF_FocalLengthIn35mmFilm", NULL);
        if (t && parse_gdal_nums(t, v) >= 1 && isfinite(v[0])) {
            out->has_focal35 = 1;
            out->focal35_mm = v[0];
        }
    }
    out->focal_mm = r.focal;
    out->fp_xres = r.fp_x;
    out->fp_yres = r.fp_y;
    out->fp_unit = r.fp_unit;
    out->exif_w = r.px_w;
    out->exif_h = r.px_h;
    if (use_gc) {
        static const char *keys[] = {"EXIF_FocalLength", "EXIF_FocalPlaneXResolution",
                                     "EXIF_FocalPlaneYResolution", "EXIF_FocalPlaneResolutionUnit",
                                     "EXIF_PixelXDimension", "EXIF_PixelYDimension"};
        double gv[6] = {0, 0, 0, 0, 0, 0};
        for (int i = 0; i < 6; i++) {
            const char *t = GDALGetMetadataItem(ds, keys[i], NULL);
            if (t && parse_gdal_nums(t, v) >= 1 && isfinite(v[0]) && v[0] > 0) gv[i] = v[0];
        }
        out->focal_mm = gv[0];
        out->fp_xres = gv[1];
        out->fp_yres = gv[2];
        out->fp_unit = gv[3] >= 1 && gv[3] <= 5 ? (int)gv[3] : 0;
        out->exif_w = gv[4] <= 1e6 ? (int)gv[4] : 0;
        out->exif_h = gv[5] <= 1e6 ? (int)gv[5] : 0;
    }
    if (out->fp_xres > 0 && out->fp_yres > 0 && !out->fp_unit) out->fp_unit = 2; /* EXIF default: inch */
    if (!xmp_px(xv[X_FULLW], 1, &out->gpano_full_w) && !xmp_px(xv[X_FULLH], 1, &out->gpano_full_h) &&
        !xmp_px(xv[X_CROPW], 1, &out->gpano_crop_w) && !xmp_px(xv[X_CROPH], 1, &out->gpano_crop_h)) {
        out->has_gpano_size = 1;
        if (xv[X_LEFT] && xmp_px(xv[X_LEFT], 0, &out->gpano_left)) out->gpano_left = 0;
        if (xv[X_TOP] && xmp_px(xv[X_TOP], 0, &out->gpano_top)) out->gpano_top = 0;
    } else {
        out->gpano_full_w = out->gpano_full_h = out->gpano_crop_w = out->gpano_crop_h = 0;
    }
    double pp;
    if (!parse_num(xv[X_PITCH], &pp) && isfinite(pp)) {
        out->has_pose_pitch = 1;
        out->pose_pitch_deg = pp;
    }
    if (!parse_num(xv[X_ROLL], &pp) && isfinite(pp)) {
        out->has_pose_roll = 1;
        out->pose_roll_deg = pp;
    }

    /* Projection (GPano). */
    if (xv[X_PROJ]) {
        const char *p = xv[X_PROJ];
        while (*p == ' ') p++;
        snprintf(out->projection, sizeof out->projection, "%s", p);
        size_t l = strlen(out->projection);
        while (l && out->projection[l - 1] == ' ') out->projection[--l] = '\0';
        out->is_panorama = strcasecmp(out->projection, "equirectangular") == 0;
    }

    json_decref(mj);
    if (xmp) CPLDestroyXMLNode(xmp);
    free(r.description);
    return TG_OK;
}

int tg_photo_meta_from_src(tg_ctx *ctx, const tg_photo_src *src, tg_photo_meta *out)
{
    (void)ctx;
    tg_gdal_log log;
    tg_gdal_log_push(&log);
    int rc = meta_from_src(src, out);
    tg_gdal_log_pop();
    return rc;
}

int tg_exif_orientation_src(const tg_photo_src *src)
{
    tg_photo_meta m;
    tg_photo_meta_from_src(NULL, src, &m);
    return m.orientation;
}

static int meta_read(tg_ctx *ctx, const char *path, const void *buf, size_t n, tg_photo_meta *out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_photo_meta_read: out is NULL");
    memset(out, 0, sizeof *out);
    out->orientation = 1;
    tg_photo_src src;
    int rc = tg_photo_src_open(ctx, path, buf, n, &src);
    if (rc) return rc;
    rc = tg_photo_meta_from_src(ctx, &src, out);
    tg_photo_src_close(&src);
    return rc;
}

int tg_photo_meta_read(tg_ctx *ctx, const char *path, tg_photo_meta *out)
{
    if (!path) {
        if (out) {
            memset(out, 0, sizeof *out);
            out->orientation = 1;
        }
        return tg_set_error(ctx, TG_EINVAL, "tg_photo_meta_read: path is NULL");
    }
    return meta_read(ctx, path, NULL, 0, out);
}

int tg_photo_meta_read_mem(tg_ctx *ctx, const void *buf, size_t n, tg_photo_meta *out)
{
    if (!buf && n) {
        if (out) {
            memset(out, 0, sizeof *out);
            out->orientation = 1;
        }
        return tg_set_error(ctx, TG_EINVAL, "tg_photo_meta_read_mem: buffer is NULL");
    }
    return meta_read(ctx, NULL, buf ? buf : "", n, out);
}

const char *tg_photo_meta_source_name(int source)
{
    switch (source) {
    case TG_META_EXIF: return "EXIF";
    case TG_META_XMP: return "XMP";
    case TG_META_GPANO: return "GPano";
    case TG_META_MAPILLARY: return "Mapillary";
    default: return "none";
    }
}
