/* test_camera.c - the camera model (camera.h) against hand arithmetic, and
 * the ground canvas (canvas.h) against an independent numpy computation
 * (tests/canvas_ref.py: Pillow resampling, a rotation-matrix camera).
 *
 * Hand values: a 50 mm lens on a 36 x 24 mm frame (6000 x 4000 px) sees
 * 2 atan(18 / 50) = 39.598 degrees across; a 6.17 x 4.63 mm sensor behind a
 * 4.25 mm lens 2 atan(3.085 / 4.25) = 71.950 degrees; a GPano crop of 4000 x
 * 1000 px at top 1500 of an 8000 x 4000 panorama spans 180 degrees of
 * azimuth and elevations 90 - 180 * 1500 / 4000 = 22.5 to -22.5. */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "transgeo/canvas.h"

static tg_photo_meta empty_meta(void)
{
    tg_photo_meta m;
    memset(&m, 0, sizeof m);
    m.orientation = 1;
    return m;
}

static void test_camera(tg_ctx *ctx)
{
    tg_camera cam;
    tg_photo_meta m = empty_meta();
    m.has_focal35 = 1;
    m.focal35_mm = 50;
    TAP_OK(tg_camera_from_meta(ctx, &m, 6000, 4000, NAN, &cam) == 0, "camera: 35 mm equivalent");
    TAP_NEAR(cam.hfov_deg, 39.5977397901, 1e-3, "50 mm equivalent on 3:2 = 2 atan(18/50)");
    TAP_NEAR(cam.vfov_deg, 2 * atan(12.0 / 50) * 180 / M_PI, 1e-3, "its vertical: 2 atan(12/50)");
    TAP_EQ(cam.source, TG_CAMERA_EXIF35, "source exif-35mm");
    TAP_OK(!strcmp(tg_camera_source_name(cam.source), "exif-35mm"), "source name");
    TAP_EQ(cam.projection, TG_PROJ_PERSPECTIVE, "perspective");
    TAP_OK(cam.note[0] == 0, "nothing skipped");

    /* 35 mm of 0 ("unknown") falls through to the focal plane. */
    m.focal35_mm = 0;
    m.focal_mm = 4.25;
    m.fp_unit = 4; /* mm */
    m.fp_xres = 4000 / 6.17;
    m.fp_yres = 3000 / 4.6275;
    TAP_OK(tg_camera_from_meta(ctx, &m, 4000, 3000, NAN, &cam) == 0, "camera: focal plane");
    TAP_NEAR(cam.hfov_deg, 71.9504705658, 1e-3, "4.25 mm on a 6.17 mm sensor");
    TAP_EQ(cam.source, TG_CAMERA_EXIF_FOCAL, "source exif-focal");
    TAP_OK(strstr(cam.note, "FocalLengthIn35mmFilm is 0") != NULL, "the note names the 0: %s",
           cam.note);
    m.orientation = 6; /* stored 4000 x 3000, upright 3000 x 4000: the sensor's short side */
    TAP_OK(tg_camera_from_meta(ctx, &m, 3000, 4000, NAN, &cam) == 0, "camera: rotated photo");
    TAP_NEAR(cam.hfov_deg, 2 * atan(4.6275 / 2 / 4.25) * 180 / M_PI, 1e-3,
             "Orientation 6: the upright width is the sensor's height");
    m.orientation = 1;
    m.fp_xres = m.fp_yres = 0; /* a focal length alone says nothing */
    TAP_OK(tg_camera_from_meta(ctx, &m, 4000, 3000, NAN, &cam) == 0, "camera: focal alone");
    TAP_EQ(cam.source, TG_CAMERA_DEFAULT, "focal length without sensor size -> default");
    TAP_NEAR(cam.hfov_deg, TG_CAMERA_DEFAULT_HFOV, 1e-9, "default field of view");
    TAP_OK(strstr(cam.note, "without the sensor") != NULL, "note: %s", cam.note);

    /* GPano, cropped. */
    m = empty_meta();
    m.is_panorama = 1;
    m.has_gpano_size = 1;
    m.gpano_full_w = 8000;
    m.gpano_full_h = 4000;
    m.gpano_crop_w = 4000;
    m.gpano_crop_h = 1000;
    m.gpano_top = 1500;
    m.has_pose_pitch = 1;
    m.pose_pitch_deg = 3;
    TAP_OK(tg_camera_from_meta(ctx, &m, 2000, 500, NAN, &cam) == 0, "camera: GPano");
    TAP_EQ(cam.source, TG_CAMERA_GPANO, "source gpano");
    TAP_EQ(cam.projection, TG_PROJ_EQUIRECT, "equirectangular");
    TAP_NEAR(cam.hfov_deg, 180, 1e-9, "GPano: 180 degrees of azimuth");
    TAP_NEAR(cam.elev_top_deg, 22.5, 1e-9, "GPano: top 22.5");
    TAP_NEAR(cam.elev_bottom_deg, -22.5, 1e-9, "GPano: bottom -22.5");
    TAP_NEAR(cam.pitch_deg, 3, 1e-9, "GPano: pitch");
    TAP_OK(strstr(cam.note, "not applied") != NULL, "a pitched panorama is named: %s", cam.note);
    m.gpano_crop_h = 2000; /* 2:1 crop on a 4:1 image */
    TAP_OK(tg_camera_from_meta(ctx, &m, 2000, 500, NAN, &cam) == 0, "camera: contradicting GPano");
    TAP_EQ(cam.source, TG_CAMERA_DEFAULT, "contradicting GPano -> default");
    TAP_OK(strstr(cam.note, "contradicts") != NULL, "note: %s", cam.note);
    TAP_EQ(cam.projection, TG_PROJ_EQUIRECT, "default on a 4:1 image: a panorama");
    m.gpano_crop_h = 1000;
    m.gpano_top = 3500; /* below the bottom */
    TAP_OK(tg_camera_from_meta(ctx, &m, 2000, 500, 90, &cam) == 0, "camera: GPano off the sphere");
    TAP_EQ(cam.source, TG_CAMERA_USER, "GPano that does not fit -> the user's value");
    TAP_OK(strstr(cam.note, "does not fit") != NULL, "note: %s", cam.note);
    m.has_gpano_size = 0; /* equirectangular, no sizes: a full sphere */
    TAP_OK(tg_camera_from_meta(ctx, &m, 2000, 1000, NAN, &cam) == 0, "camera: GPano full");
    TAP_NEAR(cam.hfov_deg, 360, 0, "GPano without sizes: 360");

    /* The user's value and its checks. */
    TAP_OK(tg_camera_from_meta(ctx, NULL, 640, 480, 90, &cam) == 0 && cam.source == TG_CAMERA_USER &&
               cam.hfov_deg == 90,
           "user 90");
    TAP_OK(tg_camera_from_meta(ctx, NULL, 640, 480, 360, &cam) == 0 &&
               cam.projection == TG_PROJ_EQUIRECT,
           "user 360 = panorama");
    double bad[] = {0, -5, 180, 250, 360.5, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = tg_camera_from_meta(ctx, NULL, 640, 480, bad[i], &cam);
        TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "field of view"),
               "user field of view %g refused: %s", bad[i], tg_errmsg(ctx));
    }
    TAP_OK(tg_camera_check_fov(ctx, NAN) == 0, "NaN = none");
    TAP_OK(tg_camera_from_meta(ctx, NULL, 0, 480, NAN, &cam) == TG_EINVAL, "0-wide image refused");
    /* Defaults. */
    TAP_OK(tg_camera_from_meta(ctx, NULL, 1232, 224, NAN, &cam) == 0 &&
               cam.projection == TG_PROJ_EQUIRECT && cam.hfov_deg == 360,
           "default: CVUSA-shaped image is a panorama");
    TAP_OK(tg_camera_from_meta(ctx, NULL, 640, 480, NAN, &cam) == 0 &&
               cam.projection == TG_PROJ_PERSPECTIVE && cam.source == TG_CAMERA_DEFAULT,
           "default: 4:3 is a perspective photo");
}

