/* test_exif.c - GPS position, altitude, heading, orientation and GPano
 * projection from EXIF, XMP and Mapillary JSON.
 *
 * Expected values for shared/data/photos are ExifTool 12.57's `exiftool -n`
 * output recorded in shared/data/PROVENANCE.md (tests/exif_vs_exiftool.sh
 * re-checks them against the installed exiftool). Other cases are made here:
 * EXIF blocks written byte by byte (both byte orders, wrong types, bad
 * offsets), XMP in GeoTIFF (GDAL writes it), Mapillary JSON in
 * ImageDescription, and a byte-flip sweep over a whole EXIF block.
 *
 * `test_exif --dump FILE...` prints what tg_photo_meta_read finds, one line
 * per file, for tests/exif_vs_exiftool.sh. */
#include "config.h"
#include "transgeo/exif.h"
#include "transgeo/image.h"
#include "tap.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cpl_conv.h>
#include <cpl_multiproc.h>
#include <cpl_string.h>
#include <gdal.h>
#include <ogr_srs_api.h>

static tg_ctx *ctx;
static char tmpdir[1024];
static char photos[1024];

static const char *tpath(const char *name)
{
    static char buf[8][1200];
    static int i;
    char *p = buf[i++ & 7];
    snprintf(p, 1200, "%s/test_exif_%s", tmpdir, name);
    return p;
}

static const char *photo(const char *name)
{
    static char buf[8][1200];
    static int i;
    char *p = buf[i++ & 7];
    snprintf(p, 1200, "%s/%s", photos, name);
    return p;
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)sz;
    return b;
}

/* ---- the shared photos ---------------------------------------------------- */

typedef struct ex_case {
    const char *file;
    int has_gps;
    double lat, lon;         /* exiftool -n */
    int has_alt;
    double alt;
    int has_heading;
    double heading;
    char ref;
    int pos_src, head_src;
    int orientation;
    const char *projection;
} ex_case;

static const ex_case ex_cases[] = {
    {"01.jpg", 1, 52.5189166666667, 13.4002944444444, 1, 27, 1, 54.74463, 'T', TG_META_EXIF, TG_META_MAPILLARY, 1, ""},
    {"02.jpg", 1, 52.518925, 13.4003888888889, 1, 30, 1, 60.50159, 'T', TG_META_EXIF, TG_META_MAPILLARY, 1, ""},
    {"03.jpg", 1, 52.5190472222222, 13.4004472222222, 1, 39, 1, 61.76562, 'T', TG_META_EXIF, TG_META_MAPILLARY, 1, ""},
    {"adobe_coords.jpg", 1, -0.0702668333333333, 34.3819351666667, 1, 1361.69, 1, 176.3, 'T', TG_META_XMP,
     TG_META_XMP, 1, "equirectangular"},
    {"corrupt_exif.jpg", 1, 48.0810453000028, -1.6678410999975, 0, 0, 1, 147.9598389, 0, TG_META_EXIF,
     TG_META_EXIF, 1, ""},
    {"corrupt_exif_2.jpg", 1, 48.0810453000028, -1.6678410999975, 0, 0, 1, 147.9598389, 0, TG_META_EXIF,
     TG_META_EXIF, 1, ""},
    {"fixed_exif.jpg", 1, 48.0810453000028, -1.6678410999975, 0, 0, 1, 147.9598389, 0, TG_META_EXIF, TG_META_EXIF,
     1, ""},
    {"fixed_exif_2.jpg", 1, 48.0810453000028, -1.6678410999975, 0, 0, 1, 147.9598389, 0, TG_META_EXIF,
     TG_META_EXIF, 1, ""},
    {"test_exif.jpg", 1, 35.9125166666667, 14.4988055555556, 1, 69, 1, 1, 'T', TG_META_EXIF, TG_META_EXIF, 2, ""},
    {"empty_exif.jpg", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ""},
    {"corrupt_exif_large_thumbnail.jpg", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ""},
    {"corrupt_exif_wrong_type.jpg", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ""},
    {"corrupt_exif_trusted_wrong_type.jpg", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, ""},
};

