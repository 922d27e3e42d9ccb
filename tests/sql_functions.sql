-- tests/sql_functions.sql - mod_transgeo's functions on a real raster (NAIP
-- 2009, 5 m, EPSG:26914) with the tiny golden model (out_dim 24): 640 m tiles
-- at 10 m per pixel (64 px, the model's pixels per tile), stride 320 m.
-- Run by tests/sql_runner.sh (format there). Photos are the shared Mapillary
-- fixtures: 01.jpg has GPS (Berlin), empty_exif.jpg has none.

-- test: version is MAJOR.MINOR.PATCH
SELECT tg_version() GLOB '[0-9]*.[0-9]*.[0-9]*';
-- => 1

-- test: nothing registered yet: locate says what to do
SELECT tg_locate('@SHARED@/photos/01.jpg');
-- => Error: tg_locate(): database '@TMP@/sql_functions.sqlite' has no transgeo tables: register a model and index a raster first (SQL: SELECT tg_model_register('name', 'model.safetensors'); SELECT tg_index_raster('ortho.tif'))

-- test: register the tiny model: id 1, twice the same
SELECT tg_model_register('tiny', '@MODEL@');
SELECT tg_model_register('tiny', '@MODEL@');
-- => 1
-- => 1

-- test: the schema: tables, spatial metadata, WAL
SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'tg\_%' ESCAPE '\' ORDER BY name);
SELECT CheckSpatialMetaData(), (SELECT journal_mode FROM pragma_journal_mode);
SELECT f_geometry_column, geometry_type, srid, spatial_index_enabled FROM geometry_columns WHERE f_table_name = 'tg_tiles';
-- => tg_meta,tg_models,tg_rasters,tg_tiles
-- => 3|wal
-- => geom|3|4326|1

-- test: model row: sha256 of the tensor data (the file's own field), config JSON from the file
SELECT name, length(sha256), sha256 = json_extract(config_json, '$.sha256'), json_extract(config_json, '$.out_dim'), json_extract(config_json, '$.preset') FROM tg_models;
-- => tiny|64|1|24|tiny

-- test: index the raster: 163 tiles (165 in the 15 x 11 grid, 2 mostly outside)
SELECT tg_index_raster('@NAIP@', 'tiny', 640);
-- => 163

-- test: every tile once, valid POLYGON 4326 footprints, 24-float embeddings
SELECT count(*), count(DISTINCT col || ',' || row), sum(ST_IsValid(geom)), sum(GeometryType(geom) = 'POLYGON'), sum(ST_SRID(geom) = 4326), sum(length(embedding) = 96) FROM tg_tiles;
-- => 163|163|163|163|163|163

-- test: raster row: file sha256, working CRS, effective sizes, complete
SELECT sha256, crs, tile_m, stride_m, gsd_m, complete, n_tiles, model_id FROM tg_rasters;
-- => 568f0d3dc3118d6df63510361db6c627b81541ad4c65122caf54e18030fc7100|EPSG:26914|640.0|320.0|10.0|1|163|1

-- test: tile centres lie in their footprints; footprints are 640 m squares (area in m2 +- 1 %)
SELECT sum(ST_Contains(geom, MakePoint(center_lon, center_lat, 4326))), sum(abs(ST_Area(geom, 1) - 409600) < 4096) FROM tg_tiles;
-- => 163|163

-- test: the footprints tile the grid: neighbours overlap by half a tile (320 m)
SELECT round(tg_distance_m(MakePoint(a.center_lon, a.center_lat, 4326), MakePoint(b.center_lon, b.center_lat, 4326)) / 10) * 10 FROM tg_tiles a, tg_tiles b WHERE a.col = 5 AND a.row = 5 AND b.col = 6 AND b.row = 5;
-- => 320.0

-- test: re-indexing the unchanged raster adds nothing
SELECT tg_index_raster('@NAIP@', 'tiny', 640);
SELECT count(*) FROM tg_tiles;
-- => 0
-- => 163

-- test: a tile's own embedding as the query ranks it first, score 1
SELECT m.tile_id = t.id, round(m.score, 5) FROM tg_tiles t, tg_matches(t.embedding, 1) m WHERE t.col = 7 AND t.row = 5;
-- => 1|1.0

-- test: every tile's own embedding ranks it first
SELECT count(*) FROM tg_tiles t, tg_matches(t.embedding, 1) m WHERE m.tile_id = t.id;
-- => 163

-- test: tg_set('codec'): int8 and f16 scans (re-ranked in float32) rank every tile first too, with its float32 score; 'model' goes back to the model's own (f32)
SELECT tg_set('codec', 'int8');
SELECT count(*), sum(abs(m.score - 1) < 1e-5) FROM tg_tiles t, tg_matches(t.embedding, 1) m WHERE m.tile_id = t.id;
SELECT tg_set('codec', 'f16');
SELECT count(*), sum(abs(m.score - 1) < 1e-5) FROM tg_tiles t, tg_matches(t.embedding, 1) m WHERE m.tile_id = t.id;
SELECT tg_set('codec', 'model');
-- => int8
-- => 163|163
-- => f16
-- => 163|163
-- => model

-- test: tg_embed_aerial: 24 float32 (96 bytes), same for the BLOB and the path
SELECT length(tg_embed_aerial('@SHARED@/photos/01.jpg')), tg_embed_aerial(readfile('@SHARED@/photos/01.jpg')) = tg_embed_aerial('@SHARED@/photos/01.jpg');
-- => 96|1

-- test: tg_embed_ground: 96 bytes; BLOB = path; differs from the aerial one
SELECT length(tg_embed_ground('@SHARED@/photos/01.jpg')), tg_embed_ground(readfile('@SHARED@/photos/01.jpg')) = tg_embed_ground('@SHARED@/photos/01.jpg'), tg_embed_ground('@SHARED@/photos/01.jpg') <> tg_embed_aerial('@SHARED@/photos/01.jpg');
-- => 96|1|1

-- test: tg_locate returns JSON with these fields, in this order
SELECT json_valid(tg_locate('@SHARED@/photos/01.jpg')), (SELECT group_concat(key, ',') FROM json_each(tg_locate('@SHARED@/photos/01.jpg')));
-- => 1|tile_id,lon,lat,tile_lon,tile_lat,footprint_wkt,score,error_m,prior,refined,refine_tiles,gps_error_m,heading_deg,heading_source,n_headings,fov_deg,camera_source,model

-- test: tg_locate = rank 1 of tg_matches; centre (tile_lon, tile_lat) and footprint of that tile; the tiny model is cheap: refined from 16 raster tiles
CREATE TEMP TABLE loc AS SELECT tg_locate('@SHARED@/photos/01.jpg') AS j;
SELECT json_extract(j, '$.tile_id') = m.tile_id, abs(json_extract(j, '$.score') - m.score) < 1e-9, abs(json_extract(j, '$.error_m') - m.error_m) < 1e-6, json_extract(j, '$.model') FROM loc, tg_matches('@SHARED@/photos/01.jpg', 1) m;
SELECT abs(json_extract(j, '$.tile_lon') - t.center_lon) < 1e-9, abs(json_extract(j, '$.tile_lat') - t.center_lat) < 1e-9, json_extract(j, '$.footprint_wkt') = AsText(t.geom), json_extract(j, '$.prior'), json_extract(j, '$.refined'), json_extract(j, '$.refine_tiles') FROM loc, tg_tiles t WHERE t.id = json_extract(j, '$.tile_id');
-- => 1|1|1|tiny
-- => 1|1|1|none|raster|16

-- test: the refined estimate lies within a stride (320 m) of its tile's centre
SELECT tg_distance_m(MakePoint(json_extract(j, '$.lon'), json_extract(j, '$.lat'), 4326), MakePoint(json_extract(j, '$.tile_lon'), json_extract(j, '$.tile_lat'), 4326)) <= 320 FROM loc;
-- => 1

-- test: gps_error_m is the geodesic distance from the photo's GPS to the estimate (Berlin to North Dakota)
SELECT abs(json_extract(j, '$.gps_error_m') - tg_distance_m(tg_photo_gps('@SHARED@/photos/01.jpg'), MakePoint(json_extract(j, '$.lon'), json_extract(j, '$.lat'), 4326))) < 1e-3, json_extract(j, '$.gps_error_m') > 7e6 FROM loc;
-- => 1|1

-- test: error_m is at least half the stride (160 m)
SELECT json_extract(j, '$.error_m') >= 160 FROM loc;
-- => 1

-- test: a photo without GPS has no gps_error_m; a BLOB photo works like its path
SELECT json_type(tg_locate('@SHARED@/photos/empty_exif.jpg'), '$.gps_error_m') IS NULL, tg_locate(readfile('@SHARED@/photos/01.jpg')) = (SELECT j FROM loc);
-- => 1|1

-- test: an embedding BLOB is a query too: tg_locate(tg_embed_ground(photo)) = tg_locate(a photo without camera metadata taken as a north-aligned panorama: fov 360, no heading search) minus heading and camera
SELECT json_remove(tg_locate('@SHARED@/photos/empty_exif.jpg', NULL, 360, 1), '$.heading_deg', '$.heading_source', '$.n_headings', '$.fov_deg', '$.camera_source') = tg_locate(tg_embed_ground('@SHARED@/photos/empty_exif.jpg'));
-- => 1

-- test: the camera of 01.jpg: FocalLengthIn35mmFormat 35 mm on 3264x2448 (exiftool) = 2 atan(21.633 * 0.8 / 35) = 52.62 degrees; heading: Mapillary TrueHeading 54.74463 (one pass)
SELECT json_extract(j, '$.camera_source'), round(json_extract(j, '$.fov_deg'), 2), json_extract(j, '$.heading_source'), json_extract(j, '$.n_headings'), json_extract(j, '$.heading_deg') FROM loc;
-- => exif-35mm|52.62|mapillary|1|54.74463

-- test: a photo without camera metadata (empty_exif.jpg): the user's field of view; heading unknown -> searched over ceil(3 * 360 / hfov) (90: 12 headings, 30 degrees apart), or assumed north with heading_search 1
SELECT json_extract(j, '$.camera_source'), json_extract(j, '$.fov_deg'), json_extract(j, '$.heading_source'), json_extract(j, '$.n_headings'), CAST(json_extract(j, '$.heading_deg') AS INTEGER) % 30 FROM (SELECT tg_locate('@SHARED@/photos/empty_exif.jpg', NULL, 90) AS j);
SELECT json_extract(j, '$.camera_source'), json_extract(j, '$.fov_deg'), json_extract(j, '$.heading_source'), json_extract(j, '$.heading_deg') FROM (SELECT tg_locate('@SHARED@/photos/empty_exif.jpg', NULL, NULL, 1) AS j);
-- => user|90.0|searched|12|0
-- => default|65.0|assumed-north|0.0

-- test: what the camera skipped is named: test_exif.jpg has FocalLength 3.53 mm (exiftool -n) but neither a 35 mm equivalent nor the sensor's size (exiftool -FocalLength -FocalLengthIn35mmFormat -FocalPlaneXResolution), so the default camera, and the note says why
SELECT json_extract(j, '$.camera_source'), json_extract(j, '$.camera_note') FROM (SELECT tg_locate('@SHARED@/photos/test_exif.jpg') AS j);
SELECT json_type(j, '$.camera_note') IS NULL FROM loc;
-- => default|FocalLength 3.53 mm without the sensor's size (FocalPlane resolution): ignored
-- => 1

-- test: tg_matches rows carry the heading of the canvas that scored them; rank 1 = tg_locate's heading; an embedding has none
SELECT abs(m.heading_deg - json_extract(j, '$.heading_deg')) < 1e-9, m.heading_source FROM loc, tg_matches('@SHARED@/photos/01.jpg', 1) m;
SELECT count(*), sum(heading_deg IS NULL), min(heading_source) FROM tg_matches(tg_embed_ground('@SHARED@/photos/01.jpg'), 3);
SELECT (SELECT heading_deg FROM tg_matches('@SHARED@/photos/empty_exif.jpg', 1, NULL, NULL, NULL, 90)) = json_extract(tg_locate('@SHARED@/photos/empty_exif.jpg', NULL, 90), '$.heading_deg');
-- => 1|mapillary
-- => 3|3|none
-- => 1

-- test: tg_matches: ranks 1..10 by descending score, error_m >= 160, footprints
SELECT group_concat(rank, ','), min(error_m) >= 160, sum(GeometryType(geom) = 'POLYGON') FROM tg_matches('@SHARED@/photos/01.jpg', 10);
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 10) a JOIN tg_matches('@SHARED@/photos/01.jpg', 10) b ON b.rank = a.rank + 1 WHERE b.score > a.score;
-- => 1,2,3,4,5,6,7,8,9,10|1|10
-- => 0

-- test: tg_matches columns equal the tile's row
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 20) m JOIN tg_tiles t ON t.id = m.tile_id WHERE m.lon = t.center_lon AND m.lat = t.center_lat AND m.geom = t.geom;
-- => 20

