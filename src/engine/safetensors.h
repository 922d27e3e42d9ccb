/*
 * safetensors.h - read a safetensors file (https://github.com/huggingface/safetensors),
 * the container of transgeo model files, and check it field by field.
 *
 * Internal to libtransgeo (model.c is its user). The writer is
 * tools/convert_checkpoint.py.
 *
 * File layout (all little-endian):
 *   bytes 0..7          N, u64: length of the JSON header
 *   bytes 8..8+N-1      JSON object, UTF-8, may end with spaces (0x20):
 *                         "__metadata__": {"key": "string value", ...}   (optional)
 *                         "<tensor name>": {"dtype": "F32",
 *                                           "shape": [d0, d1, ...],
 *                                           "data_offsets": [begin, end]}
 *   bytes 8+N..         data section; a tensor's bytes are [begin, end) relative
 *                       to its start, C order. transgeo files put tensors at
 *                       64-byte aligned offsets (zero padding between them).
 *
 * Checks (each failure names the file and, where there is one, the tensor):
 * N >= 2 and 8 + N <= file size, N <= 100 MB; the header is valid JSON (no
 * duplicate keys) and an object; __metadata__ maps strings to strings; each
 * tensor has exactly dtype/shape/data_offsets; dtype is F32 (the only dtype
 * the engine runs); shape has <= TG_ST_MAX_DIMS non-negative dims and
 * 4 * prod(shape) == end - begin (no overflow); begin <= end <= data size;
 * tensor byte ranges do not overlap. Tensor data that is not 4-byte aligned in
 * memory is copied to an aligned buffer.
 *
 *     tg_safetensors *st = NULL;
 *     if (tg_st_open(ctx, "m.safetensors", &st)) return tg_errcode(ctx);
 *     const tg_st_tensor *t = tg_st_find(st, "ground.cls_token");
 *     ... t->data[0] ...
 *     tg_st_close(st);
 */
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "transgeo/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_ST_MAX_DIMS 8
#define TG_ST_MAX_HEADER 100000000ULL /* the safetensors reference limit */

/* Where the bytes come from: files are mmapped (tg_st_open); anything else,
 * e.g. a buffer or a truncated copy in a test, through this interface. */
typedef struct tg_st_reader {
    /* Read up to n bytes at offset into buf; return the number read (less
     * than n only at end of input) or -1 on an I/O error. */
    long long (*read)(void *user, uint64_t offset, void *buf, size_t n);
    uint64_t size;    /* total size in bytes */
    void *user;       /* passed to read */
    const char *name; /* shown in messages, e.g. the path ("<memory>" if NULL) */
} tg_st_reader;

typedef struct tg_st_tensor {
    const char *name;              /* e.g. "ground.blocks.0.attn.qkv.weight" */
    int ndim;                      /* number of dimensions, 0..TG_ST_MAX_DIMS */
    int64_t shape[TG_ST_MAX_DIMS]; /* dims, outermost first */
    uint64_t n_elems;              /* product of shape (1 for a scalar) */
    uint64_t begin, end;           /* byte range in the data section */
    const float *data;             /* n_elems floats, 4-byte aligned */
} tg_st_tensor;

typedef struct tg_safetensors tg_safetensors;

/* Open and check a file (mmapped read-only). [out] *out, NULL on failure.
 * Errors: TG_EIO (cannot open/map), TG_EFORMAT (any check above). */
int tg_st_open(tg_ctx *ctx, const char *path, tg_safetensors **out);
/* Same from a reader; the data section is copied into memory. */
int tg_st_open_reader(tg_ctx *ctx, const tg_st_reader *r, tg_safetensors **out);
void tg_st_close(tg_safetensors *st);

const char *tg_st_path(const tg_safetensors *st);
int tg_st_n_tensors(const tg_safetensors *st);
/* i-th tensor in header order (0 <= i < n_tensors). */
const tg_st_tensor *tg_st_tensor_at(const tg_safetensors *st, int i);
/* Tensor by name or NULL. */
const tg_st_tensor *tg_st_find(const tg_safetensors *st, const char *name);
/* __metadata__ value or NULL when the key is absent. */
const char *tg_st_meta(const tg_safetensors *st, const char *key);
int tg_st_n_meta(const tg_safetensors *st);
/* i-th metadata entry (key and value), header order. */
void tg_st_meta_at(const tg_safetensors *st, int i, const char **key, const char **value);
/* The data section: bytes after the header. [out] *n its size. */
const void *tg_st_data(const tg_safetensors *st, uint64_t *n);
/* Total file size in bytes. */
uint64_t tg_st_file_size(const tg_safetensors *st);

/* A reader over a memory buffer (for tests and BLOBs): fills *r. */
void tg_st_reader_mem(tg_st_reader *r, const void *buf, size_t n, const char *name);

#ifdef __cplusplus
}
#endif
#endif /* TG_SAFETENSORS_H */
