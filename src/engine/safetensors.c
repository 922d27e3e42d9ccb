/* safetensors.c - safetensors reader and checks (see safetensors.h). */
#include "config.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct tg_safetensors {
    char *path;              /* name for messages */
    uint64_t file_size;      /* bytes */
    uint64_t header_len;     /* N */
    void *map;               /* mmapped file or NULL */
    size_t map_len;
    unsigned char *owned;    /* data section copied from a reader, or NULL */
    const unsigned char *data; /* data section */
    uint64_t data_size;
    int n_tensors;
    tg_st_tensor *tensors;
    int n_meta;
    char **meta_kv;          /* 2 * n_meta strings: key, value, key, value ... */
    float **copies;          /* realigned tensor copies */
    int n_copies;
};

/* ---- readers ------------------------------------------------------------ */

/* Memory reader: user is the buffer; read_exact never asks past r->size. */
static long long mem_read(void *user, uint64_t off, void *buf, size_t n)
{
    memcpy(buf, (const unsigned char *)user + off, n);
    return (long long)n;
}

void tg_st_reader_mem(tg_st_reader *r, const void *buf, size_t n, const char *name)
{
    r->read = mem_read;
    r->size = n;
    r->user = (void *)buf;
    r->name = name;
}

/* Read exactly n bytes at off: 0, 1 when the input ends first (including a
 * request past r->size), -1 on an I/O error. */
static int read_exact(const tg_st_reader *r, uint64_t off, void *buf, size_t n)
{
    if (off > r->size || n > r->size - off) return 1;
    size_t done = 0;
    while (done < n) {
        long long k = r->read(r->user, off + done, (unsigned char *)buf + done, n - done);
        if (k < 0 || (uint64_t)k > n - done) return -1; /* error, or a broken reader */
        if (k == 0) return 1;                            /* short */
        done += (size_t)k;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

struct span {
    uint64_t begin, end;
    int idx;
};

/* An error about the file: "model '<name>' (<size> bytes): <what>". The
 * messages of this file say which check failed and what was expected, and
 * never show anything read from the file (names, numbers, JSON text): a
 * model path may come from a database someone else wrote, pointing at a
 * file whose bytes are nobody else's business (transgeo-sql(7), UNTRUSTED
 * SQL AND DATABASES). */
static int st_fail(tg_ctx *ctx, const tg_safetensors *st, int code, const char *fmt, ...)
    TG_PRINTF(4, 5);
static int st_fail(tg_ctx *ctx, const tg_safetensors *st, int code, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tg_set_error(ctx, code, "model '%s' (%" PRIu64 " bytes): %s", st->path, st->file_size,
                        what);
}

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

void tg_st_close(tg_safetensors *st)
{
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    free(st->owned);
    for (int i = 0; i < st->n_tensors; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < 2 * st->n_meta; i++) free(st->meta_kv[i]);
    free(st->meta_kv);
    for (int i = 0; i < st->n_copies; i++) free(st->copies[i]);
    free(st->copies);
    free(st->path);
    free(st);
}

/* Parse one tensor entry. */
static int parse_tensor(tg_ctx *ctx, tg_safetensors *st, const char *name, json_t *v,
                        tg_st_tensor *t)
{
    if (!*name) return st_fail(ctx, st, TG_EFORMAT, "a tensor has an empty name");
    if (!json_is_object(v))
        return st_fail(ctx, st, TG_EFORMAT, "a tensor's header entry is not a JSON object");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return st_fail(ctx, st, TG_EFORMAT,
                           "a tensor's header entry has a field other than dtype, shape and "
                           "data_offsets");
    }
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return st_fail(ctx, st, TG_EFORMAT, "a tensor's header entry lacks '%s'",
                       !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (!json_is_string(dt))
        return st_fail(ctx, st, TG_EFORMAT, "a tensor's dtype is not a string");
    if (strcmp(json_string_value(dt), "F32"))
        return st_fail(ctx, st, TG_EFORMAT,
                       "a tensor's dtype is not F32 (the engine runs float32 only: convert with "
                       "tools/convert_checkpoint.py)");
    if (!json_is_array(sh) || json_array_size(sh) > TG_ST_MAX_DIMS)
        return st_fail(ctx, st, TG_EFORMAT,
                       "a tensor's shape is not an array of at most %d integers", TG_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(sh, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return st_fail(ctx, st, TG_EFORMAT,
                           "a tensor's shape holds something other than non-negative integers");
        t->shape[i] = (int64_t)json_integer_value(d);
        if (__builtin_mul_overflow(n, (uint64_t)t->shape[i], &n))
            return st_fail(ctx, st, TG_EFORMAT, "a tensor's shape is too large");
    }
    t->n_elems = n;
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)) ||
        json_integer_value(json_array_get(off, 0)) < 0 || json_integer_value(json_array_get(off, 1)) < 0)
        return st_fail(ctx, st, TG_EFORMAT,
                       "a tensor's data_offsets is not [begin, end] with non-negative integers");
    t->begin = (uint64_t)json_integer_value(json_array_get(off, 0));
    t->end = (uint64_t)json_integer_value(json_array_get(off, 1));
    if (t->begin > t->end)
        return st_fail(ctx, st, TG_EFORMAT, "a tensor's data_offsets are out of order (begin > end)");
    uint64_t bytes;
    if (__builtin_mul_overflow(n, (uint64_t)sizeof(float), &bytes) || bytes != t->end - t->begin)
        return st_fail(ctx, st, TG_EFORMAT,
                       "a tensor's data_offsets do not hold 4 bytes (F32) per element of its shape");
    if (t->end > st->data_size)
        return st_fail(ctx, st, TG_EFORMAT,
                       "a tensor's data_offsets end beyond the data section: the file is "
                       "truncated or corrupt");
    t->name = strdup(name);
    if (!t->name) return st_fail(ctx, st, TG_ENOMEM, "out of memory");
    return TG_OK;
}

