/*
 * batch.h - batch georeferencing of photo archives: enumerate photos, locate
 * each against a database, stream the answers into a GeoPackage or CSV that a
 * rerun resumes.
 *
 *     tg_batch_opts o;
 *     tg_batch_opts_default(&o);
 *     o.k = 5;
 *     const char *in[] = {"archive/", "@more.txt"};
 *     tg_batch_summary s;
 *     int rc = tg_batch_locate(ctx, "town.sqlite", in, 2, "out.gpkg", &o, &s);
 *     // rc == 0 even when some photos failed: they are in the layer "failures"
 *     printf("%ld located, %ld failed\n", s.n_located, s.n_failed);
 *
 * Three parts, usable on their own:
 *  - tg_photo_list: the photos named by PHOTO | DIR | @LIST arguments, one at a
 *    time (a directory is walked, not loaded: memory does not grow with the
 *    archive);
 *  - tg_batch_out: the output file (layers, fields and resume, below);
 *  - tg_batch_locate: the loop; worker threads each with their own tg_ctx
 *    decode and embed photos (tg_locator_prepare), the calling thread scores
 *    opts.score_batch of them in one pass over the shared, read-only
 *    in-memory index (tg_locator_score), the workers finish them
 *    (tg_locator_finish: ranking, refinement), and the calling thread writes
 *    the results in input order and commits after every batch of photos.
 *
 * Output (GeoPackage, OUT.gpkg; all geometries EPSG:4326, x = lon, y = lat,
 * with an R-tree spatial index):
 *   photos          POINT: fid, geom, file, model, lon, lat, score, error_m,
 *                   tile_id, gps_lon, gps_lat, gps_error_m, heading,
 *                   heading_source, fov_deg, camera_source,
 *                   tile_lon, tile_lat, prior, refined, refine_tiles
 *                   (gps_* NULL when the photo has no GPS; heading = the
 *                   direction the camera looked, degrees clockwise from true
 *                   north: the photo's own, or the searched one
 *                   (heading_source: exif, xmp, gpano, mapillary,
 *                   magnetic-searched, searched, assumed-north; locate.h),
 *                   NULL when none; QGIS rotates the point's symbol by it;
 *                   fov_deg and camera_source = the camera model used,
 *                   camera.h; (lon, lat) the estimate, refined below the
 *                   stride when `refined` is not empty, tile_* the centre of
 *                   tile_id; error_m its 68 % radius; prior and refined: see
 *                   tg_batch_record). The point is (lon, lat).
 *   matched_tiles   POLYGON: fid, geom (tile footprint), file, rank (1 = best),
 *                   tile_id, score, lon, lat (tile centre); k rows per photo.
 *   failures        no geometry: fid, file, error (why the photo could not be
 *                   located: unreadable, not an image, truncated...).
 * CSV (OUT.csv, or "-" for standard output): one row per photo with the photos
 * fields (no geometry column: lon/lat are the coordinates), plus `error`, empty
 * for a located photo; a failed photo has only file and error.
 *
 * Resume: a photo whose file (the path as enumerated, e.g. "archive/a.jpg")
 * already appears in OUT (photos or failures; for CSV any row) is skipped, so
 * rerunning an interrupted or finished batch adds nothing twice. To retry the
 * failed photos delete the rows of `failures` first. Standard output never
 * resumes.
 *
 * Ownership: every object here is created and freed by the caller (free
 * functions accept NULL). None is thread-safe: one thread per object.
 */
#ifndef TG_BATCH_H
#define TG_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "evalmetrics.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- photo enumeration -------------------------------------------------- */

typedef struct tg_photo_list tg_photo_list;

/* One enumerated input. */
typedef struct tg_photo_entry {
    const char *path;  /* the photo's path (as given, or DIR/sub/name) */
    const char *error; /* NULL, or why this entry cannot be a photo (e.g. "no such
                          file", "directory cannot be read"): record it as a failure */
} tg_photo_entry;

/* Open a list over n_args arguments, each one of:
 *   PATH      a file (listed even when missing: then entry.error says so);
 *   DIR       a directory, walked recursively in byte order of names; entries
 *             whose name starts with '.' are skipped, symbolic links are
 *             followed (a directory loop is walked once); every other regular
 *             file is listed (a non-image becomes a failure, not a skip);
 *   @LIST     a text file with one path per line (relative to the current
 *             directory; blank lines and lines starting with '#' skipped;
 *             each line may itself be a DIR); "@-" reads standard input.
 * Nothing is read until tg_photo_list_next. [out] *out. Returns 0, TG_EINVAL
 * (no argument, empty "@") or TG_ENOMEM. */
