/*
 * tilecache.h - cut any GDAL raster into exact north-up aerial tiles.
 *
 * A tiler opens one raster (GeoTIFF striped/tiled/COG/BigTIFF, any format GDAL
 * reads), chooses a metric "working CRS", lays a square grid of tiles over the
 * raster in that CRS and, tile row by tile row, warps the raster into RGB8
 * tiles with GDAL's warper (gdalwarp's code: GDALWarp() from gdal_utils.h).
 * Each tile comes with its exact footprint (four corners transformed by PROJ),
 * its centre, its source pixel window and its grid position.
 *
 *     tg_tile_options o = tg_tile_options_default();
 *     o.tile_m = 72.96; o.gsd_m = 0.114;              // from the model config
 *     tg_tiler *t = NULL;
 *     if (tg_tiles_open(ctx, "ortho.tif", &o, &t)) return fail(ctx);
 *     const tg_tiler_info *inf = tg_tiler_get_info(t);
 *     printf("%d x %d tiles in EPSG:%d\n", inf->n_cols, inf->n_rows, inf->work_epsg);
 *     int rc = tg_tiles_run(ctx, t, on_tile, &state, NULL, NULL);  // on_tile(tile, &state)
 *     tg_tiler_free(t);
 *
 * Ownership: the caller owns the tiler (tg_tiler_free, NULL ok) and the
 * options struct (copied by tg_tiles_open, strings included). A tg_tile and
 * everything it points to belong to the tiler and stay valid only during the
 * callback (tg_tiles_run) or until the next call on the tiler (tg_tiles_get):
 * copy what you keep. A tiler is used by one thread at a time; GDAL may use
 * tg_ctx_threads(ctx) threads inside one warp.
 *
 * Working CRS (the CRS tiles are cut in; reported with the reason):
 *   - options.target_crs when given (must be projected, in metres);
 *   - else the raster's own CRS when it is projected, in metres, with east/north
 *     axes, not a Mercator (Web/World Mercator are metric in units but not true
 *     ground size: k = 1/cos(lat)), and its point scale at the raster centre is
 *     within 1 % of 1 (PROJ proj_factors);
 *   - else the zone of the raster centre by the one rule of tg_geo_utm_epsg
 *     (geo.h: UTM with the Norway 32V and Svalbard 31X..37X exceptions, UPS
 *     North beyond 84 N, UPS South beyond 80 S), on the raster's own geodetic
 *     datum so that no datum shift is involved: NAD83 -> EPSG:269xx, WGS 84 ->
 *     326xx/327xx or 32661/32761, SIRGAS 2000 -> 319xx..., EPSG code 0 when
 *     PROJ knows no code (then use the WKT). US-feet, geographic and Mercator
 *     rasters go there. Refused (TG_EGEO) are:
 *       - a raster reaching more than 9 degrees of longitude from its UTM
 *         zone's central meridian (set target_crs or split it);
 *       - a polar raster whose UPS grid north is turned more than 9 degrees
 *         from true north anywhere on its outline (PROJ's meridian
 *         convergence; in UPS it equals the longitude, so only rasters within
 *         about 9 degrees of 0 E or 180 E qualify): the tiles would not be
 *         north-up. 9 degrees is what the UTM rule itself allows (9 degrees
 *         from the central meridian at 84 N). The message gives the fix: a
 *         polar stereographic with UPS's parameters turned to the raster's
 *         meridian (a PROJ string), to set as target_crs or to reproject the
 *         raster to (gdalwarp -t_srs) before tiling or indexing it.
 * Tiles have tile_m x tile_m metres of grid distance in the working CRS: true
 * ground size up to the CRS's own scale factor (UTM: 0.9996..1.001; UPS:
 * 0.994 at the pole, 0.9967 at 84 N, 1.0017 at 80 S).
 *
 * Grid (documented anchoring, so that the same raster always gives the same
 * tiles and two rasters of the same area in the same working CRS share tile
 * positions): tile (col, row) covers, in working-CRS metres,
 *     x in [x0 + col*stride_m, x0 + col*stride_m + tile_m]
 *     y in [y0 - row*stride_m - tile_m, y0 - row*stride_m]
 * with x0 = floor(xmin / stride_m) * stride_m and y0 = ceil(ymax / stride_m) *
 * stride_m, where [xmin,xmax]x[ymin,ymax] is the bounding box of the raster
 * outline (21 points per edge) in the working CRS. Columns run east, rows
 * south; the grid has the fewest columns/rows whose tiles cover the box.
 * Pixel sizes are whole: tile_px = round(tile_m / gsd_m) (>= 8), the
 * effective gsd is tile_m / tile_px, and stride_px = round(stride_m / gsd), so
 * the effective stride_m = stride_px * gsd (both reported in the info).
 *
 * Pixels: GDAL's warper resamples (bilinear by default; cubic, lanczos,
 * nearest, average on request) from the raster, or from the overview GDAL's
 * `gdalwarp -ovr AUTO` rule picks (the coarsest overview still finer than
 * gsd_m, within 0.1 of a ratio), so a tile equals what
 *     gdalwarp -t_srs WORK -te XMIN YMIN XMAX YMAX -ts PX PX -r bilinear -dstalpha
 *              -wo XSCALE=info.xscale -wo YSCALE=info.yscale
 * gives for the same window (exactly when the raster is not reprojected; to
 * within GDAL's 0.125 px approximate-transformer error when it is). The two
 * -wo options fix the kernel scale the warper otherwise estimates per
 * processing chunk: without them gdalwarp itself gives slightly different
 * pixels for one tile and for the whole raster when downsampling.
 * Validity: the warper's destination alpha (0..255) built from the source's
 * alpha band, per-dataset mask (internal or external .msk) or nodata values;
 * valid_share = mean(alpha) / 255, and a tile is skipped when
 * 1 - valid_share > max_nodata_share. Invalid pixels are 0 in rgb. A tile
 * whose footprint PROJ cannot take to EPSG:4326 is skipped too (tg_tiles_get:
 * TG_EGEO), so every tile delivered has finite lon/lat corners and centre.
 * Bands (overridable with options.bands): bands whose colour interpretation
 * is Red/Green/Blue; else a palette band expanded to RGB; else bands 1,2,3
 * (RGBN: NIR unused; Landsat: set 3,2,1 for true colour); else band 1 as grey
 * replicated to R, G and B. Stretch (overridable): Byte data is copied as is;
 * other types (UInt16 11/12-bit pan, Int16, Float32/64) get a per-band 2..98
 * percentile stretch to 0..255 from GDAL's approximate histogram (nodata
 * excluded).
 *
 * Streaming and the memory bound: tiles come in raster-block order (tile rows
 * north to south, columns west to east) through a callback. The tiler warps
 * one strip of the grid (tile_px rows of up to the whole grid width) at a time
 * and, when the whole width fits, keeps the rows two successive tile rows
 * share, so each output pixel is warped once. Its own buffers
 * (info->buffer_bytes) are at most
 *     max(max_buffer_mb, S) + S + 4 * tile_px^2 bytes,
 * S = tile_px^2 * (channels + 1) * (1 byte, or 4 when a stretch is applied)
 * being one tile's planes (one strip, one tile for tg_tiles_get, one RGB +
 * alpha tile out); a grid wider than the budget is processed in column chunks
 * (each chunk re-warps the rows it shares with the previous tile row). On top
 * come GDAL's block cache (GDAL_CACHEMAX, a process-wide setting the
 * application controls), the warper's working memory (warp_memory_mb), and,
 * while opening, a 512 KiB histogram for a percentile stretch. Nothing grows
 * with the raster's size. Measured (bench/tilecache.sh): a 1286 MiB BigTIFF
 * tiled with peak RSS 144 MiB (GDAL_CACHEMAX=64, warp_memory_mb 64).
 *
 * Errors (code, and a message naming the file and the fix):
 *   TG_EIO     file missing or unreadable;
 *   TG_EFORMAT not a raster GDAL can read, or truncated/corrupt blocks
 *              (detected when opening: the first and last blocks are read);
 *   TG_EGEO    no georeferencing (fix: gdal_edit.py -a_ullr/-a_srs, or a world
 *              file), GCPs/RPCs only (fix: gdalwarp first), no CRS (fix:
 *              gdal_edit.py -a_srs), outline not transformable, too far from UTM,
 *              polar and not north-up in UPS (see the working CRS above);
 *   TG_EINVAL  bad options: tile smaller than 8 px, gsd/tile/stride <= 0,
 *              a band out of range, a non-metric target_crs, a grid too large
 *              (more than TG_TILES_MAX_GRID tiles, 1e6 tiles or INT_MAX/2 px
 *              a side), a gsd more than TG_TILES_MAX_DOWNSAMPLE times
 *              coarser than the pixels read (see below);
 *   TG_ECANCEL the tile or progress callback stopped the run.
 * A rotated or sheared geotransform is accepted: the warper handles the full
 * affine transform, tiles are north-up in the working CRS and info->rotated
 * is set.
 *
 * Limits that keep absurd options from exhausting memory (TG_EINVAL, the
 * message says which value to change):
 *   - the grid has at most TG_TILES_MAX_GRID (1e8) tiles: a caller keeps a
 *     bit or a byte per grid tile (e.g. tg_store_index_raster's bitmap of
 *     tiles already stored), and 1e8 tiles are weeks of encoder time;
 *   - the gsd is at most TG_TILES_MAX_DOWNSAMPLE (1000) times the pixel size
 *     of what is read (the raster, or the overview chosen above), along both
 *     source axes: info->xscale and info->yscale >= 1/1000. GDAL's warper
 *     sizes its resampling kernel by 1/scale source pixels (weights arrays of
 *     16/scale bytes and kernels of (2/scale)^2 pixels per output pixel): a
 *     9e10 m tile of a 5 m raster asked it for 4.5 GB. For a much coarser
 *     gsd, build overviews (gdaladdo) or resample the raster (gdalwarp -tr)
 *     first.
 */
