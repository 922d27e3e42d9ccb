-- tests/sql_errors.sql - every error path of mod_transgeo's SQL functions:
-- NULL in -> NULL out, wrong types, empty BLOBs, non-image data, unknown
-- models, embeddings of another model, files disabled, DIRECTONLY, read-only
-- databases, writes inside the caller's transactions. Messages are asserted
-- exactly where they are ours. Run by tests/sql_runner.sh.

-- test: setup: the tiny model and the 2009 NAIP raster in 1280 m tiles
SELECT tg_model_register('tiny', '@MODEL@');
SELECT tg_index_raster('@NAIP@', 'tiny', 1280);
-- => 1
-- => 41

-- test: NULL in, NULL out (scalar functions)
SELECT tg_locate(NULL) IS NULL, tg_embed_ground(NULL) IS NULL, tg_embed_aerial(NULL) IS NULL, tg_photo_gps(NULL) IS NULL, tg_distance_m(NULL, MakePoint(1, 2, 4326)) IS NULL, tg_index_raster(NULL) IS NULL, tg_model_register(NULL, 'x') IS NULL;
-- => 1|1|1|1|1|1|1

-- test: NULL photo or k: tg_matches has no rows
SELECT count(*) FROM tg_matches(NULL, 3);
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', NULL);
-- => 0
-- => 0

-- test: wrong types
SELECT tg_locate(42);
SELECT tg_embed_ground(4.5);
SELECT tg_photo_gps(7);
SELECT tg_index_raster(42);
SELECT tg_model_register('x', 42);
SELECT tg_model_register(42, 'x');
SELECT tg_locate('@SHARED@/photos/01.jpg', 42);
SELECT tg_index_raster('@NAIP@', 'tiny', 'big');
SELECT tg_index_raster('@NAIP@', 'tiny', -5);
-- => Error: tg_locate(): argument 1: BLOB (image or embedding) or TEXT (path) expected, got INTEGER
-- => Error: tg_embed_ground(): argument 1: BLOB (image bytes) or TEXT (path) expected, got REAL
-- => Error: tg_photo_gps(): argument 1: BLOB (image bytes) or TEXT (path) expected, got INTEGER
-- => Error: tg_index_raster(): argument 1: TEXT (raster path) expected, got INTEGER
-- => Error: tg_model_register(): argument 2: TEXT (model file path) expected, got INTEGER
-- => Error: tg_model_register(): argument 1: TEXT (model name) expected, got INTEGER
-- => Error: tg_locate(): argument 2: TEXT (model name) or NULL expected, got INTEGER
-- => Error: tg_index_raster(): argument 3 (tile_m): a number of metres or NULL expected, got TEXT
-- => Error: tg_index_raster(): argument 3 (tile_m): -5 m, expected a positive number of metres

-- test: a bad field of view or heading search (issue 17): a clear error naming the value
SELECT tg_locate('@SHARED@/photos/01.jpg', NULL, 0);
SELECT tg_locate('@SHARED@/photos/01.jpg', NULL, 400);
SELECT tg_locate('@SHARED@/photos/01.jpg', NULL, 200);
SELECT tg_locate('@SHARED@/photos/01.jpg', NULL, 'wide');
SELECT tg_locate('@SHARED@/photos/01.jpg', NULL, 90, -1);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, NULL, NULL, NULL, 0);
-- => Error: tg_locate(): field of view 0 degrees: expected a perspective photo's (more than 0 and under 180) or 360 for an equirectangular panorama
-- => Error: tg_locate(): field of view 400 degrees: expected a perspective photo's (more than 0 and under 180) or 360 for an equirectangular panorama
-- => Error: tg_locate(): field of view 200 degrees: expected a perspective photo's (more than 0 and under 180) or 360 for an equirectangular panorama
-- => Error: tg_locate(): argument 3 (fov_deg): a number of degrees or NULL expected, got TEXT
-- => Error: tg_locate(): argument 4 (heading_search): INTEGER 0..360 or NULL expected (0: from the field of view, 1: no search, N: N headings)
-- => Error: tg_matches(): field of view 0 degrees: expected a perspective photo's (more than 0 and under 180) or 360 for an equirectangular panorama