TG_API int tg_photo_list_open(tg_ctx *ctx, const char *const *args, size_t n_args,
                              tg_photo_list **out);
/* Do not list this file (and files whose real path starts with its real path,
 * e.g. OUT.gpkg-wal): used to keep the output out of its own input directory.
 * The file need not exist yet when called; it is compared on each entry. */
TG_API int tg_photo_list_exclude(tg_ctx *ctx, tg_photo_list *list, const char *path);
/* Next entry: [out] *entry (its strings valid until the next call).
 * Returns 1 (an entry), 0 (the end) or a negative TG_E* code: TG_EIO when a
 * @LIST file cannot be read (fatal: the list of work is unknown), TG_ENOMEM. */
TG_API int tg_photo_list_next(tg_ctx *ctx, tg_photo_list *list, tg_photo_entry *entry);
/* 1 when the list reads standard input ("@-"): it cannot be walked twice. */
TG_API int tg_photo_list_uses_stdin(const tg_photo_list *list);
TG_API void tg_photo_list_free(tg_photo_list *list);

/* ---- output ------------------------------------------------------------- */

typedef struct tg_batch_out tg_batch_out;

/* One of the k tiles matched for a photo. */
typedef struct tg_batch_tile {
    int rank;          /* 1 = best */
    int64_t tile_id;   /* tg_tiles.id */
    double score;      /* cosine similarity */
    double lon, lat;   /* tile centre, degrees (WGS84) */
    const char *wkt;   /* footprint POLYGON in EPSG:4326 (lon lat order), or NULL */
} tg_batch_tile;

/* One located photo. */
typedef struct tg_batch_record {
    const char *file;      /* the photo's path, as enumerated */
    const char *model;     /* name of the model used, or NULL */
    double lon, lat;       /* the estimate, degrees (WGS84) */
    double score;          /* similarity of the best tile */
    double error_m;        /* estimated error radius, metres (see tg_locate) */
    int64_t tile_id;       /* best tile */
    int has_gps;           /* 1: gps_* below are set */
    double gps_lon, gps_lat; /* the photo's own GPS, degrees */
    double gps_error_m;    /* geodesic metres from the GPS to (lon, lat) */
    int has_heading;       /* 1: heading_deg is set */
    double heading_deg;    /* camera heading, degrees from true north */
    int n_tiles;           /* matched tiles below (k, or fewer) */
    const tg_batch_tile *tiles; /* best first */
    const char *heading_source; /* tg_heading_source_name, or NULL */
    double fov_deg;        /* the camera's horizontal field of view, degrees; 0 = unknown */
    const char *camera_source; /* tg_camera_source_name, or NULL */
    double tile_lon, tile_lat; /* the best tile's centre (lon, lat differ when refined) */
    const char *prior;     /* the prior used: "none", "near", "gps", or "none; gps outside
                              tiles" / "near; gps outside tiles" (the GPS window held no
                              tile: the fallback); NULL = "" */
    const char *refined;   /* "raster", "stored" or "stored: WHY", "" = not refined; NULL = "" */
    int refine_tiles;      /* tiles cut and embedded to refine */
} tg_batch_record;

typedef enum tg_batch_format {
    TG_BATCH_GPKG = 1,  /* path ends in .gpkg (any case) */
    TG_BATCH_CSV = 2,   /* path ends in .csv */
    TG_BATCH_STDOUT = 3 /* path is "-": CSV on standard output */
} tg_batch_format;

/* The format a path selects, or 0 when it is none of the above. */
TG_API int tg_batch_format_of(const char *path);

/* Open OUT for writing: create it (with its layers), or open an existing one
 * and remember the files it already holds. [out] *out. Returns 0, TG_EINVAL
 * (unknown extension: the message names .gpkg, .csv and -), TG_EIO (cannot
 * create/open; a file that is not a GeoPackage/CSV of ours, message says
 * which layer or field is missing), TG_ENOMEM. */
TG_API int tg_batch_out_open(tg_ctx *ctx, const char *path, tg_batch_out **out);
TG_API int tg_batch_out_format(const tg_batch_out *o);
/* 1 when `file` is already in the output (located or failed), else 0. */
TG_API int tg_batch_out_has(const tg_batch_out *o, const char *file);
/* Number of distinct files already in the output when it was opened. */
TG_API long tg_batch_out_n_existing(const tg_batch_out *o);
/* Add a located photo / a failure. Rows are buffered in a transaction (GPKG)
 * until tg_batch_out_commit. Returns 0 or TG_EIO/TG_ENOMEM. */
