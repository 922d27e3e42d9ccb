/*
 * image.h - photo decoding (via GDAL) and the model's input preprocessing.
 *
 * A tg_image is an upright 8-bit RGB picture, row-major, interleaved
 * (R,G,B for pixel (0,0), then (1,0), ...; w*h*3 bytes, no row padding).
 *
 *     tg_image *img = NULL;
 *     if (tg_image_load(ctx, "IMG_0001.jpg", &img) != 0)
 *         fprintf(stderr, "%s\n", tg_errmsg(ctx));
 *     float *x = malloc(sizeof(float) * 3 * 112 * 616);
 *     static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
 *     tg_image_to_tensor(ctx, img, 112, 616, mean, std, x);   // CHW float32
 *     tg_image_free(img);
 *
 * Ownership: the caller owns a tg_image and frees it with tg_image_free (NULL
 * ok). Images are immutable once made, so one image may be read by several
 * threads at once; each thread brings its own tg_ctx.
 *
 * Decoding (tg_image_load*):
 *  - Formats: the GDAL drivers JPEG, PNG, GTiff, WEBP, GIF, BIGGIF, BMP,
 *    JP2OpenJPEG, PNM and HEIF (those compiled into the GDAL in use). Other
 *    GDAL drivers are refused on purpose: VRT and friends can reference other
 *    files, which an image handed in as a BLOB (SQL) must never do.
 *    A path is a GDAL path: /vsizip/, /vsigzip/ ... work.
 *  - Pixels: 3 bands with Red/Green/Blue colour interpretation (any order) are
 *    taken as RGB; otherwise bands 1,2,3 when there are 3 or more; 1 or 2 bands
 *    are grey (replicated; band 2, alpha, is dropped); a palette is expanded
 *    (its alpha dropped). An alpha band is always dropped, never blended: this
 *    is what PIL's Image.convert("RGB") does.
 *  - Sample depth: Byte with NBITS < 8 (1/2/4-bit PNG, TIFF) is stretched to
 *    0..255 (v * 255 / (2^NBITS - 1); PIL does the same). UInt16 keeps its
 *    high byte (v >> (NBITS - 8), NBITS = 16 unless the file says 12 etc.),
 *    which is what PIL does for 16-bit RGB PNG ("RGB;16B"); for 16-bit grey PIL
 *    would clip to 255 and we do not. Other data types (Int16, Float32, ...)
 *    are refused with TG_EIMAGE: convert them first (gdal_translate -ot Byte
 *    -scale).
 *  - Orientation: the EXIF Orientation tag (1..8; JPEG APP1, TIFF IFD0, PNG
 *    eXIf, WebP EXIF) is applied so that the pixels are upright, exactly as
 *    PIL's ImageOps.exif_transpose does. The official TransGeo loaders do not
 *    call exif_transpose; their datasets are all Orientation 1, so both agree
 *    there. Turn it off with tg_image_opts.apply_orientation = 0. (HEIF is
 *    left alone: libheif applies the container's rotation itself.)
 *  - Decompression-bomb guard: an image with more than max_pixels (w*h)
 *    pixels is refused from its header, before any pixel is decoded. The
 *    default is TG_IMAGE_MAX_PIXELS_DEFAULT (100 Mpx); change it per call with
 *    tg_image_opts, or for the whole process with tg_image_set_max_pixels().
 *  - A truncated JPEG is an error (libjpeg only warns "Premature end of JPEG
 *    file" and pads with grey; PIL also refuses truncated files). Other libjpeg
 *    warnings ("extraneous bytes before marker") are tolerated, as PIL does.
 *  - Errors: TG_EINVAL (NULL argument), TG_EIO (file missing, a directory,
 *    unreadable), TG_EIMAGE (empty, not an image, unsupported layout,
 *    truncated/corrupt, too many pixels), TG_ENOMEM. The message names the
 *    file (or "image in memory (N bytes)") and appends GDAL's own message.
 *  - The library never prints: GDAL messages are captured, not shown.
 *
 * Resizing (tg_image_resize, tg_image_to_tensor) reimplements Pillow's
 * Image.resize(size, Image.BILINEAR) for 8-bit images (libImaging/Resample.c,
 * Pillow 9.4): a triangle filter whose support grows with the downscale factor
 * (so shrinking is antialiased), separable, horizontal pass first (only over
 * the rows the vertical pass needs), then vertical; coefficients normalised
 * per output pixel and rounded to 22-bit fixed point; each pass rounds to
 * uint8. That is torchvision's Resize on a PIL image.
 * MEASURED against Pillow 9.4.0 (tests/test_image.c runs Pillow on the same
 * inputs, sizes as W x H): max |difference| = 0, bit-identical u8, on the
 * real photos 3264x2448 -> 616x112, 640x320, 256x256 and 3263x2447, and on
 * random images 61x97 -> 640x320 (upscale), 640x480 -> 7x5, 61x97 -> 200x20,
 * 1x1 -> 4x3, 333x1 -> 17x9, one-axis-only resizes, 32x28 -> 616x112; the
 * tensor (ToTensor + Normalize in float32, as torch does) is likewise 0 in
 * normalised units. Decoding (GDAL vs Pillow, same libjpeg-turbo/libpng/
 * libwebp) is identical too, for JPEG, PNG (RGB, grey, RGBA, palette, 1/4/16
 * bit), TIFF, WebP, GIF, BMP and all 8 EXIF orientations. Speed: on par with
 * Pillow (bench/image_bench.sh). JPEG reduced-resolution (DCT-scaled)
 * decoding is NOT used: it would change the pixels Pillow sees.
 */
