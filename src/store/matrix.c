/* matrix.c - the mapped matrix file of a tileset (see matrix.h). */
#define _GNU_SOURCE /* posix_fallocate, flock */
#include "config.h"
#include "matrix.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAT_MAGIC "TGMATRX"
#define MAT_VERSION 1u
#define MAT_HDR 4096u
#define MAT_ALIGN 4096u

/* The header as stored (little-endian; the struct is only used on
 * little-endian hosts). Padding is zeroed before the checksum is taken. */
typedef struct mat_header {
    char magic[8];          /* "TGMATRX\0" */
    uint32_t version;       /* MAT_VERSION */
    uint32_t header_bytes;  /* MAT_HDR */
    int32_t dim;            /* floats per row */
    int32_t codec;          /* TG_CODEC_* of the codes section */
    uint64_t n;             /* rows */
    int64_t model_id;       /* tg_models.id */
    char sha256[64];        /* tg_models.sha256 (hex, no NUL) */
    int64_t n_inserted;     /* tg_models counters when built */
    int64_t n_removed;
    int64_t max_id;         /* max(tg_tiles.id) of the model when built, INT64_MIN if none */
    uint64_t off_ids, off_lon, off_lat, off_stride, off_raster, off_rows, off_codes, off_scales;
    uint64_t file_bytes;    /* the whole file */
    unsigned char checksum[32]; /* SHA-256 of every byte before this field */
} mat_header;

_Static_assert(sizeof(mat_header) <= MAT_HDR, "matrix header fits its page");

static uint64_t align_up(uint64_t x) { return (x + MAT_ALIGN - 1) & ~(uint64_t)(MAT_ALIGN - 1); }

/* Section offsets for n rows (0 for an absent section). */
static void layout(mat_header *h, uint64_t n, int dim, int codec)
{
    uint64_t off = MAT_HDR;
    h->off_ids = off;
    off = align_up(off + n * 8);
    h->off_lon = off;
    off = align_up(off + n * 8);
    h->off_lat = off;
    off = align_up(off + n * 8);
    h->off_stride = off;
    off = align_up(off + n * 8);
    h->off_raster = off;
    off = align_up(off + n * 8);
    h->off_rows = off;
    off = align_up(off + n * (uint64_t)dim * 4);
    size_t cb = tg_codec_row_bytes(codec, dim);
    h->off_codes = cb ? off : 0;
    off = align_up(off + n * cb);
    h->off_scales = codec == TG_CODEC_I8 ? off : 0;
    if (codec == TG_CODEC_I8) off = align_up(off + n * 4);
    h->file_bytes = off;
}

static void header_checksum(const mat_header *h, unsigned char out[32])
{
    cpl_sha256_ctx sc;
    CPL_SHA256Init(&sc);
    CPL_SHA256Update(&sc, h, offsetof(mat_header, checksum));
    CPL_SHA256Final(&sc, out);
}

char *tgst_matrix_path(sqlite3 *db, int64_t model_id)
{
    const char *f = sqlite3_db_filename(db, "main");
    if (!f || !*f) return NULL; /* in memory or a temporary database */
    size_t len = strlen(f) + 48;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s-tg%lld.mat", f, (long long)model_id);
    return p;
}

void tgst_matrix_free(tgst_matrix *mx)
{
    if (!mx) return;
    if (mx->map) munmap(mx->map, mx->map_bytes);
    free(mx->path);
    free(mx);
}

/* Map path and check the header against itself (checksum, layout, size).
 * NULL when missing or not a valid matrix (never an error: it is rebuilt).
 * *hdr gets the header. */
