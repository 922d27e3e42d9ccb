-- src/store/schema_pg.sql - the transgeo tables in a PostgreSQL/PostGIS database.
--
-- The PostgreSQL counterpart of src/store/schema.sql and the one source of truth of
-- this schema: src/store/local.mk turns it into a C string (tg_schema_pg_sql_text)
-- that the store's PostgreSQL backend (src/store/pg*.c) runs on every read-write
-- open (`transgeo index --db postgresql://...`), and the PostgreSQL extension
-- (pg/) builds its install script from it. PostGIS must be installed in the
-- database first (the backend runs CREATE EXTENSION IF NOT EXISTS postgis before
-- this file; the extension declares `requires = 'postgis'`).
--
-- Rules:
--   * every statement is idempotent (IF NOT EXISTS, ON CONFLICT DO NOTHING,
--     guarded DO blocks), and the whole file runs in one transaction;
--   * no statement here needs a superuser (CREATE EXTENSION is not here).
--
-- Same tables and columns as the SQLite schema, in PostgreSQL types: ids are
-- bigint, REAL is double precision, BLOB is bytea, the footprint is
-- geometry(Polygon, 4326) with a GiST index. Embeddings are out_dim
-- little-endian float32 (4 * out_dim bytes), L2-normalised, as in SQLite, so
-- the bytes of a tile are the same in both backends.
--
-- Sharding (man transgeo-pg(7), pg/): tg_tiles is a partitioned table,
-- PARTITION BY HASH (raster_id, col, row). A single server has one partition,
-- tg_tiles_local (MODULUS 1), created below only when tg_tiles has no partition
-- yet. A coordinator instead has one postgres_fdw foreign partition per shard
-- (FOR VALUES WITH (MODULUS n, REMAINDER i)) whose remote table is the shard's
-- own tg_tiles (made by this same file on the shard). Consequences:
--   * the uniqueness of (raster_id, col, row) is a unique index of each
--     physical partition (tg_tiles_local_key), not of the parent: PostgreSQL
--     refuses foreign partitions under a parent with a unique index. The key is
--     the partition key, so a tile has one possible partition and the per-
--     partition index makes it unique everywhere. Writers insert with
--     ON CONFLICT DO NOTHING (no conflict target: the leaf's unique index is
--     the arbiter, also on a shard reached through postgres_fdw);
--   * tg_tiles has no primary key and no foreign keys (a shard has no
--     tg_rasters rows); ids come from the sequence tg_tiles_id_seq, evaluated
--     on the server the INSERT is sent to (the coordinator), unique but not
--     in commit order;
--   * the GiST and (model_id, id) indexes are made on the parent: PostgreSQL
--     creates them on every local partition (and the shards have their own).
--
-- Knowing that tiles changed (a connection keeps a model's embeddings in
-- memory, tg_store_tileset): SQLite counts inserts per model with row
-- triggers; here parallel indexers would all update the same tg_models row
-- and wait for each other. Instead:
--   * insertions: the reader compares count(*) and max(id) of the model's
--     tiles (an index-only scan of tg_tiles_model) with what it holds, loads
--     the rows with id above its largest, and reloads everything when the
--     counts disagree (ids of concurrent writers commit out of order);
--   * deletions and updates (rare: re-indexing after a mistake): a
--     statement-level trigger bumps tg_meta 'tiles_removed' (one row update
--     per statement, not per row); a reader that sees it move reloads.
--
-- Parallel indexing (tg_jobs): a raster's grid is split into pieces of whole
-- tile rows [row_begin, row_end) when its tg_rasters row is inserted (same
-- transaction). A worker claims a piece with
--   SELECT ... FROM tg_jobs WHERE raster_id = $1 AND NOT done
--   ORDER BY row_begin LIMIT 1 FOR UPDATE SKIP LOCKED
-- and, in that same transaction, embeds and inserts the piece's tiles and sets
-- done: a worker killed at any point rolls its piece back (its lock goes with
-- its connection), and the next worker, or a rerun, does it again. The raster
-- is complete when every piece is done.
--
-- Example (real output, after indexing the NAIP test raster with the tiny
-- test model in 640 m tiles, 7 pieces):
--   => SELECT complete, n_tiles, tile_m, stride_m FROM tg_rasters;
--    complete | n_tiles | tile_m | stride_m
--           1 |     163 |    640 |      320
--   => SELECT count(*), bool_and(done) FROM tg_jobs;
--    count | bool_and
--        7 | t
--   => SELECT col, row, ST_IsValid(geom), length(embedding) FROM tg_tiles LIMIT 1;
--    col | row | st_isvalid | length
--      0 |   0 | t          |     96

