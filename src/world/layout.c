/*
 * layout.c - the town plan of a demo world: roads, river, parks, parking
 * lots, buildings, trees and parked cars, and the uniform grid that the ray
 * caster walks (see world_int.h for coordinates and the determinism rules).
 *
 * The plan, in order (each step draws from the one layout PRNG stream):
 *  1. town centre near the middle; a density 1 at the centre falling off
 *     outwards decides building types, heights and how many roads survive;
 *  2. a river meandering across (80%) with banks;
 *  3. a street grid, rotated by up to 25 degrees, nodes jittered and warped
 *     by low-frequency noise, edges dropped more often far from the centre
 *     (never below degree 2), only some edges bridge the river;
 *  4. arterials: a gently curved diagonal through the centre and a ring road
 *     (or a second diagonal), wider, with a dashed centre line;
 *  5. a plaza with a fountain on the block nearest the centre, parks on a
 *     few blocks (paths, sometimes a pond), parking lots beside streets;
 *  6. buildings along every street side (frontage placement against a 1 m
 *     occupancy raster), L-shaped wings, sheds in back yards;
 *  7. street trees, park trees, yard trees; parked cars along streets and
 *     in the lots.
 */
#include "config.h"
#include "world/world_int.h"

#include <stdlib.h>
#include <string.h>

/* Occupancy raster values (1 m cells). */
enum { OC_FREE = 0, OC_ROAD, OC_WATER, OC_PARK, OC_LOT, OC_BLD, OC_PLAZA };

typedef struct occmap {
    double x0, y0;         /* local coordinates of cell (0,0)'s corner */
    int w, h;
    unsigned char *v;
} occmap;

typedef struct gnode {
    double x, y;
    int ok;                /* inside the area of interest */
    int deg;
} gnode;

typedef struct layout {
    wscene *sc;
    wrng r;
    occmap oc;
    int have_river;
    double *rx, *ry;       /* river polyline */
    int n_river;
    double river_hw;
    int oom;
} layout;

/* ---- growable arrays -------------------------------------------------------- */

static int grow(void **p, int *cap, int n, size_t sz)
{
    if (n < *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, (size_t)nc * sz);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static wground *add_ground(layout *L)
{
    wscene *sc = L->sc;
    if (grow((void **)&sc->ground, &sc->cap_ground, sc->n_ground, sizeof(wground))) {
        L->oom = 1;
        return NULL;
    }
    wground *g = &sc->ground[sc->n_ground++];
    memset(g, 0, sizeof(*g));
    g->road = -1;
    return g;
}

static void ground_bbox(wground *g)
{
    if (g->n_poly) {
        g->bx0 = g->bx1 = g->px[0];
        g->by0 = g->by1 = g->py[0];
        for (int i = 1; i < g->n_poly; i++) {
            if (g->px[i] < g->bx0) g->bx0 = g->px[i];
            if (g->px[i] > g->bx1) g->bx1 = g->px[i];
            if (g->py[i] < g->by0) g->by0 = g->py[i];
            if (g->py[i] > g->by1) g->by1 = g->py[i];
        }
    } else {
        double r = g->hw + g->sw;
        g->bx0 = (g->x0 < g->x1 ? g->x0 : g->x1) - r;
        g->bx1 = (g->x0 > g->x1 ? g->x0 : g->x1) + r;
        g->by0 = (g->y0 < g->y1 ? g->y0 : g->y1) - r;
        g->by1 = (g->y0 > g->y1 ? g->y0 : g->y1) + r;
    }
}

static int add_building(layout *L, int kind)
{
    wscene *sc = L->sc;
    if (grow((void **)&sc->blds, &sc->cap_blds, sc->n_blds, sizeof(wbuilding))) {
        L->oom = 1;
        return -1;
    }
    wbuilding *b = &sc->blds[sc->n_blds];
    memset(b, 0, sizeof(*b));
    b->kind = kind;
    b->part0 = sc->n_parts;
    if (kind == WB_CAR) sc->n_cars++;
    else sc->n_houses++;
    return sc->n_blds++;
}

/* Append a part to building `bi`: centre, axis (ux,uy) unit, half extents
 * along/across the axis. The ridge runs along the longer side. */
static int add_part(layout *L, int bi, double cx, double cy, double ux, double uy, double a,
                    double b, double h, double rh)
{
    wscene *sc = L->sc;
    if (grow((void **)&sc->parts, &sc->cap_parts, sc->n_parts, sizeof(wpart))) {
        L->oom = 1;
        return -1;
    }
    if (a < b) { /* rotate the frame by 90 degrees so that a >= b */
        double t = ux;
        ux = -uy;
        uy = t;
        t = a;
        a = b;
        b = t;
    }
    wpart *p = &sc->parts[sc->n_parts];
    p->cx = cx;
    p->cy = cy;
    p->ux = ux;
    p->uy = uy;
    p->a = a;
    p->b = b;
    p->h = h;
    p->rh = rh;
    p->bld = bi;
    double ex = fabs(ux) * a + fabs(uy) * b, ey = fabs(uy) * a + fabs(ux) * b;
    p->bx0 = cx - ex;
    p->bx1 = cx + ex;
    p->by0 = cy - ey;
    p->by1 = cy + ey;
    if (h + rh > sc->max_h) sc->max_h = h + rh;
    sc->blds[bi].n_parts++;
    return sc->n_parts++;
}

static int add_tree(layout *L, double x, double y, double r, double rz, double cz, double trunk_r,
                    wrgb leaf)
{
    wscene *sc = L->sc;
    if (grow((void **)&sc->trees, &sc->cap_trees, sc->n_trees, sizeof(wtree))) {
        L->oom = 1;
        return -1;
    }
    wtree *t = &sc->trees[sc->n_trees];
    t->x = x;
    t->y = y;
    t->r = r;
    t->rz = rz;
    t->cz = cz;
    t->trunk_r = trunk_r;
    t->leaf = leaf;
    t->bx0 = x - r;
    t->bx1 = x + r;
    t->by0 = y - r;
    t->by1 = y + r;
    if (cz + rz > sc->max_h) sc->max_h = cz + rz;
    return sc->n_trees++;
}

static void add_street(layout *L, double x0, double y0, double x1, double y1, double hw, double sw)
{
    wscene *sc = L->sc;
    if (grow((void **)&sc->streets, &sc->cap_streets, sc->n_streets, sizeof(wstreet))) {
        L->oom = 1;
        return;
    }
    wstreet *s = &sc->streets[sc->n_streets++];
    s->x0 = x0;
    s->y0 = y0;
    s->x1 = x1;
    s->y1 = y1;
    s->hw = hw;
    s->sw = sw;
}

/* ---- geometry helpers ----------------------------------------------------- */

/* Squared distance from (px,py) to segment (ax,ay)-(bx,by); *tp = parameter. */
static double seg_d2(double px, double py, double ax, double ay, double bx, double by, double *tp)
{
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    t = wclamp(t, 0, 1);
    if (tp) *tp = t;
    double ex = ax + t * dx - px, ey = ay + t * dy - py;
    return ex * ex + ey * ey;
}

/* Do segments p1-p2 and p3-p4 cross? */
static int seg_cross(double x1, double y1, double x2, double y2, double x3, double y3, double x4,
                     double y4)
{
    double d1x = x2 - x1, d1y = y2 - y1, d2x = x4 - x3, d2y = y4 - y3;
    double den = d1x * d2y - d1y * d2x;
    if (den == 0) return 0;
    double t = ((x3 - x1) * d2y - (y3 - y1) * d2x) / den;
    double u = ((x3 - x1) * d1y - (y3 - y1) * d1x) / den;
    return t >= 0 && t <= 1 && u >= 0 && u <= 1;
}

static int in_convex(const double *px, const double *py, int n, double x, double y)
{
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        if ((px[j] - px[i]) * (y - py[i]) - (py[j] - py[i]) * (x - px[i]) < 0) return 0;
    }
    return 1;
}

/* Shrink a convex CCW polygon by d metres (offset edges inward, intersect
 * neighbours). Returns 0, or -1 when it degenerates. */
