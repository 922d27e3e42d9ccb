/* npy.c - NumPy .npy reader/writer (see npy.h). */
#include "config.h"
#include "transgeo/npy.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tg_npy_itemsize(tg_npy_dtype t) { return t == TG_NPY_F32 ? 4 : t == TG_NPY_I64 ? 8 : 1; }

const char *tg_npy_dtype_name(tg_npy_dtype t)
{
    return t == TG_NPY_F32 ? "float32" : t == TG_NPY_I64 ? "int64" : "uint8";
}

static const char *descr_of(tg_npy_dtype t) { return t == TG_NPY_F32 ? "<f4" : t == TG_NPY_I64 ? "<i8" : "|u1"; }

void tg_npy_free(tg_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- header dict parser: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } ---- */

struct cur {
    const char *p, *end;
};

static void skip_ws(struct cur *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int eat(struct cur *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes, copied into buf. */
static int quoted(struct cur *c, char *buf, size_t n)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t k = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || k + 1 >= n) return 0;
        buf[k++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[k] = '\0';
    return 1;
}

static int parse_dict(struct cur *c, char *descr, size_t descr_n, int *fortran, tg_npy *a)
{
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    if (!eat(c, '{')) return 0;
    for (;;) {
        if (eat(c, '}')) break;
        char key[32];
        if (!quoted(c, key, sizeof key) || !eat(c, ':')) return 0;
        if (!strcmp(key, "descr")) {
            if (!quoted(c, descr, descr_n)) return 0;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            skip_ws(c);
            if (c->end - c->p >= 4 && !strncmp(c->p, "True", 4)) {
                *fortran = 1;
                c->p += 4;
            } else if (c->end - c->p >= 5 && !strncmp(c->p, "False", 5)) {
                *fortran = 0;
                c->p += 5;
            } else {
                return 0;
            }
            have_fortran = 1;
        } else if (!strcmp(key, "shape")) {
            if (!eat(c, '(')) return 0;
            a->ndim = 0;
            for (;;) {
                if (eat(c, ')')) break;
                skip_ws(c);
                if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return 0;
                if (a->ndim >= TG_NPY_MAX_DIMS) return -1;
                int64_t v = 0;
                while (c->p < c->end && isdigit((unsigned char)*c->p)) {
                    if (v > (INT64_MAX - 9) / 10) return 0;
                    v = v * 10 + (*c->p++ - '0');
                }
                if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
                a->shape[a->ndim++] = v;
                if (eat(c, ')')) break;
                if (!eat(c, ',')) return 0;
            }
            have_shape = 1;
        } else {
            return 0;
        }
        if (eat(c, '}')) break;
        if (!eat(c, ',')) return 0;
    }
    return have_descr && have_fortran && have_shape;
}

/* Messages name the file, its size and what was expected, never values
 * read from it (as every loader: transgeo-sql(7), UNTRUSTED SQL AND
 * DATABASES). */
static int read_mem(tg_ctx *ctx, const unsigned char *b, size_t n, const char *name, tg_npy *out)
{
    if (n < 10 || memcmp(b, "\x93NUMPY", 6))
        return tg_set_error(ctx, TG_EFORMAT, "'%s' is not a .npy file (no \\x93NUMPY magic)", name);
    int major = b[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return tg_set_error(ctx, TG_EFORMAT, "'%s': .npy header is truncated", name);
        hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        return tg_set_error(ctx, TG_EFORMAT, "'%s': .npy format version is not 1, 2 or 3", name);
    }
    if (hlen > n - hstart)
        return tg_set_error(ctx, TG_EFORMAT, "'%s' (%zu bytes): .npy header is truncated", name, n);
    struct cur c = {(const char *)b + hstart, (const char *)b + hstart + hlen};
    char descr[16] = "";
    int fortran = 0;
    int ok = parse_dict(&c, descr, sizeof descr, &fortran, out);
    if (ok < 0)
        return tg_set_error(ctx, TG_EFORMAT, "'%s': array has more than %d dimensions", name,
                            TG_NPY_MAX_DIMS);
    if (!ok)
        return tg_set_error(ctx, TG_EFORMAT, "'%s': cannot parse the .npy header dictionary", name);
    if (fortran)
        return tg_set_error(ctx, TG_EFORMAT,
                            "'%s': array is in Fortran order; save a C-order array "
                            "(numpy.ascontiguousarray)", name);
    if (!strcmp(descr, "<f4"))
        out->dtype = TG_NPY_F32;
    else if (!strcmp(descr, "<i8"))
        out->dtype = TG_NPY_I64;
    else if (!strcmp(descr, "|u1") || !strcmp(descr, "<u1") || !strcmp(descr, "u1"))
        out->dtype = TG_NPY_U8;
    else
        return tg_set_error(ctx, TG_EFORMAT,
                            "'%s': dtype is not supported (expected little-endian float32 "
                            "'<f4', int64 '<i8' or uint8 '|u1')", name);
    size_t ne = 1;
    for (int i = 0; i < out->ndim; i++)
        if (__builtin_mul_overflow(ne, (size_t)out->shape[i], &ne))
            return tg_set_error(ctx, TG_EFORMAT, "'%s': array shape is too large", name);
    size_t bytes, isz = tg_npy_itemsize(out->dtype);
    if (__builtin_mul_overflow(ne, isz, &bytes))
        return tg_set_error(ctx, TG_EFORMAT, "'%s': array shape is too large", name);
    size_t have = n - hstart - hlen;
    if (have != bytes)
        return tg_set_error(ctx, TG_EFORMAT,
                            "'%s' (%zu bytes): the data is not the size its header's dtype and "
                            "shape need: %s", name, n, have < bytes ? "truncated" : "trailing bytes");
    out->n_elems = ne;
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) return tg_set_error(ctx, TG_ENOMEM, "'%s': out of memory for its data", name);
    memcpy(out->data, b + hstart + hlen, bytes);
    return TG_OK;
}

