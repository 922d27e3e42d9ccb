/*
 * trace.c - what the demo world looks like at a point: ground materials,
 * ray casting through the uniform grid, the view from straight above, and
 * shading (sun with cast shadows, sky light), shared by the aerial and the
 * ground renderers so that both views show the same colours.
 *
 * Ray casting: a 2D DDA over the grid's cells (Amanatides & Woo 1987) along
 * the ray's horizontal projection; a cell is skipped when the ray passes
 * above its tallest object; every object is tested once per ray (mailbox
 * stamps). Building parts are convex (oriented box, flat or gabled roof)
 * and are clipped with Cyrus-Beck; crowns are ellipsoids, trunks vertical
 * cylinders; the ground is the plane z = 0.
 */
#include "config.h"
#include "world/world_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- lighting constants (albedo x light, 0..1 display values) ----------------- */
static const double AMB[3] = {0.44, 0.47, 0.55};  /* sky light on an upward surface */
static const double SUNC[3] = {0.78, 0.75, 0.68}; /* direct sun at normal incidence */
static const double HORIZON[3] = {0.80, 0.85, 0.90};
static const double ZENITH[3] = {0.32, 0.52, 0.84};
#define HAZE_M 2200.0   /* distance at which 63% of a colour is haze */
#define CLOUD_Z 1500.0  /* cloud layer height, m */

static inline double seg_d2(double px, double py, const wground *g, double *tp)
{
    double dx = g->x1 - g->x0, dy = g->y1 - g->y0, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - g->x0) * dx + (py - g->y0) * dy) / l2 : 0;
    t = wclamp(t, 0, 1);
    if (tp) *tp = t;
    double ex = g->x0 + t * dx - px, ey = g->y0 + t * dy - py;
    return ex * ex + ey * ey;
}

static inline int in_convex(const double *px, const double *py, int n, double x, double y)
{
    for (int i = 0; i < n; i++) {
        int j = i + 1 == n ? 0 : i + 1;
        if ((px[j] - px[i]) * (y - py[i]) - (py[j] - py[i]) * (x - px[i]) < 0) return 0;
    }
    return 1;
}

static inline wrgb mk(double r, double g, double b)
{
    wrgb c = {(float)r, (float)g, (float)b};
    return c;
}

static inline wrgb scale(wrgb c, double k)
{
    return mk(c.r * k, c.g * k, c.b * k);
}

static inline wrgb mix(wrgb a, wrgb b, double t)
{
    return mk(a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t);
}

/* Fraction of a pixel of footprint fp (m) centred at signed distance x from
 * the middle of a line of half width hw that the line covers. */
static inline double line_cover(double x, double hw, double fp)
{
    if (fp <= 2 * hw) return fabs(x) <= hw ? 1 : 0;
    double lo = x - fp / 2, hi = x + fp / 2;
    double a = lo > -hw ? lo : -hw, b = hi < hw ? hi : hw;
    return b > a ? (b - a) / fp : 0;
}

/* Distance to the nearest multiple of `pitch`. */
static inline double to_grid(double x, double pitch)
{
    double k = floor(x / pitch + 0.5);
    return x - k * pitch;
}

static int cell_of(const wscene *sc, double x, double y)
{
    double fx = floor((x - sc->ex0) / sc->cell), fy = floor((y - sc->ey0) / sc->cell);
    if (fx < 0 || fy < 0 || fx >= sc->gw || fy >= sc->gh) return -1;
    return (int)fy * sc->gw + (int)fx;
}

/* ---- ground ------------------------------------------------------------------------- */

static wrgb field_albedo(const wscene *sc, double x, double y)
{
    static const float F[5][3] = {
        {0.36f, 0.48f, 0.21f}, {0.55f, 0.53f, 0.30f}, {0.47f, 0.40f, 0.29f},
        {0.30f, 0.44f, 0.19f}, {0.62f, 0.58f, 0.38f},
    };
    double wx = x + 60 * wnoise(x / 400, y / 400, sc->nseed + 31);
    double wy = y + 60 * wnoise(x / 400, y / 400, sc->nseed + 32);
    uint32_t h = whash((int32_t)floor(wx / 140), (int32_t)floor(wy / 110), sc->nseed + 33);
    const float *f = F[h % 5];
    double n = 0.9 + 0.2 * wnoise(x / 9, y / 9, sc->nseed + 34);
    return mk(f[0] * n, f[1] * n, f[2] * n);
}

