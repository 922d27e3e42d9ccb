/*
 * world_int.h - internals of the demo-world generator (not installed).
 *
 * Coordinates: "local" metres, x east and y north from the south-west corner
 * of the world square [0, size_m]^2, z up from the ground plane (z = 0). The
 * scene extends wrld_margin metres beyond the square so that views from near
 * the edge see a town, not a void; the ground beyond the scene is farmland.
 *
 * Determinism: everything that decides where things are or what colour an
 * aerial pixel gets uses only the helpers below (xoshiro256**, integer-hash
 * value noise, polynomial sine/cosine/exp) and IEEE-exact operations; the
 * module is compiled with -ffp-contract=off (see src/world.mk) so that no
 * compiler fuses a*b+c differently on another CPU.
 */
#ifndef TG_WORLD_INT_H
#define TG_WORLD_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "transgeo/core.h"
#include "transgeo/world.h"

/* ---- PRNG: xoshiro256** (Blackman & Vigna 2018), seeded by splitmix64 ---- */

typedef struct wrng {
    uint64_t s[4];
} wrng;

static inline uint64_t wsplitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One independent stream per purpose (layout, panoramas, pairs, ...), so that
 * asking for more panoramas never moves a building. */
static inline void wrng_seed(wrng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++) r->s[i] = wsplitmix64(&x);
}

static inline uint64_t wrng_next(wrng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5, res = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* Uniform in [0, 1): the top 53 bits. */
static inline double wrng_u(wrng *r) { return (double)(wrng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static inline double wrng_range(wrng *r, double a, double b) { return a + (b - a) * wrng_u(r); }
/* Uniform integer in [0, n), n >= 1. */
static inline int wrng_int(wrng *r, int n) { return (int)(((wrng_next(r) >> 32) * (uint64_t)n) >> 32); }
static inline int wrng_chance(wrng *r, double p) { return wrng_u(r) < p; }

/* ---- exact-arithmetic math ------------------------------------------------ */

#define WPI 3.14159265358979323846
#define WDEG (WPI / 180.0)

/* sin and cos of x (radians), |error| < 1e-15 for |x| < 1e6: reduction to
 * [-pi/4, pi/4] with a two-part pi/2, then Taylor polynomials to r^17 / r^18
 * (Horner). */
static inline void wsincos(double x, double *s, double *c)
{
    const double pio2_hi = 1.5707963267341256e+00, pio2_lo = 6.0771005065061922e-11;
    double qd = x * (2.0 / WPI);
    qd = qd >= 0 ? (double)(int64_t)(qd + 0.5) : -(double)(int64_t)(0.5 - qd);
    double r = (x - qd * pio2_hi) - qd * pio2_lo, r2 = r * r;
    double sp = r * (1 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 +
               r2 * (-1.0 / 39916800 + r2 * (1.0 / 6227020800.0 + r2 * (-1.0 / 1307674368000.0 +
               r2 * (1.0 / 355687428096000.0)))))))));
    double cp = 1 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
               r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600 + r2 * (-1.0 / 87178291200.0 +
               r2 * (1.0 / 20922789888000.0 + r2 * (-1.0 / 6402373705728000.0)))))))));
    int q = (int)((int64_t)qd & 3);
    switch (q) {
    case 0: *s = sp; *c = cp; break;
    case 1: *s = cp; *c = -sp; break;
    case 2: *s = -sp; *c = -cp; break;
    default: *s = -cp; *c = sp; break;
    }
}
static inline double wsin(double x) { double s, c; wsincos(x, &s, &c); return s; }
static inline double wcos(double x) { double s, c; wsincos(x, &s, &c); return c; }

/* e^x for x <= 0 (0 below -700): x = k ln2 + r, |r| <= ln2/2, Taylor to r^13. */
static inline double wexp_neg(double x)
{
    if (x < -700) return 0;
    if (x > 0) x = 0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double kd = x * 1.44269504088896338700;
    kd = -(double)(int64_t)(0.5 - kd);
    double r = (x - kd * ln2_hi) - kd * ln2_lo;
    double p = 1.0 / 6227020800.0; /* Horner over 1/i!, i = 13..0 */
    static const double inv_fact[13] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
                                        1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
                                        1.0 / 39916800, 1.0 / 479001600};
    for (int i = 12; i >= 0; i--) p = p * r + inv_fact[i];
    return ldexp(p, (int)kd); /* exact scaling by 2^k */
}