-- Key/value facts: schema_version (an integer; transgeo refuses a database
-- made by a newer schema), tiles_removed (see above).
CREATE TABLE IF NOT EXISTS tg_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO tg_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT (key) DO NOTHING;
INSERT INTO tg_meta (key, value) VALUES ('tiles_removed', '0') ON CONFLICT (key) DO NOTHING;

-- One row per registered model file (as in SQLite; no tile counters: see above).
CREATE TABLE IF NOT EXISTS tg_models (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    path text NOT NULL,
    sha256 text NOT NULL,
    config_json text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (raster file content, model, tile size, stride), as in SQLite.
-- n_cols, n_rows: the tiling grid (tilecache), which tg_jobs splits.
CREATE TABLE IF NOT EXISTS tg_rasters (
    id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    path text NOT NULL,
    sha256 text NOT NULL,
    crs text NOT NULL,
    tile_m double precision NOT NULL,
    stride_m double precision NOT NULL,
    gsd_m double precision NOT NULL,
    model_id bigint NOT NULL REFERENCES tg_models (id),
    complete integer NOT NULL DEFAULT 0,
    n_tiles bigint,
    indexed_at timestamptz,
    n_cols integer,
    n_rows integer,
    UNIQUE (sha256, model_id, tile_m, stride_m)
);

-- The pieces of a raster's indexing: tile rows row_begin <= row < row_end.
-- done: its tiles are in (set in the transaction that inserted them).
-- worker, n_added, finished_at: who did it and what it added (informative).
CREATE TABLE IF NOT EXISTS tg_jobs (
    raster_id bigint NOT NULL REFERENCES tg_rasters (id) ON DELETE CASCADE,
    row_begin integer NOT NULL,
    row_end integer NOT NULL,
    done boolean NOT NULL DEFAULT false,
    worker text,
    n_added integer,
    finished_at timestamptz,
    PRIMARY KEY (raster_id, row_begin),
    CHECK (0 <= row_begin AND row_begin < row_end)
);

CREATE SEQUENCE IF NOT EXISTS tg_tiles_id_seq AS bigint;

-- One row per aerial tile: grid position, centre (degrees), source pixel
-- window, working CRS, embedding, footprint (the four corners transformed by
-- PROJ, EPSG:4326). Partitioned: see "Sharding" above.
CREATE TABLE IF NOT EXISTS tg_tiles (
    id bigint NOT NULL DEFAULT nextval('tg_tiles_id_seq'),
    raster_id bigint NOT NULL,
    model_id bigint NOT NULL,
    col integer NOT NULL,
    "row" integer NOT NULL,
    center_lon double precision NOT NULL,
    center_lat double precision NOT NULL,
    win_x integer NOT NULL,
    win_y integer NOT NULL,
    win_w integer NOT NULL,
    win_h integer NOT NULL,
    crs text NOT NULL,
    embedding bytea NOT NULL,
    geom geometry(Polygon, 4326) NOT NULL
) PARTITION BY HASH (raster_id, col, "row");
ALTER SEQUENCE tg_tiles_id_seq OWNED BY tg_tiles.id;

DO $tg$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = 'tg_tiles'::regclass) THEN
        CREATE TABLE tg_tiles_local PARTITION OF tg_tiles
            FOR VALUES WITH (MODULUS 1, REMAINDER 0);
    END IF;
    IF to_regclass('tg_tiles_local') IS NOT NULL
       AND to_regclass('tg_tiles_local_key') IS NULL THEN
        CREATE UNIQUE INDEX tg_tiles_local_key ON tg_tiles_local (raster_id, col, "row");
    END IF;
END
$tg$;

CREATE INDEX IF NOT EXISTS tg_tiles_model ON tg_tiles (model_id, id);
CREATE INDEX IF NOT EXISTS tg_tiles_id ON tg_tiles (id);
CREATE INDEX IF NOT EXISTS tg_tiles_geom ON tg_tiles USING gist (geom);

CREATE OR REPLACE FUNCTION tg_tiles_removed() RETURNS trigger LANGUAGE plpgsql AS $tg$
BEGIN
    UPDATE tg_meta SET value = (value::bigint + 1)::text WHERE key = 'tiles_removed';
    RETURN NULL;
END
$tg$;
DO $tg$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'tg_tiles_removed'
                   AND tgrelid = 'tg_tiles'::regclass) THEN
        CREATE TRIGGER tg_tiles_removed
            AFTER DELETE OR UPDATE OF id, model_id, embedding, center_lon, center_lat, raster_id
            ON tg_tiles FOR EACH STATEMENT EXECUTE FUNCTION tg_tiles_removed();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'tg_tiles_truncated'
                   AND tgrelid = 'tg_tiles'::regclass) THEN
        CREATE TRIGGER tg_tiles_truncated AFTER TRUNCATE ON tg_tiles
            FOR EACH STATEMENT EXECUTE FUNCTION tg_tiles_removed();
    END IF;
END
$tg$;