#ifndef TG_TILECACHE_H
#define TG_TILECACHE_H

#include <stddef.h>

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits of the grid and of the downsampling (see "Limits" above). */
#define TG_TILES_MAX_GRID 100000000LL
#define TG_TILES_MAX_DOWNSAMPLE 1000.0

/* Resampling used by GDAL's warper (gdalwarp -r NAME). */
typedef enum tg_resampling {
    TG_RESAMPLE_BILINEAR = 0, /* default */
    TG_RESAMPLE_CUBIC = 1,
    TG_RESAMPLE_LANCZOS = 2,
    TG_RESAMPLE_NEAREST = 3,
    TG_RESAMPLE_AVERAGE = 4
} tg_resampling;

/* How source values become 0..255. */
typedef enum tg_stretch {
    TG_STRETCH_AUTO = 0,    /* Byte: NONE; any other type: PERCENT (default) */
    TG_STRETCH_NONE = 1,    /* values copied, rounded and clamped to 0..255 */
    TG_STRETCH_MINMAX = 2,  /* per band approximate min..max -> 0..255 */
    TG_STRETCH_PERCENT = 3, /* per band percent_lo..percent_hi percentiles -> 0..255 */
    TG_STRETCH_RANGE = 4    /* range_lo[c]..range_hi[c] (source units) -> 0..255 */
} tg_stretch;