-- test: k larger than the tiles: every tile once
SELECT count(*), count(DISTINCT tile_id) FROM tg_matches('@SHARED@/photos/01.jpg', 1000);
-- => 163|163

-- test: ORDER BY rank / score DESC come for free, other orders work
SELECT group_concat(rank, ',') FROM (SELECT rank FROM tg_matches('@SHARED@/photos/01.jpg', 4) ORDER BY score DESC);
SELECT group_concat(rank, ',') FROM (SELECT rank FROM tg_matches('@SHARED@/photos/01.jpg', 4) ORDER BY rank DESC);
-- => 1,2,3,4
-- => 4,3,2,1

-- test: prior (point, 1000 m): candidates are exactly the tiles whose centre is within 1000 m (PROJ geodesic)
CREATE TEMP TABLE p AS SELECT MakePoint(center_lon + 0.001, center_lat, 4326) AS g FROM tg_tiles WHERE col = 7 AND row = 5;
SELECT (SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 500, p.g, 1000)) = (SELECT count(*) FROM tg_tiles WHERE tg_distance_m(MakePoint(center_lon, center_lat, 4326), p.g) <= 1000), (SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 500, p.g, 1000)) BETWEEN 20 AND 40 FROM p;
SELECT max(tg_distance_m(MakePoint(m.lon, m.lat, 4326), p.g)) <= 1000 FROM p, tg_matches('@SHARED@/photos/01.jpg', 500, p.g, 1000) m;
-- => 1|1
-- => 1

