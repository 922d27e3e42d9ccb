/*
 * transgeo.h - libtransgeo, the public API (umbrella header).
 *
 * transgeo finds where a ground photo was taken by matching it against aerial
 * imagery with the TransGeo transformer (Zhu, Shah and Chen, CVPR 2022). Modules:
 *   core.h       errors, tg_ctx (threads, scratch), version
 *   (each module adds its header below)
 *
 * Include as <transgeo/transgeo.h>; link with `pkg-config --libs transgeo`.
 */
#ifndef TRANSGEO_H
#define TRANSGEO_H

#include "core.h"
#include "world/world.h"
#include "image.h"
#include "exif.h"
#include "geo.h"
#include "tilecache.h"
#include "store.h"
#include "batch.h"
#include "transgeo_model.h" /* and model.h: the engine */

#endif /* TRANSGEO_H */