static inline double wclamp(double x, double a, double b) { return x < a ? a : x > b ? b : x; }
static inline double wlerp(double a, double b, double t) { return a + (b - a) * t; }
static inline double wsmooth(double e0, double e1, double x)
{
    double t = wclamp((x - e0) / (e1 - e0), 0, 1);
    return t * t * (3 - 2 * t);
}

/* ---- hashing and value noise --------------------------------------------- */

static inline uint32_t whash(int32_t x, int32_t y, uint32_t seed)
{
    uint32_t h = (uint32_t)x * 0x8da6b343u ^ (uint32_t)y * 0xd8163841u ^ seed * 0xcb1ab31fu;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return h;
}
static inline double whashu(int32_t x, int32_t y, uint32_t seed)
{
    return (double)(whash(x, y, seed) >> 8) * (1.0 / 16777216.0);
}

/* Value noise in [0, 1): smoothstep-interpolated lattice of hashed values,
 * lattice spacing 1. */
static inline double wnoise(double x, double y, uint32_t seed)
{
    double fx = floor(x), fy = floor(y);
    int32_t ix = (int32_t)fx, iy = (int32_t)fy;
    double tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    double a = whashu(ix, iy, seed), b = whashu(ix + 1, iy, seed);
    double c = whashu(ix, iy + 1, seed), d = whashu(ix + 1, iy + 1, seed);
    return wlerp(wlerp(a, b, tx), wlerp(c, d, tx), ty);
}

/* Fractal sum of `oct` octaves (each half the wavelength), base wavelength
 * `scale` metres, in [0, 1). Octaves whose wavelength is below `min_wl`
 * (the pixel footprint, to avoid aliasing) are replaced by their mean. */
static inline double wfbm(double x, double y, double scale, int oct, double min_wl, uint32_t seed)
{
    double sum = 0, amp = 0.5, norm = 0, f = 1.0 / scale, wl = scale;
    for (int i = 0; i < oct; i++) {
        double n = wl >= min_wl ? wnoise(x * f, y * f, seed + (uint32_t)i * 101u) : 0.5;
        sum += amp * n;
        norm += amp;
        amp *= 0.5;
        f *= 2;
        wl *= 0.5;
    }
    return sum / norm;
}

/* ---- the scene ----------------------------------------------------------- */

typedef struct wrgb {
    float r, g, b;
} wrgb;

/* Ground materials (also the aerial label of a ground pixel). */
enum {
    WM_FIELD = 0, /* farmland beyond the scene */
    WM_GRASS,     /* lawns, verges, yards */
    WM_PAVED,     /* courtyards in the centre */
    WM_ASPHALT,   /* road surface */
    WM_MARKING,   /* white road marking */
    WM_SIDEWALK,  /* pavement along roads */
    WM_CURB,      /* curb stone line */
    WM_LOT,       /* parking lot surface */
    WM_STRIPE,    /* parking stall line */
    WM_WATER,     /* river, pond */
    WM_BANK,      /* river bank (gravel/earth) */
    WM_PARK,      /* park lawn */
    WM_PATH,      /* gravel path in parks */
    WM_PLAZA,     /* stone paving of the central square */
    WM_N
};

/* Ground primitive kinds. */
enum { WG_ROAD = 0, WG_RIVER, WG_PATH, WG_PARK, WG_LOT, WG_PLAZA, WG_POND };

/* A ground primitive: a capsule (road/river/path segment) or a convex
 * polygon (park, lot, plaza, pond). */