int wground_albedo(const wscene *sc, double x, double y, double fp, wrgb *c)
{
    uint32_t ns = sc->nseed;
    int cell = cell_of(sc, x, y);
    if (cell < 0) {
        *c = field_albedo(sc, x, y);
        return WM_FIELD;
    }
    int asph = 0, asph_road = -1, side = 0, curb = 0, water = 0, bank = 0, lot = -1, plaza = 0, path = 0,
        park = 0;
    const wground *mseg = NULL; /* the asphalt segment (for markings) */
    double mt = 0;
    for (int i = sc->g_start[cell]; i < sc->g_start[cell + 1]; i++) {
        const wground *g = &sc->ground[sc->g_items[i]];
        if (x < g->bx0 || x > g->bx1 || y < g->by0 || y > g->by1) continue;
        double t, d2;
        switch (g->kind) {
        case WG_ROAD:
            d2 = seg_d2(x, y, g, &t);
            if (d2 <= g->hw * g->hw) {
                if (g->road != asph_road) asph++;
                asph_road = g->road;
                if (!mseg || g->marking) { mseg = g; mt = t; }
            } else if (d2 <= (g->hw + g->sw) * (g->hw + g->sw)) {
                side = 1;
                if (d2 <= (g->hw + 0.25) * (g->hw + 0.25)) curb = 1;
            }
            break;
        case WG_RIVER:
            d2 = seg_d2(x, y, g, NULL);
            if (d2 <= g->hw * g->hw) water = 1;
            else if (d2 <= (g->hw + g->sw) * (g->hw + g->sw)) bank = 1;
            break;
        case WG_PATH:
            if (seg_d2(x, y, g, NULL) <= g->hw * g->hw) path = 1;
            break;
        case WG_PARK:
            if (in_convex(g->px, g->py, g->n_poly, x, y)) park = 1;
            break;
        case WG_PLAZA:
            if (in_convex(g->px, g->py, g->n_poly, x, y)) plaza = 1;
            break;
        case WG_POND:
            if (in_convex(g->px, g->py, g->n_poly, x, y)) water = 1;
            break;
        case WG_LOT:
            if (in_convex(g->px, g->py, g->n_poly, x, y)) lot = sc->g_items[i];
            break;
        }
    }
    double fine = fp < 0.6 ? 1 : fp < 1.2 ? (1.2 - fp) / 0.6 : 0; /* fade of sub-metre detail */
    if (asph) {
        double n = wfbm(x, y, 9, 3, fp, ns + 1), g2 = wnoise(x * 3.3, y * 3.3, ns + 2);
        double v = 0.30 + 0.09 * n + 0.05 * (g2 - 0.5) * fine;
        wrgb a = mk(v, v, v * 1.03);
        if (asph == 1 && mseg && mseg->marking) {
            double dx = mseg->x1 - mseg->x0, dy = mseg->y1 - mseg->y0, l = sqrt(dx * dx + dy * dy);
            double lat = ((x - mseg->x0) * -dy + (y - mseg->y0) * dx) / l;
            double s = mseg->s0 + mt * l;
            double dash = (s - 9 * floor(s / 9)) < 3.5 ? 1 : 0;
            double cov = dash * line_cover(lat, 0.08, fp) + line_cover(fabs(lat) - (mseg->hw - 0.45), 0.08, fp);
            if (cov > 0) {
                double w = 0.80 - 0.1 * wnoise(x * 2, y * 2, ns + 3) * fine;
                *c = mix(a, mk(w, w, w * 0.97), wclamp(cov, 0, 1));
                return WM_MARKING;
            }
        }
        *c = a;
        return WM_ASPHALT;
    }
    if (side) {
        if (curb) {
            double v = 0.70 + 0.04 * wnoise(x * 2, y * 2, ns + 4);
            *c = mk(v, v, v * 0.98);
            return WM_CURB;
        }
        double n = wfbm(x, y, 5, 2, fp, ns + 5);
        double joint = 1 - 0.06 * fine * (line_cover(to_grid(x, 0.5), 0.03, fp) + line_cover(to_grid(y, 0.5), 0.03, fp));
        double v = (0.58 + 0.08 * n) * joint;
        *c = mk(v, v * 0.985, v * 0.95);
        return WM_SIDEWALK;
    }
    if (water) {
        double n = wfbm(x, y, 6, 3, fp, ns + 6);
        *c = mk(0.13 + 0.05 * n, 0.22 + 0.06 * n, 0.25 + 0.05 * n);
        return WM_WATER;
    }
    if (bank) {
        double n = wfbm(x, y, 3, 3, fp, ns + 7);
        *c = mk(0.44 + 0.1 * n, 0.40 + 0.09 * n, 0.31 + 0.07 * n);
        return WM_BANK;
    }
    if (lot >= 0) {
        const wground *g = &sc->ground[lot];
        double px = x - g->ox, py = y - g->oy;
        double u = px * g->ux + py * g->uy, v = -px * g->uy + py * g->ux;
        double n = wfbm(x, y, 7, 3, fp, ns + 8);
        double a = 0.38 + 0.08 * n;
        wrgb base = mk(a, a, a * 1.02);
        int in_rows = v < 5.0 || (g->lv > 12 && v > g->lv - 5.0);
        double cov = 0;
        if (in_rows) cov = line_cover(to_grid(u, 2.5), 0.06, fp);
        cov += line_cover(v - 5.0, 0.06, fp) * (v < 5.5 ? 1 : 0);
        if (g->lv > 12) cov += line_cover(v - (g->lv - 5.0), 0.06, fp);
        if (cov > 0) {
            *c = mix(base, mk(0.85, 0.85, 0.82), wclamp(cov, 0, 1));
            return WM_STRIPE;
        }
        *c = base;
        return WM_LOT;
    }
    if (plaza) {
        double tile = (whash((int32_t)floor(x / 1.2), (int32_t)floor(y / 1.2), ns + 9) & 255) / 255.0;
        double n = wfbm(x, y, 8, 2, fp, ns + 10);
        double v = 0.66 + 0.06 * n + 0.04 * (tile - 0.5) * fine;
        *c = mk(v, v * 0.95, v * 0.86);
        return WM_PLAZA;
    }
    if (path) {
        double n = wfbm(x, y, 2, 3, fp, ns + 11);
        *c = mk(0.64 + 0.06 * n, 0.58 + 0.06 * n, 0.47 + 0.05 * n);
        return WM_PATH;
    }
    wrgb gt = sc->grass_tint;
    if (park) {
        double n = wfbm(x, y, 14, 4, fp, ns + 12);
        double stripe = 1 + 0.035 * fine * (to_grid(x * 0.7071 + y * 0.7071, 6) > 0 ? 1 : -1);
        double k = (0.88 + 0.25 * n) * stripe;
        *c = mk(gt.r * k * 0.95, gt.g * k * 1.05, gt.b * k);
        return WM_PARK;
    }
    double d = wdensity(sc, x, y);
    double m = wfbm(x, y, 22, 3, fp, ns + 13);
    if (d > 0.5 && m < (d - 0.45) * 1.6) {
        double n = wfbm(x, y, 4, 2, fp, ns + 14);
        double v = 0.52 + 0.08 * n;
        *c = mk(v, v * 0.98, v * 0.94);
        return WM_PAVED;
    }
    double n = wfbm(x, y, 10, 4, fp, ns + 15);
    double dirt = wsmooth(0.62, 0.75, wfbm(x, y, 30, 2, fp, ns + 16));
    double k = 0.85 + 0.3 * n;
    wrgb gr = mk(gt.r * k, gt.g * k, gt.b * k);
    *c = mix(gr, mk(0.50 * k, 0.44 * k, 0.32 * k), dirt * 0.6);
    return WM_GRASS;
}