static int inset_convex(double *px, double *py, int n, double d)
{
    double ox[16], oy[16], dx[16], dy[16];
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        double ex = px[j] - px[i], ey = py[j] - py[i], l = sqrt(ex * ex + ey * ey);
        if (l < 1e-6) return -1;
        ex /= l;
        ey /= l;
        ox[i] = px[i] - ey * d; /* inward normal of a CCW edge is (-ey, ex) */
        oy[i] = py[i] + ex * d;
        dx[i] = ex;
        dy[i] = ey;
    }
    double nx[16], ny[16];
    for (int i = 0; i < n; i++) {
        int k = (i + n - 1) % n; /* previous edge */
        double den = dx[k] * dy[i] - dy[k] * dx[i];
        if (fabs(den) < 1e-9) return -1;
        double t = ((ox[i] - ox[k]) * dy[i] - (oy[i] - oy[k]) * dx[i]) / den;
        nx[i] = ox[k] + t * dx[k];
        ny[i] = oy[k] + t * dy[k];
    }
    /* still convex and CCW with positive area? */
    double area = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        area += nx[i] * ny[j] - nx[j] * ny[i];
        int k = (i + 2) % n;
        if ((nx[j] - nx[i]) * (ny[k] - ny[j]) - (ny[j] - ny[i]) * (nx[k] - nx[j]) <= 0) return -1;
    }
    if (area < 2 * 100.0) return -1; /* smaller than 100 m2 */
    memcpy(px, nx, sizeof(double) * (size_t)n);
    memcpy(py, ny, sizeof(double) * (size_t)n);
    return 0;
}

static double poly_area(const double *px, const double *py, int n)
{
    double a = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        a += px[i] * py[j] - px[j] * py[i];
    }
    return a * 0.5;
}

static double dens(const layout *L, double x, double y) { return wdensity(L->sc, x, y); }

/* ---- occupancy raster -------------------------------------------------------- */

static int occ_idx(const occmap *o, double x, double y)
{
    double fx = floor(x - o->x0), fy = floor(y - o->y0);
    if (fx < 0 || fy < 0 || fx >= o->w || fy >= o->h) return -1;
    return (int)fy * o->w + (int)fx;
}

static unsigned char occ_get(const occmap *o, double x, double y)
{
    int i = occ_idx(o, x, y);
    return i < 0 ? OC_ROAD : o->v[i]; /* outside counts as taken */
}

/* Cell range of a box, clipped. */
static void occ_range(const occmap *o, double bx0, double by0, double bx1, double by1, int *i0, int *j0,
                      int *i1, int *j1)
{
    double a = floor(bx0 - o->x0), b = floor(by0 - o->y0), c = floor(bx1 - o->x0), d = floor(by1 - o->y0);
    *i0 = a < 0 ? 0 : a >= o->w ? o->w - 1 : (int)a;
    *j0 = b < 0 ? 0 : b >= o->h ? o->h - 1 : (int)b;
    *i1 = c < 0 ? -1 : c >= o->w ? o->w - 1 : (int)c;
    *j1 = d < 0 ? -1 : d >= o->h ? o->h - 1 : (int)d;
}

static void occ_capsule(occmap *o, double x0, double y0, double x1, double y1, double r,
                        unsigned char val, int overwrite)
{
    int i0, j0, i1, j1;
    occ_range(o, (x0 < x1 ? x0 : x1) - r, (y0 < y1 ? y0 : y1) - r, (x0 > x1 ? x0 : x1) + r,
              (y0 > y1 ? y0 : y1) + r, &i0, &j0, &i1, &j1);
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) {
            double px = o->x0 + i + 0.5, py = o->y0 + j + 0.5;
            if (seg_d2(px, py, x0, y0, x1, y1, NULL) <= r * r) {
                unsigned char *c = &o->v[j * o->w + i];
                if (overwrite || *c == OC_FREE) *c = val;
            }
        }
}

static void occ_poly(occmap *o, const double *px, const double *py, int n, unsigned char val)
{
    double bx0 = px[0], bx1 = px[0], by0 = py[0], by1 = py[0];
    for (int k = 1; k < n; k++) {
        if (px[k] < bx0) bx0 = px[k];
        if (px[k] > bx1) bx1 = px[k];
        if (py[k] < by0) by0 = py[k];
        if (py[k] > by1) by1 = py[k];
    }
    int i0, j0, i1, j1;
    occ_range(o, bx0, by0, bx1, by1, &i0, &j0, &i1, &j1);
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++)
            if (in_convex(px, py, n, o->x0 + i + 0.5, o->y0 + j + 0.5)) {
                unsigned char *c = &o->v[j * o->w + i];
                if (*c == OC_FREE) *c = val;
            }
}

/* Oriented rectangle: centre, unit axis u, half extents a (along u), b. */
typedef struct orect {
    double cx, cy, ux, uy, a, b;
} orect;

static void orect_corners(const orect *r, double m, double *px, double *py)
{
    double a = r->a + m, b = r->b + m, vx = -r->uy, vy = r->ux;
    px[0] = r->cx - r->ux * a - vx * b; py[0] = r->cy - r->uy * a - vy * b;
    px[1] = r->cx + r->ux * a - vx * b; py[1] = r->cy + r->uy * a - vy * b;
    px[2] = r->cx + r->ux * a + vx * b; py[2] = r->cy + r->uy * a + vy * b;
    px[3] = r->cx - r->ux * a + vx * b; py[3] = r->cy - r->uy * a + vy * b;
}

/* 1 if every cell whose centre lies in the rectangle grown by m is free
 * (or, when allow_val > 0, holds allow_val). */
static int occ_rect_free(const occmap *o, const orect *r, double m, unsigned char allow_val)
{
    double px[4], py[4];
    orect_corners(r, m, px, py);
    double bx0 = px[0], bx1 = px[0], by0 = py[0], by1 = py[0];
    for (int k = 1; k < 4; k++) {
        if (px[k] < bx0) bx0 = px[k];
        if (px[k] > bx1) bx1 = px[k];
        if (py[k] < by0) by0 = py[k];
        if (py[k] > by1) by1 = py[k];
    }
    if (bx0 < o->x0 || by0 < o->y0 || bx1 >= o->x0 + o->w || by1 >= o->y0 + o->h) return 0;
    int i0, j0, i1, j1;
    occ_range(o, bx0, by0, bx1, by1, &i0, &j0, &i1, &j1);
    double a = r->a + m, b = r->b + m;
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) {
            double dx = o->x0 + i + 0.5 - r->cx, dy = o->y0 + j + 0.5 - r->cy;
            double u = dx * r->ux + dy * r->uy, v = -dx * r->uy + dy * r->ux;
            if (fabs(u) > a || fabs(v) > b) continue;
            unsigned char c = o->v[j * o->w + i];
            if (c != OC_FREE && !(allow_val && c == allow_val)) return 0;
        }
    return 1;
}

static void occ_rect_mark(occmap *o, const orect *r, unsigned char val)
{
    double px[4], py[4];
    orect_corners(r, 0, px, py);
    occ_poly(o, px, py, 4, val);
}

/* Is there a cell of value `val` within radius rad of (x, y)? */
static int occ_near(const occmap *o, double x, double y, double rad, unsigned char val)
{
    int i0, j0, i1, j1;
    occ_range(o, x - rad, y - rad, x + rad, y + rad, &i0, &j0, &i1, &j1);
    for (int j = j0; j <= j1; j++)
        for (int i = i0; i <= i1; i++) {
            double dx = o->x0 + i + 0.5 - x, dy = o->y0 + j + 0.5 - y;
            if (dx * dx + dy * dy <= rad * rad && o->v[j * o->w + i] == val) return 1;
        }
    return 0;
}

/* ---- palettes ------------------------------------------------------------- */

static wrgb rgb(double r, double g, double b)
{
    wrgb c = {(float)r, (float)g, (float)b};
    return c;
}

static wrgb jitter(layout *L, wrgb c, double amt)
{
    double k = wrng_range(&L->r, 1 - amt, 1 + amt);
    c.r = (float)wclamp(c.r * k + wrng_range(&L->r, -amt, amt) * 0.3, 0, 1);
    c.g = (float)wclamp(c.g * k + wrng_range(&L->r, -amt, amt) * 0.3, 0, 1);
    c.b = (float)wclamp(c.b * k + wrng_range(&L->r, -amt, amt) * 0.3, 0, 1);
    return c;
}

static const float FACADES[][3] = {
    {0.88f, 0.87f, 0.83f}, {0.90f, 0.84f, 0.68f}, {0.82f, 0.66f, 0.42f}, {0.86f, 0.63f, 0.53f},
    {0.72f, 0.72f, 0.71f}, {0.62f, 0.33f, 0.25f}, {0.70f, 0.78f, 0.84f}, {0.74f, 0.81f, 0.66f},
    {0.60f, 0.59f, 0.56f}, {0.93f, 0.91f, 0.86f}, {0.80f, 0.74f, 0.62f}, {0.55f, 0.45f, 0.38f},
};
static const float PITCHED_ROOFS[][3] = {
    {0.62f, 0.30f, 0.20f}, {0.50f, 0.20f, 0.15f}, {0.42f, 0.31f, 0.25f},
    {0.27f, 0.27f, 0.29f}, {0.48f, 0.47f, 0.46f}, {0.68f, 0.38f, 0.24f},
};
static const float FLAT_ROOFS[][3] = {
    {0.58f, 0.56f, 0.52f}, {0.33f, 0.33f, 0.35f}, {0.80f, 0.80f, 0.78f},
    {0.47f, 0.46f, 0.44f}, {0.36f, 0.45f, 0.26f}, {0.66f, 0.64f, 0.60f},
};
static const float CARS[][3] = {
    {0.90f, 0.90f, 0.90f}, {0.08f, 0.08f, 0.09f}, {0.62f, 0.63f, 0.65f}, {0.35f, 0.36f, 0.38f},
    {0.12f, 0.18f, 0.40f}, {0.65f, 0.10f, 0.10f}, {0.20f, 0.30f, 0.22f}, {0.80f, 0.75f, 0.60f},
};
#define NPAL(a) ((int)(sizeof(a) / sizeof(a[0])))