#ifndef TG_IMAGE_H
#define TG_IMAGE_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_image tg_image;

/* Default decompression-bomb limit: 100 megapixels (w*h). */
#define TG_IMAGE_MAX_PIXELS_DEFAULT 100000000LL

/* Options for tg_image_load_ex / tg_image_load_mem_ex; fill with
 * tg_image_opts_default() and change what you need. */
typedef struct tg_image_opts {
    long long max_pixels;  /* refuse images with more than this many pixels (w*h), checked
                              from the header before decoding; default: the process-wide
                              value (tg_image_max_pixels(), initially 100 Mpx); <= 0 = default */
    int apply_orientation; /* 1 (default): apply EXIF Orientation so pixels are upright;
                              0: keep the stored pixel order */
} tg_image_opts;

/* [out] *opts = defaults (max_pixels = tg_image_max_pixels(), apply_orientation = 1). */
TG_API void tg_image_opts_default(tg_image_opts *opts);

/* Process-wide default pixel limit for tg_image_load / tg_image_load_mem and
 * tg_image_opts_default (thread-safe). n <= 0 restores
 * TG_IMAGE_MAX_PIXELS_DEFAULT. Prefer tg_image_opts in libraries. */
TG_API void tg_image_set_max_pixels(long long n);
TG_API long long tg_image_max_pixels(void);

/* Decode the image file at path (a GDAL path, UTF-8). [out] *out: a new image,
 * or NULL on failure (then ctx's message says why). */
TG_API int tg_image_load(tg_ctx *ctx, const char *path, tg_image **out);
/* Decode n bytes of an image file held in memory (e.g. an SQL BLOB). The
 * bytes are not copied nor kept; GDAL reads them through a /vsimem/ file with
 * a unique name that is always removed before returning. */
TG_API int tg_image_load_mem(tg_ctx *ctx, const void *buf, size_t n, tg_image **out);
/* The same with options (opts may be NULL for defaults). */
TG_API int tg_image_load_ex(tg_ctx *ctx, const char *path, const tg_image_opts *opts,
                            tg_image **out);
TG_API int tg_image_load_mem_ex(tg_ctx *ctx, const void *buf, size_t n,
                                const tg_image_opts *opts, tg_image **out);

/* Make an image from w*h*3 bytes of interleaved RGB (copied). w, h >= 1 and
 * w*h*3 must fit in memory (no pixel limit here: the caller has the pixels). */
TG_API int tg_image_from_rgb8(tg_ctx *ctx, const unsigned char *rgb, int w, int h,
                              tg_image **out);

TG_API int tg_image_width(const tg_image *img);   /* px, >= 1 (0 for NULL) */
TG_API int tg_image_height(const tg_image *img);  /* px, >= 1 (0 for NULL) */
TG_API const unsigned char *tg_image_data(const tg_image *img); /* w*h*3 bytes */
/* EXIF Orientation found in the file (1..8; 1 when absent or for
 * tg_image_from_rgb8); the pixels are already upright if it was applied. */
TG_API int tg_image_orientation(const tg_image *img);

/* Resize to out_w x out_h exactly as Pillow's Image.resize((out_w, out_h),
 * Image.BILINEAR) does for an RGB image (see the top of this file; measured
 * difference 0). out_w, out_h in 1..65535. [out] *out: a new image. */
TG_API int tg_image_resize(tg_ctx *ctx, const tg_image *img, int out_w, int out_h,
                           tg_image **out);

/* Model input: torchvision Resize((out_h, out_w)) on a PIL image (= the
 * resize above), ToTensor (u8 / 255 in float32) and Normalize(mean, std)
 * ((x - mean[c]) / std[c] in float32). [out] dst: float32 [3][out_h][out_w]
 * (CHW, channel c at dst + c*out_h*out_w), caller-allocated. std[c] must be
 * non-zero and finite. dst is unchanged on failure. Single-threaded. */
TG_API int tg_image_to_tensor(tg_ctx *ctx, const tg_image *img, int out_h, int out_w,
                              const float mean[3], const float std[3], float *dst);

/* Free an image. NULL is accepted. */
TG_API void tg_image_free(tg_image *img);


#ifdef __cplusplus
}
#endif
#endif /* TG_IMAGE_H */