-- test: empty BLOBs
SELECT tg_locate(x'');
SELECT tg_embed_aerial(zeroblob(0));
SELECT tg_photo_gps(x'');
SELECT * FROM tg_matches(x'', 3);
-- => Error: tg_locate(): argument 1: empty BLOB (expected the bytes of an image file)
-- => Error: tg_embed_aerial(): argument 1: empty BLOB (expected the bytes of an image file)
-- => Error: tg_photo_gps(): argument 1: empty BLOB (expected the bytes of an image file)
-- => Error: tg_matches(): argument 1: empty BLOB (expected the bytes of an image file)

-- test: bytes that are not an image; a text file; a missing file
SELECT tg_locate(x'00010203040506070809');
SELECT tg_embed_ground('@SRCDIR@/src/store/schema.sql');
SELECT tg_locate('@TMP@/no_such_photo.jpg');
SELECT tg_photo_gps(readfile('@SRCDIR@/src/store/schema.sql'));
-- =~ ^Error: tg_locate\(\): argument 1: .+
-- =~ ^Error: tg_embed_ground\(\): argument 1: .*schema\.sql
-- =~ ^Error: tg_locate\(\): argument 1: .*no_such_photo\.jpg
-- =~ ^Error: tg_photo_gps\(\): argument 1: .+

-- test: a truncated JPEG
SELECT tg_locate(substr(readfile('@SHARED@/photos/01.jpg'), 1, 5000));
-- =~ ^Error: tg_locate\(\): argument 1: .+

-- test: an embedding of another model (4 floats, unit length) is refused
SELECT tg_locate(x'0000803F000000000000000000000000');
SELECT * FROM tg_matches(x'0000803F000000000000000000000000', 2);
-- => Error: tg_locate(): the embedding has 4 floats but model 'tiny' makes 24: it was made by another model (embeddings of different models cannot be compared)
-- => Error: tg_matches(): the embedding has 4 floats but model 'tiny' makes 24: it was made by another model (embeddings of different models cannot be compared)

-- test: unknown model
SELECT tg_locate('@SHARED@/photos/01.jpg', 'nope');
SELECT tg_index_raster('@NAIP@', 'nope');
-- => Error: tg_locate(): model 'nope' is not registered in '@TMP@/sql_errors.sqlite' (registered: 'tiny'): register it with tg_model_register('nope', 'model.safetensors')
-- => Error: tg_index_raster(): model 'nope' is not registered in '@TMP@/sql_errors.sqlite' (registered: 'tiny'): register it with tg_model_register('nope', 'model.safetensors')

-- test: registered model without tiles
SELECT tg_model_register('empty', '@MODEL@');
SELECT tg_locate('@SHARED@/photos/01.jpg', 'empty');
-- => 2
-- => Error: tg_locate(): model 'empty' has no tiles: index a raster with it first (transgeo index RASTER --model empty, or in SQL tg_index_raster('ortho.tif', 'empty'))

-- test: rasters that are not
SELECT tg_index_raster('@TMP@/no_such_raster.tif', 'tiny');
SELECT tg_index_raster('@SRCDIR@/src/store/schema.sql', 'tiny');
SELECT count(*) FROM tg_rasters;
-- =~ ^Error: tg_index_raster\(\): .*no_such_raster\.tif
-- =~ ^Error: tg_index_raster\(\): .*schema\.sql
-- => 1

-- test: model files that are not
SELECT tg_model_register('bad', '@SRCDIR@/src/store/schema.sql');
SELECT tg_model_register('bad', '@TMP@/no_such_model.safetensors');
SELECT tg_model_register('', '@MODEL@');
SELECT count(*) FROM tg_models;
-- =~ ^Error: tg_model_register\(\): .*schema\.sql
-- =~ ^Error: tg_model_register\(\): .*no_such_model\.safetensors
-- => Error: tg_model_register(): model name '': expected 1 to 255 bytes
-- => 2