static wrgb pick(layout *L, const float (*pal)[3], int n, double amt)
{
    const float *p = pal[wrng_int(&L->r, n)];
    return jitter(L, rgb(p[0], p[1], p[2]), amt);
}

/* ---- roads ------------------------------------------------------------------ */

/* Add one road made of a polyline. */
static void add_road(layout *L, const double *xs, const double *ys, int n, double hw, double sw,
                     int marking)
{
    wscene *sc = L->sc;
    int id = sc->n_roads++;
    double s = 0;
    for (int i = 0; i + 1 < n; i++) {
        double dx = xs[i + 1] - xs[i], dy = ys[i + 1] - ys[i], l = sqrt(dx * dx + dy * dy);
        double mx = 0.5 * (xs[i] + xs[i + 1]), my = 0.5 * (ys[i] + ys[i + 1]);
        int inside = mx > sc->ex0 && mx < sc->ex1 && my > sc->ey0 && my < sc->ey1;
        if (l > 1e-6 && inside) {
            wground *g = add_ground(L);
            if (!g) return;
            g->kind = WG_ROAD;
            g->road = id;
            g->x0 = xs[i];
            g->y0 = ys[i];
            g->x1 = xs[i + 1];
            g->y1 = ys[i + 1];
            g->hw = hw;
            g->sw = sw;
            g->marking = marking;
            g->s0 = s;
            ground_bbox(g);
            occ_capsule(&L->oc, g->x0, g->y0, g->x1, g->y1, hw + sw, OC_ROAD, 1);
            add_street(L, g->x0, g->y0, g->x1, g->y1, hw, sw);
        }
        s += l;
    }
}

/* Does a segment cross the river? */
static int crosses_river(const layout *L, double x0, double y0, double x1, double y1)
{
    if (!L->have_river) return 0;
    for (int i = 0; i + 1 < L->n_river; i++) {
        double rx0 = L->rx[i], ry0 = L->ry[i], rx1 = L->rx[i + 1], ry1 = L->ry[i + 1];
        if (seg_cross(x0, y0, x1, y1, rx0, ry0, rx1, ry1)) return 1;
        /* also refuse roads that run along inside the water */
        double d2 = seg_d2(0.5 * (x0 + x1), 0.5 * (y0 + y1), rx0, ry0, rx1, ry1, NULL);
        if (d2 < L->river_hw * L->river_hw) return 1;
    }
    return 0;
}

static void make_river(layout *L)
{
    wscene *sc = L->sc;
    L->have_river = wrng_chance(&L->r, 0.8);
    if (!L->have_river) return;
    double S = sc->size, span = sc->ex1 - sc->ex0;
    int vertical = wrng_chance(&L->r, 0.5);
    /* across the town, passing 15-40% of the size away from the centre */
    double off = wrng_range(&L->r, 0.15, 0.40) * S * (wrng_chance(&L->r, 0.5) ? 1 : -1);
    double slope = wrng_range(&L->r, -0.35, 0.35);
    double a1 = wrng_range(&L->r, 0.03, 0.07) * S, l1 = wrng_range(&L->r, 0.5, 0.9) * S;
    double a2 = wrng_range(&L->r, 0.01, 0.03) * S, l2 = wrng_range(&L->r, 0.2, 0.35) * S;
    double p1 = wrng_range(&L->r, 0, 2 * WPI), p2 = wrng_range(&L->r, 0, 2 * WPI);
    L->river_hw = wrng_range(&L->r, 7, 14);
    double step = 8;
    int n = (int)(span / step) + 2;
    L->rx = malloc(sizeof(double) * (size_t)n);
    L->ry = malloc(sizeof(double) * (size_t)n);
    if (!L->rx || !L->ry) {
        L->oom = 1;
        return;
    }
    for (int i = 0; i < n; i++) {
        double t = (vertical ? sc->ey0 : sc->ex0) + i * step;
        double c0 = vertical ? sc->cy : sc->cx, c1 = vertical ? sc->cx : sc->cy;
        double w = c1 + off + slope * (t - c0) + a1 * wsin(2 * WPI * t / l1 + p1) +
                   a2 * wsin(2 * WPI * t / l2 + p2);
        L->rx[i] = vertical ? w : t;
        L->ry[i] = vertical ? t : w;
    }
    L->n_river = n;
    for (int i = 0; i + 1 < n; i++) {
        wground *g = add_ground(L);
        if (!g) return;
        g->kind = WG_RIVER;
        g->x0 = L->rx[i];
        g->y0 = L->ry[i];
        g->x1 = L->rx[i + 1];
        g->y1 = L->ry[i + 1];
        g->hw = L->river_hw;
        g->sw = 3.0;
        ground_bbox(g);
        occ_capsule(&L->oc, g->x0, g->y0, g->x1, g->y1, g->hw + g->sw, OC_WATER, 1);
    }
}

typedef struct grid {
    int ni, nj;            /* node counts */
    int i0, j0;            /* index offsets */
    gnode *n;              /* ni * nj */
    unsigned char *eh, *ev;/* edge (i,j)-(i+1,j) and (i,j)-(i,j+1) kept */
    double e1x, e1y, e2x, e2y, sx, sy;
} grid;

static gnode *gn(grid *g, int i, int j)
{
    if (i < 0 || j < 0 || i >= g->ni || j >= g->nj) return NULL;
    return &g->n[j * g->ni + i];
}

static int make_grid(layout *L, grid *g)
{
    wscene *sc = L->sc;
    double th = wrng_range(&L->r, -25, 25) * WDEG, s, c;
    wsincos(th, &s, &c);
    g->e1x = c; g->e1y = s; g->e2x = -s; g->e2y = c;
    g->sx = wrng_range(&L->r, 72, 105);
    g->sy = wrng_range(&L->r, 72, 105);
    double hx = 0.5 * (sc->ex1 - sc->ex0), R = hx * 1.4143 + 120;
    int ki = (int)(R / g->sx) + 2, kj = (int)(R / g->sy) + 2;
    g->ni = 2 * ki + 1;
    g->nj = 2 * kj + 1;
    g->i0 = -ki;
    g->j0 = -kj;
    size_t nn = (size_t)g->ni * (size_t)g->nj;
    g->n = calloc(nn, sizeof(gnode));
    g->eh = calloc(nn, 1);
    g->ev = calloc(nn, 1);
    if (!g->n || !g->eh || !g->ev) return -1;
    double warp = 14, wl = 260;
    for (int j = 0; j < g->nj; j++)
        for (int i = 0; i < g->ni; i++) {
            double a = (i + g->i0) * g->sx + wrng_range(&L->r, -0.12, 0.12) * g->sx;
            double b = (j + g->j0) * g->sy + wrng_range(&L->r, -0.12, 0.12) * g->sy;
            double x = sc->cx + a * g->e1x + b * g->e2x, y = sc->cy + a * g->e1y + b * g->e2y;
            x += (wnoise(x / wl, y / wl, sc->nseed + 7) - 0.5) * 2 * warp;
            y += (wnoise(x / wl, y / wl, sc->nseed + 8) - 0.5) * 2 * warp;
            gnode *p = gn(g, i, j);
            p->x = x;
            p->y = y;
            p->ok = x > sc->ex0 - 0.6 * g->sx && x < sc->ex1 + 0.6 * g->sx &&
                    y > sc->ey0 - 0.6 * g->sy && y < sc->ey1 + 0.6 * g->sy;
        }
    for (int j = 0; j < g->nj; j++)
        for (int i = 0; i < g->ni; i++) {
            gnode *p = gn(g, i, j), *q;
            if (!p->ok) continue;
            if ((q = gn(g, i + 1, j)) && q->ok) { g->eh[j * g->ni + i] = 1; p->deg++; q->deg++; }
            if ((q = gn(g, i, j + 1)) && q->ok) { g->ev[j * g->ni + i] = 1; p->deg++; q->deg++; }
        }
    /* drop edges: more far from the centre; bridges are rare */
    int ne = 2 * g->ni * g->nj;
    for (int k = 0; k < ne; k++) {
        int e = k; /* deterministic order, random decisions */
        int horiz = e % 2, idx = e / 2, i = idx % g->ni, j = idx / g->ni;
        unsigned char *ep = horiz ? &g->eh[idx] : &g->ev[idx];
        if (!*ep) continue;
        gnode *p = gn(g, i, j), *q = horiz ? gn(g, i + 1, j) : gn(g, i, j + 1);
        double mx = 0.5 * (p->x + q->x), my = 0.5 * (p->y + q->y);
        double pdrop = 0.06 + 0.30 * (1 - dens(L, mx, my));
        double u = wrng_u(&L->r);
        int river = crosses_river(L, p->x, p->y, q->x, q->y);
        if (river) pdrop = 0.7;
        if (u < pdrop && (river || (p->deg > 2 && q->deg > 2))) {
            *ep = 0;
            p->deg--;
            q->deg--;
        }
    }
    return 0;
}

