/*
 * render.c - images of the demo world: the aerial orthophoto (true ortho,
 * seen from straight above), equirectangular panoramas and level pinhole
 * photos (ray cast), all shaded by trace.c so that both views agree.
 *
 * Anti-aliasing: the aerial renderer takes one sample per pixel centre and
 * four more (a 2x2 grid at +-1/4 pixel) for pixels whose label (object,
 * face, material, shadow) differs from a 4-neighbour's; texture detail finer
 * than a pixel is faded out by the footprint (fp) passed to the shaders.
 * Ground views take ss x ss samples per pixel on a regular grid.
 */
#include "config.h"
#include "world/world_int.h"

#include <stdlib.h>
#include <string.h>

static inline unsigned char to_byte(double v)
{
    v = v * 255 + 0.5;
    return v <= 0 ? 0 : v >= 255 ? 255 : (unsigned char)(int)v;
}

static wrgb aerial_sample(wtracer *tr, double x, double y, double fp, uint32_t *label)
{
    whit h;
    wtop(tr->sc, x, y, &h);
    return wshade(tr, &h, fp, NULL, label);
}

#define CHUNK 32

int wrender_aerial_rows(wtracer *tr, double x0, double ytop, double gsd, int w, int h, int row0, int row1,
                        unsigned char *rgb)
{
    /* centre samples of rows [r0-1, r1+1) of a chunk, then refine the edges */
    size_t n = (size_t)w * (CHUNK + 2);
    uint32_t *lab = malloc(sizeof(uint32_t) * n);
    wrgb *col = malloc(sizeof(wrgb) * n);
    if (!lab || !col) {
        free(lab);
        free(col);
        return TG_ENOMEM;
    }
    for (int c0 = row0; c0 < row1; c0 += CHUNK) {
        int c1 = c0 + CHUNK < row1 ? c0 + CHUNK : row1;
        int a = c0 - 1 < 0 ? 0 : c0 - 1, b = c1 + 1 > h ? h : c1 + 1;
        for (int r = a; r < b; r++) {
            double y = ytop - (r + 0.5) * gsd;
            for (int i = 0; i < w; i++) {
                size_t k = (size_t)(r - a) * (size_t)w + (size_t)i;
                col[k] = aerial_sample(tr, x0 + (i + 0.5) * gsd, y, gsd, &lab[k]);
            }
        }
        for (int r = c0; r < c1; r++) {
            double y = ytop - (r + 0.5) * gsd;
            for (int i = 0; i < w; i++) {
                size_t k = (size_t)(r - a) * (size_t)w + (size_t)i;
                uint32_t l = lab[k];
                int edge = (i > 0 && lab[k - 1] != l) || (i + 1 < w && lab[k + 1] != l) ||
                           (r > a && lab[k - (size_t)w] != l) || (r + 1 < b && lab[k + (size_t)w] != l);
                wrgb c = col[k];
                if (edge) {
                    double sr = 0, sg = 0, sb = 0;
                    for (int q = 0; q < 4; q++) {
                        double ox = (q & 1) ? 0.25 : -0.25, oy = (q & 2) ? 0.25 : -0.25;
                        uint32_t dummy;
                        wrgb s = aerial_sample(tr, x0 + (i + 0.5 + ox) * gsd, y - oy * gsd, gsd * 0.5, &dummy);
                        sr += s.r;
                        sg += s.g;
                        sb += s.b;
                    }
                    c.r = (float)(sr * 0.25);
                    c.g = (float)(sg * 0.25);
                    c.b = (float)(sb * 0.25);
                }
                unsigned char *px = rgb + ((size_t)(r - row0) * (size_t)w + (size_t)i) * 3;
                px[0] = to_byte(c.r);
                px[1] = to_byte(c.g);
                px[2] = to_byte(c.b);
            }
        }
    }
    free(lab);
    free(col);
    return 0;
}

