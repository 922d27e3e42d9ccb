/* test_geo.c - geodesics, UTM zones and CRS transformations.
 *
 * References (PROJ 9.1.1 command-line tools, same ellipsoid):
 *   echo "lat1 lon1 lat2 lon2" | geod +ellps=WGS84 -I +units=m -f %.10f -F %.6f
 *   echo "lat lon az dist"     | geod +ellps=WGS84 +units=m -f %.12f -F %.6f
 *   echo "lat lon" | cs2cs -f %.6f EPSG:4326 EPSG:32633
 * plus the classic Vincenty (1975) test line Flinders Peak -> Buninyong
 * (54972.271 m, azimuth 306 52 05.37), and the shared data's photo positions. */
#include "config.h"
#include "transgeo/geo.h"
#include "tap.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static tg_ctx *ctx;

typedef struct inv_case {
    const char *name;
    double lat1, lon1, lat2, lon2;
    double azi1, azi21, dist;  /* geod -I output: az12, az21 (back azimuth at point 2), s12 */
} inv_case;

static const inv_case inv_cases[] = {
    {"photos 01 -> 02 (Berlin, 6.5 m)", 52.5189166666667, 13.4002944444444, 52.518925, 13.4003888888889,
     81.7695657984, -98.2303592548, 6.477708},
    {"photos 01 -> 03 (Berlin, 17.8 m)", 52.5189166666667, 13.4002944444444, 52.5190472222222, 13.4004472222222,
     35.5210723670, -144.4788063955, 17.849653},
    {"Flinders Peak -> Buninyong (Vincenty 1975)", -37.9510334166667, 144.424867888889, -37.6528211388889,
     143.926495527778, -53.1318407971, 127.1736306290, 54972.271139},
    {"Rennes -> Malta (OnePlus photos -> HTC photo)", 48.0810453, -1.6678411, 35.9125166666667, 14.4988055555556,
     129.5553891828, -39.5265220682, 1895380.868306},
    {"nearly antipodal (0,0) -> (0.5,179.7)", 0, 0, 0.5, 179.7, 15.5568827935, -15.5574861091, 19944127.420750},
    {"antipodal on the equator (0,0) -> (0,180)", 0, 0, 0, 180, 0.0, 0.0, 20003931.458625},
};

static void test_geodesics(void)
{
    for (size_t i = 0; i < sizeof inv_cases / sizeof inv_cases[0]; i++) {
        const inv_case *c = &inv_cases[i];
        double d = -1, a1 = 0, a2 = 0;
        int rc = tg_geo_distance_m(ctx, c->lon1, c->lat1, c->lon2, c->lat2, &d);
        TAP_OK(rc == 0, "%s: distance computed", c->name);
        TAP_NEAR(d, c->dist, 1e-6 * (c->dist > 1e5 ? 10 : 1), "%s: %.6f m (geod -I)", c->name, c->dist);
        rc = tg_geo_inverse(ctx, c->lon1, c->lat1, c->lon2, c->lat2, NULL, &a1, &a2);
        /* Azimuths of the exactly antipodal case are not unique (any meridian). */
        if (c->dist < 2e7) {
            TAP_NEAR(a1, c->azi1, 1e-8, "%s: azimuth at start %.10f", c->name, c->azi1);
            /* Karney's azi2 is the forward azimuth at point 2; geod prints the
             * back azimuth az21 = azi2 +- 180. */
            double back_az = a2 > 0 ? a2 - 180.0 : a2 + 180.0;
            TAP_NEAR(back_az, c->azi21, 1e-8, "%s: back azimuth at end %.10f", c->name, c->azi21);
        }
        double back = -1;
        tg_geo_distance_m(ctx, c->lon2, c->lat2, c->lon1, c->lat1, &back);
        TAP_NEAR(back, d, 1e-6, "%s: symmetric", c->name);
    }
    double z = -1;
    TAP_OK(tg_geo_distance_m(ctx, 13.4, 52.5, 13.4, 52.5, &z) == 0 && z == 0.0, "same point: 0 m");
    TAP_OK(tg_geo_distance_m(ctx, 180.0, 10.0, -180.0, 10.0, &z) == 0 && z < 1e-6,
           "lon 180 and -180 are the same meridian (%g m)", z);

    /* Direct problem (geod forward): 10 km at 45 deg from (52.5 N, 13.4 E). */
    double lon2 = 0, lat2 = 0;
    TAP_OK(tg_geo_direct(ctx, 13.4, 52.5, 45.0, 10000.0, &lon2, &lat2) == 0, "direct computed");
    TAP_NEAR(lat2, 52.563498603309, 1e-11, "direct: lat 52.563498603309 (geod)");
    TAP_NEAR(lon2, 13.504274053442, 1e-11, "direct: lon 13.504274053442 (geod)");
    TAP_OK(tg_geo_direct(ctx, 144.424867888889, -37.9510334166667, -53.1318407971, 54972.271139, &lon2, &lat2) == 0,
           "direct along the Vincenty line");
    TAP_NEAR(lat2, -37.6528211388889, 1e-9, "direct reaches Buninyong lat");
    TAP_NEAR(lon2, 143.926495527778, 1e-9, "direct reaches Buninyong lon");

    /* Errors. */
    int rc = tg_geo_distance_m(ctx, 13.4, 91.0, 13.4, 52.5, &z);
    TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "point 1") && strstr(tg_errmsg(ctx), "lat 91"),
           "lat 91 refused: %s", tg_errmsg(ctx));
    rc = tg_geo_distance_m(ctx, 13.4, 52.5, NAN, 52.5, &z);
    TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "point 2"), "NaN lon refused: %s", tg_errmsg(ctx));
    rc = tg_geo_distance_m(ctx, 13.4, 52.5, 13.4, 52.5, NULL);
    TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "dist_m is NULL"), "NULL output refused: %s", tg_errmsg(ctx));
    rc = tg_geo_direct(ctx, 13.4, 52.5, INFINITY, 10, &lon2, &lat2);
    TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "azimuth"), "infinite azimuth refused: %s", tg_errmsg(ctx));
}