-- test: prior: the best match inside the prior is the best of those candidates
SELECT m.tile_id = (SELECT a.tile_id FROM tg_matches('@SHARED@/photos/01.jpg', 1000) a WHERE tg_distance_m(MakePoint(a.lon, a.lat, 4326), p.g) <= 1000 ORDER BY a.rank LIMIT 1) FROM p, tg_matches('@SHARED@/photos/01.jpg', 1, p.g, 1000) m;
-- => 1

-- test: prior polygon with radius 0: the tiles whose centre is inside it (one tile)
SELECT count(*), min(m.tile_id) = (SELECT id FROM tg_tiles WHERE col = 3 AND row = 4) FROM tg_tiles t, tg_matches('@SHARED@/photos/01.jpg', 50, BuildCircleMbr(t.center_lon, t.center_lat, 0.0005, 4326), 0) m WHERE t.col = 3 AND t.row = 4;
-- => 1|1

-- test: prior far away (Berlin): no rows; NULL prior: no restriction
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 5, tg_photo_gps('@SHARED@/photos/01.jpg'), 5000);
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 5, tg_photo_gps('@SHARED@/photos/empty_exif.jpg'), 5000);
-- => 0
-- => 5

-- test: tg_photo_gps: POINT 4326 of the EXIF position (PROVENANCE.md: lat 52.5189167, lon 13.4002944)
SELECT GeometryType(g), ST_SRID(g), round(ST_X(g), 7), round(ST_Y(g), 7) FROM (SELECT tg_photo_gps('@SHARED@/photos/01.jpg') AS g);
SELECT tg_photo_gps(readfile('@SHARED@/photos/01.jpg')) = tg_photo_gps('@SHARED@/photos/01.jpg');
-- => POINT|4326|13.4002944|52.5189167
-- => 1

