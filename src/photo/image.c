/* image.c - photo decoding via GDAL and Pillow-exact bilinear resize (see image.h). */
#define _GNU_SOURCE 1 /* struct stat64 behind GDAL's VSIStatBufL */
#include "config.h"
#include "transgeo/image.h"

#include "base/gdal.h"
#include "photo/exif_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_vsi.h>
#include <gdal.h>

struct tg_image {
    int w, h;             /* px */
    int orientation;      /* EXIF Orientation found in the file (1..8) */
    unsigned char *rgb;   /* w*h*3 bytes, interleaved, row-major */
};

/* ---- pixel limit -------------------------------------------------------- */

static long long g_max_pixels = TG_IMAGE_MAX_PIXELS_DEFAULT;

void tg_image_set_max_pixels(long long n)
{
    __atomic_store_n(&g_max_pixels, n > 0 ? n : TG_IMAGE_MAX_PIXELS_DEFAULT, __ATOMIC_RELAXED);
}

long long tg_image_max_pixels(void) { return __atomic_load_n(&g_max_pixels, __ATOMIC_RELAXED); }

void tg_image_opts_default(tg_image_opts *opts)
{
    if (!opts) return;
    opts->max_pixels = tg_image_max_pixels();
    opts->apply_orientation = 1;
}

/* ---- decoding ----------------------------------------------------------- */

static tg_image *image_new(int w, int h)
{
    tg_image *img = calloc(1, sizeof *img);
    if (!img) return NULL;
    img->w = w;
    img->h = h;
    img->orientation = 1;
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img->rgb) {
        free(img);
        return NULL;
    }
    return img;
}

/* Apply EXIF orientation o (2..8) as PIL's ImageOps.exif_transpose does:
 * 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
 * 6 ROTATE_270 (90 deg clockwise), 7 TRANSVERSE, 8 ROTATE_90 (90 deg
 * counter-clockwise). For each output pixel (x, y) we fetch input (sx, sy). */