/* ---- intersection ------------------------------------------------------------------ */

/* Ray o + t d against a building part; nearest entry 0 < t <= tmax. */
static int isect_part(const wpart *p, const double o[3], const double d[3], double tmax, double *tout,
                      int *face)
{
    double dx = o[0] - p->cx, dy = o[1] - p->cy;
    double ou = dx * p->ux + dy * p->uy, ov = -dx * p->uy + dy * p->ux, oz = o[2];
    double du = d[0] * p->ux + d[1] * p->uy, dv = -d[0] * p->uy + d[1] * p->ux, dz = d[2];
    double tE = 1e-7, tL = tmax;
    int fE = -1;
    double nu[7], nv[7], nz[7], cc[7];
    int np = 0;
    nu[np] = 1; nv[np] = 0; nz[np] = 0; cc[np++] = p->a;
    nu[np] = -1; nv[np] = 0; nz[np] = 0; cc[np++] = p->a;
    nu[np] = 0; nv[np] = 1; nz[np] = 0; cc[np++] = p->b;
    nu[np] = 0; nv[np] = -1; nz[np] = 0; cc[np++] = p->b;
    nu[np] = 0; nv[np] = 0; nz[np] = -1; cc[np++] = 0;
    if (p->rh > 0) {
        double k = p->rh / p->b;
        nu[np] = 0; nv[np] = k; nz[np] = 1; cc[np++] = p->h + p->rh;
        nu[np] = 0; nv[np] = -k; nz[np] = 1; cc[np++] = p->h + p->rh;
    } else {
        nu[np] = 0; nv[np] = 0; nz[np] = 1; cc[np++] = p->h;
    }
    int inside = 1;
    for (int i = 0; i < np; i++) {
        double den = nu[i] * du + nv[i] * dv + nz[i] * dz;
        double num = cc[i] - (nu[i] * ou + nv[i] * ov + nz[i] * oz);
        if (num < 0) inside = 0;
        if (den == 0) {
            if (num < 0) return 0;
            continue;
        }
        double t = num / den;
        if (den < 0) {
            if (t > tE) { tE = t; fE = i; }
        } else if (t < tL) {
            tL = t;
        }
        if (tE > tL) return 0;
    }
    if (fE < 0 || inside) return 0;
    *tout = tE;
    *face = fE;
    return 1;
}

static void part_normal(const wpart *p, int face, double n[3])
{
    double vx = -p->uy, vy = p->ux;
    switch (face) {
    case 0: n[0] = p->ux; n[1] = p->uy; n[2] = 0; break;
    case 1: n[0] = -p->ux; n[1] = -p->uy; n[2] = 0; break;
    case 2: n[0] = vx; n[1] = vy; n[2] = 0; break;
    case 3: n[0] = -vx; n[1] = -vy; n[2] = 0; break;
    case 4: n[0] = 0; n[1] = 0; n[2] = -1; break;
    default:
        if (p->rh > 0) {
            double k = (face == 5 ? 1 : -1) * p->rh / p->b, l = sqrt(1 + k * k);
            n[0] = vx * k / l;
            n[1] = vy * k / l;
            n[2] = 1 / l;
        } else {
            n[0] = 0; n[1] = 0; n[2] = 1;
        }
    }
}