TG_API int tg_batch_out_add(tg_ctx *ctx, tg_batch_out *o, const tg_batch_record *rec);
TG_API int tg_batch_out_add_failure(tg_ctx *ctx, tg_batch_out *o, const char *file,
                                    const char *error);
/* Make the rows added so far durable (commit; CSV: flush). Returns 0 or TG_EIO. */
TG_API int tg_batch_out_commit(tg_ctx *ctx, tg_batch_out *o);
/* Commit, close and free. Returns 0 or TG_EIO (o is freed either way). */
TG_API int tg_batch_out_close(tg_ctx *ctx, tg_batch_out *o);
/* Close and free WITHOUT committing the pending rows (after a fatal error). */
TG_API void tg_batch_out_free(tg_batch_out *o);

/* ---- the batch ---------------------------------------------------------- */

typedef struct tg_batch_opts {
    int k;               /* matches per photo (rows of matched_tiles), >= 1; default 5 */
    int threads;         /* worker threads; 0 (default) = tg_ctx_threads(ctx) */
    const char *model;   /* model name in the database; NULL (default) = the only one */
    int has_near;        /* 1: restrict candidates to tiles within radius_m of near_* */
    double near_lon, near_lat; /* degrees (WGS84) */
    double radius_m;     /* metres, > 0 */
    int gps_prior;       /* 1: each photo's own GPS is its search window (tg_locate_opts) */
    double gps_radius_m; /* its radius, metres; 0 (default) = from the photo's accuracy */
    int refine;          /* TG_REFINE_AUTO (default), TG_REFINE_OFF, TG_REFINE_ON (locate.h) */
    int refine_max_tiles; /* 0 (default) = TG_REFINE_TILES */
    int batch_size;      /* photos per commit; 0 (default) = 8 per thread, at least 16,
                            and at least score_batch */
    tg_progress_fn progress; /* called after each batch with (photos done, total or 0
                                when unknown, NULL); return 0 to cancel. NULL = none */
    void *progress_user;
    double fov_deg;      /* field of view of photos without camera metadata, degrees;
                            NAN (default): none (tg_locate_opts.fov_deg) */
    int heading_search;  /* tg_locate_opts.heading_search; default 0 (auto) */
    int ignore_heading;  /* tg_locate_opts.ignore_heading; default 0 */
    int score_batch;     /* photos scored in one pass over the tiles (locate.h "many
                            photos per pass": the workers embed them, one matrix
                            product scores them, the workers finish them); 1 = one at
                            a time (each worker runs tg_locator_run); 0 (default) =
                            TG_BATCH_SCORE_DEFAULT (32). The answers are the same
                            either way */
    int ranking;         /* tg_locate_opts.ranking: TG_RANKING_AUTO (default; in
                            evaluation LOCAL), LOCAL or SERVER */
} tg_batch_opts;

/* Photos per pass by default. bench/locate_batch.sh at 10^5 tiles x 1000
 * (demo encoders, 2 shared cores), photos/s against one photo per pass, in
 * one process (two runs): 3.8-6.3x (8), 4.7-7.6x (16), 7.8-8.1x (32),
 * 8.8-11.3x (64), 9.5-11.3x (128); the CLI: 4.0-4.7x (32), 5.1-5.2x (64).
 * A pass is committed as a whole (batch_size is
 * at least one pass), so 32, not 64: most of the gain, and a run of 60
 * photos still commits twice (tests/faults_kill.sh kills between commits;
 * a kill -9 loses at most one pass of work). */
#define TG_BATCH_SCORE_DEFAULT 32

TG_API void tg_batch_opts_default(tg_batch_opts *o);

typedef struct tg_batch_summary {
    long n_located;      /* photos located by this run */
    long n_failed;       /* photos listed in failures by this run */
    long n_skipped;      /* photos already in OUT (resume) */
} tg_batch_summary;

/* Locate every photo named by inputs[0..n_inputs) against the database db_path
 * and write OUT (see the top of this file). Returns 0 when the batch completed,
 * even if some photos failed (counted in summary->n_failed). Fatal errors:
 * TG_EIO/TG_EDB (database missing or unreadable, output cannot be written),
 * TG_ENOTFOUND (no model / several models and none named / a named model not
 * in the database), TG_EMODEL (the model file does not match the database),
 * TG_EINVAL (bad options), TG_ECANCEL (progress returned 0). After a fatal
 * error OUT holds every batch committed before it, so a rerun resumes. */
TG_API int tg_batch_locate(tg_ctx *ctx, const char *db_path, const char *const *inputs,
                           size_t n_inputs, const char *out_path, const tg_batch_opts *opts,
                           tg_batch_summary *summary);

/* ---- evaluation on labelled photos --------------------------------------- */