static tg_image *orient(const tg_image *in, int o)
{
    int w = in->w, h = in->h;
    int swap = o >= 5;
    int ow = swap ? h : w, oh = swap ? w : h;
    tg_image *out = image_new(ow, oh);
    if (!out) return NULL;
    for (int y = 0; y < oh; y++) {
        unsigned char *d = out->rgb + (size_t)y * ow * 3;
        for (int x = 0; x < ow; x++, d += 3) {
            int sx, sy;
            switch (o) {
            case 2: sx = w - 1 - x; sy = y; break;
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;
            case 4: sx = x; sy = h - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = h - 1 - x; break;
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;
            case 8: sx = w - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            memcpy(d, in->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    out->orientation = in->orientation;
    return out;
}

enum { LAYOUT_RGB, LAYOUT_GREY, LAYOUT_PALETTE };

static int band_nbits(GDALRasterBandH b, int dflt)
{
    const char *s = GDALGetMetadataItem(b, "NBITS", "IMAGE_STRUCTURE");
    int n = s ? atoi(s) : 0;
    return n >= 1 && n <= dflt ? n : dflt;
}

static int decode(tg_ctx *ctx, tg_photo_src *src, const tg_image_opts *opts, tg_image **out)
{
    GDALDatasetH ds = src->ds;
    tg_image *img = NULL;
    unsigned char *lut = NULL; /* sample value -> u8 (or -> RGB triple for a palette) */
    void *chunk = NULL;
    int rc = TG_OK;
    tg_gdal_log log;
    tg_gdal_log_push(&log);

    int w = GDALGetRasterXSize(ds), h = GDALGetRasterYSize(ds);
    int nb = GDALGetRasterCount(ds);
    if (w < 1 || h < 1 || nb < 1) {
        rc = tg_set_error(ctx, TG_EIMAGE, "%s: has no pixels (no bands, or a width or height of 0)",
                          src->label);
        goto fail;
    }
    long long limit = opts->max_pixels > 0 ? opts->max_pixels : tg_image_max_pixels();
    if ((long long)w * h > limit) {
        /* Not its width and height: numbers read from the file (photo
         * messages show nothing the file holds; gdalinfo tells its size). */
        rc = tg_set_error(ctx, TG_EIMAGE,
                          "%s: has more pixels than the limit of %lld pixels "
                          "(decompression-bomb guard; raise it with tg_image_opts.max_pixels "
                          "or tg_image_set_max_pixels if the image is genuine)",
                          src->label, limit);
        goto fail;
    }

    /* Choose the bands. */
    int map[3] = {1, 1, 1}, layout = LAYOUT_GREY;
    int r = 0, g = 0, b = 0;
    for (int i = 1; i <= nb; i++) {
        GDALColorInterp ci = GDALGetRasterColorInterpretation(GDALGetRasterBand(ds, i));
        if (ci == GCI_RedBand && !r) r = i;
        if (ci == GCI_GreenBand && !g) g = i;
        if (ci == GCI_BlueBand && !b) b = i;
    }
    GDALRasterBandH b1 = GDALGetRasterBand(ds, 1);
    GDALColorInterp ci1 = GDALGetRasterColorInterpretation(b1);
    GDALColorTableH ct = ci1 == GCI_PaletteIndex ? GDALGetRasterColorTable(b1) : NULL;
    if (r && g && b) {
        layout = LAYOUT_RGB; map[0] = r; map[1] = g; map[2] = b;
    } else if (ct) {
        layout = LAYOUT_PALETTE;
    } else if (ci1 == GCI_CyanBand || ci1 == GCI_YCbCr_YBand || ci1 == GCI_HueBand) {
        rc = tg_set_error(ctx, TG_EIMAGE, "%s: colour model %s is not supported; convert it to RGB first "
                          "(e.g. gdal_translate -co PHOTOMETRIC=RGB)",
                          src->label, GDALGetColorInterpretationName(ci1));
        goto fail;
    } else if (nb >= 3) {
        layout = LAYOUT_RGB; map[0] = 1; map[1] = 2; map[2] = 3;
    }
    int nused = layout == LAYOUT_RGB ? 3 : 1;

    GDALDataType dt = GDALGetRasterDataType(GDALGetRasterBand(ds, map[0]));
    for (int i = 1; i < nused; i++) {
        if (GDALGetRasterDataType(GDALGetRasterBand(ds, map[i])) != dt) {
            rc = tg_set_error(ctx, TG_EIMAGE, "%s: bands %d and %d have different data types",
                              src->label, map[0], map[i]);
            goto fail;
        }
    }
    if (dt != GDT_Byte && dt != GDT_UInt16) {
        rc = tg_set_error(ctx, TG_EIMAGE, "%s: data type %s is not supported for photos (Byte or UInt16); "
                          "convert it first, e.g. gdal_translate -ot Byte -scale",
                          src->label, GDALGetDataTypeName(dt));
        goto fail;
    }
    int nbits = band_nbits(GDALGetRasterBand(ds, map[0]), dt == GDT_Byte ? 8 : 16);

    img = image_new(w, h);
    if (!img) {
        rc = tg_set_error(ctx, TG_ENOMEM, "%s: cannot allocate its RGB pixels", src->label);
        goto fail;
    }

    CPLErr err = CE_None;
    if (layout == LAYOUT_RGB && dt == GDT_Byte && nbits == 8) {
        /* Common case: straight into the interleaved result. */
        err = GDALDatasetRasterIO(ds, GF_Read, 0, 0, w, h, img->rgb, w, h, GDT_Byte, 3, map,
                                  3, (GSpacing)w * 3, 1);
    } else {
        /* Sample -> u8 lookup table; a chunk of rows at a time keeps the
         * temporary small (16-bit data would double the memory otherwise). */
        size_t nvals = dt == GDT_Byte ? 256 : 65536;
        size_t ssize = dt == GDT_Byte ? 1 : 2;
        lut = malloc(nvals * 3);
        if (!lut) {
            rc = tg_set_error(ctx, TG_ENOMEM, "%s: out of memory", src->label);
            goto fail;
        }
        if (layout == LAYOUT_PALETTE) {
            int nct = GDALGetColorEntryCount(ct);
            int grey = GDALGetPaletteInterpretation(ct) == GPI_Gray;
            for (size_t v = 0; v < nvals; v++) {
                GDALColorEntry e = {0, 0, 0, 0};
                if ((int)v < nct) GDALGetColorEntryAsRGB(ct, (int)v, &e);
                if (grey) e.c2 = e.c3 = e.c1;
                lut[v * 3 + 0] = (unsigned char)(e.c1 < 0 ? 0 : e.c1 > 255 ? 255 : e.c1);
                lut[v * 3 + 1] = (unsigned char)(e.c2 < 0 ? 0 : e.c2 > 255 ? 255 : e.c2);
                lut[v * 3 + 2] = (unsigned char)(e.c3 < 0 ? 0 : e.c3 > 255 ? 255 : e.c3);
            }
        } else {
            unsigned maxv = (1u << nbits) - 1;
            for (size_t v = 0; v < nvals; v++) {
                unsigned s = v > maxv ? maxv : (unsigned)v, o;
                if (nbits < 8) o = (s * 255 + maxv / 2) / maxv; /* exact for 1/2/4 bits */
                else o = s >> (nbits - 8);                       /* high byte, as PIL */
                lut[v * 3] = (unsigned char)o;
            }
        }
        int rows = (int)(((size_t)1 << 22) / ((size_t)w * nused * ssize));
        if (rows < 1) rows = 1;
        if (rows > h) rows = h;
        chunk = malloc((size_t)w * rows * nused * ssize);
        if (!chunk) {
            rc = tg_set_error(ctx, TG_ENOMEM, "%s: out of memory", src->label);
            goto fail;
        }
        GDALDataType bt = dt == GDT_Byte ? GDT_Byte : GDT_UInt16;
        for (int y0 = 0; y0 < h && err == CE_None; y0 += rows) {
            int nr = h - y0 < rows ? h - y0 : rows;
            err = GDALDatasetRasterIO(ds, GF_Read, 0, y0, w, nr, chunk, w, nr, bt, nused, map,
                                      (GSpacing)(nused * ssize), (GSpacing)w * nused * ssize,
                                      (GSpacing)ssize);
            if (err != CE_None) break;
            size_t nsamp = (size_t)w * nr * nused;
            unsigned char *d = img->rgb + (size_t)y0 * w * 3;
            const unsigned char *c8 = chunk;
            const uint16_t *c16 = chunk;
            if (layout == LAYOUT_RGB) {
                for (size_t i = 0; i < nsamp; i++) d[i] = lut[(ssize == 1 ? c8[i] : c16[i]) * 3];
            } else if (layout == LAYOUT_GREY) {
                for (size_t i = 0; i < nsamp; i++, d += 3)
                    d[0] = d[1] = d[2] = lut[(ssize == 1 ? c8[i] : c16[i]) * 3];
            } else {
                for (size_t i = 0; i < nsamp; i++, d += 3)
                    memcpy(d, lut + (size_t)(ssize == 1 ? c8[i] : c16[i]) * 3, 3);
            }
        }
    }
    if (err != CE_None) {
        /* GDAL's and the codec's text is not appended: it may quote the
         * file's bytes (libjpeg prints marker bytes, libpng chunk names). */
        rc = tg_set_error(ctx, TG_EIMAGE, "%s: cannot decode the pixels (corrupt or truncated file?)",
                          src->label);
        goto fail;
    }
    if (log.truncated) {
        rc = tg_set_error(ctx, TG_EIMAGE, "%s: the file is truncated (the image data ends early)",
                          src->label);
        goto fail;
    }

    /* HEIF: libheif already applies the container's irot/imir transforms, and
     * HEIF writers are told to leave EXIF Orientation as a hint only. */
    if (strcmp(GDALGetDriverShortName(GDALGetDatasetDriver(ds)), "HEIF") != 0)
        img->orientation = tg_exif_orientation_src(src);
    if (opts->apply_orientation && img->orientation > 1) {
        tg_image *o = orient(img, img->orientation);
        if (!o) {
            rc = tg_set_error(ctx, TG_ENOMEM, "%s: out of memory applying EXIF orientation", src->label);
            goto fail;
        }
        tg_image_free(img);
        img = o;
    }
    *out = img;
    img = NULL;
fail:
    tg_gdal_log_pop();
    free(chunk);
    free(lut);
    tg_image_free(img);
    return rc;
}

static int load_any(tg_ctx *ctx, const char *path, const void *buf, size_t n,
                    const tg_image_opts *opts, tg_image **out)
{
    if (out) *out = NULL;
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_image_load: out is NULL");
    tg_image_opts dflt;
    if (!opts) {
        tg_image_opts_default(&dflt);
        opts = &dflt;
    }
    tg_photo_src src;
    int rc = tg_photo_src_open(ctx, path, buf, n, &src);
    if (rc) return rc;
    rc = decode(ctx, &src, opts, out);
    tg_photo_src_close(&src);
    return rc;
}

int tg_image_load_ex(tg_ctx *ctx, const char *path, const tg_image_opts *opts, tg_image **out)
{
    if (!path) {
        if (out) *out = NULL;
        return tg_set_error(ctx, TG_EINVAL, "tg_image_load: path is NULL");
    }
    return load_any(ctx, path, NULL, 0, opts, out);
}

int tg_image_load_mem_ex(tg_ctx *ctx, const void *buf, size_t n, const tg_image_opts *opts,
                         tg_image **out)
{
    if (!buf && n) {
        if (out) *out = NULL;
        return tg_set_error(ctx, TG_EINVAL, "tg_image_load_mem: buffer is NULL");
    }
    return load_any(ctx, NULL, buf ? buf : "", n, opts, out);
}

int tg_image_load(tg_ctx *ctx, const char *path, tg_image **out)
{
    return tg_image_load_ex(ctx, path, NULL, out);
}

int tg_image_load_mem(tg_ctx *ctx, const void *buf, size_t n, tg_image **out)
{
    return tg_image_load_mem_ex(ctx, buf, n, NULL, out);
}

int tg_image_from_rgb8(tg_ctx *ctx, const unsigned char *rgb, int w, int h, tg_image **out)
{
    if (out) *out = NULL;
    if (!out || !rgb) return tg_set_error(ctx, TG_EINVAL, "tg_image_from_rgb8: NULL argument");
    if (w < 1 || h < 1)
        return tg_set_error(ctx, TG_EINVAL, "tg_image_from_rgb8: size %d x %d: both must be >= 1", w, h);
    if ((size_t)w > SIZE_MAX / 3 / (size_t)h)
        return tg_set_error(ctx, TG_EINVAL, "tg_image_from_rgb8: size %d x %d is too large", w, h);
    tg_image *img = image_new(w, h);
    if (!img) return tg_set_error(ctx, TG_ENOMEM, "tg_image_from_rgb8: cannot allocate %d x %d RGB", w, h);
    memcpy(img->rgb, rgb, (size_t)w * h * 3);
    *out = img;
    return TG_OK;
}

int tg_image_width(const tg_image *img) { return img ? img->w : 0; }
int tg_image_height(const tg_image *img) { return img ? img->h : 0; }
const unsigned char *tg_image_data(const tg_image *img) { return img ? img->rgb : NULL; }
int tg_image_orientation(const tg_image *img) { return img ? img->orientation : 1; }

void tg_image_free(tg_image *img)
{
    if (!img) return;
    free(img->rgb);
    free(img);
}

/* ---- Pillow-exact bilinear resize ---------------------------------------
 *
 * Pillow 9.4 libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
 * ImagingResample{Horizontal,Vertical}_8bpc, ImagingResampleInner), restated:
 *   scale = in/out; filterscale = max(scale, 1); support = 1 * filterscale
 *   (the triangle's radius, widened when shrinking: antialiasing);
 *   ksize = 2*ceil(support) + 1 taps at most.
 *   Output pixel i has centre c = (i + 0.5) * scale in input coordinates and
 *   takes inputs xmin = (int)(c - support + 0.5) clamped to >= 0, up to
 *   (int)(c + support + 0.5) clamped to <= in (exclusive), weights
 *   tri((x - c + 0.5) / filterscale) with tri(t) = max(0, 1 - |t|),
 *   normalised to sum 1 in double, then rounded half away from zero to
 *   fixed point with 22 fraction bits (PRECISION_BITS = 32 - 8 - 2).
 *   A pass sums pixel * weight in int with 2^21 (one half) added and keeps
 *   (sum >> 22) clamped to 0..255, i.e. every pass rounds to u8.
 *   Horizontal pass first, over input rows [first row used by the vertical
 *   pass, last row used); vertical pass second; a pass whose size does not
 *   change is skipped.
 */
#define PREC_BITS 22

typedef struct coeffs {
    int ksize;      /* taps per output pixel (stride of k) */
    int *bounds;    /* [2*out]: first input index, number of taps */
    int32_t *k;     /* [out*ksize] fixed-point weights */
} coeffs;

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->k);
    c->bounds = NULL;
    c->k = NULL;
}

static double tri(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int coeffs_make(int in_size, int out_size, coeffs *c)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)out_size);
    c->k = calloc((size_t)out_size * (size_t)c->ksize, sizeof(int32_t));
    double *w = malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->bounds || !c->k || !w) {
        free(w);
        coeffs_free(c);
        return TG_ENOMEM;
    }
    double ss = 1.0 / filterscale;
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = tri((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)i * c->ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            double f = v * (1 << PREC_BITS);
            k[x] = (int32_t)(v < 0 ? -0.5 + f : 0.5 + f);
        }
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = xmax;
    }
    free(w);
    return TG_OK;
}