/* ---- canvas vs numpy --------------------------------------------------- */

static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};

static tg_image *random_image(tg_ctx *ctx, int w, int h, uint32_t seed)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    /* smooth-ish content so bilinear differences show */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                seed = seed * 1664525u + 1013904223u;
                double v = 127 + 100 * sin(0.11 * x + 0.07 * y + c) + (double)(seed >> 28);
                p[((size_t)y * w + x) * 3 + c] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    tg_image *img = NULL;
    tg_image_from_rgb8(ctx, p, w, h, &img);
    free(p);
    return img;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = fwrite(p, 1, n, f);
    return fclose(f) == 0 && k == n ? 0 : -1;
}

/* Build a canvas in C, run canvas_ref.py on the same input, check its line. */
static void vs_numpy(tg_ctx *ctx, const char *what, int w, int h, const tg_canvas_spec *s,
                     const tg_camera *cam, double heading, double centre)
{
    tg_image *img = random_image(ctx, w, h, (uint32_t)(w * 31 + h));
    size_t n = 3 * (size_t)s->H * s->W;
    float *x = malloc(n * sizeof *x);
    int rc = tg_canvas_make(ctx, s, img, cam, heading, centre, x);
    if (!TAP_OK(rc == 0, "%s: canvas made (%s)", what, rc ? tg_errmsg(ctx) : "")) goto done;
    char dir[] = "/tmp/tg_canvas_XXXXXX", pimg[64], pout[64], cmd[1024], line[256] = "";
    if (!mkdtemp(dir)) goto done;
    snprintf(pimg, sizeof pimg, "%s/img.u8", dir);
    snprintf(pout, sizeof pout, "%s/canvas.f32", dir);
    write_file(pimg, tg_image_data(img), (size_t)w * h * 3);
    write_file(pout, x, n * sizeof *x);
    snprintf(cmd, sizeof cmd,
             "'%s' '%s/tests/canvas_ref.py' %s %d %d %s %d %d %.17g %.17g %.17g %d %.17g %.17g "
             "%.17g %.17g %.17g %.17g %.17g 2>&1",
             tap_env("PYTHON3", "/usr/bin/python3"), tap_srcdir(), pimg, h, w, pout, s->H, s->W,
             s->fov_deg, s->elev_top_deg, s->elev_bottom_deg, cam->projection, cam->hfov_deg,
             cam->elev_top_deg, cam->elev_bottom_deg, cam->pitch_deg, cam->roll_deg, heading,
             centre);
    FILE *p = popen(cmd, "r");
    double maxdiff = 1e9, tdiff = -1, odiff = -1;
    int mism = -1, cov = -1;
    char buf[256];
    while (p && fgets(buf, sizeof buf, p)) {
        if (sscanf(buf, "maxdiff %lf mismatched %d covered %d", &maxdiff, &mism, &cov) == 3)
            snprintf(line, sizeof line, "%s", buf);
        else if (sscanf(buf, "official maxdiff %lf", &odiff) == 1)
            ;
        else if (sscanf(buf, "trainer maxdiff %lf", &tdiff) != 1)
            printf("# python: %s", buf);
    }
    if (p) pclose(p);
    printf("# %s: %s", what, line);
    /* 1e-5: float32 normalisation of a double bilinear sample; at most 2
     * pixels whose centre lies on the photo's border within rounding. */
    TAP_OK(maxdiff <= 1e-5 && mism >= 0 && mism <= 2 && cov > 0,
           "%s: C canvas = numpy canvas (max |diff| %g, %d border pixels differ, %d covered)",
           what, maxdiff, mism, cov);
    if (odiff >= 0)
        TAP_OK(odiff == 0, "%s: = TransGeo's LimitedFoV window of the same panorama (max |diff| %g)",
               what, odiff);
    if (tdiff >= 0)
        TAP_OK(tdiff <= 1e-5, "%s: C canvas = tools/ground_canvas.py (max |diff| %g)", what, tdiff);
    remove(pimg);
    remove(pout);
    rmdir(dir);
done:
    free(x);
    tg_image_free(img);
}

