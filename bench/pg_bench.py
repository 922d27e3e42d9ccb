#!/usr/bin/python3
"""bench/pg_bench.py - the work of bench/pg.sh (run it, not this).

    pg_bench.py load-sqlite DB MOD_SPATIALITE MOD_TG MODEL N DIM
    pg_bench.py load-pg PORT MODEL_PATH_ON_SERVER SHA256 N DIM [via-staging]
    pg_bench.py time-sqlite DB MOD_SPATIALITE MOD_TG DIM K RUNS
    pg_bench.py time-pg PORT DIM K RUNS [serial] [locator]

The tiles are synthetic: N unit vectors of DIM float32 (numpy, seed 1) on a
grid of 36.48 m around 99.2 W 47.0 N with square footprints, the same rows
(ids, bytes, centres) in every database. The query is one more unit vector
(seed 2). Timing: RUNS queries after 2 warm-up queries, median wall time of
the whole statement seen by the client (SELECT * FROM tg_search(q, K) on
PostgreSQL: the per-partition top-k; with "locator", tg_matches: the
locator over the tiles the backend holds in memory; mod_transgeo's
tg_matches), printed as "median_ms min_ms".
"""
import io
import os
import sqlite3
import statistics
import sys
import time

import numpy as np

LON0, LAT0 = -99.2, 47.0
STRIDE_M = 36.48


def tiles(n, dim):
    rng = np.random.default_rng(1)
    e = rng.standard_normal((n, dim)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    side = int(np.ceil(np.sqrt(n)))
    dlat = STRIDE_M / 111132.0
    dlon = STRIDE_M / (111320.0 * np.cos(np.radians(LAT0)))
    for i in range(n):
        col, row = i % side, i // side
        lon, lat = LON0 + col * dlon, LAT0 - row * dlat
        hx, hy = dlon, dlat  # a tile is two strides wide
        wkt = "POLYGON((%.9f %.9f,%.9f %.9f,%.9f %.9f,%.9f %.9f,%.9f %.9f))" % (
            lon - hx, lat + hy, lon + hx, lat + hy, lon + hx, lat - hy, lon - hx, lat - hy, lon - hx, lat + hy)
        yield i + 1, col, row, lon, lat, e[i].astype("<f4").tobytes(), wkt


def query(dim):
    q = np.random.default_rng(2).standard_normal(dim).astype(np.float32)
    return (q / np.linalg.norm(q)).astype("<f4").tobytes()


def sqlite_open(db, spatialite, modtg):
    c = sqlite3.connect(db)
    c.enable_load_extension(True)
    c.load_extension(spatialite)
    c.load_extension(modtg)
    return c


def load_sqlite(db, spatialite, modtg, model, n, dim):
    c = sqlite_open(db, spatialite, modtg)
    mid = c.execute("SELECT tg_model_register('bench', ?)", (model,)).fetchone()[0]
    c.execute("INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) "
              "VALUES (1, 'synthetic', 'synthetic', 'EPSG:32614', ?, ?, 0.114, ?, 1, ?)",
              (2 * STRIDE_M, STRIDE_M, mid, n))
    c.executemany("INSERT INTO tg_tiles (id, raster_id, model_id, col, row, center_lon, center_lat, "
                  "win_x, win_y, win_w, win_h, crs, embedding, geom) "
                  "VALUES (?, 1, ?, ?, ?, ?, ?, 0, 0, 1, 1, 'EPSG:32614', ?, GeomFromText(?, 4326))",
                  ((i, mid, col, row, lon, lat, emb, wkt) for i, col, row, lon, lat, emb, wkt in tiles(n, dim)))
    c.commit()
    sha = c.execute("SELECT sha256 FROM tg_models WHERE id = ?", (mid,)).fetchone()[0]
    print(sha)


def pg_connect(port):
    import psycopg2
    return psycopg2.connect(host="127.0.0.1", port=int(port), user=os.environ.get("PGUSER", "postgres"),
                            dbname="transgeo")


def load_pg(port, model_path, sha, n, dim, staging):
    c = pg_connect(port)
    cur = c.cursor()
    cur.execute("INSERT INTO tg_models (id, name, path, sha256, config_json) VALUES (1, 'bench', %s, %s, '{}')",
                (model_path, sha))
    cur.execute("INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) "
                "VALUES (1, 'synthetic', 'synthetic', 'EPSG:32614', %s, %s, 0.114, 1, 1, %s)",
                (2 * STRIDE_M, STRIDE_M, n))
    target = "tg_tiles"
    if staging:
        # COPY into foreign partitions goes row by row; INSERT ... SELECT batches
        cur.execute("CREATE UNLOGGED TABLE bench_staging (LIKE tg_tiles)")
        target = "bench_staging"
    buf = io.StringIO()
    for i, col, row, lon, lat, emb, wkt in tiles(n, dim):
        buf.write("%d\t1\t1\t%d\t%d\t%.17g\t%.17g\t0\t0\t1\t1\tEPSG:32614\t\\\\x%s\tSRID=4326;%s\n"
                  % (i, col, row, lon, lat, emb.hex(), wkt))
    buf.seek(0)
    cur.copy_expert("COPY %s (id, raster_id, model_id, col, \"row\", center_lon, center_lat, win_x, win_y, "
                    "win_w, win_h, crs, embedding, geom) FROM STDIN" % target, buf)
    if staging:
        cur.execute("INSERT INTO tg_tiles SELECT * FROM bench_staging")
        cur.execute("DROP TABLE bench_staging")
    cur.execute("SELECT setval('tg_tiles_id_seq', %s)", (n,))
    c.commit()
    c.autocommit = True
    # plain ANALYZE: VACUUM ANALYZE skips foreign partitions, and without
    # their statistics the coordinator sorts the shards' rows itself
    c.cursor().execute("ANALYZE tg_tiles")
    print(n)


def timed(run, runs):
    for _ in range(2):
        run()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        t.append((time.perf_counter() - t0) * 1000)
    print("%.2f %.2f" % (statistics.median(t), min(t)))


def time_sqlite(db, spatialite, modtg, dim, k, runs):
    c = sqlite_open(db, spatialite, modtg)
    q = query(dim)
    timed(lambda: c.execute("SELECT * FROM tg_matches(?, ?)", (q, k)).fetchall(), runs)


def time_pg(port, dim, k, runs, serial, func):
    c = pg_connect(port)
    c.autocommit = True
    cur = c.cursor()
    if serial:
        cur.execute("SET max_parallel_workers_per_gather = 0")
    q = query(dim)

    def run():
        cur.execute("SELECT * FROM %s(%%s, %%s)" % func, (q, k))
        cur.fetchall()
    timed(run, runs)


def main(a):
    if a[0] == "load-sqlite":
        load_sqlite(a[1], a[2], a[3], a[4], int(a[5]), int(a[6]))
    elif a[0] == "load-pg":
        load_pg(a[1], a[2], a[3], int(a[4]), int(a[5]), len(a) > 6 and a[6] == "via-staging")
    elif a[0] == "time-sqlite":
        time_sqlite(a[1], a[2], a[3], int(a[4]), int(a[5]), int(a[6]))
    elif a[0] == "time-pg":
        time_pg(a[1], int(a[2]), int(a[3]), int(a[4]), "serial" in a[5:],
                "tg_matches" if "locator" in a[5:] else "tg_search")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
