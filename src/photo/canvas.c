/* canvas.c - a photo placed in the model's ground canvas (see
 * include/transgeo/canvas.h and docs/ground-canvas.md, whose steps the
 * comments below number). */
#include "config.h"
#include "transgeo/canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEG (M_PI / 180.0)

static long mod_l(long a, long m)
{
    long r = a % m;
    return r < 0 ? r + m : r;
}

int tg_canvas_roll(int W, double heading_deg)
{
    if (W < 1 || !isfinite(heading_deg)) return 0;
    return (int)mod_l(lround(W * heading_deg / 360.0), W);
}

/* (-180, 180] */
static double wrap180(double a)
{
    a = fmod(a, 360.0);
    if (a <= -180.0) a += 360.0;
    else if (a > 180.0) a -= 360.0;
    return a;
}

/* A 360-degree panorama: resize to Wp x H once (the official Resize +
 * ToTensor + Normalize, Pillow-exact), then take W columns from each
 * canvas's centre. */
static int pano_canvas(tg_ctx *ctx, const tg_canvas_spec *s, const tg_image *img, int n,
                       const double *heading, const double *centre, float *dst)
{
    int W = s->W, H = s->H;
    size_t one = 3 * (size_t)H * (size_t)W;
    long Wp = lround(W * 360.0 / s->fov_deg);
    if (Wp < W) Wp = W;
    if (Wp == W && n == 1 && mod_l(lround(-W * (heading[0] - centre[0]) / 360.0), W) == 0)
        return tg_image_to_tensor(ctx, img, H, W, s->mean, s->std, dst); /* today's path */
    if (Wp > 65535)
        return tg_set_error(ctx, TG_EINVAL, "canvas: a %g-degree canvas of %d columns needs a "
                                            "%ld-column panorama (at most 65535)",
                            s->fov_deg, W, Wp);
    float *full = malloc(sizeof(float) * 3 * (size_t)H * (size_t)Wp);
    if (!full) return tg_set_error(ctx, TG_ENOMEM, "canvas: out of memory");
    int rc = tg_image_to_tensor(ctx, img, H, (int)Wp, s->mean, s->std, full);
    for (int k = 0; !rc && k < n; k++) {
        long off = lround((double)(Wp - W) / 2.0 - (double)Wp * (heading[k] - centre[k]) / 360.0);
        for (int ch = 0; ch < 3; ch++)
            for (int r = 0; r < H; r++) {
                const float *src = full + ((size_t)ch * H + r) * (size_t)Wp;
                float *d = dst + k * one + ((size_t)ch * H + r) * (size_t)W;
                for (int c = 0; c < W; c++) d[c] = src[mod_l(c + off, Wp)];
            }
    }
    free(full);
    return rc;
}

/* Bilinear sample of channel ch at pixel-centre coordinates (x, y), clamped
 * to the image (step 3), on [0, 1] values. */
static double sample(const unsigned char *p, int w, int h, double x, double y, int ch)
{
    if (x < 0) x = 0;
    if (x > w - 1) x = w - 1;
    if (y < 0) y = 0;
    if (y > h - 1) y = h - 1;
    int x0 = (int)floor(x), y0 = (int)floor(y);
    int x1 = x0 + 1 < w ? x0 + 1 : w - 1, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
    double fx = x - x0, fy = y - y0;
    double a = p[((size_t)y0 * w + x0) * 3 + ch], b = p[((size_t)y0 * w + x1) * 3 + ch];
    double c = p[((size_t)y1 * w + x0) * 3 + ch], d = p[((size_t)y1 * w + x1) * 3 + ch];
    double top = a + (b - a) * fx, bot = c + (d - c) * fx;
    return (top + (bot - top) * fy) / 255.0;
}

int tg_canvas_make(tg_ctx *ctx, const tg_canvas_spec *s, const tg_image *img,
                   const tg_camera *cam, double heading_deg, double centre_deg, float *dst)
{
    return tg_canvas_make_n(ctx, s, img, cam, 1, &heading_deg, &centre_deg, dst);
}

