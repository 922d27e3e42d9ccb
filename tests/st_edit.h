/*
 * st_edit.h - test helper: make variants of a safetensors file by editing
 * its JSON header (jansson) and keeping the data section, for the model-file
 * error tests (tests/test_safetensors.c), the self-scan model of
 * tests/test_engine.c and the out_dim 12 variant of tests/test_harden.c and
 * tests/fuzz/fuzz_sql.c. Header-only; static functions.
 */
#ifndef TG_ST_EDIT_H
#define TG_ST_EDIT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whole file into memory (NULL on failure). */
static unsigned char *st_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *n = (size_t)len;
    return buf;
}

static int st_spit(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(buf, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

typedef void (*st_edit_fn)(json_t *root, void *user);

/* Rewrite `in` to `out` with fn applied to the parsed header; the header is
 * padded with spaces so that the data section stays 64-byte aligned. */
static int st_rewrite(const char *in, const char *out, st_edit_fn fn, void *user)
{
    size_t n = 0;
    unsigned char *buf = st_slurp(in, &n);
    if (!buf || n < 8) {
        free(buf);
        return -1;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    json_error_t err;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hl, 0, &err);
    if (!root) {
        free(buf);
        return -1;
    }
    fn(root, user);
    char *h = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    size_t len = strlen(h), padded = ((8 + len + 63) / 64) * 64 - 8;
    size_t data = n - 8 - (size_t)hl;
    unsigned char *o = malloc(8 + padded + data);
    for (int i = 0; i < 8; i++) o[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(o + 8, h, len);
    memset(o + 8 + len, ' ', padded - len);
    memcpy(o + 8 + padded, buf + 8 + hl, data);
    int rc = st_spit(out, o, 8 + padded + data);
    free(h);
    free(o);
    free(buf);
    return rc;
}

/* Set __metadata__[key] = value (NULL: delete the key). */
static void st_meta_set(json_t *root, const char *key, const char *value)
{
    json_t *m = json_object_get(root, "__metadata__");
    if (value)
        json_object_set_new(m, key, json_string(value));
    else
        json_object_del(m, key);
}

/* Delete every tensor whose name starts with prefix. */
static void st_drop_prefix(json_t *root, const char *prefix)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(root, tmp, k, v) {
        if (!strncmp(k, prefix, strlen(prefix))) json_object_del(root, k);
    }
}

/* st_rewrite callback: the same weights declared with out_dim 12 (the
 * metadata key, and the first dimension of every ".head" tensor, whose data
 * keeps its start offset: the first 12 output rows of the original head). The
 * sha256 metadata stays the original's, so the variant is "the same data,
 * another configuration" for the model registry checks. inline: not every
 * includer uses it. */
static inline void st_out_dim_12(json_t *root, void *user)
{
    (void)user;
    st_meta_set(root, "out_dim", "12");
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!strstr(k, ".head")) continue;
        json_t *shape = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
        json_array_set_new(shape, 0, json_integer(12));
        json_int_t bytes = 4;
        for (size_t i = 0; i < json_array_size(shape); i++) bytes *= json_integer_value(json_array_get(shape, i));
        json_array_set_new(off, 1, json_integer(json_integer_value(json_array_get(off, 0)) + bytes));
    }
}

#endif /* TG_ST_EDIT_H */