-- test: tg_photo_gps: XMP position (southern hemisphere), and NULL without GPS
SELECT round(ST_X(g), 7), round(ST_Y(g), 7) FROM (SELECT tg_photo_gps('@SHARED@/photos/adobe_coords.jpg') AS g);
SELECT tg_photo_gps('@SHARED@/photos/empty_exif.jpg') IS NULL;
-- => 34.3819352|-0.0702668
-- => 1

-- test: tg_distance_m: 01.jpg to 02.jpg is 6.48 m (geodesic, WGS84; PROJ's `geod -I +ellps=WGS84` gives 6.481)
SELECT round(tg_distance_m(tg_photo_gps('@SHARED@/photos/01.jpg'), tg_photo_gps('@SHARED@/photos/02.jpg')), 2);
-- => 6.48

-- test: tg_distance_m: symmetric, 0 to itself, a polygon stands for its centroid
SELECT tg_distance_m(MakePoint(1, 2, 4326), MakePoint(3, 4, 4326)) = tg_distance_m(MakePoint(3, 4, 4326), MakePoint(1, 2, 4326)), tg_distance_m(MakePoint(1, 2, 4326), MakePoint(1, 2, 4326));
SELECT tg_distance_m(geom, MakePoint(center_lon, center_lat, 4326)) < 1 FROM tg_tiles WHERE col = 7 AND row = 5;
-- => 1|0.0
-- => 1

-- test: tg_set: settings return the value now in effect
SELECT tg_set('threads', 1), tg_set('batch_tiles', 16), tg_set('allow_files', 1);
-- => 1|16|1

-- test: allow_files 0: paths refused, BLOBs still work (the model is loaded already); SQL cannot turn files back on
SELECT tg_set('allow_files', 0);
SELECT tg_locate('@SHARED@/photos/01.jpg');
SELECT json_extract(tg_locate(readfile('@SHARED@/photos/01.jpg')), '$.tile_id') = json_extract((SELECT j FROM loc), '$.tile_id');
SELECT tg_set('allow_files', 1);
SELECT tg_set('allow_files', 0);
-- => 0
-- => Error: tg_locate(): argument 1: reading files is off for this connection (allow_files 0: SQL cannot turn it back on, only the program that loaded mod_transgeo can): pass the image bytes as a BLOB
-- => 1
-- => Error: tg_set(): 'allow_files' cannot be turned on from SQL: file access is off for this connection, and only the program that loaded mod_transgeo can turn it on (TG_SQL_ALLOW_FILES=1 in its environment when loading, or tg_sql_set_files() of <transgeo/sql.h>; see transgeo-sql(7))
-- => 0

-- test: a new connection starts with files on again (the host's default)
.open @TMP@/sql_functions.sqlite
.load @SPATIALITE@
.load @MODTG@
SELECT json_extract(tg_locate('@SHARED@/photos/01.jpg'), '$.model');
-- => tiny

-- test: a second model (same weights, another name) on another raster: embeddings never mix
SELECT tg_model_register('tiny2', '@MODEL@');
SELECT tg_index_raster('@NAIP2018@', 'tiny2', 640);
SELECT count(*) FROM tg_tiles WHERE model_id = 2;
SELECT count(*) FROM tg_matches('@SHARED@/photos/01.jpg', 1000, NULL, NULL, 'tiny2') m JOIN tg_tiles t ON t.id = m.tile_id WHERE t.model_id = 2;
SELECT json_extract(tg_locate('@SHARED@/photos/01.jpg', 'tiny2'), '$.model');
-- => 2
-- => 163
-- => 163
-- => 163
-- => tiny2

-- test: two models with tiles: an unnamed query must name one
SELECT tg_locate('@SHARED@/photos/01.jpg');
-- => Error: tg_locate(): database '@TMP@/sql_functions.sqlite' has several models ('tiny', 'tiny2'): name the one to use

-- test: the index_raster tile and stride arguments
SELECT tg_index_raster('@NAIP@', 'tiny2', 1280, 1280);
SELECT tile_m, stride_m, gsd_m, n_tiles FROM tg_rasters WHERE id = 3;
-- => 9
-- => 1280.0|1280.0|20.0|9

-- test: PRAGMA integrity_check
PRAGMA integrity_check;
-- => ok
