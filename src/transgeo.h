/*
 * transgeo.h - libtransgeo, the public API (umbrella header).
 *
 * transgeo finds where a ground photo was taken by matching it against aerial
 * imagery with the TransGeo transformer (Jiang et al., CVPR 2022). Modules:
 *   core.h       errors, tg_ctx (threads, scratch), version
 *   (each module adds its header below)
 *
 * Include as <transgeo/transgeo.h>; link with `pkg-config --libs transgeo`.
 */
#ifndef TRANSGEO_H
#define TRANSGEO_H

#include "core.h"

#endif /* TRANSGEO_H */