/* Options of tg_tiles_open. Caller-owned; start from tg_tile_options_default(). */
typedef struct tg_tile_options {
    double tile_m;           /* tile width = height, working-CRS metres (> 0); default 64 */
    double gsd_m;            /* ground sample distance, metres per pixel (> 0); default 0.5 */
    double stride_m;         /* distance between neighbouring tiles, metres; 0 = tile_m / 2 (default) */
    tg_resampling resampling;/* default TG_RESAMPLE_BILINEAR */
    double max_nodata_share; /* skip tiles with a larger invalid share, 0..1; default 0.5 (1 keeps all) */
    int bands[3];            /* 1-based source band for R, G, B; {0,0,0} = automatic (default);
                                {b,b,b} = band b as grey */
    tg_stretch stretch;      /* default TG_STRETCH_AUTO */
    double percent_lo;       /* PERCENT: lower percentile, 0..100; default 2 */
    double percent_hi;       /* PERCENT: upper percentile, 0..100; default 98 */
    double range_lo[3];      /* RANGE: source value mapped to 0, per channel */
    double range_hi[3];      /* RANGE: source value mapped to 255, per channel */
    const char *target_crs;  /* NULL = automatic (default); else any CRS string GDAL reads
                                ("EPSG:32613", WKT, PROJ string): projected, in metres */
    double max_buffer_mb;    /* budget of the tiler's strip buffer, MiB (> 0); default 256 */
    double warp_memory_mb;   /* working memory of GDAL's warper (gdalwarp -wm), MiB; default 64 */
} tg_tile_options;

