/*
 * fuzz_safetensors.c - the safetensors container reader (src/engine/safetensors.h)
 * on arbitrary bytes, through its reader interface:
 *   1. a memory reader over the input (tg_st_reader_mem);
 *   2. a reader that returns at most 7 bytes per call and claims 5 bytes
 *      more than it has (the short-read loop and the truncation paths).
 * On success every tensor, metadata entry and the data section are read
 * back, and the checks the header promises are verified: byte ranges inside
 * the data section, 4 * n_elems == end - begin, 4-byte aligned data,
 * tg_st_find() finding each name.
 *
 * Seeds: tests/fuzz/corpus/safetensors (the tiny model's header, small
 * hand-made files); dictionary tests/fuzz/safetensors.dict.
 */
#include "config.h"

#include "fuzz_common.h"
#include "engine/safetensors.h"

static tg_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_ctx();
    return 0;
}

typedef struct {
    const uint8_t *data;
    size_t size;
} chunky;

static long long chunky_read(void *user, uint64_t off, void *buf, size_t n)
{
    const chunky *c = user;
    if (off >= c->size) return 0;
    size_t k = c->size - off < n ? (size_t)(c->size - off) : n;
    if (k > 7) k = 7;
    memcpy(buf, c->data + off, k);
    return (long long)k;
}

static void check_open(const tg_st_reader *r)
{
    tg_safetensors *st = NULL;
    tg_clear_error(ctx);
    int rc = tg_st_open_reader(ctx, r, &st);
    fuzz_check(ctx, rc, "tg_st_open_reader");
    if (rc) {
        FUZZ_ASSERT(st == NULL, "failed open left *out set");
        return;
    }
    uint64_t dsize = 0;
    const unsigned char *d = tg_st_data(st, &dsize);
    FUZZ_ASSERT(dsize <= r->size, "data section larger than the input");
    volatile float acc = 0;
    volatile unsigned char bacc = 0;
    for (uint64_t i = 0; i < dsize; i += 61) bacc ^= d[i];
    for (int i = 0; i < tg_st_n_tensors(st); i++) {
        const tg_st_tensor *t = tg_st_tensor_at(st, i);
        FUZZ_ASSERT(t && t->name, "tensor %d missing", i);
        FUZZ_ASSERT(t->ndim >= 0 && t->ndim <= TG_ST_MAX_DIMS, "ndim %d", t->ndim);
        FUZZ_ASSERT(t->begin <= t->end && t->end <= dsize, "range outside the data section");
        FUZZ_ASSERT(t->end - t->begin == 4 * t->n_elems, "size does not match the shape");
        FUZZ_ASSERT(((uintptr_t)t->data & 3) == 0, "tensor data not 4-byte aligned");
        FUZZ_ASSERT(tg_st_find(st, t->name) == t, "tg_st_find does not find '%s'", t->name);
        if (t->n_elems) acc += t->data[0] + t->data[t->n_elems - 1];
    }
    for (int i = 0; i < tg_st_n_meta(st); i++) {
        const char *k = NULL, *v = NULL;
        tg_st_meta_at(st, i, &k, &v);
        FUZZ_ASSERT(k && v, "metadata %d missing", i);
        FUZZ_ASSERT(tg_st_meta(st, k) != NULL, "tg_st_meta does not find '%s'", k);
        bacc ^= (unsigned char)strlen(v);
    }
    (void)acc;
    (void)bacc;
    tg_st_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_st_reader r;
    tg_st_reader_mem(&r, data, size, "fuzz.safetensors");
    check_open(&r);

    chunky c = {data, size};
    tg_st_reader r2 = {chunky_read, (uint64_t)size + 5, &c, NULL};
    check_open(&r2);
    return 0;
}