static void test_canvas(tg_ctx *ctx)
{
    tg_canvas_spec pano = {32, 128, 360, 90, -90, {0}, {0}};
    memcpy(pano.mean, MEAN, sizeof MEAN);
    memcpy(pano.std, STD, sizeof STD);
    tg_camera cam;
    tg_camera_from_meta(ctx, NULL, 97, 73, 70, &cam);
    vs_numpy(ctx, "70-degree photo at 135 on a 360 canvas", 97, 73, &pano, &cam, 135, 0);
    tg_camera_from_meta(ctx, NULL, 800, 600, 60, &cam);
    vs_numpy(ctx, "800x600 60-degree photo at 350 (pre-resampled, across north)", 800, 600, &pano,
             &cam, 350, 0);
    cam.pitch_deg = 12;
    cam.roll_deg = -7;
    vs_numpy(ctx, "pitched 12, rolled -7", 800, 600, &pano, &cam, 20, 0);
    tg_canvas_spec c90 = {28, 40, 90, 38.6, -26.9, {0}, {0}};
    memcpy(c90.mean, MEAN, sizeof MEAN);
    memcpy(c90.std, STD, sizeof STD);
    tg_camera_from_meta(ctx, NULL, 400, 300, 80, &cam);
    vs_numpy(ctx, "80-degree photo on a 90-degree canvas centred on it", 400, 300, &c90, &cam, 200,
             200);
    tg_photo_meta m = empty_meta();
    m.is_panorama = 1;
    m.has_gpano_size = 1;
    m.gpano_full_w = 800;
    m.gpano_full_h = 400;
    m.gpano_crop_w = 400;
    m.gpano_crop_h = 100;
    m.gpano_top = 150;
    tg_camera_from_meta(ctx, &m, 400, 100, NAN, &cam);
    vs_numpy(ctx, "GPano half panorama at 90", 400, 100, &pano, &cam, 90, 0);
    tg_camera_from_meta(ctx, NULL, 256, 128, NAN, &cam);
    vs_numpy(ctx, "panorama rolled to 100", 256, 128, &pano, &cam, 100, 0);
    vs_numpy(ctx, "panorama cut to a 90-degree canvas", 256, 128, &c90, &cam, 30, -45);
    tg_canvas_spec fov90 = {112, 154, 90, 38.6, -26.9, {0}, {0}}; /* cvusa-fov90 */
    memcpy(fov90.mean, MEAN, sizeof MEAN);
    memcpy(fov90.std, STD, sizeof STD);
    tg_camera_from_meta(ctx, NULL, 1232, 224, NAN, &cam); /* CVUSA-shaped: 360 by default */
    vs_numpy(ctx, "CVUSA-shaped panorama on the 90-degree preset's 112x154 canvas", 1232, 224,
             &fov90, &cam, 250, 0);

    /* North-aligned 360 panorama on a 360 canvas: today's official input. */
    tg_image *img = random_image(ctx, 256, 128, 5);
    size_t n = 3 * 32 * 128;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(4 * n * sizeof *c);
    tg_image_to_tensor(ctx, img, 32, 128, MEAN, STD, a);
    tg_canvas_make(ctx, &pano, img, &cam, 0, 0, b);
    TAP_OK(!memcmp(a, b, n * sizeof *a), "north-aligned panorama: bit-identical to the official input");
    tg_canvas_make(ctx, &pano, img, &cam, 90, 0, b); /* roll 32 columns */
    int ok = 1;
    for (int ch = 0; ch < 3; ch++)
        for (int r = 0; r < 32; r++)
            for (int col = 0; col < 128; col++)
                ok &= b[(ch * 32 + r) * 128 + col] == a[(ch * 32 + r) * 128 + (col - 32 + 128) % 128];
    TAP_OK(ok, "heading 90: numpy.roll(pano, 32) exactly");
    double hs[4] = {0, 90, 180, 270}, cs[4] = {0, 0, 0, 0};
    TAP_OK(tg_canvas_make_n(ctx, &pano, img, &cam, 4, hs, cs, c) == 0 && !memcmp(c, a, n * sizeof *a) &&
               !memcmp(c + n, b, n * sizeof *b),
           "tg_canvas_make_n = tg_canvas_make per heading");
    TAP_EQ(tg_canvas_roll(616, 90), 154, "roll of 90 degrees on 616 columns");
    TAP_EQ(tg_canvas_roll(128, -90), 96, "roll of -90 wraps");
    TAP_OK(tg_canvas_make(ctx, &pano, img, &cam, NAN, 0, b) == TG_EINVAL, "NaN heading refused");
    tg_camera badcam = cam;
    badcam.projection = TG_PROJ_PERSPECTIVE;
    badcam.hfov_deg = 0;
    TAP_OK(tg_canvas_make(ctx, &pano, img, &badcam, 0, 0, b) == TG_EINVAL, "0-degree camera refused");
    free(a);
    free(b);
    free(c);
    tg_image_free(img);
}

int main(void)
{
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    test_camera(ctx);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL, numpy' >/dev/null 2>&1",
             tap_env("PYTHON3", "/usr/bin/python3"));
    if (system(cmd) != 0)
        tap_skip("canvas vs numpy", "python3 with PIL and numpy not available");
    else
        test_canvas(ctx);
    tg_ctx_free(ctx);
    return tap_done();
}