typedef struct wground {
    int kind;               /* WG_* */
    int road;               /* road id (segments of one road share it), -1 */
    double x0, y0, x1, y1;  /* segment ends (capsules) */
    double hw;              /* half width of the main surface (asphalt/water), m */
    double sw;              /* sidewalk / bank width beyond hw, m */
    int marking;            /* 1: dashed centre line */
    double s0;              /* arc length at (x0,y0) along the road, for dashes */
    int n_poly;             /* polygons: vertex count (<= 16), CCW */
    double px[16], py[16];
    double ux, uy;          /* lots: unit axis along the stall rows */
    double ox, oy;          /* lots: corner where the stall pattern starts */
    double lu, lv;          /* lots: length along ux and depth, m */
    double bx0, by0, bx1, by1; /* bounding box */
} wground;

/* A convex building part: an oriented box with a flat or gabled roof. */
typedef struct wpart {
    double cx, cy;         /* centre, local m */
    double ux, uy;         /* unit axis of the length (half length a); v = (-uy, ux) */
    double a, b;           /* half length along u, half width along v, m */
    double h;              /* wall (eave) height, m */
    double rh;             /* ridge height above h (0: flat roof); ridge along u */
    int bld;               /* owning building */
    double bx0, by0, bx1, by1; /* bounding box */
} wpart;

enum { WB_HOUSE = 0, WB_APART, WB_COMMERCIAL, WB_INDUSTRIAL, WB_CAR, WB_KIOSK };

typedef struct wbuilding {
    int kind;              /* WB_* */
    int part0, n_parts;    /* its parts: parts[part0 .. part0 + n_parts) */
    wrgb facade, roof, trim, window;
    double floor_h;        /* storey height, m */
    double win_w, win_h;   /* window size, m */
    double win_pitch;      /* distance between window centres, m */
    double sill;           /* window sill above the storey floor, m */
    int shop;              /* 1: shop windows on the ground floor */
} wbuilding;

typedef struct wtree {
    double x, y;           /* trunk position */
    double r;              /* crown radius (horizontal), m */
    double rz;             /* crown half height, m */
    double cz;             /* crown centre height, m */
    double trunk_r;        /* trunk radius, m */
    wrgb leaf;
    double bx0, by0, bx1, by1;
} wtree;

/* Where cameras may stand: a road segment with its usable lateral range. */
typedef struct wstreet {
    double x0, y0, x1, y1; /* centreline */
    double hw, sw;         /* asphalt half width, sidewalk width */
} wstreet;

typedef struct wscene {
    uint64_t seed;
    double size;           /* world side, m */
    double margin;         /* scene beyond the world square, m */
    double ex0, ey0, ex1, ey1; /* scene extent (local m) */
    double cx, cy;         /* town centre */
    double dens_r;         /* building density falls to 1/2 at this distance from it, m */
    uint32_t nseed;        /* noise seed */
    wrgb grass_tint;       /* per-world lawn colour */
    double sun_az_deg, sun_el_deg;
    double sun[3];         /* unit vector towards the sun (x east, y north, z up) */

    wground *ground; int n_ground, cap_ground;
    wpart *parts; int n_parts, cap_parts;
    wbuilding *blds; int n_blds, cap_blds;
    wtree *trees; int n_trees, cap_trees;
    wstreet *streets; int n_streets, cap_streets;
    int n_roads;           /* road ids in use */
    int n_houses;          /* buildings that are not cars */
    int n_cars;
    double max_h;          /* highest point of any object, m */

    /* uniform grid over the extent: CSR lists of ground primitives and of
     * objects (parts: index; trees: index | WOBJ_TREE) per cell */
    double cell;           /* cell side, m */
    int gw, gh;
    int *g_start, *g_items;  /* ground primitives */
    int *o_start, *o_items;  /* objects */
    float *o_maxz;           /* highest object top per cell */
} wscene;

#define WOBJ_TREE 0x40000000

/* Building density in (0, 1]: 1 at the town centre. */
static inline double wdensity(const wscene *sc, double x, double y)
{
    double dx = (x - sc->cx) / sc->dens_r, dy = (y - sc->cy) / sc->dens_r;
    return 1.0 / (1.0 + dx * dx + dy * dy);
}

/* Build the scene for the options (layout only; no rendering). Only the
 * fields seed, size_m and sun_* of o are used. 0 or TG_ENOMEM. */
int wscene_build(tg_ctx *ctx, const tg_world_options *o, wscene **out);
void wscene_free(wscene *s);