typedef struct utm_case {
    double lon, lat;
    int epsg;
    const char *why;
} utm_case;

static const utm_case utm_cases[] = {
    {13.4, 52.52, 32633, "Berlin"},
    {-104.775, 38.9536, 32613, "Colorado Springs (HRO raster, EPSG:26913 is NAD83 zone 13)"},
    {-34.871272, -7.995376, 32725, "Recife, southern hemisphere (L7 raster is zone 25S)"},
    {-1.6678411, 48.0810453, 32630, "Rennes"},
    {34.3819352, -0.0702668, 32736, "just south of the equator"},
    {0.0, 0.0, 32631, "equator counts as north; lon 0 starts zone 31"},
    {-180.0, 10.0, 32601, "lon -180: zone 1"},
    {180.0, 10.0, 32601, "lon 180 wraps to -180: zone 1"},
    {179.999, 10.0, 32660, "zone 60"},
    {720.0 + 13.4, 52.52, 32633, "lon wrapped from 733.4"},
    {-360.0 + 13.4, 52.52, 32633, "lon wrapped from -346.6"},
    {4.0, 60.0, 32632, "Norway exception: 32V covers 3..12 E"},
    {2.9, 60.0, 32631, "west of the Norway exception"},
    {4.0, 55.9, 32631, "south of the Norway exception"},
    {4.0, 64.0, 32631, "north of the Norway exception (band W)"},
    {8.0, 78.0, 32631, "Svalbard: 31X covers 0..9 E"},
    {10.0, 78.0, 32633, "Svalbard: 33X covers 9..21 E"},
    {20.0, 78.0, 32633, "Svalbard: 33X covers 9..21 E"},
    {22.0, 78.0, 32635, "Svalbard: 35X covers 21..33 E"},
    {34.0, 78.0, 32637, "Svalbard: 37X covers 33..42 E"},
    {42.5, 78.0, 32638, "east of the Svalbard exception"},
    {-3.0, 78.0, 32630, "west of the Svalbard exception"},
    {10.0, 84.0, 32633, "lat 84 is still UTM"},
    {10.0, 84.5, 32661, "beyond 84 N: UPS North"},
    {10.0, -80.0, 32732, "lat -80 is still UTM"},
    {10.0, -80.5, 32761, "beyond 80 S: UPS South"},
};

static void test_utm(void)
{
    for (size_t i = 0; i < sizeof utm_cases / sizeof utm_cases[0]; i++) {
        const utm_case *c = &utm_cases[i];
        TAP_EQ(tg_geo_utm_epsg(c->lon, c->lat), c->epsg, "utm(%g, %g) = EPSG:%d: %s", c->lon, c->lat, c->epsg,
               c->why);
    }
    TAP_EQ(tg_geo_utm_epsg(NAN, 10), TG_EINVAL, "utm of NaN lon: TG_EINVAL");
    TAP_EQ(tg_geo_utm_epsg(10, 90.5), TG_EINVAL, "utm of lat 90.5: TG_EINVAL");
    TAP_EQ(tg_geo_utm_epsg(INFINITY, 10), TG_EINVAL, "utm of infinite lon: TG_EINVAL");
}

