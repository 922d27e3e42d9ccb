/* matrix.h - a tileset's embeddings in one file beside the database, mapped
 * read-only and shared between processes through the page cache (internal
 * to the store layer; tileset.c is its one user).
 *
 * Why: loading 10^6 x 1000 float32 embeddings from SQLite BLOBs costs each
 * process a B-tree walk and its own 4 GB copy. The matrix file holds the
 * same rows (and each tile's id, centre, stride and raster id, and the
 * compact copy of the model's codec) as contiguous sections, so opening a
 * tileset is one header check and an mmap, a search reads the pages once
 * for every process on the machine, and 4 readers hold one copy.
 *
 *     tgst_matrix *mx = NULL;
 *     tgst_matrix_load(ctx, db, m, dim, TG_CODEC_I8, n_ins, n_rem, &mx);
 *     if (mx) tg_index_wrap(ctx, dim, tgst_matrix_count(mx), mx->ids, mx->rows, ...);
 *     ...
 *     tgst_matrix_free(mx);       // after the index that wraps it
 *
 * File: "<database path>-tg<model id>.mat" (beside the database, like
 * SQLite's -wal and -shm files; a cache that may be deleted at any time).
 * Layout, little-endian, every section 4096-byte aligned:
 *     header (4096 bytes): magic "TGMATRX\0", version 1, header bytes, dim,
 *         codec, rows n, model id, model sha256 (hex), the tg_models
 *         n_inserted / n_removed counters and max(tg_tiles.id) it was
 *         built at, the section offsets, the file size, and the SHA-256 of
 *         all of the above;
 *     ids int64[n] (ascending), lon double[n], lat double[n],
 *     stride_m double[n], raster_id int64[n], rows float32[n][dim],
 *     codes (int8[n][dim] or uint16 float16 bits [n][dim], or none),
 *     scales float32[n] (int8 only).
 *
 * Trust: a file is used only when its header checksum, magic, version,
 * size, dim, model id and sha256 match, and its counters, row count and
 * max id equal the database's now (read in the caller's read transaction).
 * Otherwise it is extended (only inserts since: n_removed unchanged, every
 * new row has an id above the file's max id) or rebuilt from the database.
 * The file's rows are not re-hashed on open (that would read 4 GB): a file
 * edited in place behind transgeo's back is not detected; the counters the
 * schema's triggers keep catch every change made through SQLite.
 *
 * Atomic writes: a new file is written as "<path>.tmp" (under an exclusive
 * flock, so two builders never write the same temp; a builder that finds
 * it locked falls back to memory), fsync'ed, renamed over the old one and
 * the directory fsync'ed. A kill -9 at any point leaves either the old
 * file, the new one, or a stale temp that the next builder overwrites:
 * never a half-written matrix under the real name. A process that mapped
 * the old file keeps reading it (rename never changes a mapped inode).
 *
 * Fallback: no matrix (and no error) when the database is in memory or a
 * temporary file, the host is big-endian, the directory is not writable and
 * no valid file exists, or the temp is being written by another process:
 * the caller then loads into memory as before. Errors are returned only for
 * database errors and tiles of the wrong size (as the in-memory load).
 *
 * Ownership: tgst_matrix_load's *out belongs to the caller
 * (tgst_matrix_free, NULL ok); its arrays live until then. */
#ifndef TG_STORE_MATRIX_H
#define TG_STORE_MATRIX_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "transgeo/store.h"

typedef struct tgst_matrix {
    size_t n;              /* rows */
    int dim;               /* floats per row */
    int codec;             /* TG_CODEC_* of the codes section (F32: none) */
    const int64_t *ids;    /* n, ascending */
    const double *lon, *lat, *stride_m;
    const int64_t *raster_id;
    const float *rows;     /* n x dim */
    const void *codes;     /* n x tg_codec_row_bytes(codec, dim), or NULL */
    const float *scales;   /* n (int8), or NULL */
    void *map;             /* the mapping */
    size_t map_bytes;
    char *path;
    int built;             /* 1 when this load wrote the file (0: reused as it was) */
} tgst_matrix;

/* The matrix of model m (dim floats per row) at the database's state
 * n_inserted / n_removed: reuse, extend or rebuild the file (see above),
 * with `codec` as its compact section. The caller holds a read transaction
 * on db. [out] *out, NULL when no matrix can be used (fall back to memory).
 * Returns 0, TG_EMODEL (a tile's embedding has the wrong size), TG_EDB,
 * TG_ENOMEM. */
int tgst_matrix_load(tg_ctx *ctx, sqlite3 *db, const tg_store_model *m, int dim, int codec,
                     long long n_inserted, long long n_removed, tgst_matrix **out);
void tgst_matrix_free(tgst_matrix *mx);
/* The file name for model_id beside the database db (malloc'ed), or NULL
 * when the database has no file (in memory, temporary). */
char *tgst_matrix_path(sqlite3 *db, int64_t model_id);

#endif /* TG_STORE_MATRIX_H */
