/* tests/test_store_pg.c - every read call of the store's public API on a
 * PostgreSQL database against the same call on the SQLite database of the
 * same raster, model and options (run by tests/pg_store_api.sh, which starts
 * the cluster and indexes both):
 *     test_store_pg SQLITE_DB POSTGRESQL_URI RASTER2
 * models, rasters (and their files' check), extent, the tileset (ids,
 * centres, strides, embeddings), matching, the spatial prior for points and
 * polygons at several radii, footprints (WKT, SpatiaLite BLOB, covers), and
 * the errors of a missing tile and a bad radius; then the refresh of a
 * tileset after other connections insert (a second raster, RASTER2), insert
 * below the largest id (what concurrent writers commit out of order) and
 * delete. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tap.h"
#include "transgeo/store.h"
#include "transgeo/store_pg.h"

/* The numbers of a WKT string, in order (at most cap). */
static int wkt_numbers(const char *w, double *out, int cap)
{
    int n = 0;
    while (*w && n < cap) {
        if ((*w >= '0' && *w <= '9') || *w == '-' || *w == '.') {
            char *end;
            out[n++] = strtod(w, &end);
            w = end;
        } else {
            w++;
        }
    }
    return n;
}

static int same_ids(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_store_pg SQLITE_DB POSTGRESQL_URI RASTER2\n");
        return 2;
    }
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    tg_store *s = NULL, *p = NULL;
    TAP_EQ(tg_store_open(ctx, argv[1], TG_STORE_READONLY, &s), 0, "open the SQLite database");
    int rc = tg_store_open(ctx, argv[2], TG_STORE_READONLY, &p);
    TAP_EQ(rc, 0, "open the PostgreSQL database: %s", rc ? tg_errmsg(ctx) : "ok");
    if (!s || !p) return tap_done();
    TAP_OK(tg_store_is_pg(argv[2]) && !tg_store_is_pg(argv[1]), "tg_store_is_pg tells them apart");
    TAP_OK(tg_store_on_pg(p) && !tg_store_on_pg(s) && tg_store_db(p) == NULL, "tg_store_on_pg, tg_store_db");
    TAP_OK(strstr(tg_store_label(p), "@127.0.0.1:") != NULL, "label names the server: %s", tg_store_label(p));
    TAP_EQ(tg_store_has_schema(ctx, p), 1, "has the schema");

    /* models */
    tg_store_model *ms = NULL, *mp = NULL;
    size_t nms = 0, nmp = 0;
    TAP_EQ(tg_store_model_list(ctx, s, &ms, &nms) + tg_store_model_list(ctx, p, &mp, &nmp), 0, "list the models");
    TAP_OK(nms == 1 && nmp == 1, "one model each (%zu, %zu)", nms, nmp);
    if (nms != 1 || nmp != 1) return tap_done();
    TAP_OK(!strcmp(ms[0].name, mp[0].name) && !strcmp(ms[0].sha256, mp[0].sha256) &&
               !strcmp(ms[0].path, mp[0].path) && ms[0].out_dim == mp[0].out_dim &&
               ms[0].tile_m == mp[0].tile_m && ms[0].gsd_m == mp[0].gsd_m &&
               ms[0].n_tiles == mp[0].n_tiles,
           "the same model row (name, path, sha256, out_dim, tile, gsd, %lld tiles)", mp[0].n_tiles);
    tg_store_model found;
    TAP_EQ(tg_store_model_find(ctx, p, NULL, &found), 0, "find the only model by no name");
    TAP_EQ(tg_store_model_find(ctx, p, "nosuch", &found), TG_ENOTFOUND, "an unknown name: TG_ENOTFOUND");
    TAP_OK(strstr(tg_errmsg(ctx), "registered: '") != NULL, "  ... listing the registered ones: %s", tg_errmsg(ctx));

    /* rasters */
    tg_store_raster *rs = NULL, *rp = NULL;
    size_t nrs = 0, nrp = 0;
    TAP_EQ(tg_store_raster_list(ctx, s, &rs, &nrs) + tg_store_raster_list(ctx, p, &rp, &nrp), 0, "raster inventories");
    int same = nrs == nrp && nrs > 0;
    for (size_t i = 0; same && i < nrs; i++)
        same = !strcmp(rs[i].path, rp[i].path) && !strcmp(rs[i].crs, rp[i].crs) &&
               !strcmp(rs[i].model, rp[i].model) && rs[i].tile_m == rp[i].tile_m &&
               rs[i].stride_m == rp[i].stride_m && rs[i].gsd_m == rp[i].gsd_m &&
               rs[i].complete == rp[i].complete && rs[i].n_tiles == rp[i].n_tiles;
    TAP_OK(same, "the same rasters (%zu): path, CRS, tiling, complete, tiles", nrp);
    free(rs);
    free(rp);
    TAP_EQ(tg_store_rasters(ctx, s, &ms[0], 1, &rs, &nrs) + tg_store_rasters(ctx, p, &mp[0], 1, &rp, &nrp), 0,
           "the model's rasters, files checked");
    same = nrs == nrp && nrs > 0;
    for (size_t i = 0; same && i < nrs; i++)
        same = !strcmp(rs[i].sha256, rp[i].sha256) && rp[i].status == TG_RASTER_OK && rs[i].status == TG_RASTER_OK;
    TAP_OK(same, "  ... the same sha256, status ok");
    free(rs);
    free(rp);

    /* extent */
    long long ns = 0, np = 0;
    double es[4], ep[4];
    TAP_EQ(tg_store_extent(ctx, s, &ns, &es[0], &es[1], &es[2], &es[3]) +
               tg_store_extent(ctx, p, &np, &ep[0], &ep[1], &ep[2], &ep[3]), 0, "extents");
    TAP_OK(ns == np && !memcmp(es, ep, sizeof es), "  ... the same tiles (%lld) and box of centres", np);

    /* tilesets: the same rows in the same order, the same vectors */
    const tg_tileset *ts = NULL, *tp = NULL;
    TAP_EQ(tg_store_tileset(ctx, s, &ms[0], &ts), 0, "SQLite tileset");
    rc = tg_store_tileset(ctx, p, &mp[0], &tp);
    TAP_EQ(rc, 0, "PostgreSQL tileset %s", rc ? tg_errmsg(ctx) : "");
    if (!ts || !tp) return tap_done();
    size_t n = tg_tileset_count(ts);
    int dim = tg_tileset_dim(ts);
    TAP_OK(n == tg_tileset_count(tp) && dim == tg_tileset_dim(tp) && n > 20, "%zu tiles of %d floats each", n, dim);
    int bad = 0;
    for (size_t i = 0; i < n && n == tg_tileset_count(tp); i++) {
        int64_t a, b;
        double x[3], y[3];
        tg_tileset_tile(ts, i, &a, &x[0], &x[1], &x[2]);
        tg_tileset_tile(tp, i, &b, &y[0], &y[1], &y[2]);
        bad += a != b || memcmp(x, y, sizeof x) != 0 ||
               tg_tileset_raster_id(ts, i) != tg_tileset_raster_id(tp, i) ||
               memcmp(tg_index_row(tg_tileset_index(ts), i), tg_index_row(tg_tileset_index(tp), i),
                      (size_t)dim * sizeof(float)) != 0;
    }
    TAP_EQ(bad, 0, "  ... rows equal: id, centre, stride, raster, embedding bits");
    /* a tileset of some tiles only (ranking on the server reads these): rows
     * 3, 7, 8 and the last, by id, plus an id that is not there */
    {
        int64_t want[5];
        size_t rows[4] = {3, 7, 8, n - 1};
        for (int i = 0; i < 4; i++) tg_tileset_tile(tp, rows[i], &want[i], NULL, NULL, NULL);
        want[4] = want[3] + 1000000;
        tg_tileset *sub = NULL;
        rc = tg_store_tileset_ids(ctx, p, &mp[0], dim, want, 5, &sub);
        TAP_EQ(rc, 0, "tg_store_tileset_ids of 4 tiles and a missing id %s", rc ? tg_errmsg(ctx) : "");
        int sbad = !sub || tg_tileset_count(sub) != 4;
        for (size_t i = 0; !sbad && i < 4; i++) {
            int64_t a2, b2;
            double x[3], y[3];
            tg_tileset_tile(tp, rows[i], &a2, &x[0], &x[1], &x[2]);
            tg_tileset_tile(sub, i, &b2, &y[0], &y[1], &y[2]);
            sbad += a2 != b2 || memcmp(x, y, sizeof x) != 0 ||
                    tg_tileset_raster_id(tp, rows[i]) != tg_tileset_raster_id(sub, i) ||
                    memcmp(tg_index_row(tg_tileset_index(tp), rows[i]),
                           tg_index_row(tg_tileset_index(sub), i), (size_t)dim * sizeof(float)) != 0;
        }
        TAP_EQ(sbad, 0, "  ... those 4 rows of the whole tileset, bit for bit, the missing id left out");
        tg_tileset_free(sub);
        tg_store_ranking rk;
        TAP_EQ(tg_store_server_ranking(ctx, p, &mp[0], &rk), 0, "tg_store_server_ranking");
        TAP_OK(rk.n_shards == 0 && rk.available == 0 && rk.n_tiles == (long long)n,
               "  ... one server, no extension: nothing to rank there, %lld tiles", rk.n_tiles);
        tg_hit h[4];
        int nh[1];
        rc = tg_store_top_hits(ctx, p, &mp[0], tg_index_row(tg_tileset_index(tp), 0), 1, dim, 4, h, nh);
        TAP_OK(rc == TG_EDB && strstr(tg_errmsg(ctx), "has no transgeo extension"),
               "  ... and tg_store_top_hits says so: %s", tg_errmsg(ctx));
        rc = tg_store_tileset_ids(ctx, s, &ms[0], dim, want, 5, &sub);
        TAP_OK(rc == TG_EINVAL && strstr(tg_errmsg(ctx), "SQLite file"),
               "tg_store_tileset_ids on SQLite: %s", tg_errmsg(ctx));
    }
    const tg_tileset *again = NULL;
    TAP_EQ(tg_store_tileset(ctx, p, &mp[0], &again), 0, "refresh with nothing new");
    TAP_OK(again == tp && tg_tileset_count(again) == n, "  ... the same tileset, not reloaded");

    /* matching: a query made of tile 7's and tile 20's vectors */
    float *q = calloc((size_t)dim, sizeof *q);
    double norm = 0;
    for (int d = 0; d < dim; d++) {
        q[d] = tg_index_row(tg_tileset_index(ts), 7)[d] + 0.5f * tg_index_row(tg_tileset_index(ts), 20)[d];
        norm += (double)q[d] * q[d];
    }
    for (int d = 0; d < dim; d++) q[d] = (float)(q[d] / sqrt(norm));
    tg_match a[15], b[15];
    int na = 0, nb = 0;
    TAP_EQ(tg_tileset_match(ctx, ts, q, 15, NULL, 0, a, &na) + tg_tileset_match(ctx, tp, q, 15, NULL, 0, b, &nb), 0,
           "match 15");
    same = na == nb && na == 15;
    for (int i = 0; same && i < na; i++)
        same = a[i].tile_id == b[i].tile_id && a[i].score == b[i].score && a[i].error_m == b[i].error_m;
    TAP_OK(same, "  ... the same tiles, scores and error radii");

    /* the spatial prior: points (tile centres) and a polygon (a footprint) */
    static const double radii[] = {0, 10, 60, 150, 400, 5000};
    bad = 0;
    int total = 0;
    for (size_t t = 0; t < 3; t++) {
        double lon, lat;
        tg_tileset_tile(ts, t * n / 3 + 1, NULL, &lon, &lat, NULL);
        for (size_t r = 0; r < sizeof radii / sizeof *radii; r++) {
            tg_store_prior pr = {.lon = lon + 0.0001, .lat = lat - 0.0001, .radius_m = radii[r]};
            int64_t *ia = NULL, *ib = NULL;
            size_t ka = 0, kb = 0;
            if (tg_store_candidates(ctx, s, &ms[0], &pr, &ia, &ka) ||
                tg_store_candidates(ctx, p, &mp[0], &pr, &ib, &kb) || !same_ids(ia, ka, ib, kb)) {
                bad++;
                tap_diag("point %.6f %.6f radius %g: %zu vs %zu tiles", pr.lon, pr.lat, radii[r], ka, kb);
            }
            total += (int)ka;
            free(ia);
            free(ib);
        }
    }
    TAP_OK(bad == 0 && total > 0, "point priors at 6 radii: the same candidates (%d in all)", total);
    void *blob = NULL;
    int bsize = 0;
    int64_t id5;
    tg_tileset_tile(ts, 5, &id5, NULL, NULL, NULL);
    TAP_EQ(tg_store_tile_geom(ctx, s, id5, &blob, &bsize), 0, "a footprint as a SpatiaLite BLOB");
    bad = 0;
    for (size_t r = 0; blob && r < 4; r++) {
        tg_store_prior pr = {.geom = blob, .geom_size = (size_t)bsize, .radius_m = radii[r]};
        int64_t *ia = NULL, *ib = NULL;
        size_t ka = 0, kb = 0;
        if (tg_store_candidates(ctx, s, &ms[0], &pr, &ia, &ka) ||
            tg_store_candidates(ctx, p, &mp[0], &pr, &ib, &kb) || !same_ids(ia, ka, ib, kb) || ka == 0) {
            bad++;
            tap_diag("polygon radius %g: %zu vs %zu tiles (%s)", radii[r], ka, kb, tg_errmsg(ctx));
        }
        free(ia);
        free(ib);
    }
    TAP_EQ(bad, 0, "polygon priors (a footprint, 0 to 60 m): the same candidates");
    free(blob);
    tg_store_prior neg = {.lon = 0, .lat = 0, .radius_m = -1};
    int64_t *ids = NULL;
    size_t nids = 0;
    TAP_EQ(tg_store_candidates(ctx, p, &mp[0], &neg, &ids, &nids), TG_EINVAL, "a negative radius: TG_EINVAL");

    /* footprints */
    int bad_blob = 0, bad_wkt = 0, bad_cov = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t id;
        double lon, lat;
        tg_tileset_tile(ts, i, &id, &lon, &lat, NULL);
        void *ga = NULL, *gb = NULL;
        int sa = 0, sb = 0;
        tg_store_tile_geom(ctx, s, id, &ga, &sa);
        tg_store_tile_geom(ctx, p, id, &gb, &sb);
        bad_blob += !ga || !gb || sa != sb || memcmp(ga, gb, (size_t)sa) != 0;
        free(ga);
        free(gb);
        char *wa = NULL, *wb = NULL;
        tg_store_tile_wkt(ctx, s, id, &wa);
        tg_store_tile_wkt(ctx, p, id, &wb);
        double xa[16], xb[16];
        int ka = wa ? wkt_numbers(wa, xa, 16) : 0, kb = wb ? wkt_numbers(wb, xb, 16) : -1;
        int w_ok = ka == 10 && kb == 10 && !strncmp(wb, "POLYGON((", 9);
        for (int k = 0; w_ok && k < 10; k++) w_ok = fabs(xa[k] - xb[k]) <= 1e-6;
        bad_wkt += !w_ok;
        free(wa);
        free(wb);
        int ha = -1, hb = -2, fa = -1, fb = -2;
        tg_store_tile_covers(ctx, s, id, lon, lat, &ha);
        tg_store_tile_covers(ctx, p, id, lon, lat, &hb);
        tg_store_tile_covers(ctx, s, id, lon + 1, lat, &fa);
        tg_store_tile_covers(ctx, p, id, lon + 1, lat, &fb);
        bad_cov += !(ha == 1 && hb == 1 && fa == 0 && fb == 0);
    }
    TAP_EQ(bad_blob, 0, "footprint BLOBs byte-equal for all %zu tiles", n);
    TAP_EQ(bad_wkt, 0, "footprint WKT: the same 5 corners (1e-6 degrees)");
    TAP_EQ(bad_cov, 0, "covers: the centre yes, a point 1 degree east no, on both");
    char *w = NULL;
    void *g = NULL;
    int gs = 0, hit = 0;
    TAP_EQ(tg_store_tile_wkt(ctx, p, 999999999, &w), TG_ENOTFOUND, "WKT of a missing tile: TG_ENOTFOUND");
    TAP_EQ(tg_store_tile_geom(ctx, p, 999999999, &g, &gs), TG_ENOTFOUND, "BLOB of a missing tile: TG_ENOTFOUND");
    TAP_EQ(tg_store_tile_covers(ctx, p, 999999999, 0, 0, &hit), TG_EDB, "covers of a missing tile: TG_EDB");
    TAP_OK(strstr(tg_errmsg(ctx), "999999999") != NULL, "  ... naming it: %s", tg_errmsg(ctx));
    TAP_EQ(tg_store_model_register(ctx, p, "x", argv[1], NULL), TG_EDB, "register on a read-only store: TG_EDB");
    TAP_OK(strstr(tg_errmsg(ctx), "read-only") != NULL, "  ... saying so: %s", tg_errmsg(ctx));

    /* Refresh: rows another connection adds above the largest id are
     * appended; a row committed below it (concurrent writers) and a deletion
     * make a reload; either way the tileset is what the table holds. */
    tg_store *wr = NULL;
    TAP_EQ(tg_store_open(ctx, argv[2], TG_STORE_CREATE, &wr), 0, "a second, read-write store");
    tg_store_index_result res;
    tg_store_index_opts io;
    tg_store_index_opts_default(&io);
    rc = wr ? tg_store_index_raster(ctx, wr, argv[3], &io, &res) : -1;
    TAP_EQ(rc, 0, "it indexes a second raster (%lld tiles) %s", res.n_added, rc ? tg_errmsg(ctx) : "");
    const tg_tileset *t2 = NULL;
    TAP_EQ(tg_store_tileset(ctx, p, &mp[0], &t2), 0, "refresh after the insertion");
    TAP_OK(t2 && tg_tileset_count(t2) == n + (size_t)res.n_added,
           "  ... %zu + %lld tiles", n, res.n_added);
    PGconn *pc = PQconnectdb(argv[2]);
    TAP_OK(PQstatus(pc) == CONNECTION_OK, "a libpq connection of the test's own");
    /* a copy of tile 1 as a new grid position with a small id, as a writer
     * that took its id early and committed late would leave it */
    PGresult *pr = PQexec(pc,
                          "INSERT INTO tg_tiles (id, raster_id, model_id, col, \"row\", center_lon, "
                          "center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) SELECT 0, "
                          "raster_id, model_id, col, \"row\" + 100000, center_lon, center_lat, win_x, "
                          "win_y, win_w, win_h, crs, embedding, geom FROM tg_tiles ORDER BY id LIMIT 1");
    TAP_OK(PQresultStatus(pr) == PGRES_COMMAND_OK, "insert a tile with id 0 (below every id) %s",
           PQresultErrorMessage(pr));
    PQclear(pr);
    TAP_EQ(tg_store_tileset(ctx, p, &mp[0], &t2), 0, "refresh");
    size_t row0 = 99;
    TAP_OK(t2 && tg_tileset_count(t2) == n + (size_t)res.n_added + 1 &&
               tg_index_find(ctx, (tg_index *)tg_tileset_index(t2), 0, &row0) == 0 && row0 == 0,
           "  ... reloaded: %zu tiles, id 0 in row 0", t2 ? tg_tileset_count(t2) : 0);
    pr = PQexec(pc, "DELETE FROM tg_tiles WHERE id IN (0, (SELECT max(id) FROM tg_tiles))");
    TAP_OK(PQresultStatus(pr) == PGRES_COMMAND_OK, "delete two tiles %s", PQresultErrorMessage(pr));
    PQclear(pr);
    TAP_EQ(tg_store_tileset(ctx, p, &mp[0], &t2), 0, "refresh");
    TAP_OK(t2 && tg_tileset_count(t2) == n + (size_t)res.n_added - 1,
           "  ... reloaded without them: %zu tiles", t2 ? tg_tileset_count(t2) : 0);
    PQfinish(pc);
    tg_store_close(wr);

    free(q);
    free(ms);
    free(mp);
    tg_store_close(s);
    tg_store_close(p);
    tg_ctx_free(ctx);
    return tap_done();
}
