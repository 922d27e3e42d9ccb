-- src/store/schema.sql - the transgeo tables in a SpatiaLite database.
--
-- The one source of truth for the schema: src/store/local.mk turns this file into a
-- C string (src/store/schema_sql.c) that tg_store_ensure_schema() runs, from the CLI
-- and from the mod_transgeo extension alike, on first use. Before it runs,
-- the C code initialises the spatial metadata when the file has none
-- (SELECT InitSpatialMetadata(1, 'WGS84'): the 'WGS84' form inserts only the
-- WGS 84 reference systems and is fast; the bare form takes minutes) outside
-- any transaction.
--
-- Rules the runner relies on:
--   * every statement is idempotent (IF NOT EXISTS, INSERT OR IGNORE, CASE
--     guards), so the file runs again on every database that lacks part of it;
--   * a SELECT here calls a SpatiaLite admin function, which returns 0 on
--     failure instead of raising an error: the runner requires each SELECT to
--     return one non-zero integer and otherwise stops with this statement in
--     the message.
--
-- Example (real output, after registering the tiny test model and indexing
-- the NAIP test raster in 640 m tiles: see man/transgeo-sql.7):
--   sqlite> SELECT name, sha256 <> '', n_inserted FROM tg_models;
--   tiny|1|163
--   sqlite> SELECT complete, n_tiles, tile_m, stride_m FROM tg_rasters;
--   1|163|640.0|320.0
--   sqlite> SELECT col, row, ST_IsValid(geom), length(embedding) FROM tg_tiles LIMIT 1;
--   0|0|1|96

-- Key/value facts about the database itself: schema_version (an integer;
-- transgeo refuses a database made by a newer schema).
CREATE TABLE IF NOT EXISTS tg_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT OR IGNORE INTO tg_meta (key, value) VALUES ('schema_version', '1');

-- One row per registered model file. sha256 is the model's own hash of its
-- tensor data (safetensors __metadata__ "sha256"), so moving or renaming the
-- file keeps its identity. n_inserted / n_removed count tile insertions and
-- deletions (or changes) made with this model, maintained by the triggers
-- below: a connection that holds the embeddings in memory compares them to
-- know whether to load new rows only (n_removed unchanged) or everything.
CREATE TABLE IF NOT EXISTS tg_models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    n_inserted INTEGER NOT NULL DEFAULT 0,
    n_removed INTEGER NOT NULL DEFAULT 0
);

-- One row per (raster file content, model, tile size, stride): the same bytes
-- indexed twice with the same settings are one raster. sha256 is of the file.
-- crs: the working CRS the tiles were cut in ("EPSG:26913", or WKT when it has
-- no EPSG code). tile_m, stride_m, gsd_m: effective values (tilecache rounds
-- them to whole pixels). complete = 1 once every tile is in (n_tiles then).
CREATE TABLE IF NOT EXISTS tg_rasters (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    crs TEXT NOT NULL,
    tile_m REAL NOT NULL,
    stride_m REAL NOT NULL,
    gsd_m REAL NOT NULL,
    model_id INTEGER NOT NULL REFERENCES tg_models (id),
    complete INTEGER NOT NULL DEFAULT 0,
    n_tiles INTEGER,
    indexed_at TEXT,
    UNIQUE (sha256, model_id, tile_m, stride_m)
);

-- One row per aerial tile: its grid position in the raster's tiling, its
-- centre (EPSG:4326 degrees), its source pixel window (win_x, win_y, win_w,
-- win_h: full-resolution pixels of the raster), the working CRS, and the
-- embedding: out_dim little-endian float32, L2-normalised, made by model_id.
-- geom (added below) is the exact footprint: the four corners transformed by
-- PROJ, POLYGON in EPSG:4326.
CREATE TABLE IF NOT EXISTS tg_tiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    raster_id INTEGER NOT NULL REFERENCES tg_rasters (id),
    model_id INTEGER NOT NULL REFERENCES tg_models (id),
    col INTEGER NOT NULL,
    row INTEGER NOT NULL,
    center_lon REAL NOT NULL,
    center_lat REAL NOT NULL,
    win_x INTEGER NOT NULL,
    win_y INTEGER NOT NULL,
    win_w INTEGER NOT NULL,
    win_h INTEGER NOT NULL,
    crs TEXT NOT NULL,
    embedding BLOB NOT NULL,
    UNIQUE (raster_id, col, row)
);
CREATE INDEX IF NOT EXISTS tg_tiles_model ON tg_tiles (model_id, id);

SELECT CASE WHEN EXISTS (SELECT 1 FROM spatial_ref_sys WHERE srid = 4326) THEN 1
            ELSE InsertEpsgSrid(4326) END;
SELECT CASE WHEN EXISTS (SELECT 1 FROM geometry_columns
                         WHERE f_table_name = 'tg_tiles' AND f_geometry_column = 'geom') THEN 1
            ELSE AddGeometryColumn('tg_tiles', 'geom', 4326, 'POLYGON', 'XY', 1) END;
SELECT CASE WHEN (SELECT spatial_index_enabled FROM geometry_columns
                  WHERE f_table_name = 'tg_tiles' AND f_geometry_column = 'geom') = 1 THEN 1
            ELSE CreateSpatialIndex('tg_tiles', 'geom') END;

CREATE TRIGGER IF NOT EXISTS tg_tiles_count_insert AFTER INSERT ON tg_tiles
BEGIN
    UPDATE tg_models SET n_inserted = n_inserted + 1 WHERE id = NEW.model_id;
END;
CREATE TRIGGER IF NOT EXISTS tg_tiles_count_delete AFTER DELETE ON tg_tiles
BEGIN
    UPDATE tg_models SET n_removed = n_removed + 1 WHERE id = OLD.model_id;
END;
CREATE TRIGGER IF NOT EXISTS tg_tiles_count_update
AFTER UPDATE OF id, model_id, embedding, center_lon, center_lat, raster_id ON tg_tiles
BEGIN
    UPDATE tg_models SET n_removed = n_removed + 1 WHERE id IN (OLD.model_id, NEW.model_id);
END;