static int isect_crown(const wtree *t, const double o[3], const double d[3], double tmax, double *tout)
{
    double ir = 1.0 / t->r, irz = 1.0 / t->rz;
    double ox = (o[0] - t->x) * ir, oy = (o[1] - t->y) * ir, oz = (o[2] - t->cz) * irz;
    double dx = d[0] * ir, dy = d[1] * ir, dz = d[2] * irz;
    double A = dx * dx + dy * dy + dz * dz, B = ox * dx + oy * dy + oz * dz;
    double C = ox * ox + oy * oy + oz * oz - 1;
    double disc = B * B - A * C;
    if (disc < 0 || A == 0) return 0;
    double sq = sqrt(disc), t0 = (-B - sq) / A;
    if (t0 <= 1e-6) {
        if (C < 0) return 0; /* inside the crown: no hit (shadow rays start on its surface) */
        t0 = (-B + sq) / A;
        if (t0 <= 1e-6) return 0;
    }
    if (t0 > tmax) return 0;
    *tout = t0;
    return 1;
}

static int isect_trunk(const wtree *t, const double o[3], const double d[3], double tmax, double *tout)
{
    double ox = o[0] - t->x, oy = o[1] - t->y;
    double A = d[0] * d[0] + d[1] * d[1];
    if (A == 0) return 0;
    double B = ox * d[0] + oy * d[1], C = ox * ox + oy * oy - t->trunk_r * t->trunk_r;
    double disc = B * B - A * C;
    if (disc < 0) return 0;
    double t0 = (-B - sqrt(disc)) / A;
    if (t0 <= 1e-6 || t0 > tmax) return 0;
    double z = o[2] + d[2] * t0;
    if (z < 0 || z > t->cz - 0.5 * t->rz) return 0;
    *tout = t0;
    return 1;
}

int wtracer_init(wtracer *t, const wscene *sc)
{
    t->sc = sc;
    t->ray = 0;
    t->stamp = calloc((size_t)(sc->n_parts + sc->n_trees + 1), sizeof(uint32_t));
    return t->stamp ? 0 : TG_ENOMEM;
}

void wtracer_free(wtracer *t)
{
    if (!t) return;
    free(t->stamp);
    t->stamp = NULL;
}

static inline uint32_t next_ray(wtracer *tr)
{
    if (++tr->ray == 0) {
        memset(tr->stamp, 0, sizeof(uint32_t) * (size_t)(tr->sc->n_parts + tr->sc->n_trees + 1));
        tr->ray = 1;
    }
    return tr->ray;
}

/* Walk the grid cells along the ray. For each cell whose objects might be
 * hit (the ray is not above all of them), call visit; stop when it returns
 * nonzero or the ray passes tlimit (*tlimit may shrink during the walk). */
typedef int (*cell_fn)(wtracer *tr, int cell, const double o[3], const double d[3], double *tlimit, void *u);

static void walk(wtracer *tr, const double o[3], const double d[3], double *tlimit, cell_fn visit, void *u)
{
    const wscene *sc = tr->sc;
    double C = sc->cell;
    /* clip to the grid box (2D slab test) */
    double t0 = 0, t1 = *tlimit;
    double bx0 = sc->ex0, by0 = sc->ey0, bx1 = sc->ex0 + sc->gw * C, by1 = sc->ey0 + sc->gh * C;
    for (int ax = 0; ax < 2; ax++) {
        double oo = o[ax], dd = d[ax], lo = ax ? by0 : bx0, hi = ax ? by1 : bx1;
        if (dd == 0) {
            if (oo < lo || oo >= hi) return;
        } else {
            double ta = (lo - oo) / dd, tb = (hi - oo) / dd;
            if (ta > tb) { double s = ta; ta = tb; tb = s; }
            if (ta > t0) t0 = ta;
            if (tb < t1) t1 = tb;
        }
    }
    if (t0 > t1) return;
    double sx = o[0] + d[0] * t0, sy = o[1] + d[1] * t0;
    int i = (int)floor((sx - sc->ex0) / C), j = (int)floor((sy - sc->ey0) / C);
    if (i < 0) i = 0;
    if (j < 0) j = 0;
    if (i >= sc->gw) i = sc->gw - 1;
    if (j >= sc->gh) j = sc->gh - 1;
    int stx = d[0] > 0 ? 1 : -1, sty = d[1] > 0 ? 1 : -1;
    double tdx = d[0] != 0 ? C / fabs(d[0]) : 1e300, tdy = d[1] != 0 ? C / fabs(d[1]) : 1e300;
    double tmx = d[0] != 0 ? (sc->ex0 + (i + (stx > 0)) * C - o[0]) / d[0] : 1e300;
    double tmy = d[1] != 0 ? (sc->ey0 + (j + (sty > 0)) * C - o[1]) / d[1] : 1e300;
    double tc = t0;
    for (;;) {
        if (tc > *tlimit) return;
        double tout = tmx < tmy ? tmx : tmy;
        int cell = j * sc->gw + i;
        double te = tout < *tlimit ? tout : *tlimit;
        double za = o[2] + d[2] * tc, zb = o[2] + d[2] * te, zmin = za < zb ? za : zb;
        if (zmin <= sc->o_maxz[cell] && sc->o_start[cell] < sc->o_start[cell + 1])
            if (visit(tr, cell, o, d, tlimit, u)) return;
        if (tmx < tmy) {
            i += stx;
            tc = tmx;
            tmx += tdx;
        } else {
            j += sty;
            tc = tmy;
            tmy += tdy;
        }
        if (i < 0 || j < 0 || i >= sc->gw || j >= sc->gh) return;
        if (d[2] > 0 && za > sc->max_h) return; /* above everything, rising */
    }
}