static inline unsigned char clip8(int32_t v)
{
    v >>= PREC_BITS; /* arithmetic shift: floor, as Pillow's lookup table index */
    return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Resize interleaved RGB src (sw x sh) into dst (dw x dh). */
static int resize_rgb(const unsigned char *src, int sw, int sh, unsigned char *dst, int dw, int dh)
{
    const int32_t half = 1 << (PREC_BITS - 1);
    int need_h = dw != sw, need_v = dh != sh;
    coeffs cv = {0, NULL, NULL}, ch = {0, NULL, NULL};
    unsigned char *tmp = NULL;
    int32_t *acc = NULL;
    int rc = TG_ENOMEM;

    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return TG_OK;
    }
    if (coeffs_make(sh, dh, &cv)) goto done;
    int first = cv.bounds[0];
    int last = cv.bounds[2 * dh - 2] + cv.bounds[2 * dh - 1];

    const unsigned char *vin = src; /* input of the vertical pass */
    int vin_w = sw;
    if (need_h) {
        if (coeffs_make(sw, dw, &ch)) goto done;
        int rows = last - first;
        unsigned char *hout = need_v ? (tmp = malloc((size_t)dw * rows * 3)) : dst;
        if (!hout) goto done;
        for (int y = 0; y < rows; y++) {
            const unsigned char *in = src + (size_t)(y + first) * sw * 3;
            unsigned char *o = hout + (size_t)y * dw * 3;
            for (int x = 0; x < dw; x++, o += 3) {
                int xmin = ch.bounds[2 * x], n = ch.bounds[2 * x + 1];
                const int32_t *k = ch.k + (size_t)x * ch.ksize;
                const unsigned char *p = in + (size_t)xmin * 3;
                int32_t s0 = half, s1 = half, s2 = half;
                for (int i = 0; i < n; i++, p += 3) {
                    s0 += p[0] * k[i];
                    s1 += p[1] * k[i];
                    s2 += p[2] * k[i];
                }
                o[0] = clip8(s0);
                o[1] = clip8(s1);
                o[2] = clip8(s2);
            }
        }
        /* The vertical pass indexes rows of this buffer, which start at `first`. */
        for (int y = 0; y < dh; y++) cv.bounds[2 * y] -= first;
        vin = hout;
        vin_w = dw;
    }
    if (need_v) {
        /* Row at a time: acc[x] += row[x] * k for each tap, sequential in
         * memory. Integer sums, so the order does not change the result. */
        size_t stride = (size_t)vin_w * 3;
        acc = malloc(stride * sizeof *acc);
        if (!acc) goto done;
        for (int y = 0; y < dh; y++) {
            int ymin = cv.bounds[2 * y], n = cv.bounds[2 * y + 1];
            const int32_t *k = cv.k + (size_t)y * cv.ksize;
            for (size_t x = 0; x < stride; x++) acc[x] = half;
            for (int i = 0; i < n; i++) {
                const unsigned char *row = vin + (size_t)(ymin + i) * stride;
                int32_t ki = k[i];
                for (size_t x = 0; x < stride; x++) acc[x] += row[x] * ki;
            }
            unsigned char *o = dst + (size_t)y * dw * 3;
            for (size_t x = 0; x < stride; x++) o[x] = clip8(acc[x]);
        }
    }
    rc = TG_OK;
done:
    free(acc);
    free(tmp);
    coeffs_free(&cv);
    coeffs_free(&ch);
    return rc;
}

