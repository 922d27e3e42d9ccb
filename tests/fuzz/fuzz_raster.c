/*
 * fuzz_raster.c - raster georeferencing input: tilecache (tilecache.h) on an
 * arbitrary file held in GDAL's /vsimem/ (usually a mutated GeoTIFF):
 * tg_tiles_open (driver, CRS, geotransform incl. rotation/shear, working
 * CRS choice, UTM zone, bands, alpha/mask/nodata, stretch statistics, grid
 * plan, truncation check) and then tiles: the whole run when the grid is
 * small, else the first and the last tile.
 *
 * The last input byte picks options, so that one seed reaches several
 * paths: resampling, stretch mode, a target CRS (none, UTM 14N, Web
 * Mercator (refused), EPSG:4326 (refused)), the nodata share and the band
 * choice. Tiles are 32 px of 1 m by default (16 m stride), the strip budget
 * 4 MiB: memory per input stays small.
 *
 * Checked: errors follow the contract; every tile has the planned size, a
 * valid_share in [0, 1], finite footprint corners and a centre with
 * |lat| <= 90, |lon| <= 180; the info is consistent (n_grid =
 * n_cols * n_rows).
 *
 * Seeds: tests/fuzz/corpus/raster (16x16 px crops of the shared NAIP and
 * HRO rasters made with gdal_translate: striped, tiled, deflate, nodata,
 * alpha, UInt16, geographic, US feet, not georeferenced, rotated palette).
 */
#include "config.h"

#include <math.h>

#include <cpl_vsi.h>

#include "fuzz_common.h"
#include "transgeo/tilecache.h"

static tg_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_ctx();
    fuzz_gdal_setup();
    return 0;
}

typedef struct {
    const tg_tiler_info *info;
    int n;
} run_state;

static void check_tile(const tg_tiler_info *info, const tg_tile *t)
{
    FUZZ_ASSERT(t->width == info->tile_px && t->height == info->tile_px, "tile %dx%d, planned %d",
                t->width, t->height, info->tile_px);
    FUZZ_ASSERT(t->col >= 0 && t->col < info->n_cols && t->row >= 0 && t->row < info->n_rows,
                "tile (%d,%d) outside the %dx%d grid", t->col, t->row, info->n_cols, info->n_rows);
    FUZZ_ASSERT(t->valid_share >= 0 && t->valid_share <= 1, "valid_share %g", t->valid_share);
    for (int i = 0; i < 4; i++)
        FUZZ_ASSERT(isfinite(t->corners_lonlat[i][0]) && isfinite(t->corners_lonlat[i][1]),
                    "corner %d not finite", i);
    FUZZ_ASSERT(fabs(t->center_lat) <= 90 && fabs(t->center_lon) <= 180.000001, "centre %g %g",
                t->center_lon, t->center_lat);
    size_t n = (size_t)t->width * t->height;
    volatile unsigned acc = t->rgb[0] + t->rgb[3 * n - 1] + t->alpha[0] + t->alpha[n - 1];
    (void)acc;
}

static int on_tile(const tg_tile *t, void *user)
{
    run_state *s = user;
    check_tile(s->info, t);
    return ++s->n >= 64; /* enough: stop (TG_ECANCEL) */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path = "/vsimem/fuzz_raster.tif";
    VSILFILE *f = VSIFileFromMemBuffer(path, (GByte *)data, (vsi_l_offset)size, FALSE);
    if (!f) return 0;
    VSIFCloseL(f);

    unsigned sel = size ? data[size - 1] : 0;
    tg_tile_options o = tg_tile_options_default();
    o.tile_m = 32;
    o.gsd_m = 1;
    o.max_buffer_mb = 4;
    o.warp_memory_mb = 8;
    o.resampling = (tg_resampling)(sel % 5);
    o.stretch = (tg_stretch)((sel / 5) % 4); /* AUTO, NONE, MINMAX, PERCENT */
    static const char *crs[4] = {NULL, "EPSG:32614", "EPSG:3857", "EPSG:4326"};
    o.target_crs = crs[(sel / 20) % 4];
    o.max_nodata_share = (sel & 0x80) ? 1.0 : 0.5;
    if (sel == 0xff) o.bands[0] = o.bands[1] = o.bands[2] = 1;

    tg_tiler *t = NULL;
    tg_clear_error(ctx);
    int rc = tg_tiles_open(ctx, path, &o, &t);
    fuzz_check(ctx, rc, "tg_tiles_open");
    if (rc == 0) {
        const tg_tiler_info *info = tg_tiler_get_info(t);
        FUZZ_ASSERT(info && info->n_cols >= 1 && info->n_rows >= 1 &&
                        info->n_grid == (long long)info->n_cols * info->n_rows,
                    "grid %d x %d = %lld", info ? info->n_cols : -1, info ? info->n_rows : -1,
                    info ? info->n_grid : -1);
        if (info->n_grid <= 64) {
            run_state s = {info, 0};
            tg_clear_error(ctx);
            rc = tg_tiles_run(ctx, t, on_tile, &s, NULL, NULL);
            fuzz_check(ctx, rc, "tg_tiles_run");
        } else {
            tg_tile tile;
            int cols[2] = {0, info->n_cols - 1}, rows[2] = {0, info->n_rows - 1};
            for (int i = 0; i < 2; i++) {
                tg_clear_error(ctx);
                rc = tg_tiles_get(ctx, t, cols[i], rows[i], &tile);
                fuzz_check(ctx, rc, "tg_tiles_get");
                if (rc == 0) check_tile(info, &tile);
            }
        }
        tg_tiler_free(t);
    } else {
        FUZZ_ASSERT(t == NULL, "failed open left *out set");
    }
    VSIUnlink(path);
    return 0;
}