static int visit_nearest(wtracer *tr, int cell, const double o[3], const double d[3], double *tlimit, void *u)
{
    const wscene *sc = tr->sc;
    whit *h = u;
    for (int k = sc->o_start[cell]; k < sc->o_start[cell + 1]; k++) {
        int obj = sc->o_items[k];
        int slot = (obj & WOBJ_TREE) ? sc->n_parts + (obj & ~WOBJ_TREE) : obj;
        if (tr->stamp[slot] == tr->ray) continue;
        tr->stamp[slot] = tr->ray;
        double t;
        int face;
        if (obj & WOBJ_TREE) {
            const wtree *tt = &sc->trees[obj & ~WOBJ_TREE];
            if (isect_crown(tt, o, d, *tlimit, &t)) {
                *tlimit = t;
                h->kind = WH_LEAF;
                h->obj = obj & ~WOBJ_TREE;
            }
            if (isect_trunk(tt, o, d, *tlimit, &t)) {
                *tlimit = t;
                h->kind = WH_TRUNK;
                h->obj = obj & ~WOBJ_TREE;
            }
        } else if (isect_part(&sc->parts[obj], o, d, *tlimit, &t, &face)) {
            *tlimit = t;
            h->kind = face >= 5 ? WH_ROOF : WH_WALL;
            h->obj = obj;
            h->face = face;
        }
    }
    return 0;
}

int wtrace(wtracer *tr, const double o[3], const double d[3], double tmax, whit *h)
{
    next_ray(tr);
    double tl = tmax;
    h->kind = WH_NONE;
    h->obj = -1;
    h->face = -1;
    if (d[2] < 0) {
        double tg = -o[2] / d[2];
        if (tg < tl) {
            tl = tg;
            h->kind = WH_GROUND;
        }
    }
    walk(tr, o, d, &tl, visit_nearest, h);
    h->t = tl;
    if (h->kind == WH_NONE) return WH_NONE;
    for (int k = 0; k < 3; k++) h->p[k] = o[k] + d[k] * tl;
    const wscene *sc = tr->sc;
    switch (h->kind) {
    case WH_GROUND:
        h->p[2] = 0;
        h->n[0] = 0; h->n[1] = 0; h->n[2] = 1;
        break;
    case WH_WALL:
    case WH_ROOF:
        part_normal(&sc->parts[h->obj], h->face, h->n);
        break;
    case WH_LEAF: {
        const wtree *t = &sc->trees[h->obj];
        double nx = (h->p[0] - t->x) / (t->r * t->r), ny = (h->p[1] - t->y) / (t->r * t->r);
        double nz = (h->p[2] - t->cz) / (t->rz * t->rz), l = sqrt(nx * nx + ny * ny + nz * nz);
        h->n[0] = nx / l; h->n[1] = ny / l; h->n[2] = nz / l;
        break;
    }
    case WH_TRUNK: {
        const wtree *t = &sc->trees[h->obj];
        double nx = h->p[0] - t->x, ny = h->p[1] - t->y, l = sqrt(nx * nx + ny * ny);
        h->n[0] = nx / l; h->n[1] = ny / l; h->n[2] = 0;
        break;
    }
    }
    return h->kind;
}

typedef struct shadow_state {
    int tree;  /* a crown blocks */
    int solid; /* a part or trunk blocks */
} shadow_state;

static int visit_any(wtracer *tr, int cell, const double o[3], const double d[3], double *tlimit, void *u)
{
    const wscene *sc = tr->sc;
    shadow_state *st = u;
    for (int k = sc->o_start[cell]; k < sc->o_start[cell + 1]; k++) {
        int obj = sc->o_items[k];
        int slot = (obj & WOBJ_TREE) ? sc->n_parts + (obj & ~WOBJ_TREE) : obj;
        if (tr->stamp[slot] == tr->ray) continue;
        tr->stamp[slot] = tr->ray;
        double t;
        int face;
        if (obj & WOBJ_TREE) {
            const wtree *tt = &sc->trees[obj & ~WOBJ_TREE];
            if (!st->tree && isect_crown(tt, o, d, *tlimit, &t)) st->tree = 1;
            if (isect_trunk(tt, o, d, *tlimit, &t)) { st->solid = 1; return 1; }
        } else if (isect_part(&sc->parts[obj], o, d, *tlimit, &t, &face)) {
            st->solid = 1;
            return 1;
        }
    }
    return 0;
}