-- test: tg_matches: arguments required, types, ranges
SELECT * FROM tg_matches;
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg');
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 'three');
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 0);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, 'POINT(1 2)', 10);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, x'0001', 10);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, MakePoint(1, 2, 4326), -1);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, MakePoint(1, 2), 10);
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 3, NULL, NULL, 7);
-- => Error: tg_matches(): the arguments photo and k are required: SELECT * FROM tg_matches(photo, k [, near_geom, radius_m [, model [, fov_deg [, heading_search [, prior]]]]])
-- => Error: tg_matches(): the arguments photo and k are required: SELECT * FROM tg_matches(photo, k [, near_geom, radius_m [, model [, fov_deg [, heading_search [, prior]]]]])
-- => Error: tg_matches(): argument 2 (k): INTEGER expected, got TEXT
-- => Error: tg_matches(): argument 2 (k): 0, expected 1 to 100000
-- => Error: tg_matches(): argument 3 (near_geom): BLOB (SpatiaLite geometry) or NULL expected, got TEXT
-- => Error: tg_matches(): prior: the BLOB is not a SpatiaLite geometry (make one with MakePoint(lon, lat, 4326) or GeomFromText(wkt, 4326))
-- => Error: tg_matches(): argument 4 (radius_m): expected a distance >= 0 metres
-- => Error: tg_matches(): prior geometry has SRID 0, expected 4326 (WGS 84 lon/lat): use ST_Transform(geom, 4326)
-- => Error: tg_matches(): argument 5 (model): TEXT (model name) or NULL expected, got INTEGER

-- test: tg_matches as a join: the photo comes from the outer table
CREATE TEMP TABLE photos (name TEXT, path TEXT);
INSERT INTO photos VALUES ('01', '@SHARED@/photos/01.jpg'), ('02', '@SHARED@/photos/02.jpg');
SELECT p.name, count(*) FROM photos p, tg_matches(p.path, 2) m GROUP BY p.name ORDER BY p.name;
-- => 01|2
-- => 02|2

-- test: tg_distance_m: types, non-geometry, SRID, geometry kind
SELECT tg_distance_m(1, 2);
SELECT tg_distance_m(x'0001', MakePoint(1, 2, 4326));
SELECT tg_distance_m(MakePoint(1, 2, 4326), MakePoint(500000, 5000000, 32633));
SELECT tg_distance_m(GeomFromText('LINESTRING(1 2, 3 4)', 4326), MakePoint(1, 2, 4326));
-- => Error: tg_distance_m(): argument 1: BLOB (SpatiaLite geometry) expected, got INTEGER
-- => Error: tg_distance_m(): argument 1: not a SpatiaLite geometry BLOB (make one with MakePoint(lon, lat, 4326) or GeomFromText(wkt, 4326))
-- => Error: tg_distance_m(): argument 2: geometry has SRID 32633, expected 4326 (WGS 84 lon/lat): use ST_Transform(geom, 4326)
-- => Error: tg_distance_m(): argument 1: a POINT or a POLYGON expected, got a geometry of 0 point(s), 1 line(s) and 0 polygon(s) (use ST_Centroid(geom))

-- test: tg_distance_m reads every BLOB-Geometry form: Z/M/ZM, compressed, TinyPoint
SELECT round(tg_distance_m(GeomFromText('POLYGONZM((0 0 1 2, 0.01 0 1 2, 0.01 0.01 1 2, 0 0.01 1 2, 0 0 1 2))', 4326), MakePoint(0.005, 0.005, 4326)), 3);
SELECT round(tg_distance_m(CompressGeometry(GeomFromText('POLYGON((0 0, 0.01 0, 0.01 0.01, 0 0.01, 0 0))', 4326)), MakePoint(0.005, 0.005, 4326)), 3);
SELECT round(tg_distance_m(CompressGeometry(GeomFromText('POLYGONZ((0 0 1, 0.01 0 1, 0.01 0.01 1, 0 0.01 1, 0 0 1))', 4326)), MakePointZ(0.005, 0.005, 7, 4326)), 3);
SELECT EnableTinyPoint();
SELECT round(tg_distance_m(MakePoint(0, 0, 4326), MakePoint(0, 1, 4326)));
SELECT DisableTinyPoint();
-- => 0.0
-- => 0.0
-- => 0.0
-- => 
-- => 110574.0
-- => 

