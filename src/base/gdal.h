/* base/gdal.h - internal to libtransgeo (not installed): GDAL start-up once
 * per process, capture of GDAL/CPL messages on a thread (nothing printed), and
 * the photo source the photo layer opens files and buffers with.
 *
 *     tg_photo_src src;
 *     if (tg_photo_src_open(ctx, "IMG_0001.jpg", NULL, 0, &src)) return tg_errcode(ctx);
 *     ... GDAL calls on src.ds ...
 *     tg_photo_src_close(&src);
 *
 * Ownership: the caller owns a tg_photo_src between open and close; a
 * tg_gdal_log lives on the caller's stack between push and pop. */
#ifndef TG_BASE_GDAL_H
#define TG_BASE_GDAL_H

#include <stddef.h>

#include "transgeo/core.h"

/* A photo opened with GDAL, from a path or from memory (then `path` is a
 * private /vsimem/ name, removed by tg_photo_src_close). Used by image.c and
 * exif.c so that both open files the same way, with the same driver list and
 * the same messages. */
typedef struct tg_photo_src {
    void *ds;              /* GDALDatasetH, open */
    const char *gdal_path; /* what GDAL opened: the caller's path or vsimem below */
    char vsimem[64];       /* "/vsimem/..." when opened from memory, else "" */
    char label[512];       /* for messages: "image 'x.jpg'" or "image in memory (N bytes)" */
} tg_photo_src;
/* Capture GDAL/CPL messages raised on this thread between push and pop
 * (nothing is printed). The first failure and first warning are kept. */
typedef struct tg_gdal_log {
    char err[512];         /* first CE_Failure/CE_Fatal message, "" if none */
    char warn[512];        /* first CE_Warning message, "" if none */
    int truncated;         /* a libjpeg "Premature end of ..." warning was seen */
} tg_gdal_log;
void tg_gdal_log_push(tg_gdal_log *log);
void tg_gdal_log_pop(void);
/* GDALAllRegister() once per process (thread-safe). */
void tg_gdal_init(void);
/* Open (path != NULL) or (buf, n). Returns 0 or TG_EINVAL/TG_EIO/TG_EIMAGE
 * with ctx's message set; on failure src is closed already. */
int tg_photo_src_open(tg_ctx *ctx, const char *path, const void *buf, size_t n,
                      tg_photo_src *src);
void tg_photo_src_close(tg_photo_src *src);

#endif /* TG_BASE_GDAL_H */