static void grid_roads(layout *L, grid *g)
{
    for (int j = 0; j < g->nj; j++)
        for (int i = 0; i < g->ni; i++) {
            gnode *p = gn(g, i, j);
            for (int h = 0; h < 2; h++) {
                int idx = j * g->ni + i;
                if (!(h ? g->eh[idx] : g->ev[idx])) continue;
                gnode *q = h ? gn(g, i + 1, j) : gn(g, i, j + 1);
                double mx = 0.5 * (p->x + q->x), my = 0.5 * (p->y + q->y);
                double d = dens(L, mx, my);
                double hw = wrng_range(&L->r, 3.2, 4.2) + 0.8 * d, sw = d > 0.2 ? 2.2 : 1.6;
                double xs[2] = {p->x, q->x}, ys[2] = {p->y, q->y};
                add_road(L, xs, ys, 2, hw, sw, 0);
            }
        }
}

static void arterials(layout *L, grid *g)
{
    wscene *sc = L->sc;
    double R = (sc->ex1 - sc->ex0) * 0.75 + 50;
    double xs[1200], ys[1200];
    /* a gently curved diagonal through the centre: quadratic Bezier */
    {
        double ang = (45 + wrng_range(&L->r, -12, 12)) * WDEG, s, c;
        wsincos(ang, &s, &c);
        double dx = c * g->e1x - s * g->e1y, dy = c * g->e1y + s * g->e1x; /* rotate e1 */
        double ox = sc->cx + wrng_range(&L->r, -0.04, 0.04) * sc->size;
        double oy = sc->cy + wrng_range(&L->r, -0.04, 0.04) * sc->size;
        double bend = wrng_range(&L->r, -0.12, 0.12) * sc->size;
        double ax = ox - dx * R, ay = oy - dy * R, bx = ox + dx * R, by = oy + dy * R;
        double mx = ox - dy * bend, my = oy + dx * bend;
        int n = (int)(2 * R / 10) + 1;
        if (n > 1200) n = 1200;
        for (int i = 0; i < n; i++) {
            double t = (double)i / (n - 1), u = 1 - t;
            xs[i] = u * u * ax + 2 * u * t * mx + t * t * bx;
            ys[i] = u * u * ay + 2 * u * t * my + t * t * by;
        }
        add_road(L, xs, ys, n, wrng_range(&L->r, 5.5, 6.8), 2.6, 1);
    }
    if (wrng_chance(&L->r, 0.7)) { /* ring road */
        double s_eff = sc->size > 400 ? sc->size : 400;
        double r0 = wrng_range(&L->r, 0.28, 0.38) * s_eff;
        double p1 = wrng_range(&L->r, 0, 2 * WPI), p2 = wrng_range(&L->r, 0, 2 * WPI);
        int n = (int)(2 * WPI * r0 / 10) + 1;
        if (n > 1200) n = 1200;
        for (int i = 0; i < n; i++) {
            double a = 2 * WPI * i / (n - 1);
            double rr = r0 * (1 + 0.10 * wsin(2 * a + p1) + 0.06 * wsin(3 * a + p2));
            xs[i] = sc->cx + rr * wcos(a);
            ys[i] = sc->cy + rr * wsin(a);
        }
        add_road(L, xs, ys, n, wrng_range(&L->r, 5.5, 6.5), 2.4, 1);
    } else { /* a second, straighter through road */
        double ang = (-45 + wrng_range(&L->r, -15, 15)) * WDEG, s, c;
        wsincos(ang, &s, &c);
        double dx = c * g->e1x - s * g->e1y, dy = c * g->e1y + s * g->e1x;
        double ox = sc->cx + wrng_range(&L->r, -0.2, 0.2) * sc->size;
        double oy = sc->cy + wrng_range(&L->r, -0.2, 0.2) * sc->size;
        int n = (int)(2 * R / 10) + 1;
        if (n > 1200) n = 1200;
        for (int i = 0; i < n; i++) {
            double t = -R + 2 * R * i / (n - 1);
            xs[i] = ox + dx * t;
            ys[i] = oy + dy * t;
        }
        add_road(L, xs, ys, n, wrng_range(&L->r, 5.0, 6.0), 2.4, 1);
    }
}

/* ---- blocks: plaza, parks, lots --------------------------------------------- */

static int block_poly(grid *g, int i, int j, double *px, double *py)
{
    gnode *a = gn(g, i, j), *b = gn(g, i + 1, j), *c = gn(g, i + 1, j + 1), *d = gn(g, i, j + 1);
    if (!a || !b || !c || !d || !a->ok || !b->ok || !c->ok || !d->ok) return -1;
    px[0] = a->x; py[0] = a->y;
    px[1] = b->x; py[1] = b->y;
    px[2] = c->x; py[2] = c->y;
    px[3] = d->x; py[3] = d->y;
    if (poly_area(px, py, 4) <= 0) return -1;
    return 0;
}

static void add_poly_ground(layout *L, int kind, const double *px, const double *py, int n)
{
    wground *g = add_ground(L);
    if (!g) return;
    g->kind = kind;
    g->n_poly = n;
    memcpy(g->px, px, sizeof(double) * (size_t)n);
    memcpy(g->py, py, sizeof(double) * (size_t)n);
    ground_bbox(g);
}

static void add_pond(layout *L, double x, double y, double rx, double ry, double rot)
{
    double px[16], py[16], s, c;
    wsincos(rot, &s, &c);
    for (int k = 0; k < 16; k++) {
        double a = 2 * WPI * k / 16, ex = rx * wcos(a), ey = ry * wsin(a);
        px[k] = x + c * ex - s * ey;
        py[k] = y + s * ex + c * ey;
    }
    add_poly_ground(L, WG_POND, px, py, 16);
    occ_poly(&L->oc, px, py, 16, OC_WATER);
}

static void park_paths(layout *L, const double *px, const double *py)
{
    /* two gravel paths between points on opposite edges */
    for (int k = 0; k < 2; k++) {
        int e0 = k, e1 = k + 2;
        double t0 = wrng_range(&L->r, 0.3, 0.7), t1 = wrng_range(&L->r, 0.3, 0.7);
        double x0 = px[e0] + (px[(e0 + 1) % 4] - px[e0]) * t0, y0 = py[e0] + (py[(e0 + 1) % 4] - py[e0]) * t0;
        double x1 = px[e1] + (px[(e1 + 1) % 4] - px[e1]) * t1, y1 = py[e1] + (py[(e1 + 1) % 4] - py[e1]) * t1;
        wground *g = add_ground(L);
        if (!g) return;
        g->kind = WG_PATH;
        g->x0 = x0; g->y0 = y0; g->x1 = x1; g->y1 = y1;
        g->hw = 1.3;
        ground_bbox(g);
    }
}