int wshadowed(wtracer *tr, const double o[3], const double d[3], int *tree_only)
{
    const wscene *sc = tr->sc;
    *tree_only = 0;
    if (d[2] <= 0) return 1;
    if (o[2] >= sc->max_h) return 0;
    next_ray(tr);
    double tl = (sc->max_h + 0.01 - o[2]) / d[2];
    shadow_state st = {0, 0};
    walk(tr, o, d, &tl, visit_any, &st);
    if (st.solid) return 1;
    if (st.tree) {
        *tree_only = 1;
        return 1;
    }
    return 0;
}

/* ---- from above ---------------------------------------------------------------------------- */

int wtop(const wscene *sc, double x, double y, whit *h)
{
    double best = 0;
    h->kind = WH_GROUND;
    h->obj = -1;
    h->face = -1;
    int cell = cell_of(sc, x, y);
    if (cell >= 0)
        for (int k = sc->o_start[cell]; k < sc->o_start[cell + 1]; k++) {
            int obj = sc->o_items[k];
            if (obj & WOBJ_TREE) {
                const wtree *t = &sc->trees[obj & ~WOBJ_TREE];
                double dx = x - t->x, dy = y - t->y, q = (dx * dx + dy * dy) / (t->r * t->r);
                if (q >= 1) continue;
                double z = t->cz + t->rz * sqrt(1 - q);
                if (z > best) {
                    best = z;
                    h->kind = WH_LEAF;
                    h->obj = obj & ~WOBJ_TREE;
                }
            } else {
                const wpart *p = &sc->parts[obj];
                double dx = x - p->cx, dy = y - p->cy;
                double u = dx * p->ux + dy * p->uy, v = -dx * p->uy + dy * p->ux;
                if (fabs(u) > p->a || fabs(v) > p->b) continue;
                double z = p->h + (p->rh > 0 ? p->rh * (1 - fabs(v) / p->b) : 0);
                if (z > best) {
                    best = z;
                    h->kind = WH_ROOF;
                    h->obj = obj;
                    h->face = p->rh > 0 ? (v >= 0 ? 5 : 6) : 5;
                }
            }
        }
    h->p[0] = x;
    h->p[1] = y;
    h->p[2] = best;
    h->t = 0;
    if (h->kind == WH_ROOF) {
        part_normal(&sc->parts[h->obj], h->face, h->n);
    } else if (h->kind == WH_LEAF) {
        const wtree *t = &sc->trees[h->obj];
        double nx = (x - t->x) / (t->r * t->r), ny = (y - t->y) / (t->r * t->r);
        double nz = (best - t->cz) / (t->rz * t->rz), l = sqrt(nx * nx + ny * ny + nz * nz);
        h->n[0] = nx / l; h->n[1] = ny / l; h->n[2] = nz / l;
    } else {
        h->n[0] = 0; h->n[1] = 0; h->n[2] = 1;
    }
    return h->kind;
}

int winside(const wscene *sc, double x, double y, double z, double margin)
{
    /* every cell the margin box touches: an object listed only in a
     * neighbouring cell can still be within the margin */
    int i0 = (int)floor((x - margin - sc->ex0) / sc->cell), i1 = (int)floor((x + margin - sc->ex0) / sc->cell);
    int j0 = (int)floor((y - margin - sc->ey0) / sc->cell), j1 = (int)floor((y + margin - sc->ey0) / sc->cell);
    if (i0 < 0) i0 = 0;
    if (j0 < 0) j0 = 0;
    if (i1 >= sc->gw) i1 = sc->gw - 1;
    if (j1 >= sc->gh) j1 = sc->gh - 1;
    for (int cj = j0; cj <= j1; cj++)
        for (int ci = i0; ci <= i1; ci++) {
            int cell = cj * sc->gw + ci;
            for (int k = sc->o_start[cell]; k < sc->o_start[cell + 1]; k++) {
                int obj = sc->o_items[k];
                if (obj & WOBJ_TREE) {
                    const wtree *t = &sc->trees[obj & ~WOBJ_TREE];
                    double dx = x - t->x, dy = y - t->y, dz = z - t->cz;
                    double r = t->r + margin, rz = t->rz + margin;
                    if ((dx * dx + dy * dy) / (r * r) + dz * dz / (rz * rz) < 1) return 1;
                    double tr = t->trunk_r + margin;
                    if (dx * dx + dy * dy < tr * tr && z < t->cz) return 1;
                } else {
                    const wpart *p = &sc->parts[obj];
                    double dx = x - p->cx, dy = y - p->cy;
                    double u = dx * p->ux + dy * p->uy, v = -dx * p->uy + dy * p->ux;
                    if (fabs(u) <= p->a + margin && fabs(v) <= p->b + margin && z <= p->h + p->rh + margin)
                        return 1;
                }
            }
        }
    return 0;
}