/* Defaults above. The model config replaces tile_m/gsd_m (aerial_tile_m, aerial_gsd_m). */
TG_API tg_tile_options tg_tile_options_default(void);

/* One tile. Everything it points to is owned by the tiler (see ownership above). */
typedef struct tg_tile {
    int col, row;                   /* grid position, 0-based; col east, row south */
    int width, height;              /* pixels (both = tile_px) */
    const unsigned char *rgb;       /* width*height*3 bytes, row-major (north row first), RGB interleaved */
    const unsigned char *alpha;     /* width*height bytes: 255 valid, 0 no data, between: partly */
    double valid_share;             /* mean(alpha) / 255, 0..1 */
    double x_min, y_min, x_max, y_max; /* footprint in the working CRS, metres */
    double geotransform[6];         /* GDAL geotransform of the tile image in the working CRS */
    double corners_work[4][2];      /* UL, UR, LR, LL: [i][0] = x (easting), [i][1] = y, metres */
    double corners_lonlat[4][2];    /* the same corners in EPSG:4326: [i][0] = lon, [i][1] = lat, degrees */
    double center_lon, center_lat;  /* tile centre transformed to EPSG:4326, degrees */
    int src_xoff, src_yoff;         /* source pixel window (full-resolution pixels): bbox of the */
    int src_xsize, src_ysize;       /* four corners transformed back, clipped to the raster; 0 size if outside */
    int work_epsg;                  /* working CRS EPSG code, 0 if it has none */
    const char *work_wkt;           /* working CRS as WKT (WKT2_2019) */
} tg_tile;

/* What tg_tiles_open decided. Strings are owned by the tiler. */
typedef struct tg_tiler_info {
    const char *path;              /* the raster */
    int raster_width, raster_height, raster_bands; /* pixels, band count */
    const char *data_type;         /* GDAL name of band 1's type: "Byte", "UInt16", ... */
    const char *src_crs_name;      /* e.g. "NAD83 / Colorado Central (ftUS)" */
    int src_epsg;                  /* 0 if unknown */
    const char *work_crs_name;     /* e.g. "NAD83 / UTM zone 13N" */
    int work_epsg;                 /* 0 if the working CRS has no EPSG code */
    const char *work_wkt;          /* WKT2_2019 */
    const char *work_crs_reason;   /* why this working CRS, one sentence */
    int rotated;                   /* 1: the geotransform has rotation/shear terms */
    double center_lon, center_lat; /* raster centre, EPSG:4326 degrees */
    double src_res_m;              /* source pixel size in working-CRS metres (GDAL's estimate) */
    int overview;                  /* overview level read: -1 = full resolution */
    double xscale, yscale;         /* warper scale (destination px per warp-source px along the
                                      source's x / y; gdalwarp -wo XSCALE= -wo YSCALE=), fixed per raster */
    int n_channels;                /* bands warped: 3, or 1 (grey replicated) */
    int bands[3];                  /* 1-based source band used for R, G, B (0 = palette expansion) */
    const char *band_reason;       /* how the bands were chosen */
    int alpha_band;                /* 1-based source alpha band, 0 if none */
    const char *validity;          /* "alpha band 4", "per-dataset mask", "nodata 0", "none" */
    tg_stretch stretch;            /* resolved: never AUTO */
    double stretch_lo[3], stretch_hi[3]; /* source values mapped to 0 and 255 (NONE: 0, 255) */
    tg_resampling resampling;
    double tile_m, gsd_m, stride_m;/* effective values (see the grid above), metres */
    int tile_px, stride_px;        /* pixels */
    double max_nodata_share;
    double grid_x0, grid_y0;       /* working CRS, upper-left corner of tile (0, 0), metres */
    double extent[4];              /* raster outline bbox in the working CRS: xmin, ymin, xmax, ymax */
    int n_cols, n_rows;            /* grid size in tiles */
    long long n_grid;              /* n_cols * n_rows: tiles visited by tg_tiles_run */
    long long n_estimated;         /* grid tiles whose centre lies inside the raster outline
                                      (an estimate of tiles kept before masks are read) */
    int cols_per_strip;            /* tile columns warped together (n_cols: full width) */
    size_t buffer_bytes;           /* the tiler's own buffers (see the memory bound) */
} tg_tiler_info;