static void blocks(layout *L, grid *g)
{
    wscene *sc = L->sc;
    /* the block whose centroid is nearest the centre becomes the plaza */
    int bi = -1, bj = -1;
    double best = 1e30;
    for (int j = 0; j + 1 < g->nj; j++)
        for (int i = 0; i + 1 < g->ni; i++) {
            double px[4], py[4];
            if (block_poly(g, i, j, px, py)) continue;
            double mx = 0.25 * (px[0] + px[1] + px[2] + px[3]), my = 0.25 * (py[0] + py[1] + py[2] + py[3]);
            double d = (mx - sc->cx) * (mx - sc->cx) + (my - sc->cy) * (my - sc->cy);
            if (d < best) { best = d; bi = i; bj = j; }
        }
    int n_parks = 0, want_pond = !L->have_river;
    for (int j = 0; j + 1 < g->nj; j++)
        for (int i = 0; i + 1 < g->ni; i++) {
            double px[4], py[4];
            if (block_poly(g, i, j, px, py)) continue;
            double mx = 0.25 * (px[0] + px[1] + px[2] + px[3]), my = 0.25 * (py[0] + py[1] + py[2] + py[3]);
            double u = wrng_u(&L->r);
            int plaza = i == bi && j == bj;
            int near = (mx - sc->cx) * (mx - sc->cx) + (my - sc->cy) * (my - sc->cy) <
                       (0.3 * sc->size) * (0.3 * sc->size);
            int park = !plaza && (u < 0.07 || (n_parks == 0 && near && u < 0.5));
            if (!plaza && !park) continue;
            if (mx < sc->ex0 || mx > sc->ex1 || my < sc->ey0 || my > sc->ey1) continue;
            if (inset_convex(px, py, 4, plaza ? 9.0 : 8.5)) continue;
            if (plaza) {
                add_poly_ground(L, WG_PLAZA, px, py, 4);
                occ_poly(&L->oc, px, py, 4, OC_PLAZA);
                /* fountain */
                double fx = 0.25 * (px[0] + px[1] + px[2] + px[3]), fy = 0.25 * (py[0] + py[1] + py[2] + py[3]);
                add_pond(L, fx, fy, 4.5, 4.5, 0);
                int b = add_building(L, WB_KIOSK);
                if (b >= 0) {
                    wbuilding *B = &sc->blds[b];
                    B->facade = rgb(0.75, 0.72, 0.66);
                    B->roof = rgb(0.70, 0.68, 0.62);
                    B->trim = B->facade;
                    B->window = B->facade;
                    B->floor_h = 100;
                    add_part(L, b, fx, fy, 1, 0, 0.8, 0.8, 3.2, 0);
                }
                /* trees along the plaza's edges */
                for (int e = 0; e < 4; e++) {
                    int k2 = (e + 1) % 4;
                    double ex = px[k2] - px[e], ey = py[k2] - py[e], l = sqrt(ex * ex + ey * ey);
                    double nx = -ey / l, ny = ex / l;
                    for (double t = 6; t < l - 5; t += 9) {
                        double x = px[e] + ex * t / l + nx * 2.5, y = py[e] + ey * t / l + ny * 2.5;
                        double r = wrng_range(&L->r, 2.2, 3.0);
                        add_tree(L, x, y, r, r * 0.9, 3.0 + r * 0.9, 0.18,
                                 jitter(L, rgb(0.22, 0.36, 0.14), 0.08));
                    }
                }
                continue;
            }
            n_parks++;
            add_poly_ground(L, WG_PARK, px, py, 4);
            occ_poly(&L->oc, px, py, 4, OC_PARK);
            park_paths(L, px, py);
            if (want_pond || wrng_chance(&L->r, 0.35)) {
                double fx = 0.25 * (px[0] + px[1] + px[2] + px[3]), fy = 0.25 * (py[0] + py[1] + py[2] + py[3]);
                double rr = sqrt(poly_area(px, py, 4)) * 0.22;
                add_pond(L, fx + wrng_range(&L->r, -3, 3), fy + wrng_range(&L->r, -3, 3), rr,
                         rr * wrng_range(&L->r, 0.5, 0.9), wrng_range(&L->r, 0, WPI));
                want_pond = 0;
            }
        }
}

/* A car at (x, y) along (ux, uy): a body box and a narrower cabin box on
 * it (part0 = body, part0 + 1 = cabin; trace.c shades them apart). */
static int add_car(layout *L, double x, double y, double ux, double uy)
{
    wscene *sc = L->sc;
    int b = add_building(L, WB_CAR);
    if (b < 0) return -1;
    wbuilding *B = &sc->blds[b];
    B->facade = pick(L, CARS, NPAL(CARS), 0.05);
    B->roof = B->facade;
    B->trim = rgb(0.05, 0.05, 0.06);
    B->window = jitter(L, rgb(0.12, 0.14, 0.17), 0.1);
    double a = wrng_range(&L->r, 2.05, 2.4), w = wrng_range(&L->r, 0.84, 0.94);
    double hb = wrng_range(&L->r, 0.78, 0.92), hc = hb + wrng_range(&L->r, 0.5, 0.7);
    double back = (wrng_chance(&L->r, 0.5) ? 1 : -1) * a * wrng_range(&L->r, 0.05, 0.15);
    double ca = a * wrng_range(&L->r, 0.5, 0.62);
    if (add_part(L, b, x, y, ux, uy, a, w, hb, 0) < 0) return -1;
    if (add_part(L, b, x + ux * back, y + uy * back, ux, uy, ca, w * 0.9, hc, 0) < 0) return -1;
    return 0;
}

static void parking_lots(layout *L)
{
    wscene *sc = L->sc;
    int want = 1 + (int)(sc->size * sc->size / 250000.0), made = 0;
    for (int tries = 0; tries < want * 40 && made < want && sc->n_streets; tries++) {
        const wstreet *s = &sc->streets[wrng_int(&L->r, sc->n_streets)];
        double dx = s->x1 - s->x0, dy = s->y1 - s->y0, l = sqrt(dx * dx + dy * dy);
        if (l < 20) continue;
        double ux = dx / l, uy = dy / l, side = wrng_chance(&L->r, 0.5) ? 1 : -1;
        int stalls = 8 + wrng_int(&L->r, 10), rows = wrng_chance(&L->r, 0.6) ? 2 : 1;
        double lu = stalls * 2.5, lv = rows == 2 ? 16 : 11;
        double t = wrng_range(&L->r, 0, l);
        double off = s->hw + s->sw + 1.0;
        orect r;
        r.ux = ux;
        r.uy = uy;
        r.a = lu / 2;
        r.b = lv / 2;
        r.cx = s->x0 + ux * t - side * uy * (off + lv / 2);
        r.cy = s->y0 + uy * t + side * ux * (off + lv / 2);
        if (!occ_rect_free(&L->oc, &r, 1.0, 0)) continue;
        double cx = r.cx - sc->cx, cy = r.cy - sc->cy;
        if (cx * cx + cy * cy < (0.08 * sc->size) * (0.08 * sc->size)) continue;
        wground *g = add_ground(L);
        if (!g) return;
        g->kind = WG_LOT;
        orect_corners(&r, 0, g->px, g->py);
        g->n_poly = 4;
        g->ux = ux;
        g->uy = uy;
        g->ox = g->px[0];
        g->oy = g->py[0];
        g->lu = lu;
        g->lv = lv;
        ground_bbox(g);
        occ_rect_mark(&L->oc, &r, OC_LOT);
        made++;
        /* cars in the stalls: rows at v in [0,5] (and [11,16]) */
        double vx = -uy, vy = ux;
        for (int row = 0; row < rows; row++) {
            double vc = row == 0 ? 2.5 : 13.5;
            for (int k = 0; k < stalls; k++) {
                if (!wrng_chance(&L->r, 0.6)) continue;
                double uc = 1.25 + 2.5 * k;
                double x = g->ox + ux * uc + vx * vc, y = g->oy + uy * uc + vy * vc;
                if (add_car(L, x + wrng_range(&L->r, -0.1, 0.1), y, vx, vy)) return;
            }
        }
    }
}

/* ---- buildings ----------------------------------------------------------------- */

static void style_building(layout *L, int b, double d)
{
    wbuilding *B = &L->sc->blds[b];
    B->facade = pick(L, FACADES, NPAL(FACADES), 0.05);
    B->trim = jitter(L, rgb(B->facade.r * 0.8, B->facade.g * 0.8, B->facade.b * 0.8), 0.05);
    B->window = jitter(L, rgb(0.17, 0.21, 0.26), 0.15);
    switch (B->kind) {
    case WB_HOUSE:
        B->floor_h = 2.9;
        B->win_w = wrng_range(&L->r, 1.0, 1.4);
        B->win_h = wrng_range(&L->r, 1.2, 1.5);
        B->win_pitch = wrng_range(&L->r, 2.8, 4.0);
        B->sill = 0.9;
        break;
    case WB_APART:
        B->floor_h = 3.0;
        B->win_w = wrng_range(&L->r, 1.1, 1.6);
        B->win_h = wrng_range(&L->r, 1.4, 1.7);
        B->win_pitch = wrng_range(&L->r, 2.5, 3.5);
        B->sill = 0.85;
        break;
    case WB_COMMERCIAL:
        B->floor_h = 3.4;
        B->win_w = wrng_range(&L->r, 1.4, 2.4);
        B->win_h = wrng_range(&L->r, 1.6, 2.1);
        B->win_pitch = B->win_w + wrng_range(&L->r, 0.6, 1.4);
        B->sill = 0.8;
        B->shop = wrng_chance(&L->r, 0.7);
        break;
    default:
        B->floor_h = 6.0;
        B->win_w = wrng_range(&L->r, 2.0, 4.0);
        B->win_h = 1.0;
        B->win_pitch = B->win_w + wrng_range(&L->r, 2, 5);
        B->sill = 3.5;
        B->facade = jitter(L, rgb(0.70, 0.71, 0.72), 0.06);
        break;
    }
    (void)d;
}