static tgst_matrix *map_file(const char *path, mat_header *hdr)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat sb;
    tgst_matrix *mx = NULL;
    void *map = MAP_FAILED;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)MAT_HDR) goto fail;
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) goto fail;
    memcpy(hdr, map, sizeof *hdr);
    unsigned char sum[32];
    header_checksum(hdr, sum);
    if (memcmp(hdr->magic, MAT_MAGIC, 8) || hdr->version != MAT_VERSION ||
        hdr->header_bytes != MAT_HDR || memcmp(sum, hdr->checksum, 32) || hdr->dim < 1 ||
        (hdr->codec != TG_CODEC_F32 && hdr->codec != TG_CODEC_F16 && hdr->codec != TG_CODEC_I8) ||
        hdr->file_bytes != (uint64_t)sb.st_size || hdr->dim > (1 << 20) ||
        hdr->n > (uint64_t)sb.st_size / ((uint64_t)hdr->dim * 4 + 40))
        goto fail; /* the last two also keep layout()'s products from overflowing */
    mat_header want = *hdr;
    layout(&want, hdr->n, hdr->dim, hdr->codec);
    if (memcmp(&want.off_ids, &hdr->off_ids, 9 * sizeof(uint64_t))) goto fail;
    mx = calloc(1, sizeof *mx);
    mx->path = strdup(path);
    if (!mx || !mx->path) goto fail;
    const char *b = map;
    mx->n = (size_t)hdr->n;
    mx->dim = hdr->dim;
    mx->codec = hdr->codec;
    mx->ids = (const int64_t *)(b + hdr->off_ids);
    mx->lon = (const double *)(b + hdr->off_lon);
    mx->lat = (const double *)(b + hdr->off_lat);
    mx->stride_m = (const double *)(b + hdr->off_stride);
    mx->raster_id = (const int64_t *)(b + hdr->off_raster);
    mx->rows = (const float *)(b + hdr->off_rows);
    mx->codes = hdr->off_codes ? b + hdr->off_codes : NULL;
    mx->scales = hdr->off_scales ? (const float *)(b + hdr->off_scales) : NULL;
    mx->map = map;
    mx->map_bytes = (size_t)sb.st_size;
    close(fd);
    return mx;
fail:
    if (mx) free(mx->path);
    free(mx);
    if (map != MAP_FAILED) munmap(map, (size_t)sb.st_size);
    close(fd);
    return NULL;
}

/* 1 when the directory of path accepts new files. */
static int dir_writable(const char *path)
{
    char *d = strdup(path);
    if (!d) return 0;
    int ok = access(dirname(d), W_OK | X_OK) == 0;
    free(d);
    return ok;
}

enum { BUILD_OK = 0, BUILD_FALLBACK = 1, BUILD_RETRY_FULL = 2 };

/* Write the matrix of the database's rows to path (via path.tmp), reusing
 * old's rows (all of them: the new rows are those with id > old's max id).
 * Returns BUILD_OK, BUILD_FALLBACK (the file cannot be written: use memory),
 * BUILD_RETRY_FULL (old cannot be extended), or a negative TG_E* code. */