static void test_transform(void)
{
    tg_geo_transform *t = NULL;
    int rc = tg_geo_transform_create(ctx, "EPSG:4326", "EPSG:32633", &t);
    TAP_OK(rc == 0 && t, "EPSG:4326 -> EPSG:32633 created");
    if (rc) tap_diag("%s", tg_errmsg(ctx));
    double x[2] = {13.4, 13.4002944444444}, y[2] = {52.52, 52.5189166666667};
    rc = tg_geo_transform_points(ctx, t, 2, x, y);
    TAP_OK(rc == 0, "two points transformed (lon/lat in, as normalised)");
    TAP_NEAR(x[0], 391440.032070, 1e-5, "easting of (13.4 E, 52.52 N) (cs2cs)");
    TAP_NEAR(y[0], 5820079.666873, 1e-5, "northing of (13.4 E, 52.52 N) (cs2cs)");
    rc = tg_geo_transform_points_inv(ctx, t, 2, x, y);
    TAP_OK(rc == 0, "inverse transform");
    TAP_NEAR(x[0], 13.4, 1e-10, "round trip lon");
    TAP_NEAR(y[0], 52.52, 1e-10, "round trip lat");
    TAP_NEAR(x[1], 13.4002944444444, 1e-10, "round trip lon of photo 01");

    /* A point outside what the projection accepts: index and value named. */
    double bx[2] = {13.4, 13.4}, by[2] = {52.5, 95.0};
    rc = tg_geo_transform_points(ctx, t, 2, bx, by);
    TAP_OK(rc == TG_EGEO && strstr(tg_errmsg(ctx), "point 1") && strstr(tg_errmsg(ctx), "95"),
           "lat 95 fails with TG_EGEO naming point 1: %s", tg_errmsg(ctx));
    tg_geo_transform_free(t);
    tg_geo_transform_free(NULL);

    /* Southern UTM on SIRGAS 2000 (the L7 raster's CRS): its centre from
     * PROVENANCE.md (gdaltransform: lat -7.995376, lon -34.871272). */
    double ex = 0, ny = 0;
    rc = tg_geo_transform_point(ctx, "EPSG:4326", "EPSG:31985", -34.871272, -7.995376, &ex, &ny);
    TAP_OK(rc == 0, "EPSG:4326 -> EPSG:31985 one-shot");
    TAP_NEAR(ex, 293749.5349, 1e-3, "L7 centre easting (cs2cs 293749.5349; raster 293749.5)");
    TAP_NEAR(ny, 9115744.7403, 1e-3, "L7 centre northing (cs2cs 9115744.7403; raster 9115744.75)");
    /* US survey feet (the Colorado state-plane raster) -> UTM metres. */
    rc = tg_geo_transform_point(ctx, "EPSG:2232", "EPSG:26913", 3206076.2496574908, 1408878.7231222454, &ex, &ny);
    TAP_OK(rc == 0, "EPSG:2232 (ftUS) -> EPSG:26913");
    TAP_NEAR(ex, 519467.4975, 1e-3, "state-plane UL corner easting 519467.4975 (cs2cs; HRO UL 519467.496)");
    TAP_NEAR(ny, 4311670.0820, 1e-3, "state-plane UL corner northing 4311670.0820 (cs2cs; HRO UL 4311669.766)");

    /* Errors: unknown CRS, garbage, NULL. */
    t = (tg_geo_transform *)1;
    rc = tg_geo_transform_create(ctx, "EPSG:999999", "EPSG:4326", &t);
    TAP_OK(rc == TG_EGEO && t == NULL && strstr(tg_errmsg(ctx), "EPSG:999999") && strstr(tg_errmsg(ctx), "cannot be created"),
           "unknown EPSG code: TG_EGEO: %s", tg_errmsg(ctx));
    rc = tg_geo_transform_create(ctx, "EPSG:4326", "this is not a CRS", &t);
    TAP_OK(rc == TG_EGEO && strstr(tg_errmsg(ctx), "this is not a CRS"), "garbage CRS: TG_EGEO: %s", tg_errmsg(ctx));
    rc = tg_geo_transform_create(ctx, NULL, "EPSG:4326", &t);
    TAP_OK(rc == TG_EINVAL, "NULL CRS: TG_EINVAL");
    rc = tg_geo_transform_point(ctx, "EPSG:4326", "EPSG:32633", 0, 0, NULL, &ny);
    TAP_OK(rc == TG_EINVAL, "NULL output: TG_EINVAL");
}

/* A transform per thread, used concurrently (each owns its PJ_CONTEXT). */
typedef struct thr {
    int fails;
    double sum;
} thr;

static void *thr_main(void *p)
{
    thr *a = p;
    tg_ctx *c = NULL;
    tg_ctx_create(&c);
    tg_geo_transform *t = NULL;
    if (tg_geo_transform_create(c, "EPSG:4326", "EPSG:32633", &t)) {
        a->fails++;
    } else {
        for (int i = 0; i < 500; i++) {
            double x = 13.0 + i * 0.001, y = 52.0 + i * 0.001;
            if (tg_geo_transform_points(c, t, 1, &x, &y)) a->fails++;
            a->sum += x + y;
        }
    }
    tg_geo_transform_free(t);
    tg_ctx_free(c);
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr){0, 0};
        pthread_create(&th[i], NULL, thr_main, &a[i]);
    }
    int fails = 0, differ = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        fails += a[i].fails;
        differ += a[i].sum != a[0].sum;
    }
    TAP_OK(fails == 0 && differ == 0, "4 threads x 500 points with their own transforms: same results");
}

int main(void)
{
    tg_ctx_create(&ctx);
    test_geodesics();
    test_utm();
    test_transform();
    test_threads();
    tg_ctx_free(ctx);
    return tap_done();
}