int tg_npy_read_mem(tg_ctx *ctx, const void *buf, size_t n, const char *name, tg_npy *out)
{
    tg_npy a;
    memset(&a, 0, sizeof a);
    memset(out, 0, sizeof *out);
    int rc = read_mem(ctx, buf, n, name, &a);
    if (rc) {
        free(a.data);
        return rc;
    }
    *out = a;
    return TG_OK;
}

int tg_npy_read(tg_ctx *ctx, const char *path, tg_npy *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return tg_set_error(ctx, errno == ENOENT ? TG_ENOTFOUND : TG_EIO, "cannot open '%s': %s",
                            path, strerror(errno));
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = TG_OK;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = tg_set_error(ctx, TG_ENOMEM, "'%s': out of memory", path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (ferror(f)) {
        rc = tg_set_error(ctx, TG_EIO, "cannot read '%s'", path);
        goto done;
    }
    rc = tg_npy_read_mem(ctx, buf, n, path, out);
done:
    free(buf);
    fclose(f);
    return rc;
}

int tg_npy_write(tg_ctx *ctx, const char *path, tg_npy_dtype dtype, int ndim, const int64_t *shape,
                 const void *data)
{
    if (ndim < 0 || ndim > TG_NPY_MAX_DIMS)
        return tg_set_error(ctx, TG_EINVAL, "'%s': cannot write a %d-dimensional array", path, ndim);
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr_of(dtype));
    size_t ne = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return tg_set_error(ctx, TG_EINVAL, "'%s': negative dimension %" PRId64, path, shape[i]);
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%" PRId64 "%s", shape[i],
                        ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
        ne *= (size_t)shape[i];
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    /* pad with spaces so that the data starts at a multiple of 64, '\n' last */
    size_t pre = 10, total = pre + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - pre;
    unsigned char head[10 + 512 + 64];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + pre, dict, (size_t)len);
    memset(head + pre + len, ' ', hlen - (size_t)len - 1);
    head[padded - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return tg_set_error(ctx, TG_EIO, "cannot create '%s': %s", path, strerror(errno));
    size_t bytes = ne * tg_npy_itemsize(dtype);
    int ok = fwrite(head, 1, padded, f) == padded && (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return tg_set_error(ctx, TG_EIO, "cannot write '%s': %s", path, strerror(errno));
    return TG_OK;
}