static int build(tg_ctx *ctx, sqlite3 *db, const tg_store_model *m, int dim, int codec,
                 long long n_ins, long long n_rem, uint64_t n_db, int64_t max_db,
                 const tgst_matrix *old, int64_t old_max, const char *path)
{
    size_t tlen = strlen(path) + 8;
    char *tmp = malloc(tlen);
    if (!tmp) return tg_set_error(ctx, TG_ENOMEM, "tiles: out of memory");
    snprintf(tmp, tlen, "%s.tmp", path);
    int ret = BUILD_FALLBACK;
    sqlite3_stmt *s = NULL;
    char *base = MAP_FAILED;
    mat_header h;
    memset(&h, 0, sizeof h);
    layout(&h, n_db, dim, codec);
    int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) goto done;
    /* One builder per temp: a second one falls back to memory for now. */
    if (flock(fd, LOCK_EX | LOCK_NB)) goto done;
    /* The name may have been renamed into place by a builder that finished
     * between our open and flock: never write into that (live) inode. */
    struct stat a, b;
    if (fstat(fd, &a) || stat(tmp, &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev) goto done;
    /* Reserve the blocks first: a full disk fails here, not as SIGBUS on a
     * store into the mapping. */
    if (ftruncate(fd, 0) || posix_fallocate(fd, 0, (off_t)h.file_bytes)) goto done;
    base = mmap(NULL, (size_t)h.file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) goto done;
    int64_t *ids = (int64_t *)(base + h.off_ids), *rid = (int64_t *)(base + h.off_raster);
    double *lon = (double *)(base + h.off_lon), *lat = (double *)(base + h.off_lat);
    double *stride = (double *)(base + h.off_stride);
    float *rows = (float *)(base + h.off_rows);
    char *codes = h.off_codes ? base + h.off_codes : NULL;
    float *scales = h.off_scales ? (float *)(base + h.off_scales) : NULL;
    size_t cb = tg_codec_row_bytes(codec, dim), d = (size_t)dim;
    uint64_t i = 0;
    if (old) {
        i = old->n;
        memcpy(ids, old->ids, i * 8);
        memcpy(lon, old->lon, i * 8);
        memcpy(lat, old->lat, i * 8);
        memcpy(stride, old->stride_m, i * 8);
        memcpy(rid, old->raster_id, i * 8);
        memcpy(rows, old->rows, i * d * 4);
        if (cb && old->codec == codec) {
            memcpy(codes, old->codes, i * cb);
            if (scales) memcpy(scales, old->scales, i * 4);
        } else if (cb) {
            for (uint64_t r = 0; r < i; r++) {
                if (codec == TG_CODEC_I8)
                    scales[r] = tg_i8_encode(rows + r * d, dim, (int8_t *)(codes + r * cb));
                else
                    for (size_t j = 0; j < d; j++)
                        ((uint16_t *)(codes + r * cb))[j] = tg_f16_from_f32(rows[r * d + j]);
            }
        }
    }
    int rc = tgst_prepare(ctx, db,
                          "SELECT t.id, t.center_lon, t.center_lat, t.raster_id, r.stride_m, "
                          "t.embedding FROM tg_tiles t JOIN tg_rasters r ON r.id = t.raster_id "
                          "WHERE t.model_id = ?1 AND t.id > ?2 ORDER BY t.id",
                          &s);
    if (rc) {
        ret = rc;
        goto done;
    }
    sqlite3_bind_int64(s, 1, m->id);
    sqlite3_bind_int64(s, 2, old ? old_max : INT64_MIN);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        const void *emb = sqlite3_column_blob(s, 5);
        size_t nb = (size_t)sqlite3_column_bytes(s, 5);
        if (nb != d * 4 || !emb) {
            ret = tg_set_error(ctx, TG_EMODEL,
                               "tile %lld: its embedding has %zu bytes, the model makes %d floats "
                               "(%zu bytes): the tile was made by another model or is damaged; "
                               "delete it and index its raster again",
                               (long long)id, nb, dim, d * 4);
            goto done;
        }
        if (i >= n_db) { /* more rows above old's max id than were inserted */
            ret = old ? BUILD_RETRY_FULL : tgst_fail(ctx, db, "counting the tiles");
            goto done;
        }
        ids[i] = id;
        lon[i] = sqlite3_column_double(s, 1);
        lat[i] = sqlite3_column_double(s, 2);
        rid[i] = sqlite3_column_int64(s, 3);
        stride[i] = sqlite3_column_double(s, 4);
        memcpy(rows + i * d, emb, d * 4);
        if (codec == TG_CODEC_I8)
            scales[i] = tg_i8_encode(rows + i * d, dim, (int8_t *)(codes + i * cb));
        else if (codec == TG_CODEC_F16)
            for (size_t j = 0; j < d; j++)
                ((uint16_t *)(codes + i * cb))[j] = tg_f16_from_f32(rows[i * d + j]);
        i++;
    }
    if (step != SQLITE_DONE) {
        ret = tgst_fail(ctx, db, "reading the tiles");
        goto done;
    }
    if (i != n_db) { /* rows were inserted below old's max id, or deleted */
        ret = old ? BUILD_RETRY_FULL : tgst_fail(ctx, db, "counting the tiles");
        goto done;
    }
    memcpy(h.magic, MAT_MAGIC, 8);
    h.version = MAT_VERSION;
    h.header_bytes = MAT_HDR;
    h.dim = dim;
    h.codec = codec;
    h.n = n_db;
    h.model_id = m->id;
    memcpy(h.sha256, m->sha256, 64);
    h.n_inserted = n_ins;
    h.n_removed = n_rem;
    h.max_id = max_db;
    header_checksum(&h, h.checksum);
    memcpy(base, &h, sizeof h);
    /* data and header on disk before the name points at them */
    if (msync(base, (size_t)h.file_bytes, MS_SYNC) || fsync(fd)) goto done;
    if (rename(tmp, path)) goto done;
    char *dir = strdup(path);
    if (dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    ret = BUILD_OK;
done:
    sqlite3_finalize(s);
    if (base != MAP_FAILED) munmap(base, (size_t)h.file_bytes);
    if (fd >= 0) {
        if (ret != BUILD_OK) {
            /* drop our temp (we hold its lock, so it is ours) unless another
             * builder holds it */
            struct stat a2, b2;
            if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !fstat(fd, &a2) && !stat(tmp, &b2) &&
                a2.st_ino == b2.st_ino && a2.st_dev == b2.st_dev)
                unlink(tmp);
        }
        close(fd);
    }
    free(tmp);
    return ret;
}