/* Try to place a building with its front on a street side. Returns the
 * frontage used (0 = nothing placed). */
static double place_frontage(layout *L, const wstreet *s, double ux, double uy, double side, double t)
{
    wscene *sc = L->sc;
    double bx = s->x0 + ux * t, by = s->y0 + uy * t, d = dens(L, bx, by);
    double u = wrng_u(&L->r);
    int kind;
    if (d > 0.62) kind = u < 0.45 ? WB_COMMERCIAL : WB_APART;
    else if (d > 0.35) kind = u < 0.55 ? WB_APART : u < 0.97 ? WB_HOUSE : WB_INDUSTRIAL;
    else kind = u < 0.85 ? WB_HOUSE : u < 0.95 ? WB_APART : WB_INDUSTRIAL;
    double w, dep, setb, h, rh = 0, margin;
    switch (kind) {
    case WB_COMMERCIAL:
        w = wrng_range(&L->r, 12, 30); dep = wrng_range(&L->r, 12, 20);
        setb = wrng_range(&L->r, 0.3, 1.5); margin = 0.4;
        h = 3.4 * (3 + wrng_int(&L->r, 4 + (int)(4 * d))) + 0.6;
        break;
    case WB_APART:
        w = wrng_range(&L->r, 12, 22); dep = wrng_range(&L->r, 10, 14);
        setb = d > 0.62 ? wrng_range(&L->r, 0.3, 2) : wrng_range(&L->r, 3, 6); margin = d > 0.62 ? 0.4 : 2.5;
        h = 3.0 * (3 + wrng_int(&L->r, 3)) + 0.5;
        if (wrng_chance(&L->r, 0.3)) rh = dep * 0.5 * wrng_range(&L->r, 0.45, 0.7);
        break;
    case WB_INDUSTRIAL:
        w = wrng_range(&L->r, 24, 45); dep = wrng_range(&L->r, 18, 32);
        setb = wrng_range(&L->r, 4, 9); margin = 3;
        h = wrng_range(&L->r, 6, 9);
        break;
    default:
        w = wrng_range(&L->r, 8, 12.5); dep = wrng_range(&L->r, 7.5, 10.5);
        setb = wrng_range(&L->r, 4, 8); margin = 2.0;
        h = 2.9 * (1 + wrng_int(&L->r, 2)) + 0.4;
        rh = (w < dep ? w : dep) * 0.5 * wrng_range(&L->r, 0.55, 0.95);
        break;
    }
    double nx = -uy * side, ny = ux * side; /* towards this side */
    double off = s->hw + s->sw + setb;
    for (int attempt = 0; attempt < 2; attempt++) {
        orect r;
        r.ux = ux;
        r.uy = uy;
        r.a = w / 2;
        r.b = dep / 2;
        r.cx = bx + ux * (w / 2) + nx * (off + dep / 2);
        r.cy = by + uy * (w / 2) + ny * (off + dep / 2);
        if (occ_rect_free(&L->oc, &r, margin, 0)) {
            /* an L-shaped wing behind, sometimes */
            orect wing;
            int has_wing = 0;
            if ((kind == WB_HOUSE || kind == WB_APART) && wrng_chance(&L->r, 0.35)) {
                double ww = w * wrng_range(&L->r, 0.35, 0.5), wd = dep * wrng_range(&L->r, 0.5, 0.9);
                double end = wrng_chance(&L->r, 0.5) ? 1 : -1;
                wing.ux = ux;
                wing.uy = uy;
                wing.a = ww / 2;
                wing.b = wd / 2;
                wing.cx = r.cx + ux * end * (w / 2 - ww / 2) + nx * (dep / 2 + wd / 2 - 0.3);
                wing.cy = r.cy + uy * end * (w / 2 - ww / 2) + ny * (dep / 2 + wd / 2 - 0.3);
                has_wing = occ_rect_free(&L->oc, &wing, margin, 0);
            }
            int b = add_building(L, kind);
            if (b < 0) return 0;
            style_building(L, b, d);
            wbuilding *B = &sc->blds[b];
            if (rh > 0) B->roof = pick(L, PITCHED_ROOFS, NPAL(PITCHED_ROOFS), 0.06);
            else B->roof = pick(L, FLAT_ROOFS, NPAL(FLAT_ROOFS), 0.05);
            add_part(L, b, r.cx, r.cy, ux, uy, r.a, r.b, h, rh);
            occ_rect_mark(&L->oc, &r, OC_BLD);
            if (rh == 0 && kind != WB_HOUSE) { /* stair housings, AC units on flat roofs */
                int nu = 1 + wrng_int(&L->r, 1 + (int)(r.a * r.b / 60));
                for (int k = 0; k < nu && k < 5; k++) {
                    double ua = wrng_range(&L->r, 0.6, 1.6), ub = wrng_range(&L->r, 0.6, 1.4);
                    double mu = r.a - 1.2 - ua, mv = r.b - 1.2 - ub;
                    if (mu <= 0 || mv <= 0) break;
                    double pu = wrng_range(&L->r, -mu, mu), pv = wrng_range(&L->r, -mv, mv);
                    add_part(L, b, r.cx + ux * pu - uy * pv, r.cy + uy * pu + ux * pv, ux, uy, ua, ub,
                             h + wrng_range(&L->r, 1.0, 2.6), 0);
                }
            }
            if (has_wing) {
                double wh = kind == WB_HOUSE ? h : h - 3.0 * wrng_int(&L->r, 2);
                double wrh = rh > 0 ? (wing.a < wing.b ? wing.a : wing.b) * rh / (r.a < r.b ? r.a : r.b) : 0;
                add_part(L, b, wing.cx, wing.cy, ux, uy, wing.a, wing.b, wh, wrh);
                occ_rect_mark(&L->oc, &wing, OC_BLD);
            }
            return w;
        }
        dep *= 0.7;
        if (kind == WB_HOUSE) rh = (w < dep ? w : dep) * 0.5 * 0.7;
        if (rh > 0 && kind == WB_APART) rh = dep * 0.5 * 0.5;
    }
    return 0;
}

static void buildings(layout *L)
{
    wscene *sc = L->sc;
    int n = sc->n_streets;
    for (int k = 0; k < n; k++) {
        wstreet s = sc->streets[k];
        double dx = s.x1 - s.x0, dy = s.y1 - s.y0, l = sqrt(dx * dx + dy * dy);
        if (l < 8) continue;
        double ux = dx / l, uy = dy / l;
        for (int side = -1; side <= 1; side += 2) {
            double t = wrng_range(&L->r, 0, 3);
            while (t < l - 6) {
                double used = place_frontage(L, &s, ux, uy, side, t);
                if (L->oom) return;
                double d = dens(L, s.x0 + ux * t, s.y0 + uy * t);
                if (used > 0) t += used + (d > 0.62 ? wrng_range(&L->r, 0.6, 1.5) : wrng_range(&L->r, 2, 7));
                else t += 2.5;
            }
        }
    }
    /* sheds and garages in back yards */
    double area = (sc->ex1 - sc->ex0) * (sc->ey1 - sc->ey0);
    int tries = (int)(area / 900);
    for (int k = 0; k < tries; k++) {
        double x = wrng_range(&L->r, sc->ex0, sc->ex1), y = wrng_range(&L->r, sc->ey0, sc->ey1);
        double d = dens(L, x, y);
        if (d > 0.5 || !wrng_chance(&L->r, 0.5)) continue;
        double ang = wrng_range(&L->r, 0, WPI), s, c;
        wsincos(ang, &s, &c);
        orect r = {x, y, c, s, wrng_range(&L->r, 1.8, 3.2), wrng_range(&L->r, 1.5, 2.6)};
        if (!occ_rect_free(&L->oc, &r, 2.0, 0)) continue;
        int b = add_building(L, WB_HOUSE);
        if (b < 0) return;
        style_building(L, b, d);
        sc->blds[b].roof = pick(L, FLAT_ROOFS, NPAL(FLAT_ROOFS), 0.08);
        sc->blds[b].win_w = 0; /* no windows */
        add_part(L, b, x, y, c, s, r.a, r.b, wrng_range(&L->r, 2.3, 3.0), 0);
        occ_rect_mark(&L->oc, &r, OC_BLD);
    }
}

/* ---- trees and cars ------------------------------------------------------------- */