/* ---- ray casting and shading (trace.c) ------------------------------------ */

/* Per-thread state of the ray caster (mailbox stamps per object). */
typedef struct wtracer {
    const wscene *sc;
    uint32_t *stamp;       /* n_parts + n_trees */
    uint32_t ray;
} wtracer;

int wtracer_init(wtracer *t, const wscene *sc); /* 0 or TG_ENOMEM */
void wtracer_free(wtracer *t);

/* What a ray hit. */
enum { WH_NONE = 0, WH_GROUND, WH_WALL, WH_ROOF, WH_LEAF, WH_TRUNK };
typedef struct whit {
    int kind;              /* WH_* */
    int obj;               /* part index or tree index */
    int face;              /* part: plane index (0..3 walls, 5..6 roof planes) */
    double t;              /* ray parameter (distance for unit directions) */
    double p[3];           /* hit point */
    double n[3];           /* unit normal facing the ray's origin side */
} whit;

/* Nearest hit along o + t d, 0 < t <= tmax (d unit). Returns the kind. */
int wtrace(wtracer *tr, const double o[3], const double d[3], double tmax, whit *h);
/* 1 if something blocks o + t d for 0 < t (towards the sun: d = sc->sun).
 * *tree_only is set to 1 when only tree crowns block it. */
int wshadowed(wtracer *tr, const double o[3], const double d[3], int *tree_only);

/* Ground colour (albedo) and label at (x, y); fp = pixel footprint in m
 * (detail smaller than that is averaged out). Returns WM_*. */
int wground_albedo(const wscene *sc, double x, double y, double fp, wrgb *c);
/* Lit colour (0..1, before clamping) of a hit seen along view_d (NULL:
 * from straight above); for the aerial view the hit comes from wtop.
 * Includes the sun shadow test. *label (if not NULL) identifies what was
 * seen (object, face, material, shadow) for edge detection. */
wrgb wshade(wtracer *tr, const whit *h, double fp, const double view_d[3], uint32_t *label);
/* c seen through dist metres of haze. */
wrgb whaze(wrgb c, double dist);
/* Sky colour seen from o in direction d (unit). */
wrgb wsky(const wscene *sc, const double o[3], const double d[3]);
/* Is (x, y, z) inside an object (a building part, a crown or a trunk)
 * grown by margin metres? */
int winside(const wscene *sc, double x, double y, double z, double margin);
/* The top surface at (x, y) seen from straight above. Returns kind. */
int wtop(const wscene *sc, double x, double y, whit *h);

/* ---- rendering (render.c) -------------------------------------------------- */

/* Rows [row0, row1) of an aerial image of w x h RGB8 pixels whose top-left
 * pixel's top-left corner is at local (x0, ytop), pixel size gsd, north-up;
 * row row0 goes to rgb[0]. Edge pixels get 4 samples. */
int wrender_aerial_rows(wtracer *tr, double x0, double ytop, double gsd, int w, int h,
                        int row0, int row1, unsigned char *rgb); /* rows [row0,row1); 0 or TG_ENOMEM */
/* Equirectangular panorama (convention in world.h) at local (x, y, z). ids,
 * if not NULL, gets per pixel the object seen by the centre ray: part index,
 * tree index | WOBJ_TREE, or -1 (ground/sky). */
int wrender_pano(wtracer *tr, double x, double y, double z, int w, int h, int ss,
                 unsigned char *rgb, int *ids); /* 0 or TG_ENOMEM */
/* Level pinhole photo: heading_deg clockwise from grid north, hfov_deg. */
void wrender_photo(wtracer *tr, double x, double y, double z, double heading_deg,
                   double hfov_deg, int w, int h, int ss, unsigned char *rgb);

/* Camera position on a street: lateral offset chosen so the camera stands in
 * a lane (sidewalk=0) or on a sidewalk (sidewalk=1), inside [lo, hi]^2 and
 * not inside an object. 0 or TG_EINTERNAL (no street in the area). */
int wpick_street_point(const wscene *sc, wrng *r, int sidewalk, double lo, double hi,
                       double *x, double *y);

#endif /* TG_WORLD_INT_H */