int tgst_matrix_load(tg_ctx *ctx, sqlite3 *db, const tg_store_model *m, int dim, int codec,
                     long long n_ins, long long n_rem, tgst_matrix **out)
{
    *out = NULL;
    if (!tgst_little_endian() || strlen(m->sha256) != 64) return TG_OK;
    char *path = tgst_matrix_path(db, m->id);
    if (!path) return TG_OK;
    sqlite3_stmt *s = NULL;
    int rc = tgst_prepare(ctx, db, "SELECT count(*), max(id) FROM tg_tiles WHERE model_id = ?1", &s);
    if (rc) goto done;
    sqlite3_bind_int64(s, 1, m->id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        rc = tgst_fail(ctx, db, "counting the tiles");
        sqlite3_finalize(s);
        goto done;
    }
    uint64_t n_db = (uint64_t)sqlite3_column_int64(s, 0);
    int64_t max_db = sqlite3_column_type(s, 1) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);

    mat_header h;
    tgst_matrix *old = map_file(path, &h);
    if (old && (h.dim != dim || h.model_id != m->id || memcmp(h.sha256, m->sha256, 64))) {
        tgst_matrix_free(old); /* another model's or another size's: rebuild */
        old = NULL;
    }
    int current = old && h.n_inserted == n_ins && h.n_removed == n_rem && h.n == n_db &&
                  h.max_id == max_db;
    int writable = dir_writable(path);
    if (current && (h.codec == codec || !writable)) {
        *out = old; /* the caller computes another codec's codes in memory */
        goto done;
    }
    if (!writable) {
        tgst_matrix_free(old);
        goto done;
    }
    int extend = old && (current || (h.n_removed == n_rem && n_ins > h.n_inserted && n_db >= h.n));
    int b = build(ctx, db, m, dim, codec, n_ins, n_rem, n_db, max_db, extend ? old : NULL,
                  h.max_id, path);
    if (b == BUILD_RETRY_FULL)
        b = build(ctx, db, m, dim, codec, n_ins, n_rem, n_db, max_db, NULL, 0, path);
    tgst_matrix_free(old);
    if (b < 0) {
        rc = b;
        goto done;
    }
    if (b != BUILD_OK) goto done; /* fall back to memory */
    tgst_matrix *mx = map_file(path, &h);
    /* another builder may have renamed a newer file over ours: use it only
     * if it is for the same state */
    if (mx && h.n_inserted == n_ins && h.n_removed == n_rem && h.n == n_db && h.max_id == max_db &&
        h.dim == dim && h.model_id == m->id) {
        mx->built = 1;
        *out = mx;
    } else {
        tgst_matrix_free(mx);
    }
done:
    free(path);
    return rc;
}