-- test: a damaged geometry BLOB (a polygon claiming 2^31 rings) is refused, not parsed
SELECT tg_distance_m(CAST(substr(g, 1, 43) || x'FFFFFF7F' || substr(g, 48) AS BLOB), MakePoint(1, 2, 4326)) FROM (SELECT BuildMbr(1, 2, 3, 4, 4326) AS g);
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 3, (SELECT CAST(substr(g, 1, 43) || x'FFFFFF7F' || substr(g, 48) AS BLOB) FROM (SELECT BuildMbr(1, 2, 3, 4, 4326) AS g)), 10);
-- => Error: tg_distance_m(): argument 1: not a SpatiaLite geometry BLOB (make one with MakePoint(lon, lat, 4326) or GeomFromText(wkt, 4326))
-- => Error: tg_matches(): prior: the BLOB is not a SpatiaLite geometry (make one with MakePoint(lon, lat, 4326) or GeomFromText(wkt, 4326))

-- test: tg_set: unknown names, bad values
SELECT tg_set('nope', 1);
SELECT tg_set('allow_files', 2);
SELECT tg_set('threads', 'x');
SELECT tg_set('threads', -1);
SELECT tg_set('batch_tiles', 0);
SELECT tg_set(1, 1);
SELECT tg_set('codec', 'int4');
SELECT tg_set('codec', 2);
-- => Error: tg_set(): unknown setting 'nope' (settings: allow_files, threads, batch_tiles, codec)
-- => Error: tg_set(): 'allow_files' is 0 (off) or 1 (on), not 2
-- => Error: tg_set(): argument 2: INTEGER expected for 'threads', got TEXT
-- => Error: tg_set(): 'threads' is 0 (all cores) or a thread count up to 4096, not -1
-- => Error: tg_set(): 'batch_tiles' is 1 to 100000 tiles per transaction, not 0
-- => Error: tg_set(): argument 1: TEXT (a setting name) expected, got INTEGER
-- => Error: tg_set(): 'codec' is 'f32', 'f16', 'int8' or 'model' (each model's own), not int4
-- => Error: tg_set(): 'codec' is 'f32', 'f16', 'int8' or 'model' (each model's own), not INTEGER

-- test: allow_files = 0: every file-reading function refuses paths
SELECT tg_set('allow_files', 0);
SELECT tg_locate('@SHARED@/photos/01.jpg');
SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 1);
SELECT tg_embed_ground('@SHARED@/photos/01.jpg');
SELECT tg_photo_gps('@SHARED@/photos/01.jpg');
SELECT tg_index_raster('@NAIP@');
SELECT tg_model_register('x', '@MODEL@');
SELECT round(ST_Y(tg_photo_gps(readfile('@SHARED@/photos/01.jpg'))), 4);
-- => 0
-- => Error: tg_locate(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB
-- => Error: tg_matches(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB
-- => Error: tg_embed_ground(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB
-- => Error: tg_photo_gps(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB
-- => Error: tg_index_raster(): reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can)
-- => Error: tg_model_register(): reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can)
-- => 52.5189

-- test: allow_files is one-way from SQL: 1 is refused once off, in any form; 0 again is fine; tg_host_files takes no SQL value
SELECT tg_set('allow_files', 1);
SELECT tg_set('ALLOW_FILES', 1);
SELECT tg_set('allow_files', 0), tg_set('allow_files', 0);
SELECT tg_host_files(1);
SELECT tg_host_files(NULL);
SELECT tg_host_files(x'00000000');
SELECT tg_locate('@SHARED@/photos/01.jpg');
-- => Error: tg_set(): 'allow_files' cannot be turned on from SQL: file access is off for this connection, and only the program that loaded mod_transgeo can turn it on (TG_SQL_ALLOW_FILES=1 in its environment when loading, or tg_sql_set_files() of <transgeo/sql.h>; see transgeo-sql(7))
-- => Error: tg_set(): unknown setting 'ALLOW_FILES' (settings: allow_files, threads, batch_tiles, codec)
-- => 0|0
-- => Error: tg_host_files(): only the program that loaded mod_transgeo calls this, from C (tg_sql_set_files() of <transgeo/sql.h>): SQL cannot change file access beyond tg_set('allow_files', 0)
-- => Error: tg_host_files(): only the program that loaded mod_transgeo calls this, from C (tg_sql_set_files() of <transgeo/sql.h>): SQL cannot change file access beyond tg_set('allow_files', 0)
-- => Error: tg_host_files(): only the program that loaded mod_transgeo calls this, from C (tg_sql_set_files() of <transgeo/sql.h>): SQL cannot change file access beyond tg_set('allow_files', 0)
-- => Error: tg_locate(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB

-- test: files off in a new connection: the model file the database names is refused before it is read (no trusted location set); BLOB photos are refused for want of a model
.open @TMP@/sql_errors.sqlite
.load @SPATIALITE@
.load @MODTG@
SELECT tg_set('allow_files', 0);
SELECT tg_locate(readfile('@SHARED@/photos/01.jpg'));
SELECT count(*) FROM tg_matches(readfile('@SHARED@/photos/01.jpg'), 3);
-- => 0
-- => Error: tg_locate(): model 'tiny': the database names the file '@MODEL@', which is not a regular file under a trusted directory (0 set), nor a model file with a trusted sha256 (0 set): refused without reading it; file access is off for this connection (allow_files 0): the program that loads mod_transgeo names the trusted locations (TG_SQL_TRUSTED_DIRS, TG_SQL_TRUSTED_MODELS; see transgeo-sql(7), UNTRUSTED SQL AND DATABASES)
-- => Error: tg_matches(): model 'tiny': the database names the file '@MODEL@', which is not a regular file under a trusted directory (0 set), nor a model file with a trusted sha256 (0 set): refused without reading it; file access is off for this connection (allow_files 0): the program that loads mod_transgeo names the trusted locations (TG_SQL_TRUSTED_DIRS, TG_SQL_TRUSTED_MODELS; see transgeo-sql(7), UNTRUSTED SQL AND DATABASES)

-- test: files on (a new connection): tg_models.path pointed at a text file; the refusal shows nothing of the file (issue 20: it used to print its first 8 bytes as a number)
.open @TMP@/sql_errors.sqlite
.load @SPATIALITE@
.load @MODTG@
SELECT writefile('@TMP@/sql_errors_canary.txt', 'SECRET-CANARY-7f3a9 the rest of a private file' || char(10));
UPDATE tg_models SET path = '@TMP@/sql_errors_canary.txt' WHERE name = 'tiny';
SELECT tg_locate(readfile('@SHARED@/photos/01.jpg'), 'tiny');
UPDATE tg_models SET path = '@MODEL@' WHERE name = 'tiny';
SELECT json_extract(tg_locate(readfile('@SHARED@/photos/01.jpg'), 'tiny'), '$.model');
-- => 47
-- => Error: tg_locate(): model '@TMP@/sql_errors_canary.txt' (47 bytes): its first 8 bytes are not a safetensors header length (2 bytes to 100 MB, within the file): not a safetensors file, or truncated: (model 'tiny' as registered in '@TMP@/sql_errors.sqlite'; register it again with its new path if the file moved)
-- => tiny

-- test: devices, FIFOs and /proc files are refused without reading them (files on)
SELECT tg_model_register('z', '/dev/zero');
SELECT tg_model_register('p', '/proc/self/environ');
SELECT tg_index_raster('/dev/zero', 'tiny');
SELECT tg_locate('/dev/zero');
SELECT tg_embed_ground('/proc/self/environ');
-- => Error: tg_model_register(): model '/dev/zero': not a regular file
-- => Error: tg_model_register(): model '/proc/self/environ' (0 bytes): too short for a safetensors file (it starts with an 8-byte header length): the file is truncated or not a model
-- => Error: tg_index_raster(): raster '/dev/zero' is not a regular file (a device, FIFO or socket)
-- => Error: tg_locate(): argument 1: image '/dev/zero': file is empty (0 bytes), not an image
-- => Error: tg_embed_ground(): argument 1: image '/proc/self/environ': file is empty (0 bytes), not an image

-- test: DIRECTONLY: views and triggers cannot call file readers; pure functions they can
CREATE VIEW v_locate AS SELECT tg_locate('@SHARED@/photos/01.jpg') AS j;
SELECT * FROM v_locate;
CREATE VIEW v_matches AS SELECT * FROM tg_matches('@SHARED@/photos/01.jpg', 1);
SELECT count(*) FROM v_matches;
CREATE VIEW v_pure AS SELECT tg_version() IS NOT NULL AS a, tg_distance_m(MakePoint(0, 0, 4326), MakePoint(0, 1, 4326)) > 110000 AS b;
SELECT * FROM v_pure;
CREATE TABLE t_log (x);
CREATE TRIGGER t_log_ai AFTER INSERT ON t_log BEGIN SELECT tg_index_raster('@NAIP@'); END;
INSERT INTO t_log VALUES (1);
SELECT count(*) FROM t_log;
-- => Error: unsafe use of tg_locate()
-- => Error: unsafe use of virtual table "tg_matches"
-- => 1|1
-- => Error: unsafe use of tg_index_raster()
-- => 0

-- test: indexing inside the caller's transaction: ROLLBACK undoes it, COMMIT keeps it
BEGIN;
SELECT tg_index_raster('@NAIP2018@', 'tiny', 1280);
SELECT count(*) FROM tg_rasters;
ROLLBACK;
SELECT count(*), (SELECT count(*) FROM tg_tiles) FROM tg_rasters;
BEGIN;
SELECT tg_index_raster('@NAIP2018@', 'tiny', 1280);
COMMIT;
SELECT count(*), (SELECT count(*) FROM tg_tiles), (SELECT sum(complete) FROM tg_rasters) FROM tg_rasters;
-- => 41
-- => 2
-- => 1|41
-- => 41
-- => 2|82|2

-- test: indexing inside a statement that writes: joins its transaction
CREATE TEMP TABLE added AS SELECT tg_index_raster('@NAIP@', 'tiny', 2560) AS n;
SELECT n, (SELECT complete FROM tg_rasters WHERE tile_m = 2560) FROM added;
-- => 10|1

-- test: indexing the rasters listed in a table (a read statement is running meanwhile)
CREATE TABLE todo (path TEXT);
INSERT INTO todo VALUES ('@NAIP@'), ('@NAIP2018@');
SELECT tg_index_raster(path, 'tiny', 5120) FROM todo;
SELECT count(*), sum(complete) FROM tg_rasters WHERE tile_m = 5120;
-- => 1
-- => 1
-- => 2|2

-- test: read-only database: writes refused with the reason, reads work
.open --readonly @TMP@/sql_errors.sqlite
.load @SPATIALITE@
.load @MODTG@
SELECT tg_index_raster('@NAIP@', 'tiny', 640);
SELECT tg_model_register('ro', '@MODEL@');
SELECT json_extract(tg_locate('@SHARED@/photos/01.jpg', 'tiny'), '$.model');
-- => Error: tg_index_raster(): database '@TMP@/sql_errors.sqlite' is read-only: cannot index a raster (open it read-write, and check the permissions of the file and its directory)
-- => Error: tg_model_register(): database '@TMP@/sql_errors.sqlite' is read-only: cannot register a model (open it read-write, and check the permissions of the file and its directory)
-- => tiny

-- test: a database without the tables: locate explains, and creates nothing
.open @TMP@/sql_errors_empty.sqlite
.load @SPATIALITE@
.load @MODTG@
SELECT tg_locate('@SHARED@/photos/01.jpg');
SELECT count(*) FROM sqlite_master;
-- => Error: tg_locate(): database '@TMP@/sql_errors_empty.sqlite' has no transgeo tables: register a model and index a raster first (SQL: SELECT tg_model_register('name', 'model.safetensors'); SELECT tg_index_raster('ortho.tif'))
-- => 0

-- test: without SpatiaLite the extension refuses to load, saying why
.open :memory:
.load @MODTG@
SELECT count(*) FROM pragma_function_list WHERE name = 'tg_locate';
-- => Error: error during initialization: mod_transgeo needs SpatiaLite: load mod_spatialite first (sqlite3 shell: .load mod_spatialite; SQL: SELECT load_extension('mod_spatialite'))
-- => 0
