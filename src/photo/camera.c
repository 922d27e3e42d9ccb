/* camera.c - the camera model of a photo (see include/transgeo/camera.h). */
#include "config.h"
#include "transgeo/camera.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEG (M_PI / 180.0)
/* Half the diagonal of the 36 x 24 mm frame: sqrt(36^2 + 24^2) / 2 mm. The
 * 35 mm equivalent focal length is defined on the diagonal (EXIF 2.32,
 * FocalLengthIn35mmFilm; CIPA DC-008). */
#define HALF_DIAG_35MM 21.6333

const char *tg_camera_source_name(int source)
{
    switch (source) {
    case TG_CAMERA_DEFAULT: return "default";
    case TG_CAMERA_EXIF35: return "exif-35mm";
    case TG_CAMERA_EXIF_FOCAL: return "exif-focal";
    case TG_CAMERA_GPANO: return "gpano";
    case TG_CAMERA_USER: return "user";
    default: return "?";
    }
}

int tg_camera_check_fov(tg_ctx *ctx, double fov_deg)
{
    if (isnan(fov_deg)) return TG_OK;
    if (!isfinite(fov_deg) || fov_deg <= 0 || fov_deg > 360 || (fov_deg >= 180 && fov_deg < 360))
        return tg_set_error(ctx, TG_EINVAL,
                            "field of view %g degrees: expected a perspective photo's (more than "
                            "0 and under 180) or 360 for an equirectangular panorama",
                            fov_deg);
    return TG_OK;
}

/* Append one reason to the note ("; " between reasons, truncated to fit). */
static void note(tg_camera *cam, const char *fmt, ...)
{
    size_t l = strlen(cam->note);
    if (l + 3 >= sizeof cam->note) return;
    if (l) {
        memcpy(cam->note + l, "; ", 3);
        l += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cam->note + l, sizeof cam->note - l, fmt, ap);
    va_end(ap);
}

/* A perspective answer from a horizontal field of view (degrees) and the
 * image's aspect; 0, or -1 when it is not a pinhole's (0, 180). */
static int perspective(tg_camera *cam, double hfov, int w, int h, int source)
{
    if (!(hfov > 0 && hfov < 180)) return -1;
    cam->projection = TG_PROJ_PERSPECTIVE;
    cam->hfov_deg = hfov;
    cam->vfov_deg = 2 * atan(tan(hfov * DEG / 2) * h / w) / DEG;
    cam->elev_top_deg = cam->vfov_deg / 2;
    cam->elev_bottom_deg = -cam->vfov_deg / 2;
    cam->source = source;
    return 0;
}

static void equirect(tg_camera *cam, double hfov, double top, double bottom, int source)
{
    cam->projection = TG_PROJ_EQUIRECT;
    cam->hfov_deg = hfov;
    cam->elev_top_deg = top;
    cam->elev_bottom_deg = bottom;
    cam->vfov_deg = top - bottom;
    cam->source = source;
}

/* Millimetres per FocalPlaneResolutionUnit (EXIF: 2 inch, 3 cm, 4 mm, 5 um;
 * 1 "no absolute unit" gives no size). */
static double unit_mm(int u)
{
    switch (u) {
    case 2: return 25.4;
    case 3: return 10.0;
    case 4: return 1.0;
    case 5: return 0.001;
    default: return 0.0;
    }
}

static int from_gpano(tg_camera *cam, const tg_photo_meta *m, int w, int h)
{
    if (!m->is_panorama) return -1;
    if (!m->has_gpano_size) {
        equirect(cam, 360.0, 90.0, -90.0, TG_CAMERA_GPANO); /* a full sphere */
    } else {
        int fw = m->gpano_full_w, fh = m->gpano_full_h, cw = m->gpano_crop_w,
            ch = m->gpano_crop_h, top = m->gpano_top;
        double a_img = (double)w / h, a_crop = (double)cw / ch;
        if (cw > fw || ch > fh || top + ch > fh) {
            note(cam, "GPano cropped area %dx%d at top %d does not fit the full panorama %dx%d: "
                      "ignored", cw, ch, top, fw, fh);
            return -1;
        }
        /* Resized copies keep their XMP: compare shapes, not pixel counts. */
        if (fabs(a_crop / a_img - 1.0) > 0.02) {
            note(cam, "GPano cropped area %dx%d contradicts the image's %dx%d: ignored", cw, ch, w,
                 h);
            return -1;
        }
        equirect(cam, 360.0 * cw / fw, 90.0 - 180.0 * top / fh, 90.0 - 180.0 * (top + ch) / fh,
                 TG_CAMERA_GPANO);
    }
    if (m->has_pose_pitch) cam->pitch_deg = m->pose_pitch_deg;
    if (m->has_pose_roll) cam->roll_deg = m->pose_roll_deg;
    /* the canvas levels perspective photos only (docs/ground-canvas.md) */
    if (cam->pitch_deg != 0 || cam->roll_deg != 0)
        note(cam, "GPano pose pitch %g, roll %g of an equirectangular image: not applied (it is "
                  "used as level)", cam->pitch_deg, cam->roll_deg);
    return 0;
}

