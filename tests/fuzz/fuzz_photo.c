/*
 * fuzz_photo.c - photo decoding and photo metadata on arbitrary bytes, as an
 * SQL BLOB would bring them: tg_image_load_mem_ex (GDAL JPEG/PNG/TIFF/WebP/
 * GIF/BMP/... via /vsimem/, EXIF orientation, the decompression-bomb limit)
 * and tg_photo_meta_read_mem (the raw EXIF/TIFF IFD reader, XMP, Mapillary
 * JSON). Decoded images are also resized and turned into a model tensor.
 *
 * Checked: errors follow the contract (fuzz_common.h); a decoded image has
 * 1 <= w, h and w*h <= the pixel limit (256 K px here, so that the fuzzer
 * does not spend its time decoding big pictures: the limit itself is the
 * thing being tested); metadata values are in their documented ranges
 * (|lat| <= 90, |lon| <= 180, heading in [0, 360), orientation 1..8,
 * projection NUL-terminated).
 *
 * Seeds: tests/fuzz/corpus/photo (the shared photos with corrupt EXIF, and
 * small JPEG/PNG/WebP/TIFF/GIF/BMP files with GPS, XMP and Mapillary JSON).
 */
#include "config.h"

#include <math.h>

#include "transgeo/exif.h"
#include "fuzz_common.h"
#include "transgeo/image.h"

#define MAX_PIXELS (1 << 18)

static tg_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_ctx();
    fuzz_gdal_setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_image_opts o;
    tg_image_opts_default(&o);
    o.max_pixels = MAX_PIXELS;
    tg_image *img = NULL;
    tg_clear_error(ctx);
    int rc = tg_image_load_mem_ex(ctx, data, size, &o, &img);
    fuzz_check(ctx, rc, "tg_image_load_mem_ex");
    if (rc == 0) {
        int w = tg_image_width(img), h = tg_image_height(img);
        FUZZ_ASSERT(w >= 1 && h >= 1 && (long long)w * h <= MAX_PIXELS, "image %dx%d", w, h);
        int orient = tg_image_orientation(img);
        FUZZ_ASSERT(orient >= 1 && orient <= 8, "orientation %d", orient);
        const unsigned char *px = tg_image_data(img);
        volatile unsigned acc = px[0] + px[(size_t)w * h * 3 - 1];
        (void)acc;
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
        float x[3 * 5 * 7];
        tg_clear_error(ctx);
        rc = tg_image_to_tensor(ctx, img, 5, 7, mean, sd, x);
        fuzz_check(ctx, rc, "tg_image_to_tensor");
        for (int i = 0; rc == 0 && i < 3 * 5 * 7; i++) FUZZ_ASSERT(isfinite(x[i]), "tensor[%d]", i);
        tg_image *r = NULL;
        tg_clear_error(ctx);
        rc = tg_image_resize(ctx, img, 1 + (int)(size % 23), 1 + (int)(size % 7), &r);
        fuzz_check(ctx, rc, "tg_image_resize");
        tg_image_free(r);
        tg_image_free(img);
    } else {
        FUZZ_ASSERT(img == NULL, "failed load left *out set");
    }

    tg_photo_meta m;
    tg_clear_error(ctx);
    rc = tg_photo_meta_read_mem(ctx, data, size, &m);
    fuzz_check(ctx, rc, "tg_photo_meta_read_mem");
    FUZZ_ASSERT(m.orientation >= 1 && m.orientation <= 8, "meta orientation %d", m.orientation);
    if (m.has_gps)
        FUZZ_ASSERT(isfinite(m.lat_deg) && isfinite(m.lon_deg) && fabs(m.lat_deg) <= 90 &&
                        fabs(m.lon_deg) <= 180,
                    "position %g %g", m.lat_deg, m.lon_deg);
    if (m.has_alt) FUZZ_ASSERT(isfinite(m.alt_m), "altitude %g", m.alt_m);
    if (m.has_heading)
        FUZZ_ASSERT(m.heading_deg >= 0 && m.heading_deg < 360, "heading %g", m.heading_deg);
    FUZZ_ASSERT(memchr(m.projection, 0, sizeof m.projection) != NULL, "projection not terminated");
    return 0;
}
