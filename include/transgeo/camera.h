/*
 * camera.h - the camera model of a photo: its projection and field of view,
 * from the photo's own metadata, the user, or a documented default; the
 * input of the ground canvas (canvas.h, docs/ground-canvas.md).
 *
 *     tg_photo_meta meta;                        // exif.h
 *     tg_photo_meta_read(ctx, "IMG_0001.jpg", &meta);
 *     tg_camera cam;
 *     if (tg_camera_from_meta(ctx, &meta, 4032, 3024, NAN, &cam) == 0)
 *         printf("%.1f deg wide, from %s%s%s\n", cam.hfov_deg,
 *                tg_camera_source_name(cam.source), cam.note[0] ? ": " : "", cam.note);
 *
 * Sources, the first that gives a usable answer wins (each answer names it):
 *   1. exif-35mm  EXIF FocalLengthIn35mmFilm f35 (> 0): the 35 mm equivalent
 *      is defined on the frame diagonal (43.27 mm = the diagonal of 36 x 24 mm;
 *      CIPA DC-008 / EXIF 2.32 4.6.5), so for a w x h image
 *          hfov = 2 atan(21.635 * (w / sqrt(w^2 + h^2)) / f35).
 *   2. exif-focal EXIF FocalLength f with FocalPlaneX/YResolution (pixels per
 *      unit on the sensor, unit from FocalPlaneResolutionUnit: inch (default),
 *      cm, mm, um) and the image size at capture (PixelX/YDimension, else the
 *      stored image): sensor width = W_px / XRes * unit, hfov = 2 atan(sensor
 *      width / 2f). Axes follow the EXIF Orientation (5..8 swap them).
 *   3. gpano      XMP GPano on an equirectangular image: hfov = 360 * cropped
 *      width / full width, and the elevation of the top and bottom edges from
 *      the cropped area's top and height (the full height spans 180 degrees);
 *      pitch and roll from PosePitchDegrees / PoseRollDegrees (kept in the
 *      answer; the canvas does not re-level an equirectangular image, and the
 *      note says so when they are not 0). A GPano ProjectionType
 *      "equirectangular" without sizes is a full panorama.
 *   4. user       the caller's horizontal field of view (user_fov_deg, finite,
 *      in (0, 360]); 360 means an equirectangular panorama, less a perspective
 *      (pinhole) photo, which must be under 180.
 *   5. default    no information: an image at least twice as wide as high is a
 *      360-degree equirectangular panorama (CVUSA 1232 x 224, VIGOR 2048 x 1024
 *      and the world's training panoramas carry no metadata: today's path);
 *      any other image a perspective photo of TG_CAMERA_DEFAULT_HFOV degrees
 *      (a phone's main camera, 26 mm equivalent: 2 atan(21.635 * 0.8 / 26) =
 *      67.4 degrees on 4:3).
 * Pitch and roll are 0 (level) unless GPano says otherwise.
 *
 * Bad metadata never fails: a FocalLengthIn35mmFilm of 0 (EXIF's "unknown"),
 * a focal plane without a focal length, a GPano block whose cropped size
 * contradicts the image's (aspect off by more than 2 %, or cropped > full)
 * are skipped, and the answer's note says which was skipped and why; the
 * next source is tried. Only the caller's own value is checked strictly: TG_EINVAL for
 * a user_fov_deg that is 0, negative, over 360, in [180, 360) or infinite
 * (NaN means "none given").
 *
 * Ownership: plain values, caller-owned; nothing is allocated.
 */
#ifndef TG_CAMERA_H
#define TG_CAMERA_H

#include "core.h"
#include "exif.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Horizontal field of view of a photo with no camera information, degrees. */
#define TG_CAMERA_DEFAULT_HFOV 65.0

/* How the photo maps directions to pixels. */
enum {
    TG_PROJ_PERSPECTIVE = 0,  /* pinhole, principal point at the centre, square pixels */
    TG_PROJ_EQUIRECT = 1      /* equirectangular: columns linear in azimuth, rows in elevation */
};

/* Where the camera model came from (tg_camera.source). */
enum {
    TG_CAMERA_DEFAULT = 0,    /* nothing known: the rule in 5. above */
    TG_CAMERA_EXIF35 = 1,     /* EXIF FocalLengthIn35mmFilm */
    TG_CAMERA_EXIF_FOCAL = 2, /* EXIF FocalLength + FocalPlane resolution */
    TG_CAMERA_GPANO = 3,      /* XMP GPano */
    TG_CAMERA_USER = 4        /* the caller's value */
};

typedef struct tg_camera {
    int projection;           /* TG_PROJ_* */
    double hfov_deg;          /* horizontal field of view, degrees: (0, 180) perspective,
                                 (0, 360] equirectangular */
    double vfov_deg;          /* vertical field of view, degrees (from hfov and the aspect
                                 for a perspective photo; top - bottom for equirect) */
    double elev_top_deg;      /* equirect: elevation of the top edge, degrees (90 full) */
    double elev_bottom_deg;   /* equirect: elevation of the bottom edge (-90 full) */
    double pitch_deg;         /* up positive, degrees; 0 = level */
    double roll_deg;          /* clockwise positive, degrees; 0 = level */
    int source;               /* TG_CAMERA_* */
    char note[192];           /* what was skipped on the way and why, "" if nothing */
} tg_camera;

/* The camera of a photo of w x h pixels (upright, as decoded: tg_image_width
 * / height) with metadata meta (NULL: none) and the user's horizontal field
 * of view user_fov_deg (NAN: none). [out] *cam. Returns 0, or TG_EINVAL
 * (w or h < 1, NULL cam, a bad user_fov_deg: see the top). */
TG_API int tg_camera_from_meta(tg_ctx *ctx, const tg_photo_meta *meta, int w, int h,
                               double user_fov_deg, tg_camera *cam);

/* Check a user's field of view (degrees) as tg_camera_from_meta does: 0 or
 * TG_EINVAL with a message naming the value and the allowed range. NaN is
 * accepted ("none"). For front-ends that check options before opening files. */
TG_API int tg_camera_check_fov(tg_ctx *ctx, double fov_deg);

/* "exif-35mm", "exif-focal", "gpano", "user", "default" ("?" otherwise). */
TG_API const char *tg_camera_source_name(int source);

#ifdef __cplusplus
}
#endif
#endif /* TG_CAMERA_H */
