/* gdal.c - GDAL start-up, capture of GDAL's messages, and the photo source:
 * how the photo layer (image.c, exif.c) opens a file or a buffer with GDAL.
 * See base/gdal.h. */
#define _GNU_SOURCE 1 /* struct stat64 behind GDAL's VSIStatBufL */
#include "config.h"
#include "base/gdal.h"

#include <errno.h>
#include <limits.h>
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

static pthread_once_t gdal_once = PTHREAD_ONCE_INIT;
static void gdal_register(void) { GDALAllRegister(); }
void tg_gdal_init(void) { pthread_once(&gdal_once, gdal_register); }

static void CPL_STDCALL log_handler(CPLErr cls, CPLErrorNum no, const char *msg)
{
    (void)no;
    tg_gdal_log *log = CPLGetErrorHandlerUserData();
    if (!log || !msg) return;
    if (cls == CE_Failure || cls == CE_Fatal) {
        if (!log->err[0]) snprintf(log->err, sizeof log->err, "%s", msg);
    } else if (cls == CE_Warning) {
        if (!log->warn[0]) {
            /* Drop GDAL's hint "(this warning can be turned as an error by
             * setting GDAL_ERROR_ON_LIBJPEG_WARNING ...)": we already do. */
            const char *hint = strstr(msg, " (this warning can be turned");
            int n = hint ? (int)(hint - msg) : (int)strlen(msg);
            snprintf(log->warn, sizeof log->warn, "%.*s", n, msg);
        }
        /* libjpeg's JWRN_JPEG_EOF ("Premature end of JPEG file"): the data
         * stops early and libjpeg pads with grey. We treat it as an error. */
        if (strstr(msg, "Premature end of")) log->truncated = 1;
    }
}

void tg_gdal_log_push(tg_gdal_log *log)
{
    memset(log, 0, sizeof *log);
    CPLPushErrorHandlerEx(log_handler, log);
}

void tg_gdal_log_pop(void) { CPLPopErrorHandler(); }

/* Drivers accepted for photos. Deliberately not "any GDAL driver": VRT, the
 * text grids and many others can reference or read other files, which a BLOB
 * handed to SQL must never be able to do. */
static const char *const photo_drivers[] = {
    "JPEG", "PNG", "GTiff", "WEBP", "GIF", "BIGGIF", "BMP", "JP2OpenJPEG", "PNM", "HEIF", NULL
};
#define PHOTO_FORMATS "JPEG, PNG, TIFF, WebP, GIF, BMP, JPEG 2000, PNM, HEIF"

static int driver_allowed(const char *name)
{
    for (int i = 0; photo_drivers[i]; i++)
        if (strcmp(photo_drivers[i], name) == 0) return 1;
    return 0;
}

static unsigned long long vsimem_counter;

int tg_photo_src_open(tg_ctx *ctx, const char *path, const void *buf, size_t n,
                      tg_photo_src *src)
{
    memset(src, 0, sizeof *src);
    tg_gdal_init();
    if (path) {
        snprintf(src->label, sizeof src->label, "image '%s'", path);
        src->gdal_path = path;
        VSIStatBufL st;
        errno = 0;
        if (VSIStatExL(path, &st, VSI_STAT_EXISTS_FLAG | VSI_STAT_NATURE_FLAG | VSI_STAT_SIZE_FLAG) != 0) {
            int e = errno;
            if (e && e != ENOENT && e != ENOTDIR)
                return tg_set_error(ctx, TG_EIO, "%s: cannot open: %s", src->label, strerror(e));
            return tg_set_error(ctx, TG_EIO, "%s: cannot open: no such file (check the path)", src->label);
        }
        if (VSI_ISDIR(st.st_mode))
            return tg_set_error(ctx, TG_EIO, "%s: is a directory, not an image file", src->label);
        if (st.st_size == 0)
            return tg_set_error(ctx, TG_EIMAGE, "%s: file is empty (0 bytes), not an image", src->label);
        errno = 0;
        VSILFILE *fp = VSIFOpenL(path, "rb");
        if (!fp) {
            int e = errno;
            return tg_set_error(ctx, TG_EIO, "%s: cannot read: %s", src->label,
                                e ? strerror(e) : "unknown error");
        }
        VSIFCloseL(fp);
    } else {
        if (!buf && n) return tg_set_error(ctx, TG_EINVAL, "image in memory: buffer is NULL");
        snprintf(src->label, sizeof src->label, "image in memory (%zu bytes)", n);
        if (n == 0)
            return tg_set_error(ctx, TG_EIMAGE, "%s: buffer is empty, not an image", src->label);
        unsigned long long id = __atomic_add_fetch(&vsimem_counter, 1, __ATOMIC_RELAXED);
        snprintf(src->vsimem, sizeof src->vsimem, "/vsimem/transgeo_photo_%ld_%llu",
                 (long)getpid(), id);
        /* GDAL only reads the buffer (bTakeOwnership = FALSE; the dataset is
         * opened read-only), hence the cast. */
        VSILFILE *fp = VSIFileFromMemBuffer(src->vsimem, (GByte *)(uintptr_t)buf, (vsi_l_offset)n, FALSE);
        if (!fp) {
            src->vsimem[0] = '\0';
            return tg_set_error(ctx, TG_ENOMEM, "%s: cannot create a /vsimem/ file", src->label);
        }
        VSIFCloseL(fp);
        src->gdal_path = src->vsimem;
    }

    tg_gdal_log log;
    tg_gdal_log_push(&log);
    src->ds = GDALOpenEx(src->gdal_path, GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR,
                         photo_drivers, NULL, NULL);
    GDALDriverH other = NULL;
    if (!src->ds) other = GDALIdentifyDriverEx(src->gdal_path, GDAL_OF_RASTER, NULL, NULL);
    tg_gdal_log_pop();
    if (!src->ds) {
        if (other && !driver_allowed(GDALGetDriverShortName(other))) {
            tg_set_error(ctx, TG_EIMAGE, "%s: is a %s (%s) file, not a photo format accepted here (" PHOTO_FORMATS ")",
                         src->label, GDALGetDriverShortName(other), GDALGetDriverLongName(other));
        } else if (other) {
            /* GDAL's own text is not appended, here or below: a driver's
             * or codec's message may quote the file's bytes (libjpeg's
             * marker codes, libpng's chunk names, a header field), and a
             * photo message shows nothing the file holds. */
            tg_set_error(ctx, TG_EIMAGE, "%s: cannot be decoded as %s (corrupt or truncated?)",
                         src->label, GDALGetDriverShortName(other));
        } else {
            tg_set_error(ctx, TG_EIMAGE, "%s: not an image in a readable format (" PHOTO_FORMATS ")",
                         src->label);
        }
        tg_photo_src_close(src);
        return TG_EIMAGE;
    }
    return TG_OK;
}

void tg_photo_src_close(tg_photo_src *src)
{
    if (!src) return;
    if (src->ds) {
        tg_gdal_log log;
        tg_gdal_log_push(&log);
        GDALClose(src->ds);
        tg_gdal_log_pop();
        src->ds = NULL;
    }
    if (src->vsimem[0]) {
        VSIUnlink(src->vsimem);
        src->vsimem[0] = '\0';
    }
}