/* Parse and check the header JSON, fill st's tensors and metadata. */
static int parse_header(tg_ctx *ctx, tg_safetensors *st, const char *hdr, size_t len)
{
    /* The format requires the header to open with '{' (no BOM/whitespace). */
    if (len < 2 || hdr[0] != '{')
        return st_fail(ctx, st, TG_EFORMAT,
                       "its header does not start with '{': not a safetensors file");
    json_error_t jerr;
    json_t *root = json_loadb(hdr, len, JSON_REJECT_DUPLICATES, &jerr);
    /* Not jansson's text: it quotes the bytes near the error. */
    if (!root)
        return st_fail(ctx, st, TG_EFORMAT,
                       "its header is not valid JSON, or names a tensor twice: the file is "
                       "corrupt or not a safetensors file");
    int rc = TG_OK;
    struct span *spans = NULL;
    if (!json_is_object(root)) {
        rc = st_fail(ctx, st, TG_EFORMAT, "its header is not a JSON object");
        goto fail;
    }
    size_t n_keys = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    size_t n_t = n_keys - (meta ? 1 : 0);
    if (meta) {
        if (!json_is_object(meta)) {
            rc = st_fail(ctx, st, TG_EFORMAT, "its __metadata__ is not a JSON object");
            goto fail;
        }
        size_t nm = json_object_size(meta);
        st->meta_kv = calloc(2 * nm + 1, sizeof(char *));
        if (!st->meta_kv) {
            rc = st_fail(ctx, st, TG_ENOMEM, "out of memory");
            goto fail;
        }
        const char *k;
        json_t *v;
        json_object_foreach(meta, k, v) {
            if (!json_is_string(v)) {
                rc = st_fail(ctx, st, TG_EFORMAT,
                             "a __metadata__ value is not a string (safetensors metadata holds "
                             "strings only)");
                goto fail;
            }
            char *ks = strdup(k), *vs = strdup(json_string_value(v));
            st->meta_kv[2 * st->n_meta] = ks;
            st->meta_kv[2 * st->n_meta + 1] = vs;
            st->n_meta++;
            if (!ks || !vs) {
                rc = st_fail(ctx, st, TG_ENOMEM, "out of memory");
                goto fail;
            }
        }
    }
    st->tensors = calloc(n_t + 1, sizeof *st->tensors);
    spans = calloc(n_t + 1, sizeof *spans);
    if (!st->tensors || !spans) {
        rc = st_fail(ctx, st, TG_ENOMEM, "out of memory");
        goto fail;
    }
    const char *name;
    json_t *v;
    json_object_foreach(root, name, v) {
        if (!strcmp(name, "__metadata__")) continue;
        tg_st_tensor *t = &st->tensors[st->n_tensors];
        rc = parse_tensor(ctx, st, name, v, t);
        if (rc) goto fail;
        spans[st->n_tensors] = (struct span){t->begin, t->end, st->n_tensors};
        st->n_tensors++;
    }
    /* Byte ranges must not overlap (gaps are allowed: alignment padding). */
    qsort(spans, (size_t)st->n_tensors, sizeof *spans, span_cmp);
    for (int i = 1; i < st->n_tensors; i++) {
        const struct span *a = &spans[i - 1], *b = &spans[i];
        if (b->begin < a->end && b->end > b->begin) {
            rc = st_fail(ctx, st, TG_EFORMAT,
                         "the bytes of two tensors overlap: the file is corrupt");
            goto fail;
        }
    }
fail:
    free(spans);
    json_decref(root);
    return rc;
}

