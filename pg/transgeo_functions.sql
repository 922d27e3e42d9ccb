
-- ---------------------------------------------------------------------------
-- pg/transgeo_functions.sql - the SQL API of the PostgreSQL extension
-- transgeo (@EXTVERSION@), appended to src/store/schema_pg.sql to make the
-- install script. Reference: man transgeo-pg(7). The C is in pg/*.c.
--
-- Who may do what (transgeo-pg(7), SECURITY):
--   * the tables belong to the role that ran CREATE EXTENSION (a superuser:
--     the control file says superuser = true); every role may read them
--     (GRANT SELECT below), only their owner writes. tg_models.path names
--     the model file the server opens: so only the owner chooses it;
--   * the variants that take a server path (photo text) read it with
--     pg_read_binary_file and are not executable by PUBLIC: a superuser
--     grants them (e.g. to pg_read_server_files) as it sees fit.
-- ---------------------------------------------------------------------------

GRANT SELECT ON tg_meta, tg_models, tg_rasters, tg_tiles TO PUBLIC;
-- tg_search reads each partition of tg_tiles by its own name (a top-k per
-- partition: see tg__topk), which needs SELECT on the partition itself: a
-- partition added later (a shard) is granted the same way (transgeo-pg(7)).
DO $tg$
DECLARE
    leaf regclass;
BEGIN
    FOR leaf IN SELECT relid FROM pg_partition_tree('tg_tiles'::regclass) WHERE isleaf LOOP
        EXECUTE format('GRANT SELECT ON %s TO PUBLIC', leaf);
    END LOOP;
END
$tg$;

-- One ranked tile of the exact top-k aggregate.
CREATE TYPE tg_hit AS (tile_id bigint, score real);

CREATE FUNCTION tg_version() RETURNS text
    AS 'MODULE_PATHNAME', 'tg_version_pg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION tg_distance_m(lon1 double precision, lat1 double precision,
                              lon2 double precision, lat2 double precision)
    RETURNS double precision
    AS 'MODULE_PATHNAME', 'tg_distance_m_pg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Geodesic distance between two points (or polygons: the centroid of the
-- exterior ring, as mod_transgeo's tg_distance_m) in EPSG:4326.
CREATE FUNCTION tg_distance_m(a geometry, b geometry) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $tg$
DECLARE
    pa geometry;
    pb geometry;
BEGIN
    IF ST_SRID(a) <> 4326 OR ST_SRID(b) <> 4326 THEN
        RAISE EXCEPTION 'tg_distance_m(): geometries in EPSG:4326 expected, got SRID % and % (use ST_Transform(geom, 4326))',
            ST_SRID(a), ST_SRID(b) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    pa := CASE GeometryType(a) WHEN 'POINT' THEN a
                               WHEN 'POLYGON' THEN ST_Centroid(ST_ExteriorRing(a)) END;
    pb := CASE GeometryType(b) WHEN 'POINT' THEN b
                               WHEN 'POLYGON' THEN ST_Centroid(ST_ExteriorRing(b)) END;
    IF pa IS NULL OR pb IS NULL THEN
        RAISE EXCEPTION 'tg_distance_m(): a POINT or POLYGON expected, got % and % (use ST_Centroid)',
            GeometryType(a), GeometryType(b) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN tg_distance_m(ST_X(pa), ST_Y(pa), ST_X(pb), ST_Y(pb));
END
$tg$;

-- Inner product of two little-endian float32 embeddings. Shippable to shards.
-- (Default COST: with a higher one the planner keeps a shard's LIMIT on the
-- coordinator, measured; tg_topk_step below carries the cost of scoring.)
CREATE FUNCTION tg_score(embedding bytea, query bytea) RETURNS real
    AS '$libdir/transgeo_scan', 'tg_score_pg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The exact top-k aggregate (pg/transgeo_scan.c), parallel: partial states
-- are bounded heaps, combined and (de)serialised between workers. tg_score
-- and tg_topk live in the light module transgeo_scan, which parallel workers
-- and shards load in well under a millisecond (transgeo.so loads GDAL & co.).
CREATE FUNCTION tg_topk_step(internal, bigint, bytea, bytea, integer) RETURNS internal
    AS '$libdir/transgeo_scan', 'tg_topk_step' LANGUAGE C IMMUTABLE PARALLEL SAFE COST 25;
-- COST 25 (units of cpu_operator_cost): a dot product of 1000 floats takes
-- about 1 us, some 25 times a built-in operator. With the default of 1 the
-- planner takes a scan of the tiles for pure I/O and never splits it over
-- parallel workers (a parallel seq scan divides only the CPU part of its
-- cost); with 25 it does from about 10^5 tiles (bench/pg.sh).
CREATE FUNCTION tg_topk_combine(internal, internal) RETURNS internal
    AS '$libdir/transgeo_scan', 'tg_topk_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION tg_topk_serialize(internal) RETURNS bytea
    AS '$libdir/transgeo_scan', 'tg_topk_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tg_topk_deserialize(bytea, internal) RETURNS internal
    AS '$libdir/transgeo_scan', 'tg_topk_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION tg_topk_final(internal) RETURNS tg_hit[]
    AS '$libdir/transgeo_scan', 'tg_topk_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE tg_topk(id bigint, embedding bytea, query bytea, k integer) (
    SFUNC = tg_topk_step,
    STYPE = internal,
    FINALFUNC = tg_topk_final,
    COMBINEFUNC = tg_topk_combine,
    SERIALFUNC = tg_topk_serialize,
    DESERIALFUNC = tg_topk_deserialize,
    PARALLEL = SAFE
);

-- Error radius of each of a ranked list of matches (the formula of
-- transgeo-sql(7), ERROR ESTIMATE). Internal to tg_search.
CREATE FUNCTION tg__error_m(lon double precision[], lat double precision[],
                            score double precision[], stride_m double precision[])
    RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'tg_error_m_pg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Embeddings with a registered model's encoders.
CREATE FUNCTION tg_embed_ground(photo bytea, model text DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tg_embed_ground_pg' LANGUAGE C STABLE PARALLEL RESTRICTED;
CREATE FUNCTION tg_embed_aerial(image bytea, model text DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tg_embed_aerial_pg' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- The query embedding of a photo or an embedding (internal).
CREATE FUNCTION tg__query(photo bytea, model text,
                          OUT model_id bigint, OUT model_name text, OUT query bytea,
                          OUT is_embedding boolean)
    AS 'MODULE_PATHNAME', 'tg_query_pg' LANGUAGE C STABLE PARALLEL RESTRICTED;

-- The top-k of tg_search, as one statement: one exact top-k per leaf
-- partition of tg_tiles, merged. A local partition runs the parallel
-- aggregate tg_topk and looks its k tiles up by id; a foreign partition (a
-- shard, postgres_fdw) gets its own
--   SELECT id, tg_score(embedding, q), raster_id, centre, geom ...
--   ORDER BY tg_score(embedding, q) DESC, id LIMIT k
-- which postgres_fdw sends to the shard whole (Remote SQL), so a shard
-- returns k rows, centres and footprints included: one round trip. The
-- UNION ALL of foreign scans is an Append, which runs them all at once
-- (Async Foreign Scan, with async_capable). Candidates: with near, the tiles
-- whose centre lies within radius_m metres (geodesic, PostGIS geography on
-- the spheroid; 0 inside a polygon) of it, pre-filtered by the GiST index
-- on the footprints with a bounding box.
--
-- Parameters of the statement: $1 query bytea, $2 model_id bigint,
-- $3 k integer, $4 near geometry, $5 radius_m float8, $6 the box geometry
-- (used when box). Rows: id, s (score, real), raster_id, lon, lat, geom,
-- the k best, in no particular order. tg_search_explain shows its plan.
CREATE FUNCTION tg__topk_sql(k integer, near boolean DEFAULT false, box boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql STABLE AS $tg$
DECLARE
    leaf record;
    parts text[] := '{}';
    cond text := 'model_id = $2';
BEGIN
    IF near THEN
        cond := cond || ' AND ST_DWithin(geography(ST_SetSRID(ST_MakePoint(center_lon, center_lat), 4326)), geography($4), $5)';
        IF box THEN
            cond := cond || ' AND geom && $6';
        END IF;
    END IF;
    FOR leaf IN
        SELECT c.oid::regclass AS rel, c.relkind, c.reltuples
        FROM pg_partition_tree('tg_tiles'::regclass) p JOIN pg_class c ON c.oid = p.relid
        WHERE p.isleaf ORDER BY c.relname
    LOOP
        IF leaf.relkind = 'f' THEN
            IF leaf.reltuples < 0 THEN
                -- the planner would guess a few rows and sort them here
                RAISE WARNING 'tg_search(): foreign partition % has no statistics: its tiles are sorted on this server instead of on the shard; run ANALYZE tg_tiles', leaf.rel;
            END IF;
            parts := parts || format(
                '(SELECT id, tg_score(embedding, $1) AS s, raster_id, center_lon, center_lat, geom FROM %s '
                'WHERE %s ORDER BY tg_score(embedding, $1) DESC, id LIMIT %s)',
                leaf.rel, cond, k);
        ELSE
            parts := parts || format(
                '(SELECT t.id, (x.h).score AS s, t.raster_id, t.center_lon, t.center_lat, t.geom '
                'FROM (SELECT unnest(tg_topk(id, embedding, $1, ($3)::integer)) AS h FROM ONLY %s WHERE %s) x '
                'JOIN ONLY %s t ON t.model_id = $2 AND t.id = (x.h).tile_id)',
                leaf.rel, cond, leaf.rel);
        END IF;
    END LOOP;
    IF cardinality(parts) = 0 THEN
        RETURN NULL;
    END IF;
    -- ORDER BY -s, not s DESC: the shards' rows come sorted by s, and an
    -- ORDER BY on the same key makes the planner merge them with a Merge
    -- Append, which waits for each shard in turn; sorting the few rows of
    -- an Append afterwards keeps the shards running at once.
    RETURN format('SELECT id, s, raster_id, center_lon, center_lat, geom FROM (%s) u '
                  'ORDER BY -s, id LIMIT $3',
                  array_to_string(parts, ' UNION ALL '));
END
$tg$;

-- The plan of tg_search' top-k (EXPLAIN VERBOSE, COSTS OFF), to check
-- what each shard is sent (transgeo-pg(7), SHARDING).
CREATE FUNCTION tg_search_explain(photo bytea, k integer, near geometry DEFAULT NULL,
                                   radius_m double precision DEFAULT NULL, model text DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql VOLATILE AS $tg$
DECLARE
    q record;
    sql text;
BEGIN
    q := tg__query(photo, model);
    sql := tg__topk_sql(greatest(k, 10), near IS NOT NULL, false);
    RETURN QUERY EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || sql
        USING q.query, q.model_id, greatest(k, 10), near, coalesce(radius_m, 0), NULL::geometry;
END
$tg$;

-- The ranked matches of a query embedding (internal: tg_search and
-- tg_locate embed the photo once, then call this). The error radius needs
-- the best 10 (TG_STORE_ERROR_K) whatever k is.
CREATE FUNCTION tg__matches(query bytea, model_id bigint, k integer,
                            near geometry DEFAULT NULL, radius_m double precision DEFAULT 0)
RETURNS TABLE (rank integer, tile_id bigint, raster_id bigint, score double precision,
               lon double precision, lat double precision, error_m double precision,
               geom geometry)
LANGUAGE plpgsql STABLE AS $tg$
DECLARE
    box geometry;
    maxlat double precision;
    sql text;
BEGIN
    IF near IS NOT NULL THEN
        IF ST_SRID(near) <> 4326 THEN
            RAISE EXCEPTION 'tg_search(): near_geom must be in EPSG:4326, got SRID % (use ST_Transform(geom, 4326))',
                ST_SRID(near) USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- the window's bounding box, for the GiST index (none near the poles
        -- and across the antimeridian, where a box in degrees misleads)
        maxlat := greatest(abs(ST_YMin(near)), abs(ST_YMax(near))) + radius_m / 110574.0 * 1.01;
        IF maxlat < 85 THEN
            box := ST_Expand(near, radius_m / (111320.0 * cos(radians(maxlat))) * 1.01 + 1e-9,
                             radius_m / 110574.0 * 1.01 + 1e-9);
            IF ST_XMin(box) <= -180 OR ST_XMax(box) >= 180 THEN
                box := NULL;
            END IF;
        END IF;
    END IF;
    sql := tg__topk_sql(greatest(k, 10), near IS NOT NULL, box IS NOT NULL);
    IF sql IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH m AS MATERIALIZED (%s),
        j AS (
            SELECT m.*, (row_number() OVER (ORDER BY m.s DESC, m.id))::integer AS ord, r.stride_m
            FROM m LEFT JOIN tg_rasters r ON r.id = m.raster_id
        ), e AS (
            SELECT tg__error_m(array_agg(j.center_lon ORDER BY j.ord), array_agg(j.center_lat ORDER BY j.ord),
                               array_agg(j.s::double precision ORDER BY j.ord),
                               array_agg(coalesce(j.stride_m, 0) ORDER BY j.ord)) AS em
            FROM j
        )
        SELECT j.ord, j.id, j.raster_id, j.s::double precision, j.center_lon, j.center_lat, e.em[j.ord], j.geom
        FROM j, e WHERE j.ord <= $7 ORDER BY j.ord$q$, sql)
        USING query, model_id, greatest(k, 10), near, radius_m, box, k;
END
$tg$;

-- The k best tiles for a photo (image bytes or an embedding), best first.
-- jit = off in tg_search, tg_matches and tg_locate: PostGIS's and
-- tg_score's costs make the planner's estimates over the tiles (foreign
-- partitions above all) reach millions, and JIT compilation then costs
-- 90-250 ms per statement of a query that runs in a few ms (measured on a
-- coordinator with 10^5 tiles): the setting is the function's, restored
-- after it.
CREATE FUNCTION tg_search(photo bytea, k integer, near geometry DEFAULT NULL,
                           radius_m double precision DEFAULT NULL, model text DEFAULT NULL)
RETURNS TABLE (rank integer, tile_id bigint, raster_id bigint, score double precision,
               lon double precision, lat double precision, error_m double precision,
               geom geometry)
LANGUAGE plpgsql STABLE SET jit = off AS $tg$
DECLARE
    q record;
BEGIN
    IF photo IS NULL OR k IS NULL THEN
        RETURN;
    END IF;
    IF k < 1 OR k > 100000 THEN
        RAISE EXCEPTION 'tg_search(): k = %: expected 1 to 100000', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF radius_m IS NOT NULL AND NOT (radius_m >= 0 AND radius_m < 'Infinity') THEN
        RAISE EXCEPTION 'tg_search(): radius_m = %: expected a finite number of metres >= 0', radius_m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    q := tg__query(photo, model);
    RETURN QUERY SELECT * FROM tg__matches(q.query, q.model_id, k, near, coalesce(radius_m, 0));
END
$tg$;

-- One match of the locator (tg_matches).
CREATE TYPE tg_match AS (rank integer, tile_id bigint, raster_id bigint, score double precision,
                         lon double precision, lat double precision, error_m double precision,
                         heading_deg double precision, heading_source text);
CREATE FUNCTION tg__matches_locate(photo bytea, k integer, near_wkb bytea,
                                   radius_m double precision,
                                   model text, fov_deg double precision, heading_search integer,
                                   prior text)
    RETURNS SETOF tg_match AS 'MODULE_PATHNAME', 'tg_matches_locate_pg' LANGUAGE C STABLE;

-- The k best tiles for a photo (image bytes or an embedding): the one
-- locator, as tg_locate (the photo's headings, its GPS prior), with the
-- candidates the tiles whose centre is within radius_m of near (any
-- geometry in EPSG:4326; 0 inside a polygon); the footprints from tg_tiles.
CREATE FUNCTION tg_matches(photo bytea, k integer, near geometry DEFAULT NULL,
                           radius_m double precision DEFAULT NULL, model text DEFAULT NULL,
                           fov_deg double precision DEFAULT NULL, heading_search integer DEFAULT NULL,
                           prior text DEFAULT NULL)
RETURNS TABLE (rank integer, tile_id bigint, raster_id bigint, score double precision,
               lon double precision, lat double precision, error_m double precision,
               geom geometry, heading_deg double precision, heading_source text)
LANGUAGE plpgsql STABLE SET jit = off AS $tg$
DECLARE
    ms tg_match[];
    ids bigint[];
BEGIN
    IF photo IS NULL OR k IS NULL THEN
        RETURN;
    END IF;
    IF k < 1 OR k > 100000 THEN
        RAISE EXCEPTION 'tg_matches(): k = %: expected 1 to 100000', k
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF radius_m IS NOT NULL AND NOT (radius_m >= 0 AND radius_m < 'Infinity') THEN
        RAISE EXCEPTION 'tg_matches(): radius_m = %: expected a finite number of metres >= 0', radius_m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF near IS NOT NULL AND ST_SRID(near) <> 4326 THEN
        RAISE EXCEPTION 'tg_matches(): near_geom must be in EPSG:4326, got SRID % (use ST_Transform(geom, 4326))',
            ST_SRID(near) USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(m ORDER BY (m).rank) INTO ms
    FROM tg__matches_locate(photo, k, ST_AsBinary(near), coalesce(radius_m, 0), model,
                            fov_deg, heading_search, prior) m;
    ids := ARRAY(SELECT (m).tile_id FROM unnest(ms) m);
    RETURN QUERY
    SELECT m.rank, m.tile_id, m.raster_id, m.score, m.lon, m.lat, m.error_m, t.geom,
           m.heading_deg, m.heading_source
    FROM unnest(ms) m LEFT JOIN (SELECT tt.id, tt.geom FROM tg_tiles tt WHERE tt.id = ANY (ids)) t
         ON t.id = m.tile_id
    ORDER BY m.rank;
END
$tg$;

-- Where the photo was taken, as JSON: the one locator (locate.h) run in
-- the server over the store's SPI executor (pg/tg_locate.c); the members of
-- mod_transgeo's tg_locate, in its order.
CREATE FUNCTION tg_locate(photo bytea, model text DEFAULT NULL, fov_deg double precision DEFAULT NULL,
                          heading_search integer DEFAULT NULL, prior text DEFAULT NULL)
    RETURNS json AS 'MODULE_PATHNAME', 'tg_locate_pg' LANGUAGE C STABLE PARALLEL RESTRICTED
    SET jit = off;

-- Server-side files: the photo is read by pg_read_binary_file (its
-- privilege applies), and PUBLIC may not execute these (SECURITY).
CREATE FUNCTION tg_embed_ground(photo text, model text DEFAULT NULL) RETURNS bytea
    LANGUAGE sql STABLE AS $$ SELECT tg_embed_ground(pg_read_binary_file(photo), model) $$;
CREATE FUNCTION tg_embed_aerial(image text, model text DEFAULT NULL) RETURNS bytea
    LANGUAGE sql STABLE AS $$ SELECT tg_embed_aerial(pg_read_binary_file(image), model) $$;
CREATE FUNCTION tg_matches(photo text, k integer, near geometry DEFAULT NULL,
                           radius_m double precision DEFAULT NULL, model text DEFAULT NULL,
                           fov_deg double precision DEFAULT NULL, heading_search integer DEFAULT NULL,
                           prior text DEFAULT NULL)
RETURNS TABLE (rank integer, tile_id bigint, raster_id bigint, score double precision,
               lon double precision, lat double precision, error_m double precision,
               geom geometry, heading_deg double precision, heading_source text)
    LANGUAGE sql STABLE AS $$ SELECT * FROM tg_matches(pg_read_binary_file(photo), k, near, radius_m, model,
                                                       fov_deg, heading_search, prior) $$;
CREATE FUNCTION tg_locate(photo text, model text DEFAULT NULL, fov_deg double precision DEFAULT NULL,
                          heading_search integer DEFAULT NULL, prior text DEFAULT NULL) RETURNS json
    LANGUAGE sql STABLE AS $$ SELECT tg_locate(pg_read_binary_file(photo), model, fov_deg, heading_search, prior) $$;
REVOKE EXECUTE ON FUNCTION tg_embed_ground(text, text), tg_embed_aerial(text, text),
    tg_matches(text, integer, geometry, double precision, text, double precision, integer, text),
    tg_locate(text, text, double precision, integer, text) FROM PUBLIC;