/* One photo of an evaluation. */
typedef struct tg_eval_photo {
    char *file;            /* the path, as enumerated */
    double est_lon, est_lat; /* the estimate (refined, or top1's centre) */
    double oracle_m;       /* metres from the true tile's centre to the true position: the
                              error a perfect tile retrieval leaves */
    double tile_error_m;   /* metres from top1's centre to the true position */
    int prior;             /* TG_PRIOR_* used (locate.h) */
    int refined;           /* TG_REFINED_* */
    int refine_tiles;      /* tiles cut and embedded to refine */
    char *error;           /* NULL, or why it could not be read (not evaluated) */
    int labelled;          /* 1: evaluated (item and the fields below are set); 0: failed,
                              or no known position (no GPS and no --truth row) */
    int truth_from_csv;    /* 1: true position from the truth CSV, 0: from GPS EXIF */
    double true_lon, true_lat;   /* degrees WGS84 */
    int64_t true_tile_id;  /* the tile whose centre is nearest the true position */
    int64_t top1_tile_id;  /* the best match */
    double top1_lon, top1_lat;   /* its centre */
    double top1_score;
    tg_eval_item item;     /* rank of the true tile, hit, metre error (evalmetrics.h) */
    double heading_deg;    /* the answer's heading, degrees; NaN when none */
    int heading_source;    /* TG_HEADING_* (locate.h) */
    int n_headings;        /* canvases embedded for it (1: one pass) */
    int has_true_heading;  /* 1: the truth CSV has a heading for it */
    double true_heading_deg; /* degrees clockwise from true north */
    double heading_error_deg; /* |heading - true heading| on the circle; NaN without both */
} tg_eval_photo;

/* The result of tg_batch_eval (free with tg_eval_report_free). */
typedef struct tg_eval_report {
    char model[256];       /* the model evaluated */
    long n_tiles;          /* its tiles (the reference set) */
    size_t n_photos;       /* entries of photos[], in input order */
    long n_failed;         /* unreadable photos */
    long n_unlabelled;     /* photos without a known position (skipped) */
    tg_eval_photo *photos;
    tg_eval_stats stats;   /* over the labelled photos */
    long n_heading;        /* labelled photos with a heading error (truth and answer) */
    double heading_err_median_deg; /* median heading error over them (NaN when none) */
    long n_heading_top1;   /* ... of those, the photos whose best tile is the true one */
    double heading_err_median_top1_deg; /* median over those (NaN when none) */
    /* below the stride, over the photos whose best tile is the true tile (rank 1): */
    long n_right;          /* such photos */
    double right_median_m; /* median error of their estimate (refined or tile centre) */
    double right_oracle_median_m; /* median error of the true tile's centre (the best a
                              tile centre can do; NaN when n_right = 0) */
    long n_refined;        /* photos refined from raster tiles (TG_REFINED_RASTER) */
    long n_refine_tiles;   /* tiles cut and embedded to refine, all photos */
} tg_eval_report;

/* Evaluate the model of db_path (opts->model, or the only one) on the photos
 * named by inputs (as tg_batch_locate), whose true positions come from
 * truth_csv (a CSV file with a header naming the columns file, lat, lon in
 * degrees WGS84, and optionally heading, degrees clockwise from true north,
 * empty when unknown: then the heading error is reported; a row matches a
 * photo by its path as enumerated, else by the longest trailing part of that
 * path after a '/' that a row names, e.g. "panos/0001.jpg" for
 * "town/panos/0001.jpg", else by its base name when that is unique in the
 * file) or else from their GPS EXIF.
 * Every photo is ranked against ALL tiles of the model (evalmetrics.h), or
 * with opts->gps_prior against the tiles of its GPS window (then the truth
 * must come from truth_csv: a photo's GPS cannot be its own truth, TG_EINVAL
 * without it; photos without a row are unlabelled).
 * opts: threads, model, progress, the camera options, gps_prior,
 * gps_radius_m, refine, refine_max_tiles (k and --near are not used).
 * [out] *out. Returns 0; TG_ENOTFOUND when no photo has a known position;
 * the fatal errors of tg_batch_locate; TG_EIO/TG_EFORMAT for a bad truth file
 * (message names the line). Unreadable photos are not fatal: they are counted
 * in n_failed, with their error. */
TG_API int tg_batch_eval(tg_ctx *ctx, const char *db_path, const char *const *inputs,
                         size_t n_inputs, const char *truth_csv, const tg_batch_opts *opts,
                         tg_eval_report **out);
TG_API void tg_eval_report_free(tg_eval_report *rep);

#ifdef __cplusplus
}
#endif
#endif /* TG_BATCH_H */
