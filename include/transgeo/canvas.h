/*
 * canvas.h - the ground canvas: a photo placed in a model's ground input at a
 * heading, as docs/ground-canvas.md defines it (the contract shared with the
 * trainer, tools/ground_canvas.py).
 *
 *     tg_canvas_spec s = {.H = 112, .W = 616, .fov_deg = 360,
 *                         .elev_top_deg = 90, .elev_bottom_deg = -90,
 *                         .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
 *     tg_camera cam;                                  // camera.h
 *     tg_camera_from_meta(ctx, &meta, tg_image_width(img), tg_image_height(img), NAN, &cam);
 *     float *x = malloc(sizeof(float) * 3 * s.H * s.W);
 *     tg_canvas_make(ctx, &s, img, &cam, 135.0, 0.0, x);  // photo looking south-east
 *
 * What it does, by camera (camera.h):
 *  - a 360-degree equirectangular panorama: resized to round(W * 360 / F) x H
 *    (Pillow-exact, tg_image_to_tensor) and normalised; its columns are then
 *    taken from the canvas's centre on: canvas column c is resized column
 *    (c + off) mod Wp, off = round((Wp - W) / 2 - Wp (heading - centre) / 360),
 *    so with F = 360 and heading = centre = 0 this IS today's official input
 *    (bit for bit), and heading h rolls it by s = round(W h / 360) columns
 *    (numpy.roll(pano, s, axis=-1)). The panorama's elevation range is not
 *    resampled (the official path: the whole height is the canvas height);
 *  - a perspective photo: pre-resampled to the canvas's pixel density, each
 *    canvas pixel centre projected through the pinhole (pitch, roll applied),
 *    sampled bilinearly, pixels outside the photo filled with the mean (0 after
 *    normalisation);
 *  - a partial equirectangular image (GPano cropped): the same, with the
 *    equirectangular mapping of its azimuth and elevation span.
 *
 * Ownership: the caller owns every buffer; nothing is kept. Thread-safe
 * (one tg_ctx per thread).
 */
#ifndef TG_CANVAS_H
#define TG_CANVAS_H

#include "camera.h"
#include "core.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The canvas a model declares (model.h: ground_hw, ground_fov_deg,
 * ground_elev_deg, normalize_mean / std). */
typedef struct tg_canvas_spec {
    int H, W;                 /* canvas size, px (the ground network's input) */
    double fov_deg;           /* azimuth span F of the W columns, degrees, (0, 360] */
    double elev_top_deg;      /* elevation of the top edge, degrees */
    double elev_bottom_deg;   /* elevation of the bottom edge, degrees (< top) */
    float mean[3], std[3];    /* normalisation of [0, 1] pixel values, RGB */
} tg_canvas_spec;

/* Place img (taken with camera cam) looking at heading_deg (degrees clockwise
 * from true north; for a panorama the heading of its centre column) into the
 * canvas centred on centre_deg (0 for a 360-degree canvas: north in the
 * centre column). [out] dst: float32 [3][H][W] (CHW), normalised, caller-
 * allocated. Returns 0, TG_EINVAL (NULL argument, a bad spec or camera, a
 * heading or centre that is not finite), TG_ENOMEM, the errors of
 * tg_image_resize. dst is unspecified on failure. */
TG_API int tg_canvas_make(tg_ctx *ctx, const tg_canvas_spec *spec, const tg_image *img,
                          const tg_camera *cam, double heading_deg, double centre_deg, float *dst);

/* The same for n headings at once (heading[k], centre[k]), into n canvases
 * one after the other in dst (n * 3 * H * W floats): the photo is decoded,
 * resized or pre-resampled once. n >= 1. */
TG_API int tg_canvas_make_n(tg_ctx *ctx, const tg_canvas_spec *spec, const tg_image *img,
                            const tg_camera *cam, int n, const double *heading,
                            const double *centre, float *dst);

/* The roll s (columns, 0 <= s < W) that tg_canvas_make applies to a
 * 360-degree panorama whose centre looks at heading_deg, on a 360-degree
 * canvas of W columns centred on north: round(W h / 360) mod W. The heading a
 * roll stands for is 360 s / W. */
TG_API int tg_canvas_roll(int W, double heading_deg);

#ifdef __cplusplus
}
#endif
#endif /* TG_CANVAS_H */