/* Point tensors at their data; copy the ones not 4-byte aligned. */
static int bind_data(tg_ctx *ctx, tg_safetensors *st)
{
    for (int i = 0; i < st->n_tensors; i++) {
        tg_st_tensor *t = &st->tensors[i];
        const unsigned char *p = st->data + t->begin;
        if (((uintptr_t)p & (sizeof(float) - 1)) == 0) {
            t->data = (const float *)(const void *)p;
            continue;
        }
        if (!st->copies) {
            st->copies = calloc((size_t)st->n_tensors, sizeof *st->copies);
            if (!st->copies) return st_fail(ctx, st, TG_ENOMEM, "out of memory");
        }
        void *c = NULL;
        size_t bytes = (size_t)(t->end - t->begin);
        if (posix_memalign(&c, 64, bytes ? bytes : 64))
            return st_fail(ctx, st, TG_ENOMEM, "out of memory copying a misaligned tensor");
        memcpy(c, p, bytes);
        st->copies[st->n_copies++] = c;
        t->data = c;
    }
    return TG_OK;
}

/* Common path: header via the reader; data either already mapped (map_data
 * != NULL) or read through the reader into memory. */
static int open_common(tg_ctx *ctx, const tg_st_reader *r, const char *name,
                       const unsigned char *map_data, tg_safetensors **out)
{
    *out = NULL;
    int rc = TG_OK;
    char *hdr = NULL;
    tg_safetensors *st = calloc(1, sizeof *st);
    if (!st) return tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", name);
    st->path = strdup(name);
    if (!st->path) {
        free(st);
        return tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", name);
    }
    st->file_size = r->size;
    unsigned char lenbuf[8];
    if (r->size < 8) {
        rc = st_fail(ctx, st, TG_EFORMAT,
                     "too short for a safetensors file (it starts with an 8-byte header length): "
                     "the file is truncated or not a model");
        goto fail;
    }
    int e = read_exact(r, 0, lenbuf, 8);
    if (e) {
        rc = st_fail(ctx, st, e < 0 ? TG_EIO : TG_EFORMAT, "cannot read the header length");
        goto fail;
    }
    /* The length is never shown: for a file that is not a model, these are
     * its first 8 bytes. */
    uint64_t n = le64(lenbuf);
    st->header_len = n;
    if (n < 2 || n > TG_ST_MAX_HEADER || n > r->size - 8) {
        rc = st_fail(ctx, st, TG_EFORMAT,
                     "its first 8 bytes are not a safetensors header length (2 bytes to 100 MB, "
                     "within the file): not a safetensors file, or truncated");
        goto fail;
    }
    hdr = malloc((size_t)n + 1);
    if (!hdr) {
        rc = st_fail(ctx, st, TG_ENOMEM, "out of memory for its header");
        goto fail;
    }
    e = read_exact(r, 8, hdr, (size_t)n);
    if (e) {
        rc = st_fail(ctx, st, e < 0 ? TG_EIO : TG_EFORMAT, "cannot read its header%s",
                     e < 0 ? "" : ": the file is truncated");
        goto fail;
    }
    hdr[n] = '\0';
    st->data_size = r->size - 8 - n;
    rc = parse_header(ctx, st, hdr, (size_t)n);
    if (rc) goto fail;
    if (map_data) {
        st->data = map_data + 8 + n;
    } else {
        void *p = NULL;
        size_t bytes = (size_t)st->data_size;
        if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
            rc = st_fail(ctx, st, TG_ENOMEM, "out of memory for its tensor data");
            goto fail;
        }
        st->owned = p;
        e = read_exact(r, 8 + n, p, bytes);
        if (e) {
            rc = st_fail(ctx, st, e < 0 ? TG_EIO : TG_EFORMAT, "cannot read its data section%s",
                         e < 0 ? "" : ": the file is truncated");
            goto fail;
        }
        st->data = st->owned;
    }
    rc = bind_data(ctx, st);
    if (rc) goto fail;
    free(hdr);
    *out = st;
    return TG_OK;