static void check_meta(const char *what, const tg_photo_meta *m, const ex_case *c)
{
    TAP_EQ(m->has_gps, c->has_gps, "%s: has_gps = %d", what, c->has_gps);
    if (c->has_gps && m->has_gps) {
        TAP_NEAR(m->lat_deg, c->lat, 1e-6, "%s: lat %.7f", what, c->lat);
        TAP_NEAR(m->lon_deg, c->lon, 1e-6, "%s: lon %.7f", what, c->lon);
        TAP_EQ(m->pos_source, c->pos_src, "%s: position from %s", what, tg_photo_meta_source_name(c->pos_src));
    }
    TAP_EQ(m->has_alt, c->has_alt, "%s: has_alt = %d", what, c->has_alt);
    if (c->has_alt && m->has_alt) TAP_NEAR(m->alt_m, c->alt, 1e-6, "%s: altitude %g m", what, c->alt);
    TAP_EQ(m->has_heading, c->has_heading, "%s: has_heading = %d", what, c->has_heading);
    if (c->has_heading && m->has_heading) {
        TAP_NEAR(m->heading_deg, c->heading, 1e-6, "%s: heading %.7f", what, c->heading);
        TAP_EQ(m->heading_ref, c->ref, "%s: heading ref '%c'", what, c->ref ? c->ref : '-');
        TAP_EQ(m->heading_source, c->head_src, "%s: heading from %s", what,
               tg_photo_meta_source_name(c->head_src));
    }
    TAP_EQ(m->orientation, c->orientation, "%s: orientation %d", what, c->orientation);
    TAP_OK(!strcmp(m->projection, c->projection), "%s: projection '%s' (got '%s')", what, c->projection,
           m->projection);
    TAP_EQ(m->is_panorama, !strcmp(c->projection, "equirectangular"), "%s: is_panorama", what);
}

static void test_shared_photos(void)
{
    for (size_t i = 0; i < sizeof ex_cases / sizeof ex_cases[0]; i++) {
        const ex_case *c = &ex_cases[i];
        tg_photo_meta m;
        int rc = tg_photo_meta_read(ctx, photo(c->file), &m);
        TAP_OK(rc == 0, "%s: read (no GPS is not an error)", c->file);
        if (rc) tap_diag("%s", tg_errmsg(ctx));
        check_meta(c->file, &m, c);
        /* The same bytes from memory. */
        size_t n = 0;
        unsigned char *b = read_file(photo(c->file), &n);
        tg_photo_meta mm;
        rc = tg_photo_meta_read_mem(ctx, b, n, &mm);
        TAP_OK(rc == 0 && !memcmp(&m, &mm, sizeof m), "%s: memory input gives the same result", c->file);
        free(b);
    }
}

/* ---- EXIF blocks written here --------------------------------------------- */

typedef struct tent {
    unsigned tag, type, count;
    uint32_t v[6];         /* BYTE/SHORT/LONG values; RATIONAL num,den pairs */
    const char *s;         /* ASCII */
} tent;

typedef struct tbuf {
    unsigned char b[4096];
    size_t n;
    int be;
} tbuf;

static void w16(tbuf *t, size_t o, unsigned v)
{
    if (t->be) { t->b[o] = (unsigned char)(v >> 8); t->b[o + 1] = (unsigned char)v; }
    else { t->b[o] = (unsigned char)v; t->b[o + 1] = (unsigned char)(v >> 8); }
}

static void w32(tbuf *t, size_t o, uint32_t v)
{
    if (t->be) { w16(t, o, v >> 16); w16(t, o + 2, v & 0xFFFF); }
    else { w16(t, o, v & 0xFFFF); w16(t, o + 2, v >> 16); }
}

static const unsigned tsize[13] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8};

/* Write an IFD at off with its values after it; returns the end offset.
 * *slot (if not NULL) gets the offset of the value field of entry slot_i. */
static size_t put_ifd(tbuf *t, size_t off, const tent *e, int n, int slot_i, size_t *slot)
{
    size_t data = off + 2 + 12 * (size_t)n + 4;
    w16(t, off, (unsigned)n);
    for (int i = 0; i < n; i++) {
        size_t p = off + 2 + 12 * (size_t)i;
        unsigned count = e[i].type == 2 && !e[i].count ? (unsigned)strlen(e[i].s) + 1 : e[i].count;
        size_t bytes = (size_t)tsize[e[i].type] * count;
        w16(t, p, e[i].tag);
        w16(t, p + 2, e[i].type);
        w32(t, p + 4, count);
        size_t vo = p + 8;
        if (bytes > 4) {
            data = (data + 1) & ~(size_t)1;
            w32(t, p + 8, (uint32_t)data);
            vo = data;
            data += bytes;
        }
        if (i == slot_i && slot) *slot = p + 8;
        for (unsigned k = 0; k < count; k++) {
            switch (e[i].type) {
            case 1: case 7: t->b[vo + k] = (unsigned char)e[i].v[k]; break;
            case 2: t->b[vo + k] = k < strlen(e[i].s) ? (unsigned char)e[i].s[k] : 0; break;
            case 3: w16(t, vo + 2 * k, e[i].v[k]); break;
            case 4: w32(t, vo + 4 * k, e[i].v[k]); break;
            case 5: case 10: w32(t, vo + 8 * k, e[i].v[2 * k]); w32(t, vo + 8 * k + 4, e[i].v[2 * k + 1]); break;
            default: break;
            }
        }
    }
    w32(t, off + 2 + 12 * (size_t)n, 0);
    return data;
}

