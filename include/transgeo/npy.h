/*
 * npy.h - read and write NumPy .npy arrays (format 1.0/2.0/3.0,
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * The `transgeo embed --npy` path and the tests use it to exchange tensors
 * with PyTorch (part of the public API so that the transgeo command, which
 * links only the public libtransgeo, can use it). Supported: little-endian float32
 * ('<f4'), int64 ('<i8') and uint8 ('|u1'), C order, up to TG_NPY_MAX_DIMS
 * dimensions. Anything else is refused with a message naming the file and
 * what was found.
 *
 *     tg_npy a = {0};
 *     if (tg_npy_read(ctx, "x.npy", &a) == 0 && a.dtype == TG_NPY_F32) {
 *         const float *x = a.data;   // a.shape[0] x ... , a.n_elems values
 *     }
 *     tg_npy_free(&a);
 */
#ifndef TG_NPY_H
#define TG_NPY_H

#include <stddef.h>
#include <stdint.h>
#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_NPY_MAX_DIMS 8

typedef enum { TG_NPY_F32 = 0, TG_NPY_I64 = 1, TG_NPY_U8 = 2 } tg_npy_dtype;

typedef struct tg_npy {
    tg_npy_dtype dtype;             /* element type */
    int ndim;                       /* 0 (scalar) .. TG_NPY_MAX_DIMS */
    int64_t shape[TG_NPY_MAX_DIMS]; /* dims, outermost first */
    size_t n_elems;                 /* product of shape */
    void *data;                     /* n_elems elements, owned (tg_npy_free) */
} tg_npy;

/* Read a whole .npy file. [out] *out (zeroed on failure). Errors: TG_EIO
 * (open/read), TG_EFORMAT (bad magic/header, unsupported dtype or order,
 * truncated or oversized data), TG_ENOMEM. */
TG_API int tg_npy_read(tg_ctx *ctx, const char *path, tg_npy *out);
/* Parse from memory (same checks). */
TG_API int tg_npy_read_mem(tg_ctx *ctx, const void *buf, size_t n, const char *name, tg_npy *out);
TG_API void tg_npy_free(tg_npy *a);

/* Write a .npy (format 1.0, or 2.0 when the header needs it). Errors: TG_EIO,
 * TG_EINVAL (ndim out of range, negative dim). */
TG_API int tg_npy_write(tg_ctx *ctx, const char *path, tg_npy_dtype dtype, int ndim,
                        const int64_t *shape, const void *data);

/* Bytes per element of a dtype. */
TG_API size_t tg_npy_itemsize(tg_npy_dtype dtype);
/* "float32", "int64", "uint8". */
TG_API const char *tg_npy_dtype_name(tg_npy_dtype dtype);

#ifdef __cplusplus
}
#endif
#endif /* TG_NPY_H */