/* Colour seen along a ray; pa = angle between neighbouring samples (rad). */
static wrgb ray_colour(wtracer *tr, const double o[3], const double d[3], double pa, int *id)
{
    whit h;
    int k = wtrace(tr, o, d, 1e7, &h);
    if (id) *id = k == WH_NONE || k == WH_GROUND ? -1 : (k == WH_LEAF || k == WH_TRUNK) ? (h.obj | WOBJ_TREE) : h.obj;
    if (k == WH_NONE) return wsky(tr->sc, o, d);
    double ci = fabs(d[0] * h.n[0] + d[1] * h.n[1] + d[2] * h.n[2]);
    double fp = h.t * pa / (ci > 0.03 ? ci : 0.03);
    if (fp > 1000) fp = 1000;
    wrgb c = wshade(tr, &h, fp, d, NULL);
    return whaze(c, h.t);
}

int wrender_pano(wtracer *tr, double x, double y, double z, int w, int h, int ss, unsigned char *rgb, int *ids)
{
    int sw = w * ss, sh = h * ss;
    double *tab = malloc(sizeof(double) * 2 * (size_t)(sw + sh));
    if (!tab) return TG_ENOMEM;
    double *saz = tab, *caz = tab + sw, *sel = tab + 2 * sw, *cel = tab + 2 * sw + sh;
    /* column u (continuous) looks at azimuth 360 u / W - 180 (north in the centre) */
    for (int i = 0; i < sw; i++) wsincos(2 * WPI * (i + 0.5) / sw - WPI, &saz[i], &caz[i]);
    for (int j = 0; j < sh; j++) wsincos(0.5 * WPI - WPI * (j + 0.5) / sh, &sel[j], &cel[j]);
    double o[3] = {x, y, z}, pa = 2 * WPI / sw, inv = 1.0 / (ss * ss);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double ar = 0, ag = 0, ab = 0;
            for (int sj = 0; sj < ss; sj++)
                for (int si = 0; si < ss; si++) {
                    int i = c * ss + si, j = r * ss + sj;
                    double d[3] = {saz[i] * cel[j], caz[i] * cel[j], sel[j]};
                    int want = ids && si == ss / 2 && sj == ss / 2;
                    int id;
                    wrgb col = ray_colour(tr, o, d, pa, want ? &id : NULL);
                    if (want) ids[(size_t)r * (size_t)w + (size_t)c] = id;
                    ar += col.r;
                    ag += col.g;
                    ab += col.b;
                }
            unsigned char *px = rgb + ((size_t)r * (size_t)w + (size_t)c) * 3;
            px[0] = to_byte(ar * inv);
            px[1] = to_byte(ag * inv);
            px[2] = to_byte(ab * inv);
        }
    free(tab);
    return 0;
}

void wrender_photo(wtracer *tr, double x, double y, double z, double heading_deg, double hfov_deg, int w, int h,
                   int ss, unsigned char *rgb)
{
    double sh, ch;
    wsincos(heading_deg * WDEG, &sh, &ch);
    double fwd[3] = {sh, ch, 0}, right[3] = {ch, -sh, 0};
    double ht, ct;
    wsincos(0.5 * hfov_deg * WDEG, &ht, &ct);
    double f = 0.5 * w * ct / ht; /* focal length in pixels */
    double o[3] = {x, y, z}, pa = 1.0 / (f * ss), inv = 1.0 / (ss * ss);
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            double ar = 0, ag = 0, ab = 0;
            for (int sj = 0; sj < ss; sj++)
                for (int si = 0; si < ss; si++) {
                    double px = (c + (si + 0.5) / ss - 0.5 * w) / f, py = (r + (sj + 0.5) / ss - 0.5 * h) / f;
                    double d[3] = {fwd[0] + px * right[0], fwd[1] + px * right[1], -py};
                    double l = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                    d[0] /= l;
                    d[1] /= l;
                    d[2] /= l;
                    wrgb col = ray_colour(tr, o, d, pa, NULL);
                    ar += col.r;
                    ag += col.g;
                    ab += col.b;
                }
            unsigned char *p = rgb + ((size_t)r * (size_t)w + (size_t)c) * 3;
            p[0] = to_byte(ar * inv);
            p[1] = to_byte(ag * inv);
            p[2] = to_byte(ab * inv);
        }
}