typedef struct tg_tiler tg_tiler;

/* Open a raster and plan its tiling.
 * [in] path: any raster GDAL opens. [in] opt: NULL = defaults (copied).
 * [out] *out: the tiler (NULL on failure). Reads only metadata, the first and
 * last blocks (truncation check) and, for a stretch, an approximate histogram.
 * Returns 0 or TG_EIO / TG_EFORMAT / TG_EGEO / TG_EINVAL / TG_ENOMEM. */
TG_API int tg_tiles_open(tg_ctx *ctx, const char *path, const tg_tile_options *opt,
                         tg_tiler **out);

/* The plan (never NULL for a valid tiler; valid until tg_tiler_free). */
TG_API const tg_tiler_info *tg_tiler_get_info(const tg_tiler *t);

/* Tile callback: return 0 to go on; a positive value stops the run with
 * TG_ECANCEL, a negative TG_E* code stops it with that code (set the message
 * in your tg_ctx first, or a generic one is set). */
typedef int (*tg_tile_fn)(const tg_tile *tile, void *user);

/* Produce every kept tile, in grid order (row 0 west to east, then row 1...).
 * [in] on_tile: called for each tile whose invalid share is at most
 * max_nodata_share (NULL: tiles are computed and dropped). [in] progress:
 * NULL, or called after each strip with done/total in grid tiles visited;
 * returning 0 cancels (TG_ECANCEL). May be called again (starts over).
 * Returns 0, TG_ECANCEL, the callback's negative code, TG_EFORMAT/TG_EIO
 * (a read failed: truncated or corrupt file), TG_ENOMEM. */
TG_API int tg_tiles_run(tg_ctx *ctx, tg_tiler *t, tg_tile_fn on_tile, void *user,
                        tg_progress_fn progress, void *progress_user);

/* Same for tile rows row_begin <= row < row_end only (to resume a run, or to
 * split one); 0 <= row_begin <= row_end <= n_rows, else TG_EINVAL. */
TG_API int tg_tiles_run_rows(tg_ctx *ctx, tg_tiler *t, int row_begin, int row_end,
                             tg_tile_fn on_tile, void *user, tg_progress_fn progress,
                             void *progress_user);

/* One tile by grid position, whatever its valid share (check out->valid_share).
 * [out] *out points into the tiler until its next call. Warps only that
 * tile's window. Returns 0, TG_ENOTFOUND (col/row outside the grid), or the
 * errors of tg_tiles_run. */
TG_API int tg_tiles_get(tg_ctx *ctx, tg_tiler *t, int col, int row, tg_tile *out);

/* Free the tiler, closing the raster. NULL is accepted. */
TG_API void tg_tiler_free(tg_tiler *t);

/* Names: "bilinear", ...; "none", "minmax", ... ("?" for an unknown value). */
TG_API const char *tg_resampling_name(tg_resampling r);
TG_API const char *tg_stretch_name(tg_stretch s);
/* Parse a resampling name (gdalwarp's spelling). 0, or TG_EINVAL for an unknown name. */
TG_API int tg_resampling_parse(const char *name, tg_resampling *out);

#ifdef __cplusplus
}
#endif
#endif /* TG_TILECACHE_H */