/* ---- shading ------------------------------------------------------------------------------ */

wrgb wsky(const wscene *sc, const double o[3], const double d[3])
{
    double t = d[2] > 0 ? sqrt(d[2]) : 0;
    wrgb c = mk(wlerp(HORIZON[0], ZENITH[0], t), wlerp(HORIZON[1], ZENITH[1], t), wlerp(HORIZON[2], ZENITH[2], t));
    if (d[2] > 0.015) {
        double k = (CLOUD_Z - o[2]) / d[2];
        double cx = o[0] + d[0] * k, cy = o[1] + d[1] * k;
        double n = wfbm(cx, cy, 1400, 4, 0, sc->nseed + 40);
        double cover = wsmooth(0.52, 0.72, n) * wsmooth(0.015, 0.12, d[2]);
        double shade = 0.86 + 0.14 * wfbm(cx, cy, 300, 2, 0, sc->nseed + 41);
        c = mix(c, mk(0.96 * shade, 0.96 * shade, 0.97 * shade), cover * 0.9);
    }
    double cs = d[0] * sc->sun[0] + d[1] * sc->sun[1] + d[2] * sc->sun[2];
    if (cs > 0) {
        double c2 = cs * cs, c4 = c2 * c2, c8 = c4 * c4, c16 = c8 * c8, c64 = c16 * c16 * c16 * c16;
        double c256 = c64 * c64 * c64 * c64;
        double g = 0.10 * c8 + 0.35 * c256 + (cs > 0.99996 ? 1.0 : 0);
        c = mk(c.r + g, c.g + g * 0.96, c.b + g * 0.85);
    }
    return c;
}

/* Where along a wall of a part the point lies: s from the wall's left end
 * (seen from outside), and the wall's length. */
static void wall_coords(const wpart *p, int face, const double q[3], double *s, double *len)
{
    double dx = q[0] - p->cx, dy = q[1] - p->cy;
    double u = dx * p->ux + dy * p->uy, v = -dx * p->uy + dy * p->ux;
    switch (face) {
    case 0: *s = v + p->b; *len = 2 * p->b; break;
    case 1: *s = p->b - v; *len = 2 * p->b; break;
    case 2: *s = p->a - u; *len = 2 * p->a; break;
    default: *s = u + p->a; *len = 2 * p->a; break;
    }
}

static wrgb facade_albedo(const wscene *sc, const wpart *p, const wbuilding *B, int face, const double q[3],
                          double fp, const double *view_d)
{
    double s, len, z = q[2];
    wall_coords(p, face, q, &s, &len);
    double n = wnoise((q[0] + q[1]) * 0.7, z * 0.7, sc->nseed + 50);
    wrgb fac = scale(B->facade, 0.95 + 0.1 * n);
    if (B->kind == WB_CAR) {
        if (p != &sc->parts[B->part0]) /* the cabin: glass between thin pillars */
            return (s < 0.12 || s > len - 0.12) ? B->facade : B->window;
        if (z < 0.32) return B->trim; /* tyres and sills */
        return fac;
    }
    if (B->win_w <= 0 || z > p->h) return fac;
    double fh = B->floor_h, fl = floor(z / fh), zf = z - fl * fh;
    double pitch = B->win_pitch;
    int nwin = (int)floor((len - 1.2) / pitch);
    if (nwin < 1) return fac;
    /* far away: blend by area instead of aliasing */
    double area = (B->win_w * B->win_h) / (pitch * fh);
    wrgb glass = B->window;
    if (view_d) {
        double refl = 0.25 + 0.2 * wnoise(q[0] * 0.3 + fl * 7, q[1] * 0.3, sc->nseed + 51);
        glass = mix(glass, mk(HORIZON[0], HORIZON[1], HORIZON[2]), refl);
    }
    if (fp > pitch * 0.5) return mix(fac, glass, area * wclamp((fp - pitch * 0.5) / pitch, 0, 1) + 0);
    double margin = 0.5 * (len - nwin * pitch), sl = s - margin;
    if (sl < 0 || sl >= nwin * pitch) return fac;
    double k = floor(sl / pitch), xc = sl - k * pitch - 0.5 * pitch;
    if (B->shop && fl == 0) {
        if (zf > 0.35 && zf < 2.7 && fabs(xc) < 0.5 * pitch - 0.35) return mix(glass, mk(0.5, 0.45, 0.35), 0.25);
        if (zf >= 2.7 && zf < 3.1) return B->trim;
        return fac;
    }
    if (fl == 0 && k == (nwin - 1) / 2 && B->kind != WB_INDUSTRIAL && fabs(xc) < 0.55 && zf < 2.15)
        return scale(B->trim, 0.6); /* the door */
    double hw = 0.5 * B->win_w;
    if (zf > B->sill && zf < B->sill + B->win_h && fabs(xc) < hw) {
        if (fabs(xc) > hw - 0.07 || zf < B->sill + 0.07 || zf > B->sill + B->win_h - 0.07) return B->trim;
        return glass;
    }
    if (B->kind == WB_APART && fl > 0 && zf < 0.18) return B->trim; /* floor band */
    return fac;
}

