/*
 * tg_lib.c - libtransgeo, opened on first use (dlopen), not at load.
 *
 * Why: PostgreSQL starts parallel workers as new processes for each query,
 * and each loads every library its leader has loaded (RestoreLibraryState).
 * Linked to transgeo.so, libtransgeo would come with GDAL, PROJ, SpatiaLite,
 * OpenBLAS and some 110 more libraries: dlopen of libtransgeo.so.0 takes
 * about 215 ms on this machine, and bench/pg.sh measured the single server's
 * tg_matches over 10^5 tiles at 505 ms with two workers against 126 ms
 * without. Opened here on the first call that needs it, the library stays
 * in the backend that embeds or measures distances; workers, which only run
 * tg_topk (module transgeo_scan), never load it.
 *
 * The functions are the public API (include/transgeo/), called through the
 * macros of tgpg.h; the library is found as the dynamic loader finds
 * libraries (transgeo.so's RUNPATH, which make sets to $(libdir), then
 * LD_LIBRARY_PATH and the system's directories). It is never closed.
 */
#include "tgpg.h"

#include <dlfcn.h>

static tgpg_api api;
static bool loaded;

#define TG_SYM(field, name)                                                                         \
    do {                                                                                            \
        *(void **)&a.field = dlsym(h, #name);                                                       \
        if (!a.field) {                                                                             \
            missing = #name;                                                                        \
            goto fail;                                                                              \
        }                                                                                           \
    } while (0)

const tgpg_api *tgpg_lib(void)
{
    if (loaded) return &api;
    tgpg_api a;
    const char *missing = NULL;
    void *h = dlopen(TGPG_LIBNAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FILE),
                        errmsg("transgeo: cannot load %s: %s", TGPG_LIBNAME, dlerror()),
                        errhint("Install libtransgeo where the server's dynamic loader finds it "
                                "(the libdir transgeo was configured with, or LD_LIBRARY_PATH of "
                                "the server).")));
    TG_SYM(ctx_create, tg_ctx_create);
    TG_SYM(ctx_threads, tg_ctx_threads);
    TG_SYM(ctx_set_threads, tg_ctx_set_threads);
    TG_SYM(clear_error, tg_clear_error);
    TG_SYM(errmsg, tg_errmsg);
    TG_SYM(strerror, tg_strerror);
    TG_SYM(version, tg_version);
    TG_SYM(geo_distance_m, tg_geo_distance_m);
    TG_SYM(model_load, tg_model_load);
    TG_SYM(model_verify, tg_model_verify);
    TG_SYM(model_free, tg_model_free);
    TG_SYM(model_config_get, tg_model_config_get);
    TG_SYM(image_load_mem, tg_image_load_mem);
    TG_SYM(image_free, tg_image_free);
    TG_SYM(model_embed_ground, tg_model_embed_ground);
    TG_SYM(model_embed_aerial, tg_model_embed_aerial);
    TG_SYM(set_error, tg_set_error);
    TG_SYM(store_open_pg, tg_store_open_pg);
    TG_SYM(locate_opts_default, tg_locate_opts_default);
    TG_SYM(locator_open, tg_locator_open);
    TG_SYM(locator_run, tg_locator_run);
    TG_SYM(locator_free, tg_locator_free);
    TG_SYM(locator_dim, tg_locator_dim);
    TG_SYM(locator_tile_wkt, tg_locator_tile_wkt);
    TG_SYM(locator_model, tg_locator_model);
    TG_SYM(locate_answer_clear, tg_locate_answer_clear);
    TG_SYM(prior_name, tg_prior_name);
    TG_SYM(heading_source_name, tg_heading_source_name);
    TG_SYM(camera_source_name, tg_camera_source_name);
    api = a;
    loaded = true;
    return &api;
fail:
    dlclose(h);
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                    errmsg("transgeo: %s has no function %s: another version of libtransgeo",
                           TGPG_LIBNAME, missing)));
    return NULL; /* not reached */
}