int tg_canvas_make_n(tg_ctx *ctx, const tg_canvas_spec *s, const tg_image *img,
                     const tg_camera *cam, int n, const double *heading, const double *centre,
                     float *dst)
{
    if (n < 1 || !heading || !centre)
        return tg_set_error(ctx, TG_EINVAL, "tg_canvas_make_n: %d headings", n);
    if (!s || !img || !cam || !dst) return tg_set_error(ctx, TG_EINVAL, "tg_canvas_make: NULL argument");
    if (s->H < 1 || s->W < 1 || !(s->fov_deg > 0 && s->fov_deg <= 360) ||
        !(s->elev_top_deg > s->elev_bottom_deg) || !isfinite(s->elev_top_deg) ||
        !isfinite(s->elev_bottom_deg))
        return tg_set_error(ctx, TG_EINVAL,
                            "canvas %dx%d spanning %g degrees, elevation %g..%g: not a canvas", s->H,
                            s->W, s->fov_deg, s->elev_top_deg, s->elev_bottom_deg);
    for (int k = 0; k < n; k++)
        if (!isfinite(heading[k]) || !isfinite(centre[k]))
            return tg_set_error(ctx, TG_EINVAL,
                                "canvas: heading %g, centre %g: expected finite degrees",
                                heading[k], centre[k]);
    int persp = cam->projection == TG_PROJ_PERSPECTIVE;
    if (persp ? !(cam->hfov_deg > 0 && cam->hfov_deg < 180)
              : !(cam->hfov_deg > 0 && cam->hfov_deg <= 360 &&
                  cam->elev_top_deg > cam->elev_bottom_deg))
        return tg_set_error(ctx, TG_EINVAL, "canvas: a %s camera of %g degrees: not a camera",
                            persp ? "perspective" : "equirectangular", cam->hfov_deg);
    if (!persp && cam->hfov_deg == 360.0) return pano_canvas(ctx, s, img, n, heading, centre, dst);

    /* 1. Pre-resample to the canvas's pixel density (a downscale only). */
    int w = tg_image_width(img), h = tg_image_height(img);
    long w2 = lround(s->W * cam->hfov_deg / s->fov_deg);
    if (w2 < 1) w2 = 1;
    if (w2 > w) w2 = w;
    long h2 = lround((double)h * w2 / w);
    if (h2 < 1) h2 = 1;
    tg_image *small = NULL;
    if (w2 != w || h2 != h) {
        int rc = tg_image_resize(ctx, img, (int)w2, (int)h2, &small);
        if (rc) return rc;
    }
    const unsigned char *px = tg_image_data(small ? small : img);
    double f2 = (w2 / 2.0) / tan(cam->hfov_deg * DEG / 2); /* perspective focal length, px */
    double cp = cos(cam->pitch_deg * DEG), sp = sin(cam->pitch_deg * DEG);
    double cr = cos(cam->roll_deg * DEG), sr = sin(cam->roll_deg * DEG);
    size_t plane = (size_t)s->H * s->W;
    for (int k = 0; k < n; k++, dst += 3 * plane) {
    double heading_deg = heading[k], centre_deg = centre[k];
    for (int r = 0; r < s->H; r++) {
        double e = s->elev_top_deg - (s->elev_top_deg - s->elev_bottom_deg) * (r + 0.5) / s->H;
        double ce = cos(e * DEG), se = sin(e * DEG);
        for (int c = 0; c < s->W; c++) {
            double az = centre_deg + s->fov_deg * ((c + 0.5) / s->W - 0.5);
            double d = wrap180(az - heading_deg);
            double x_img, y_img;
            int covered;
            if (persp) {
                /* 2. The ray in a level camera's frame (x right, y down, z
                 * forward), then into the tilted camera's: undo the pitch
                 * (about x), then the roll (about z). */
                double x = ce * sin(d * DEG), y = -se, z = ce * cos(d * DEG);
                double y1 = y * cp + z * sp, z1 = -y * sp + z * cp;
                double x2 = x * cr + y1 * sr, y2 = -x * sr + y1 * cr;
                covered = z1 > 0;
                x_img = w2 / 2.0 + f2 * x2 / z1;
                y_img = h2 / 2.0 + f2 * y2 / z1;
            } else {
                /* A partial equirectangular image: columns linear in azimuth,
                 * rows in elevation. */
                x_img = w2 * (d / cam->hfov_deg + 0.5);
                y_img = h2 * (cam->elev_top_deg - e) / (cam->elev_top_deg - cam->elev_bottom_deg);
                covered = 1;
            }
            covered = covered && fabs(x_img - w2 / 2.0) < w2 / 2.0 &&
                      fabs(y_img - h2 / 2.0) < h2 / 2.0;
            size_t o = (size_t)r * s->W + c;
            for (int ch = 0; ch < 3; ch++) {
                /* 4. Uncovered: the mean, which normalises to exactly 0. */
                float v = covered ? (float)sample(px, (int)w2, (int)h2, x_img - 0.5, y_img - 0.5, ch)
                                  : s->mean[ch];
                dst[ch * plane + o] = (v - s->mean[ch]) / s->std[ch];
            }
        }
    }
    }
    tg_image_free(small);
    return TG_OK;
}