static wrgb roof_albedo(const wscene *sc, const wpart *p, const wbuilding *B, const double q[3], double fp)
{
    double dx = q[0] - p->cx, dy = q[1] - p->cy;
    double u = dx * p->ux + dy * p->uy, v = -dx * p->uy + dy * p->ux;
    if (B->kind == WB_CAR) { /* cabin roof: windscreen and rear window at its ends */
        if (p != &sc->parts[B->part0] && fabs(u) > p->a * 0.62) return B->window;
        return B->roof;
    }
    double n = wfbm(q[0], q[1], 3, 2, fp, sc->nseed + 52);
    if (p->rh > 0) {
        /* tile courses parallel to the ridge */
        double fine = fp < 0.35 ? 1 : 0;
        double course = fine * (to_grid(fabs(v), 0.33) > 0.1 ? 0.04 : -0.04);
        double k = 0.92 + 0.14 * n + course;
        return scale(B->roof, k);
    }
    double edge = (p->a - fabs(u) < 0.35 || p->b - fabs(v) < 0.35) ? 1 : 0;
    if (edge) return scale(B->trim, 0.9 + 0.1 * n);
    double k = 0.9 + 0.2 * n;
    /* a roof hatch / AC unit pattern on big flat roofs */
    return scale(B->roof, k);
}

wrgb whaze(wrgb c, double dist)
{
    double f = 1 - wexp_neg(-dist / HAZE_M);
    return mix(c, mk(HORIZON[0], HORIZON[1], HORIZON[2]), f);
}

wrgb wshade(wtracer *tr, const whit *h, double fp, const double view_d[3], uint32_t *label)
{
    const wscene *sc = tr->sc;
    wrgb alb;
    const double *n = h->n;
    double spec_mix = 0;
    int m = -1, shadow = 0;
    switch (h->kind) {
    case WH_GROUND: {
        m = wground_albedo(sc, h->p[0], h->p[1], fp, &alb);
        if (m == WM_WATER && view_d && view_d[2] > -0.95) {
            double c = -view_d[2], f = 1 - c, f2 = f * f;
            spec_mix = 0.05 + 0.9 * f2 * f2 * f;
        }
        break;
    }
    case WH_WALL: {
        const wpart *p = &sc->parts[h->obj];
        alb = facade_albedo(sc, p, &sc->blds[p->bld], h->face, h->p, fp, view_d);
        break;
    }
    case WH_ROOF: {
        const wpart *p = &sc->parts[h->obj];
        alb = roof_albedo(sc, p, &sc->blds[p->bld], h->p, fp);
        break;
    }
    case WH_LEAF: {
        const wtree *t = &sc->trees[h->obj];
        double a = wnoise(h->p[0] * 1.7 + h->p[2] * 1.1, h->p[1] * 1.7 - h->p[2] * 0.6, sc->nseed + 60);
        double b = wnoise(h->p[0] * 0.6, h->p[1] * 0.6 + h->p[2] * 0.5, sc->nseed + 61);
        double k = fp < 0.8 ? 0.65 + 0.45 * a + 0.2 * b : 0.87 + 0.2 * b;
        alb = scale(t->leaf, k);
        break;
    }
    case WH_TRUNK:
        alb = mk(0.30, 0.23, 0.16);
        break;
    default:
        return mk(0, 0, 0);
    }
    double ndl = n[0] * sc->sun[0] + n[1] * sc->sun[1] + n[2] * sc->sun[2];
    double vis = 0;
    if (ndl > 0) {
        double o[3] = {h->p[0] + n[0] * 0.02, h->p[1] + n[1] * 0.02, h->p[2] + n[2] * 0.02};
        int tree_only;
        if (wshadowed(tr, o, sc->sun, &tree_only)) {
            vis = tree_only ? 0.22 : 0;
            shadow = tree_only ? 2 : 1;
        } else {
            vis = 1;
        }
    } else {
        shadow = 3;
    }
    if (label)
        *label = whash(h->kind * 64 + shadow * 16 + (h->face + 1), h->obj, (uint32_t)(m + 1));
    double skyk = 0.72 + 0.28 * n[2];
    if (h->kind == WH_LEAF) skyk *= 0.85;
    wrgb c = mk(alb.r * (AMB[0] * skyk + SUNC[0] * ndl * vis), alb.g * (AMB[1] * skyk + SUNC[1] * ndl * vis),
                alb.b * (AMB[2] * skyk + SUNC[2] * ndl * vis));
    if (spec_mix > 0) {
        double r[3] = {view_d[0], view_d[1], -view_d[2]};
        wrgb sky = wsky(sc, h->p, r);
        c = mix(c, sky, spec_mix);
    }
    return c;
}