static wrgb leaf_colour(layout *L, int conifer)
{
    if (conifer) return jitter(L, rgb(0.13, 0.25, 0.13), 0.1);
    double u = wrng_u(&L->r);
    if (u < 0.05) return jitter(L, rgb(0.45, 0.36, 0.12), 0.1); /* early autumn */
    if (u < 0.15) return jitter(L, rgb(0.32, 0.42, 0.16), 0.08);
    return jitter(L, rgb(0.21, 0.35, 0.13), 0.1);
}

/* A tree at (x, y) unless a building is within its crown. */
static void try_tree(layout *L, double x, double y, double rmin, double rmax, int conifer_ok)
{
    int conifer = conifer_ok && wrng_chance(&L->r, 0.18);
    double r = conifer ? wrng_range(&L->r, 1.4, 2.4) : wrng_range(&L->r, rmin, rmax);
    while (r >= rmin * 0.8 && occ_near(&L->oc, x, y, r * 0.8, OC_BLD)) r *= 0.8;
    if (r < rmin * 0.8) return;
    double rz = conifer ? r * wrng_range(&L->r, 2.0, 2.6) : r * wrng_range(&L->r, 0.8, 1.2);
    double trunk = conifer ? wrng_range(&L->r, 0.8, 1.5) : wrng_range(&L->r, 1.8, 3.2);
    add_tree(L, x, y, r, rz, trunk + rz, conifer ? 0.15 : wrng_range(&L->r, 0.14, 0.3),
             leaf_colour(L, conifer));
}

static void trees(layout *L)
{
    wscene *sc = L->sc;
    /* street trees: some roads get an avenue on both sides */
    for (int k = 0; k < sc->n_ground; k++) {
        wground g = sc->ground[k];
        if (g.kind != WG_ROAD) continue;
        uint32_t hr = whash(g.road, 17, sc->nseed);
        if ((hr & 255) > (g.marking ? 200u : 90u)) continue;
        double dx = g.x1 - g.x0, dy = g.y1 - g.y0, l = sqrt(dx * dx + dy * dy);
        double ux = dx / l, uy = dy / l, step = 8 + (hr >> 8 & 3) * 1.5;
        double first = step - fmod(g.s0, step);
        for (double t = first; t < l; t += step)
            for (int side = -1; side <= 1; side += 2) {
                double off = g.hw + g.sw - 0.7;
                double x = g.x0 + ux * t - uy * side * off, y = g.y0 + uy * t + ux * side * off;
                wrgb c;
                if (wground_albedo(sc, x, y, 0, &c) != WM_SIDEWALK) continue;
                if (wground_albedo(sc, x + ux * 3, y + uy * 3, 0, &c) != WM_SIDEWALK) continue;
                if (wground_albedo(sc, x - ux * 3, y - uy * 3, 0, &c) != WM_SIDEWALK) continue;
                try_tree(L, x, y, 2.2, 3.4, 0);
            }
    }
    /* park trees */
    for (int k = 0; k < sc->n_ground; k++) {
        wground g = sc->ground[k];
        if (g.kind != WG_PARK) continue;
        int n = (int)(poly_area(g.px, g.py, g.n_poly) / 160);
        for (int i = 0; i < n; i++) {
            double x = wrng_range(&L->r, g.bx0, g.bx1), y = wrng_range(&L->r, g.by0, g.by1);
            if (!in_convex(g.px, g.py, g.n_poly, x, y)) continue;
            wrgb c;
            if (wground_albedo(sc, x, y, 0, &c) != WM_PARK) continue;
            if (occ_get(&L->oc, x, y) != OC_PARK) continue;
            try_tree(L, x, y, 2.5, 5.5, 1);
        }
    }
    /* yard trees, more in the suburbs */
    double area = (sc->ex1 - sc->ex0) * (sc->ey1 - sc->ey0);
    int n = (int)(area / 260);
    for (int i = 0; i < n; i++) {
        double x = wrng_range(&L->r, sc->ex0, sc->ex1), y = wrng_range(&L->r, sc->ey0, sc->ey1);
        double d = dens(L, x, y);
        if (!wrng_chance(&L->r, 0.9 - 0.85 * d)) continue;
        if (occ_get(&L->oc, x, y) != OC_FREE) continue;
        if (occ_near(&L->oc, x, y, 1.5, OC_ROAD) || occ_near(&L->oc, x, y, 1.5, OC_WATER)) continue;
        try_tree(L, x, y, 1.8, 4.5, 1);
    }
}

/* How many roads' asphalt (grown by 0.5 m) covers (x, y)? Uses the ground grid. */
static int road_count(const wscene *sc, double x, double y)
{
    double fx = floor((x - sc->ex0) / sc->cell), fy = floor((y - sc->ey0) / sc->cell);
    if (fx < 0 || fy < 0 || fx >= sc->gw || fy >= sc->gh) return 0;
    int cell = (int)fy * sc->gw + (int)fx, n = 0, seen[8];
    for (int i = sc->g_start[cell]; i < sc->g_start[cell + 1]; i++) {
        const wground *g = &sc->ground[sc->g_items[i]];
        if (g->kind != WG_ROAD) continue;
        if (x < g->bx0 || x > g->bx1 || y < g->by0 || y > g->by1) continue;
        if (seg_d2(x, y, g->x0, g->y0, g->x1, g->y1, NULL) > (g->hw + 0.5) * (g->hw + 0.5)) continue;
        int dup = 0;
        for (int k = 0; k < n && k < 8; k++) dup |= seen[k] == g->road;
        if (dup) continue;
        if (n < 8) seen[n] = g->road;
        n++;
    }
    return n;
}

static void street_cars(layout *L)
{
    wscene *sc = L->sc;
    for (int k = 0; k < sc->n_ground; k++) {
        wground g = sc->ground[k];
        if (g.kind != WG_ROAD) continue;
        double dx = g.x1 - g.x0, dy = g.y1 - g.y0, l = sqrt(dx * dx + dy * dy);
        double ux = dx / l, uy = dy / l;
        for (int side = -1; side <= 1; side += 2) {
            double t = wrng_range(&L->r, 2, 8);
            while (t < l - 3) {
                double x = g.x0 + ux * t - uy * side * (g.hw - 1.1);
                double y = g.y0 + uy * t + ux * side * (g.hw - 1.1);
                double d = dens(L, x, y), p = g.marking ? 0.08 : 0.1 + 0.35 * d;
                if (wrng_chance(&L->r, p) && road_count(sc, x, y) == 1 &&
                    road_count(sc, x + ux * 3, y + uy * 3) == 1 && road_count(sc, x - ux * 3, y - uy * 3) == 1) {
                    if (add_car(L, x, y, ux, uy)) return;
                }
                t += wrng_range(&L->r, 5.5, 8);
            }
        }
    }
}

/* ---- the grid ----------------------------------------------------------------------- */

static int build_csr(wscene *sc, int n, const double *bb, int **start_out, int **items_out)
{
    int nc = sc->gw * sc->gh;
    int *start = calloc((size_t)nc + 1, sizeof(int));
    if (!start) return -1;
    for (int pass = 0; pass < 2; pass++) {
        int *items = pass ? *items_out : NULL;
        int *fill = NULL;
        if (pass) {
            fill = malloc(sizeof(int) * (size_t)nc);
            if (!fill) { free(start); return -1; }
            memcpy(fill, start, sizeof(int) * (size_t)nc);
        }
        for (int k = 0; k < n; k++) {
            const double *b = bb + 4 * k;
            int i0 = (int)floor((b[0] - sc->ex0) / sc->cell), i1 = (int)floor((b[2] - sc->ex0) / sc->cell);
            int j0 = (int)floor((b[1] - sc->ey0) / sc->cell), j1 = (int)floor((b[3] - sc->ey0) / sc->cell);
            if (i0 < 0) i0 = 0;
            if (j0 < 0) j0 = 0;
            if (i1 >= sc->gw) i1 = sc->gw - 1;
            if (j1 >= sc->gh) j1 = sc->gh - 1;
            for (int j = j0; j <= j1; j++)
                for (int i = i0; i <= i1; i++) {
                    if (pass) items[fill[j * sc->gw + i]++] = k;
                    else start[j * sc->gw + i + 1]++;
                }
        }
        if (!pass) {
            for (int c = 0; c < nc; c++) start[c + 1] += start[c];
            *items_out = malloc(sizeof(int) * (size_t)(start[nc] > 0 ? start[nc] : 1));
            if (!*items_out) { free(start); return -1; }
        }
        free(fill);
    }
    *start_out = start;
    return 0;
}