#define RESIZE_MAX 65535

int tg_image_resize(tg_ctx *ctx, const tg_image *img, int out_w, int out_h, tg_image **out)
{
    if (out) *out = NULL;
    if (!img || !out) return tg_set_error(ctx, TG_EINVAL, "tg_image_resize: NULL argument");
    if (out_w < 1 || out_h < 1 || out_w > RESIZE_MAX || out_h > RESIZE_MAX)
        return tg_set_error(ctx, TG_EINVAL, "tg_image_resize: output size %d x %d: expected 1..%d each",
                            out_w, out_h, RESIZE_MAX);
    tg_image *r = image_new(out_w, out_h);
    if (!r) return tg_set_error(ctx, TG_ENOMEM, "tg_image_resize: cannot allocate %d x %d RGB", out_w, out_h);
    r->orientation = img->orientation;
    if (resize_rgb(img->rgb, img->w, img->h, r->rgb, out_w, out_h)) {
        tg_image_free(r);
        return tg_set_error(ctx, TG_ENOMEM, "tg_image_resize: out of memory resizing %d x %d to %d x %d",
                            img->w, img->h, out_w, out_h);
    }
    *out = r;
    return TG_OK;
}

int tg_image_to_tensor(tg_ctx *ctx, const tg_image *img, int out_h, int out_w,
                       const float mean[3], const float std[3], float *dst)
{
    if (!img || !mean || !std || !dst)
        return tg_set_error(ctx, TG_EINVAL, "tg_image_to_tensor: NULL argument");
    if (out_w < 1 || out_h < 1 || out_w > RESIZE_MAX || out_h > RESIZE_MAX)
        return tg_set_error(ctx, TG_EINVAL, "tg_image_to_tensor: output size %d x %d (H x W): expected 1..%d each",
                            out_h, out_w, RESIZE_MAX);
    for (int c = 0; c < 3; c++) {
        if (!(std[c] != 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
            return tg_set_error(ctx, TG_EINVAL, "tg_image_to_tensor: channel %d: mean %g, std %g: "
                                "std must be non-zero and both finite", c, (double)mean[c], (double)std[c]);
    }
    size_t plane = (size_t)out_w * out_h;
    unsigned char *u8 = malloc(plane * 3);
    if (!u8 || resize_rgb(img->rgb, img->w, img->h, u8, out_w, out_h)) {
        free(u8);
        return tg_set_error(ctx, TG_ENOMEM, "tg_image_to_tensor: out of memory resizing %d x %d to %d x %d",
                            img->w, img->h, out_w, out_h);
    }
    /* torchvision ToTensor: float32(u8) / 255 (a float32 division, not a
     * multiply by 1/255); Normalize: (x - mean) / std in float32. */
    for (int c = 0; c < 3; c++) {
        float m = mean[c], s = std[c];
        float *d = dst + c * plane;
        const unsigned char *p = u8 + c;
        for (size_t i = 0; i < plane; i++, p += 3) {
            float x = (float)*p / 255.0f;
            d[i] = (x - m) / s;
        }
    }
    free(u8);
    return TG_OK;
}