int tg_camera_from_meta(tg_ctx *ctx, const tg_photo_meta *m, int w, int h, double user_fov_deg,
                        tg_camera *cam)
{
    if (!cam) return tg_set_error(ctx, TG_EINVAL, "tg_camera_from_meta: cam is NULL");
    memset(cam, 0, sizeof *cam);
    if (w < 1 || h < 1)
        return tg_set_error(ctx, TG_EINVAL, "camera: image size %dx%d: expected at least 1x1", w,
                            h);
    int rc = tg_camera_check_fov(ctx, user_fov_deg);
    if (rc) return rc;
    if (m) {
        /* 1. 35 mm equivalent, on the diagonal. */
        if (m->has_focal35 && m->focal35_mm > 0) {
            double half = HALF_DIAG_35MM * w / sqrt((double)w * w + (double)h * h);
            double hfov = 2 * atan(half / m->focal35_mm) / DEG;
            if (!perspective(cam, hfov, w, h, TG_CAMERA_EXIF35)) return TG_OK;
            note(cam, "FocalLengthIn35mmFilm %g mm gives %.1f degrees: ignored", m->focal35_mm,
                 hfov);
        } else if (m->has_focal35) {
            note(cam, "FocalLengthIn35mmFilm is 0 (unknown): ignored");
        }
        /* 2. Focal length and the sensor's size from the focal plane resolution. */
        double um = unit_mm(m->fp_unit);
        if (m->focal_mm > 0 && m->fp_xres > 0 && m->fp_yres > 0 && um > 0) {
            int swap = m->orientation >= 5 && m->orientation <= 8; /* stored sideways */
            int sw = swap ? h : w, sh = swap ? w : h;               /* as stored */
            int cw = m->exif_w > 0 && m->exif_h > 0 ? m->exif_w : sw;
            int ch = m->exif_w > 0 && m->exif_h > 0 ? m->exif_h : sh;
            double sensor_x = cw / m->fp_xres * um, sensor_y = ch / m->fp_yres * um;
            double s_up = swap ? sensor_y : sensor_x; /* the upright image's width */
            double hfov = 2 * atan(s_up / (2 * m->focal_mm)) / DEG;
            if (!perspective(cam, hfov, w, h, TG_CAMERA_EXIF_FOCAL)) return TG_OK;
            note(cam, "FocalLength %g mm on a %.2f mm wide sensor gives %.1f degrees: ignored",
                 m->focal_mm, s_up, hfov);
        } else if (m->focal_mm > 0) {
            note(cam, "FocalLength %g mm without the sensor's size (FocalPlane resolution): "
                      "ignored", m->focal_mm);
        }
        /* 3. GPano. */
        if (!from_gpano(cam, m, w, h)) return TG_OK;
    }
    /* 4. The user's value. */
    if (!isnan(user_fov_deg)) {
        if (user_fov_deg == 360.0) equirect(cam, 360.0, 90.0, -90.0, TG_CAMERA_USER);
        else perspective(cam, user_fov_deg, w, h, TG_CAMERA_USER); /* checked above */
        return TG_OK;
    }
    /* 5. The default. */
    if (w >= 2 * h) equirect(cam, 360.0, 90.0, -90.0, TG_CAMERA_DEFAULT);
    else perspective(cam, TG_CAMERA_DEFAULT_HFOV, w, h, TG_CAMERA_DEFAULT);
    return TG_OK;
}