static int build_ground_grid(wscene *sc)
{
    double *bb = malloc(sizeof(double) * 4 * (size_t)(sc->n_ground > 0 ? sc->n_ground : 1));
    if (!bb) return -1;
    for (int k = 0; k < sc->n_ground; k++) {
        bb[4 * k] = sc->ground[k].bx0;
        bb[4 * k + 1] = sc->ground[k].by0;
        bb[4 * k + 2] = sc->ground[k].bx1;
        bb[4 * k + 3] = sc->ground[k].by1;
    }
    free(sc->g_start);
    free(sc->g_items);
    sc->g_start = sc->g_items = NULL;
    int rc = build_csr(sc, sc->n_ground, bb, &sc->g_start, &sc->g_items);
    free(bb);
    return rc;
}

static int build_object_grid(wscene *sc)
{
    int n = sc->n_parts + sc->n_trees;
    double *bb = malloc(sizeof(double) * 4 * (size_t)(n > 0 ? n : 1));
    if (!bb) return -1;
    for (int k = 0; k < sc->n_parts; k++) {
        bb[4 * k] = sc->parts[k].bx0;
        bb[4 * k + 1] = sc->parts[k].by0;
        bb[4 * k + 2] = sc->parts[k].bx1;
        bb[4 * k + 3] = sc->parts[k].by1;
    }
    for (int k = 0; k < sc->n_trees; k++) {
        double *b = bb + 4 * (sc->n_parts + k);
        b[0] = sc->trees[k].bx0;
        b[1] = sc->trees[k].by0;
        b[2] = sc->trees[k].bx1;
        b[3] = sc->trees[k].by1;
    }
    int *items = NULL;
    int rc = build_csr(sc, n, bb, &sc->o_start, &items);
    free(bb);
    if (rc) return rc;
    int nc = sc->gw * sc->gh;
    for (int i = 0; i < sc->o_start[nc]; i++)
        if (items[i] >= sc->n_parts) items[i] = (items[i] - sc->n_parts) | WOBJ_TREE;
    sc->o_items = items;
    sc->o_maxz = calloc((size_t)nc, sizeof(float));
    if (!sc->o_maxz) return -1;
    for (int c = 0; c < nc; c++) {
        float m = 0;
        for (int i = sc->o_start[c]; i < sc->o_start[c + 1]; i++) {
            int o = sc->o_items[i];
            double top = (o & WOBJ_TREE) ? sc->trees[o & ~WOBJ_TREE].cz + sc->trees[o & ~WOBJ_TREE].rz
                                         : sc->parts[o].h + sc->parts[o].rh;
            if (top > m) m = (float)top;
        }
        sc->o_maxz[c] = m;
    }
    return 0;
}

/* ---- entry --------------------------------------------------------------------------- */

void wscene_free(wscene *s)
{
    if (!s) return;
    free(s->ground);
    free(s->parts);
    free(s->blds);
    free(s->trees);
    free(s->streets);
    free(s->g_start);
    free(s->g_items);
    free(s->o_start);
    free(s->o_items);
    free(s->o_maxz);
    free(s);
}

int wscene_build(tg_ctx *ctx, const tg_world_options *o, wscene **out)
{
    *out = NULL;
    layout L;
    grid g;
    memset(&L, 0, sizeof(L));
    memset(&g, 0, sizeof(g));
    wscene *sc = calloc(1, sizeof(*sc));
    if (!sc) goto oom;
    L.sc = sc;
    wrng_seed(&L.r, o->seed, 1);
    sc->seed = o->seed;
    sc->size = o->size_m;
    sc->margin = 80;
    sc->ex0 = -sc->margin;
    sc->ey0 = -sc->margin;
    sc->ex1 = sc->size + sc->margin;
    sc->ey1 = sc->size + sc->margin;
    sc->nseed = (uint32_t)(wrng_next(&L.r) >> 32);
    sc->cx = sc->size * wrng_range(&L.r, 0.4, 0.6);
    sc->cy = sc->size * wrng_range(&L.r, 0.4, 0.6);
    sc->dens_r = 0.28 * (sc->size > 500 ? sc->size : 500);
    {
        double season = wrng_u(&L.r);
        sc->grass_tint = rgb(0.30 + 0.10 * season, 0.46 - 0.02 * season, 0.20 + 0.02 * season);
    }
    /* the sun: drawn even when given, so that the layout never depends on it */
    double az = wrng_range(&L.r, 100, 260), el = wrng_range(&L.r, 30, 65);
    sc->sun_az_deg = o->sun_azimuth_deg >= 0 ? o->sun_azimuth_deg : az;
    sc->sun_el_deg = o->sun_elevation_deg > 0 ? o->sun_elevation_deg : el;
    {
        double sa, ca, se, ce;
        wsincos(sc->sun_az_deg * WDEG, &sa, &ca);
        wsincos(sc->sun_el_deg * WDEG, &se, &ce);
        sc->sun[0] = sa * ce;
        sc->sun[1] = ca * ce;
        sc->sun[2] = se;
    }
    sc->cell = 16;
    sc->gw = (int)ceil((sc->ex1 - sc->ex0) / sc->cell);
    sc->gh = (int)ceil((sc->ey1 - sc->ey0) / sc->cell);

    L.oc.x0 = sc->ex0;
    L.oc.y0 = sc->ey0;
    L.oc.w = (int)ceil(sc->ex1 - sc->ex0);
    L.oc.h = (int)ceil(sc->ey1 - sc->ey0);
    L.oc.v = calloc((size_t)L.oc.w * (size_t)L.oc.h, 1);
    if (!L.oc.v) goto oom;

    make_river(&L);
    if (L.oom || make_grid(&L, &g)) goto oom;
    arterials(&L, &g);
    grid_roads(&L, &g);
    if (L.oom) goto oom;
    blocks(&L, &g);
    if (L.oom) goto oom;
    parking_lots(&L);
    if (L.oom || build_ground_grid(sc)) goto oom;
    buildings(&L);
    if (L.oom) goto oom;
    trees(&L);
    street_cars(&L);
    if (L.oom || build_object_grid(sc)) goto oom;

    free(L.oc.v);
    free(L.rx);
    free(L.ry);
    free(g.n);
    free(g.eh);
    free(g.ev);
    *out = sc;
    return 0;
oom:
    free(L.oc.v);
    free(L.rx);
    free(L.ry);
    free(g.n);
    free(g.eh);
    free(g.ev);
    wscene_free(sc);
    return tg_set_error(ctx, TG_ENOMEM, "world generator: out of memory building the scene (size %g m)",
                        o->size_m);
}

/* ---- camera positions ------------------------------------------------------------------ */

int wpick_street_point(const wscene *sc, wrng *r, int sidewalk, double lo, double hi, double *x, double *y)
{
    if (!sc->n_streets) return TG_EINTERNAL;
    double total = 0;
    for (int k = 0; k < sc->n_streets; k++) {
        const wstreet *s = &sc->streets[k];
        total += sqrt((s->x1 - s->x0) * (s->x1 - s->x0) + (s->y1 - s->y0) * (s->y1 - s->y0));
    }
    for (int tries = 0; tries < 5000; tries++) {
        double pick_s = wrng_u(r) * total, acc = 0;
        int k = 0;
        double l = 0;
        for (k = 0; k < sc->n_streets; k++) {
            const wstreet *s = &sc->streets[k];
            l = sqrt((s->x1 - s->x0) * (s->x1 - s->x0) + (s->y1 - s->y0) * (s->y1 - s->y0));
            if (acc + l > pick_s || k == sc->n_streets - 1) break;
            acc += l;
        }
        const wstreet *s = &sc->streets[k];
        double t = wrng_u(r), lat;
        if (sidewalk) {
            lat = (wrng_chance(r, 0.5) ? 1 : -1) * (s->hw + s->sw * 0.5);
        } else {
            double m = s->hw - 3.0;
            lat = m > 0.2 ? wrng_range(r, -m, m) : 0;
        }
        if (l <= 0) continue;
        double ux = (s->x1 - s->x0) / l, uy = (s->y1 - s->y0) / l;
        double px = s->x0 + (s->x1 - s->x0) * t - uy * lat, py = s->y0 + (s->y1 - s->y0) * t + ux * lat;
        if (px < lo || px > hi || py < lo || py > hi) continue;
        wrgb c;
        int m = wground_albedo(sc, px, py, 0, &c);
        if (sidewalk ? m != WM_SIDEWALK : (m != WM_ASPHALT && m != WM_MARKING)) continue;
        /* keep 1.5 m from cars and walls, 0.6 m from crowns above */
        if (winside(sc, px, py, 0.3, 1.5) || winside(sc, px, py, 1.2, 1.5) ||
            winside(sc, px, py, 2.0, 0.6) || winside(sc, px, py, 2.4, 0.6))
            continue;
        *x = px;
        *y = py;
        return 0;
    }
    return TG_EINTERNAL;
}
