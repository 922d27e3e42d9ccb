/* photo/exif_int.h - internal to libtransgeo (not installed): metadata of a
 * photo already opened as a tg_photo_src (base/gdal.h), so that image.c reads
 * the orientation from the same open file instead of opening it twice. */
#ifndef TG_PHOTO_EXIF_INT_H
#define TG_PHOTO_EXIF_INT_H

#include "base/gdal.h"
#include "transgeo/exif.h"

/* EXIF Orientation of an opened photo (1..8; 1 if absent or invalid). */
int tg_exif_orientation_src(const struct tg_photo_src *src);
/* Fill *out from an opened photo (never fails on bad metadata). */
int tg_photo_meta_from_src(tg_ctx *ctx, const struct tg_photo_src *src, tg_photo_meta *out);

#endif /* TG_PHOTO_EXIF_INT_H */
