/*
 * transgeo.h - libtransgeo, the public API (umbrella header).
 *
 * transgeo finds where a ground photo was taken by matching it against aerial
 * imagery with the TransGeo transformer (Zhu, Shah and Chen, CVPR 2022). Modules:
 *   core.h             errors, tg_ctx (threads, scratch), version
 *   world/world.h      the demo world generator
 *   image.h, exif.h    photo decoding, resizing as PIL does; GPS/heading metadata
 *   geo.h              PROJ: geodesic distances, CRS transforms, UTM zones
 *   tilecache.h        cutting a georeferenced raster into north-up tiles
 *   store.h            the store: models, rasters, tiles (SpatiaLite or PostgreSQL)
 *   store_pg.h         the store on PostgreSQL/PostGIS: the executor, tg_store_open_pg
 *   batch.h            a folder of photos -> GeoPackage / CSV, evaluation
 *   transgeo_model.h   the engine (model.h: the file; search.h: top-k)
 * The C API reference is libtransgeo(3).
 *
 * Include as <transgeo/transgeo.h>; link with `pkg-config --libs transgeo`.
 */
#ifndef TRANSGEO_H
#define TRANSGEO_H

#include "core.h"
#include "world.h"
#include "image.h"
#include "exif.h"
#include "camera.h"
#include "canvas.h"
#include "geo.h"
#include "tilecache.h"
#include "store.h"
#include "store_pg.h"
#include "locate.h"
#include "batch.h"
#include "transgeo_model.h" /* and model.h: the engine */

#endif /* TRANSGEO_H */
