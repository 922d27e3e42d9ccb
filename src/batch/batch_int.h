/* batch_int.h - what the batch layer's files share (not installed): the
 * --truth table of evaluation (truth.c) and a string helper. The public
 * interface is include/transgeo/batch.h.
 *
 * Files: photolist.c (photo enumeration), output.c (GeoPackage/CSV with
 * resume), truth.c (the --truth CSV), batch.c (worker threads over the
 * locator: locate and eval), evalmetrics.c (R@k and friends). */
#ifndef TG_BATCH_INT_H
#define TG_BATCH_INT_H

#include <stdlib.h>
#include <string.h>

#include <cpl_hash_set.h>

#include "transgeo/batch.h"

/* strdup without relying on POSIX; NULL when out of memory. */
static inline char *tgb_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* --truth CSV: file,lat,lon[,heading] (header row; column order free). */
struct truth_row {
    char *key;
    double lat, lon;       /* degrees WGS84 */
    int has_heading;
    double heading;        /* degrees clockwise from true north */
};
typedef struct truth {
    CPLHashSet *by_path;   /* entries keyed by path */
    CPLHashSet *by_base;   /* keyed by basename; ambiguous basenames are dropped */
    struct truth_row *rows;
} truth;

/* Load path into *t (zeroed first). Returns 0, TG_EIO, TG_EFORMAT, TG_ENOMEM. */
int tgb_truth_load(tg_ctx *ctx, const char *path, truth *t);
/* The row of a photo: its path, else the longest trailing part after a '/'
 * a row names, else its unique base name; NULL when none. */
const struct truth_row *tgb_truth_find(const truth *t, const char *file);
void tgb_truth_free(truth *t);

#endif /* TG_BATCH_INT_H */