fail:
    free(hdr);
    tg_st_close(st);
    return rc;
}

int tg_st_open_reader(tg_ctx *ctx, const tg_st_reader *r, tg_safetensors **out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_st_open_reader: out is NULL");
    *out = NULL;
    if (!r || !r->read) return tg_set_error(ctx, TG_EINVAL, "tg_st_open_reader: no reader");
    return open_common(ctx, r, r->name ? r->name : "<memory>", NULL, out);
}

int tg_st_open(tg_ctx *ctx, const char *path, tg_safetensors **out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_st_open: out is NULL");
    *out = NULL;
    if (!path) return tg_set_error(ctx, TG_EINVAL, "tg_st_open: path is NULL");
    /* O_NONBLOCK: a FIFO would otherwise block the open until a writer
     * comes; it is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return tg_set_error(ctx, errno == ENOENT ? TG_ENOTFOUND : TG_EIO,
                            "model '%s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return tg_set_error(ctx, TG_EIO, "model '%s': cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return tg_set_error(ctx, TG_EIO, "model '%s': not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int err = errno;
            close(fd);
            return tg_set_error(ctx, TG_EIO, "model '%s': cannot map %" PRIu64 " bytes: %s", path,
                                size, strerror(err));
        }
    }
    close(fd);
    static const unsigned char empty[1];
    tg_st_reader r;
    tg_st_reader_mem(&r, map ? map : empty, (size_t)size, path);
    tg_safetensors *st = NULL;
    int rc = open_common(ctx, &r, path, map ? map : empty, &st);
    if (rc) {
        if (map) munmap(map, (size_t)size);
        return rc;
    }
    st->map = map;
    st->map_len = (size_t)size;
    *out = st;
    return TG_OK;
}

const char *tg_st_path(const tg_safetensors *st) { return st->path; }
int tg_st_n_tensors(const tg_safetensors *st) { return st->n_tensors; }

const tg_st_tensor *tg_st_tensor_at(const tg_safetensors *st, int i)
{
    return i >= 0 && i < st->n_tensors ? &st->tensors[i] : NULL;
}

const tg_st_tensor *tg_st_find(const tg_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *tg_st_meta(const tg_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_kv[2 * i], key)) return st->meta_kv[2 * i + 1];
    return NULL;
}

int tg_st_n_meta(const tg_safetensors *st) { return st->n_meta; }

void tg_st_meta_at(const tg_safetensors *st, int i, const char **key, const char **value)
{
    *key = i >= 0 && i < st->n_meta ? st->meta_kv[2 * i] : NULL;
    *value = i >= 0 && i < st->n_meta ? st->meta_kv[2 * i + 1] : NULL;
}

const void *tg_st_data(const tg_safetensors *st, uint64_t *n)
{
    if (n) *n = st->data_size;
    return st->data;
}

uint64_t tg_st_file_size(const tg_safetensors *st) { return st->file_size; }