/* TIFF header + IFD0 (i0 plus a GPS pointer when ng > 0) + GPS IFD. */
static size_t exif_block(tbuf *t, int be, const tent *i0, int n0, const tent *g, int ng)
{
    memset(t, 0, sizeof *t);
    t->be = be;
    t->b[0] = t->b[1] = be ? 'M' : 'I';
    w16(t, 2, 42);
    w32(t, 4, 8);
    tent all[16];
    memcpy(all, i0, sizeof(tent) * (size_t)n0);
    if (ng) all[n0++] = (tent){0x8825, 4, 1, {0}, NULL};
    size_t slot = 0;
    size_t end = put_ifd(t, 8, all, n0, ng ? n0 - 1 : -1, &slot);
    if (ng) {
        end = (end + 1) & ~(size_t)1;
        w32(t, slot, (uint32_t)end);
        end = put_ifd(t, end, g, ng, -1, NULL);
    }
    t->n = end;
    return end;
}

static unsigned char *base_jpeg;
static size_t base_jpeg_n;

/* A small JPEG (GDAL, no EXIF) with an APP1 "Exif" segment holding blk. */
static unsigned char *jpeg_with_exif(const unsigned char *blk, size_t bn, size_t *outn)
{
    size_t n = base_jpeg_n + 4 + 6 + bn;
    unsigned char *o = malloc(n);
    memcpy(o, base_jpeg, 2);
    o[2] = 0xFF; o[3] = 0xE1;
    o[4] = (unsigned char)((bn + 8) >> 8); o[5] = (unsigned char)(bn + 8);
    memcpy(o + 6, "Exif\0\0", 6);
    memcpy(o + 12, blk, bn);
    memcpy(o + 12 + bn, base_jpeg + 2, base_jpeg_n - 2);
    *outn = n;
    return o;
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static int make_gdal(const char *path, const char *drv, const char *const *md, const char *const *xmp,
                     const char *const *opts)
{
    GDALDatasetH m = GDALCreate(GDALGetDriverByName("MEM"), "", 16, 8, 3, GDT_Byte, NULL);
    unsigned char px[16 * 8];
    for (int b = 1; b <= 3; b++) {
        for (int i = 0; i < 16 * 8; i++) px[i] = (unsigned char)(i * 2 * b);
        if (GDALRasterIO(GDALGetRasterBand(m, b), GF_Write, 0, 0, 16, 8, px, 16, 8, GDT_Byte, 0, 0) != CE_None)
            return -1;
    }
    if (md) GDALSetMetadata(m, (char **)(uintptr_t)md, NULL);
    if (xmp) GDALSetMetadata(m, (char **)(uintptr_t)xmp, "xml:XMP");
    GDALDatasetH o = GDALCreateCopy(GDALGetDriverByName(drv), path, m, FALSE, (char **)(uintptr_t)opts, NULL, NULL);
    GDALClose(m);
    if (!o) return -1;
    GDALClose(o);
    return 0;
}

static int meta_mem(const unsigned char *b, size_t n, tg_photo_meta *m)
{
    return tg_photo_meta_read_mem(ctx, b, n, m);
}

static void test_raw_exif(void)
{
    make_gdal(tpath("base.jpg"), "JPEG", NULL, NULL, NULL);
    base_jpeg = read_file(tpath("base.jpg"), &base_jpeg_n);
    TAP_OK(base_jpeg && base_jpeg[0] == 0xFF && base_jpeg[1] == 0xD8, "base JPEG made by GDAL");

    /* A: big-endian; decimal degrees in ONE rational (GDAL's text keeps 6
     * digits: 48.081), S/W refs, altitude below sea level, magnetic heading. */
    const tent i0[] = {{0x0112, 3, 1, {6}, NULL}};
    const tent gA[] = {
        {1, 2, 0, {0}, "S"},
        {2, 5, 3, {48081045, 1000000, 0, 1, 0, 1}, NULL},
        {3, 2, 0, {0}, "W"},
        {4, 5, 3, {1667841, 1000000, 0, 1, 0, 1}, NULL},
        {5, 1, 1, {1}, NULL},
        {6, 5, 1, {12345, 100}, NULL},
        {16, 2, 0, {0}, "M"},
        {17, 5, 1, {1212087, 8192}, NULL},
    };
    tbuf A;
    exif_block(&A, 1, i0, 1, gA, 8);
    size_t jn = 0;
    unsigned char *ja = jpeg_with_exif(A.b, A.n, &jn);
    write_file(tpath("A.jpg"), ja, jn);
    tg_photo_meta m;
    int rc = tg_photo_meta_read(ctx, tpath("A.jpg"), &m);
    TAP_OK(rc == 0 && m.has_gps, "A (big-endian EXIF): position found");
    TAP_NEAR(m.lat_deg, -48.081045, 1e-12, "A: lat -48.081045 exactly (S ref)");
    TAP_NEAR(m.lon_deg, -1.667841, 1e-12, "A: lon -1.667841 exactly (W ref)");
    TAP_OK(m.has_alt, "A: altitude found");
    TAP_NEAR(m.alt_m, -123.45, 1e-12, "A: altitude -123.45 m (ref 1 = below sea level)");
    TAP_NEAR(m.heading_deg, 1212087.0 / 8192.0, 1e-12, "A: heading 147.9598388671875 exactly");
    TAP_EQ(m.heading_ref, 'M', "A: magnetic heading ref kept");
    TAP_EQ(m.orientation, 6, "A: orientation 6");
    /* What GDAL's EXIF text says for the same file: 6 significant digits. */
    GDALDatasetH ds = GDALOpen(tpath("A.jpg"), GA_ReadOnly);
    const char *gl = ds ? GDALGetMetadataItem(ds, "EXIF_GPSLatitude", NULL) : NULL;
    tap_diag("GDAL's EXIF_GPSLatitude for A: %s (hence the raw reader)", gl ? gl : "(none)");
    TAP_OK(gl && strstr(gl, "48.081)"), "GDAL's text for A is rounded (48.081), ours is exact");
    if (ds) GDALClose(ds);
    /* Image orientation follows the same tag. */
    tg_image *img = NULL;
    rc = tg_image_load_mem(ctx, ja, jn, &img);
    TAP_OK(rc == 0 && tg_image_width(img) == 8 && tg_image_height(img) == 16 && tg_image_orientation(img) == 6,
           "A: the image loads rotated (16x8 stored, Orientation 6 -> 8x16)");
    tg_image_free(img);

    /* A in a PNG eXIf chunk (after IHDR). */
    make_gdal(tpath("base.png"), "PNG", NULL, NULL, NULL);
    size_t pn = 0;
    unsigned char *png = read_file(tpath("base.png"), &pn);
    unsigned char *pe = malloc(pn + 12 + A.n);
    memcpy(pe, png, 33);
    pe[33] = (unsigned char)(A.n >> 24); pe[34] = (unsigned char)(A.n >> 16);
    pe[35] = (unsigned char)(A.n >> 8); pe[36] = (unsigned char)A.n;
    memcpy(pe + 37, "eXIf", 4);
    memcpy(pe + 41, A.b, A.n);
    uint32_t crc = crc32_png(pe + 37, 4 + A.n);
    unsigned char *q = pe + 41 + A.n;
    q[0] = (unsigned char)(crc >> 24); q[1] = (unsigned char)(crc >> 16); q[2] = (unsigned char)(crc >> 8); q[3] = (unsigned char)crc;
    memcpy(q + 4, png + 33, pn - 33);
    rc = meta_mem(pe, pn + 12 + A.n, &m);
    TAP_OK(rc == 0 && m.has_gps && fabs(m.lat_deg + 48.081045) < 1e-12 && m.orientation == 6,
           "A in a PNG eXIf chunk: same position and orientation");
    free(pe);
    free(png);

    /* B: little-endian, SRATIONAL negative degrees, no refs at all. */
    const tent gB[] = {
        {2, 10, 3, {(uint32_t)-67, 2, 0, 1, 0, 1}, NULL},
        {4, 5, 3, {151, 1, 15, 1, 0, 1}, NULL},
    };
    tbuf B;
    exif_block(&B, 0, i0, 0, gB, 2);
    unsigned char *jb = jpeg_with_exif(B.b, B.n, &jn);
    rc = meta_mem(jb, jn, &m);
    TAP_OK(rc == 0 && m.has_gps, "B (little-endian, no refs): position found");
    TAP_NEAR(m.lat_deg, -33.5, 1e-12, "B: signed rational -67/2 kept negative");
    TAP_NEAR(m.lon_deg, 151.25, 1e-12, "B: no LongitudeRef taken as east");
    TAP_EQ(m.has_heading, 0, "B: no heading");
    TAP_EQ(m.orientation, 1, "B: no Orientation tag -> 1");
    free(jb);

    /* Invalid positions: each is "no GPS", never an error. */
    static const struct { const char *name; tent lat; char status; } bad[] = {
        {"GPSStatus V (void)", {2, 5, 3, {10, 1, 0, 1, 0, 1}, NULL}, 'V'},
        {"zero position (no fix)", {2, 5, 3, {0, 1, 0, 1, 0, 1}, NULL}, 0},
        {"zero denominator", {2, 5, 3, {10, 0, 0, 1, 0, 1}, NULL}, 0},
        {"latitude 95", {2, 5, 3, {95, 1, 0, 1, 0, 1}, NULL}, 0},
        {"latitude as ASCII", {2, 2, 0, {0}, "10.5"}, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char st[2] = {bad[i].status, 0};
        tent g[3] = {bad[i].lat, {4, 5, 3, {bad[i].lat.v[0] == 0 && bad[i].lat.type == 5 ? 0 : 5, 1, 0, 1, 0, 1}, NULL},
                     {9, 2, 0, {0}, st}};
        tbuf t;
        exif_block(&t, 1, i0, 0, g, bad[i].status ? 3 : 2);
        unsigned char *j = jpeg_with_exif(t.b, t.n, &jn);
        rc = meta_mem(j, jn, &m);
        TAP_OK(rc == 0 && m.has_gps == 0, "%s: has_gps = 0, rc 0", bad[i].name);
        free(j);
    }

    /* Broken structure: GPS IFD pointer beyond the block, IFD count too big. */
    tbuf C;
    exif_block(&C, 1, i0, 1, gA, 8);
    for (size_t o = 8 + 2; o < 8 + 2 + 12 * 2; o += 12) {
        unsigned tag = (unsigned)C.b[o] << 8 | C.b[o + 1];
        if (tag == 0x8825) { C.b[o + 8] = 0x7F; C.b[o + 9] = 0xFF; }
    }
    unsigned char *jc = jpeg_with_exif(C.b, C.n, &jn);
    rc = meta_mem(jc, jn, &m);
    TAP_OK(rc == 0 && m.has_gps == 0 && m.orientation == 6, "GPS pointer out of the block: no GPS, orientation kept");
    free(jc);
    exif_block(&C, 1, i0, 1, gA, 8);
    C.b[8] = 0xFF; C.b[9] = 0xFF; /* IFD0 claims 65535 entries */
    jc = jpeg_with_exif(C.b, C.n, &jn);
    rc = meta_mem(jc, jn, &m);
    TAP_OK(rc == 0 && m.orientation == 6 && m.has_gps, "IFD0 claiming 65535 entries: entries up to the end still read");
    free(jc);

    /* Byte-flip sweep: every byte of A's block set to 0xFF, then to 0x00, and
     * the block cut at every length: never a crash or a read error (ASan). */
    int fails = 0, runs = 0;
    for (size_t i = 0; i < A.n; i++) {
        for (int k = 0; k < 2; k++) {
            tbuf t = A;
            t.b[i] = k ? 0x00 : 0xFF;
            unsigned char *j = jpeg_with_exif(t.b, t.n, &jn);
            fails += meta_mem(j, jn, &m) != 0;
            runs++;
            free(j);
        }
    }
    for (size_t len = 0; len < A.n; len++) {
        unsigned char *j = jpeg_with_exif(A.b, len, &jn);
        fails += meta_mem(j, jn, &m) != 0;
        runs++;
        free(j);
    }
    TAP_OK(fails == 0, "byte-flip and truncation sweep over the EXIF block: %d runs, %d errors", runs, fails);
    free(ja);
}

/* ---- XMP, Mapillary JSON, GDAL-text fallback -------------------------------- */

static void test_xmp(void)
{
    /* Child elements, unusual prefixes, DDD,MM,SSk and DDD,MM.mmk, GPano as
     * elements, tiff:Orientation in XMP only (GTiff writes no Orientation). */
    const char *xmp1 =
        "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>"
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
        "<rdf:Description rdf:about=\"\" xmlns:e=\"http://ns.adobe.com/exif/1.0/\" "
        "xmlns:gp=\"http://ns.google.com/photos/1.0/panorama/\" xmlns:t=\"http://ns.adobe.com/tiff/1.0/\">"
        "<e:GPSLatitude>12,30,36N</e:GPSLatitude><e:GPSLongitude> 4,15.5W </e:GPSLongitude>"
        "<e:GPSAltitude>-5/2</e:GPSAltitude>"
        "<gp:ProjectionType>cylindrical</gp:ProjectionType><gp:PoseHeadingDegrees>-0.5</gp:PoseHeadingDegrees>"
        "<t:Orientation>8</t:Orientation>"
        "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
    const char *x1[] = {xmp1, NULL};
    int mk = make_gdal(tpath("xmp1.tif"), "GTiff", NULL, x1, NULL);
    TAP_OK(mk == 0, "GeoTIFF with XMP written");
    tg_photo_meta m;
    int rc = tg_photo_meta_read(ctx, tpath("xmp1.tif"), &m);
    TAP_OK(rc == 0 && m.has_gps && m.pos_source == TG_META_XMP, "XMP elements: position from XMP");
    TAP_NEAR(m.lat_deg, 12.51, 1e-12, "XMP '12,30,36N' = 12.51");
    TAP_NEAR(m.lon_deg, -(4 + 15.5 / 60), 1e-12, "XMP ' 4,15.5W ' = -4.258333");
    TAP_NEAR(m.alt_m, -2.5, 1e-12, "XMP rational altitude -5/2");
    TAP_OK(m.has_heading && m.heading_source == TG_META_GPANO, "heading from GPano:PoseHeadingDegrees");
    TAP_NEAR(m.heading_deg, 359.5, 1e-12, "GPano heading -0.5 normalised to 359.5");
    TAP_OK(!strcmp(m.projection, "cylindrical") && !m.is_panorama, "GPano cylindrical: projection set, not equirectangular");
    TAP_EQ(m.orientation, 8, "XMP tiff:Orientation 8 (no EXIF Orientation)");
    tg_image *img = NULL;
    rc = tg_image_load(ctx, tpath("xmp1.tif"), &img);
    TAP_OK(rc == 0 && tg_image_width(img) == 8 && tg_image_height(img) == 16, "the image follows XMP orientation 8");
    tg_image_free(img);

    /* A prefix bound to another namespace is not exif:. */
    const char *xmp2 =
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
        "<rdf:Description xmlns:exif=\"http://example.com/not-exif/\" exif:GPSLatitude=\"10,0N\" "
        "exif:GPSLongitude=\"10,0E\"/></rdf:RDF></x:xmpmeta>";
    const char *x2[] = {xmp2, NULL};
    make_gdal(tpath("xmp2.tif"), "GTiff", NULL, x2, NULL);
    rc = tg_photo_meta_read(ctx, tpath("xmp2.tif"), &m);
    TAP_OK(rc == 0 && !m.has_gps, "exif: prefix bound to a foreign namespace is ignored");

    /* Malformed XMP: no crash, no GPS. */
    const char *x3[] = {"<x:xmpmeta><rdf:RDF><rdf:Description exif:GPSLatitude=\"1,0N\"", NULL};
    make_gdal(tpath("xmp3.tif"), "GTiff", NULL, x3, NULL);
    rc = tg_photo_meta_read(ctx, tpath("xmp3.tif"), &m);
    TAP_OK(rc == 0 && !m.has_gps, "malformed XMP: rc 0, no GPS");
}

static void test_mapillary(void)
{
    const char *md1[] = {"EXIF_ImageDescription={\"MAPLatitude\":\"-33.8688\",\"MAPLongitude\":151.2093,"
                         "\"MAPAltitude\":\"58.5\",\"MAPCompassHeading\":{\"TrueHeading\":\"370.5\",\"MagneticHeading\":3}}",
                         NULL};
    make_gdal(tpath("map1.jpg"), "JPEG", md1, NULL, NULL);
    tg_photo_meta m;
    int rc = tg_photo_meta_read(ctx, tpath("map1.jpg"), &m);
    TAP_OK(rc == 0 && m.has_gps && m.pos_source == TG_META_MAPILLARY, "Mapillary JSON only: position from it");
    TAP_NEAR(m.lat_deg, -33.8688, 1e-12, "MAPLatitude as a string");
    TAP_NEAR(m.lon_deg, 151.2093, 1e-12, "MAPLongitude as a number");
    TAP_NEAR(m.alt_m, 58.5, 1e-12, "MAPAltitude");
    TAP_OK(m.has_heading && m.heading_source == TG_META_MAPILLARY && m.heading_ref == 'T',
           "TrueHeading used (true north)");
    TAP_NEAR(m.heading_deg, 10.5, 1e-12, "TrueHeading 370.5 normalised to 10.5");

    const char *md2[] = {"EXIF_ImageDescription={\"MAPLatitude\": oops", NULL};
    make_gdal(tpath("map2.jpg"), "JPEG", md2, NULL, NULL);
    rc = tg_photo_meta_read(ctx, tpath("map2.jpg"), &m);
    TAP_OK(rc == 0 && !m.has_gps && !m.has_heading, "broken JSON: rc 0, nothing found");

    const char *md3[] = {"EXIF_ImageDescription=[52.5, 13.4]", NULL};
    make_gdal(tpath("map3.jpg"), "JPEG", md3, NULL, NULL);
    rc = tg_photo_meta_read(ctx, tpath("map3.jpg"), &m);
    TAP_OK(rc == 0 && !m.has_gps, "JSON that is not an object: ignored");
}

static void test_gdal_fallback(void)
{
    /* GTiff keeps EXIF_* items as GDAL metadata (no GPS IFD): the raw reader
     * finds nothing and GDAL's text is used. BigTIFF the same. */
    const char *md[] = {"EXIF_GPSLatitude=(48) (4) (51.7631)", "EXIF_GPSLatitudeRef=N",
                        "EXIF_GPSLongitude=(1) (40) (4.22796)", "EXIF_GPSLongitudeRef=W",
                        "EXIF_GPSAltitude=(69)", "EXIF_GPSAltitudeRef=0x01",
                        "EXIF_GPSImgDirection=(147.96)", "EXIF_GPSImgDirectionRef=T", "EXIF_Orientation=3", NULL};
    static const char *const kinds[][2] = {{"fb.tif", NULL}, {"fbb.tif", "BIGTIFF=YES"}};
    for (int k = 0; k < 2; k++) {
        const char *opts[] = {kinds[k][1], NULL};
        make_gdal(tpath(kinds[k][0]), "GTiff", md, NULL, opts);
        tg_photo_meta m;
        int rc = tg_photo_meta_read(ctx, tpath(kinds[k][0]), &m);
        TAP_OK(rc == 0 && m.has_gps && m.pos_source == TG_META_EXIF, "%s: GDAL EXIF text fallback", kinds[k][0]);
        TAP_NEAR(m.lat_deg, 48 + 4 / 60.0 + 51.7631 / 3600, 1e-12, "%s: lat from '(48) (4) (51.7631)'", kinds[k][0]);
        TAP_NEAR(m.lon_deg, -(1 + 40 / 60.0 + 4.22796 / 3600), 1e-12, "%s: lon W", kinds[k][0]);
        TAP_NEAR(m.alt_m, -69, 1e-12, "%s: altitude ref 0x01 = below", kinds[k][0]);
        TAP_NEAR(m.heading_deg, 147.96, 1e-12, "%s: heading", kinds[k][0]);
        TAP_EQ(m.orientation, 3, "%s: orientation from EXIF_Orientation", kinds[k][0]);
    }
}

/* ---- errors ---------------------------------------------------------------- */

static void expect_err(int rc, int want, const char *what, const char *p1, const char *p2)
{
    const char *m = tg_errmsg(ctx);
    int ok = rc == want && (!p1 || strstr(m, p1)) && (!p2 || strstr(m, p2));
    TAP_OK(ok, "%s: code %s and message", what, tg_strerror(want));
    if (!ok) tap_diag("got %d (%s): %s", rc, tg_strerror(rc), m);
    else tap_diag("  -> %s", m);
}

static void test_errors(void)
{
    tg_photo_meta m;
    m.has_gps = 7;
    int rc = tg_photo_meta_read(ctx, NULL, &m);
    expect_err(rc, TG_EINVAL, "NULL path", "NULL", NULL);
    TAP_OK(m.has_gps == 0 && m.orientation == 1, "out is reset on failure");
    rc = tg_photo_meta_read(ctx, photo("01.jpg"), NULL);
    expect_err(rc, TG_EINVAL, "NULL out", "NULL", NULL);
    rc = tg_photo_meta_read(ctx, tpath("missing.jpg"), &m);
    expect_err(rc, TG_EIO, "missing file", "missing.jpg", "no such file");
    rc = tg_photo_meta_read(ctx, tmpdir, &m);
    expect_err(rc, TG_EIO, "directory", "is a directory", NULL);
    write_file(tpath("empty.jpg"), "", 0);
    rc = tg_photo_meta_read(ctx, tpath("empty.jpg"), &m);
    expect_err(rc, TG_EIMAGE, "empty file", "empty.jpg", "empty");
    write_file(tpath("text.jpg"), "GPS 52.5 13.4\n", 14);
    rc = tg_photo_meta_read(ctx, tpath("text.jpg"), &m);
    expect_err(rc, TG_EIMAGE, "text file", "text.jpg", "not an image");
    rc = tg_photo_meta_read_mem(ctx, NULL, 5, &m);
    expect_err(rc, TG_EINVAL, "NULL buffer", "NULL", NULL);
    rc = tg_photo_meta_read_mem(ctx, "", 0, &m);
    expect_err(rc, TG_EIMAGE, "empty buffer", "0 bytes", "empty");
    size_t n = 0;
    unsigned char *b = read_file(photo("01.jpg"), &n);
    rc = tg_photo_meta_read_mem(ctx, b, 100, &m);
    expect_err(rc, TG_EIMAGE, "JPEG cut to 100 bytes", "image in memory (100 bytes)", "JPEG");
    /* Cut in the pixel data: the metadata is all there. */
    rc = tg_photo_meta_read_mem(ctx, b, 300000, &m);
    TAP_OK(rc == 0 && m.has_gps && fabs(m.lat_deg - 52.5189166666667) < 1e-9,
           "JPEG cut in its pixel data: metadata still read");
    free(b);
    TAP_OK(!strcmp(tg_photo_meta_source_name(TG_META_XMP), "XMP") && !strcmp(tg_photo_meta_source_name(99), "none"),
           "source names");
}

static int dump(int argc, char **argv)
{
    int bad = 0;
    for (int i = 2; i < argc; i++) {
        tg_photo_meta m;
        if (tg_photo_meta_read(ctx, argv[i], &m)) {
            printf("%s ERROR %s\n", argv[i], tg_errmsg(ctx));
            bad = 1;
            continue;
        }
        printf("%s gps=%d lat=%.10f lon=%.10f alt=%d:%.6f heading=%d:%.7f orientation=%d projection=%s "
               "f35=%d:%g focal=%g fullw=%d cropw=%d croph=%d hpe=%d:%.6f dop=%d:%.6f\n",
               argv[i], m.has_gps, m.lat_deg, m.lon_deg, m.has_alt, m.alt_m, m.has_heading, m.heading_deg,
               m.orientation, m.projection[0] ? m.projection : "-", m.has_focal35, m.focal35_mm, m.focal_mm,
               m.gpano_full_w, m.gpano_crop_w, m.gpano_crop_h, m.has_hpe, m.hpe_m, m.has_dop, m.dop);
    }
    return bad;
}

int main(int argc, char **argv)
{
    tg_ctx_create(&ctx);
    GDALAllRegister();
    int rc;
    if (argc > 1 && !strcmp(argv[1], "--dump")) {
        rc = dump(argc, argv);
    } else {
        snprintf(tmpdir, sizeof tmpdir, "%s", tap_env("TG_TMPDIR", "/tmp"));
        snprintf(photos, sizeof photos, "%s/photos", tap_shared());
        mkdir(tmpdir, 0755);
        test_shared_photos();
        test_raw_exif();
        test_xmp();
        test_mapillary();
        test_gdal_fallback();
        test_errors();
        free(base_jpeg);
        rc = -1;
    }
    tg_ctx_free(ctx);
    GDALDestroyDriverManager();
    OSRCleanup();
    CPLCleanupTLS();
    return rc >= 0 ? rc : tap_done();
}
