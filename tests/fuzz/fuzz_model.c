/*
 * fuzz_model.c - the model loader (tg_model_load: safetensors container +
 * TransGeo config and per-tensor validation, include/transgeo/model.h) and, for models
 * that load, the engine on a small image (tg_model_embed_ground/aerial).
 *
 * Input: the start of a model file, usually just its 8-byte length and JSON
 * header. The harness writes it to an anonymous in-memory file (memfd) and,
 * when the header parses, extends that file with zero bytes up to the
 * largest data_offsets end it names (at most 64 MiB), so that the fuzzer
 * works on the header (config and tensor table) without carrying megabytes
 * of weights; a truncated data section is still reachable (an end beyond the
 * limit, or a header length past the input). The file is loaded through its
 * /proc/self/fd path: the real mmap path of tg_st_open.
 *
 * Loaded models with at most 4 M parameters and small input grids run the
 * ground and aerial encoders on a 9x7 image derived from the input: the call
 * fails cleanly or gives a vector of unit length (0 for the all-zero output
 * of all-zero weights; anything for non-finite weights).
 *
 * Seeds: tests/fuzz/corpus/model (headers of the tiny golden model and of
 * variants: no zoom, self-scan, cls only, ground only, out_dim 12, arch vit).
 */
#define _GNU_SOURCE 1 /* memfd_create */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "transgeo/image.h"
#include "transgeo/model.h"
#include "transgeo/transgeo_model.h"

#define MAX_FILE (64u << 20)

static tg_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ctx = fuzz_ctx();
    fuzz_gdal_setup();
    return 0;
}

/* Largest data_offsets end in the header, 0 if none or unparsable. */
static uint64_t data_end(const uint8_t *hdr, size_t n)
{
    json_t *root = json_loadb((const char *)hdr, n, 0, NULL);
    uint64_t end = 0;
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            json_t *off = json_object_get(v, "data_offsets");
            json_t *e = json_array_get(off, 1);
            if (json_is_integer(e) && json_integer_value(e) > 0 &&
                (uint64_t)json_integer_value(e) > end)
                end = (uint64_t)json_integer_value(e);
        }
    }
    json_decref(root);
    return end;
}

static void run_encoders(const tg_model *m, const uint8_t *data, size_t size)
{
    const tg_model_config *c = tg_model_config_get(m);
    FUZZ_ASSERT(c && c->out_dim >= 1, "bad config");
    long long tok_g = (long long)(c->ground_hw[0] / c->patch) * (c->ground_hw[1] / c->patch);
    long long tok_a = (long long)(c->zoom_hw[0] / c->patch) * (c->zoom_hw[1] / c->patch);
    long long tok_s = (long long)(c->aerial_hw[0] / c->patch) * (c->aerial_hw[1] / c->patch);
    long long px = (long long)c->ground_hw[0] * c->ground_hw[1] + (long long)c->zoom_hw[0] * c->zoom_hw[1] +
                   (long long)c->aerial_hw[0] * c->aerial_hw[1];
    if (c->n_params > 4000000 || tok_g > 1024 || tok_a > 1024 || tok_s > 1024 || px > 4000000 ||
        c->out_dim > 65536)
        return; /* fine to load, too slow to run per input */
    unsigned char rgb[7 * 9 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = size ? data[i % size] : (unsigned char)i;
    tg_image *img = NULL;
    if (tg_image_from_rgb8(ctx, rgb, 9, 7, &img)) abort();
    float *emb = malloc((size_t)c->out_dim * sizeof *emb);
    if (!emb) abort();
    for (int aerial = 0; aerial < 2; aerial++) {
        tg_clear_error(ctx);
        int rc = aerial ? tg_model_embed_aerial(ctx, m, img, emb) : tg_model_embed_ground(ctx, m, img, emb);
        fuzz_check(ctx, rc, aerial ? "tg_model_embed_aerial" : "tg_model_embed_ground");
        if (rc == 0) {
            /* Non-finite weights (a corrupt data section) may give a
             * non-finite embedding; finite ones give unit length, or 0 for an
             * all-zero output (F.normalize semantics, eps 1e-12). */
            double ss = 0;
            int finite = 1;
            for (int i = 0; i < c->out_dim; i++) {
                finite &= isfinite(emb[i]) != 0;
                ss += (double)emb[i] * emb[i];
            }
            FUZZ_ASSERT(!finite || ss == 0 || fabs(ss - 1) < 1e-3,
                        "%s embedding has squared norm %g, expected 1 (or 0)",
                        aerial ? "aerial" : "ground", ss);
        }
    }
    free(emb);
    tg_image_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_model", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    if (size >= 8) {
        uint64_t n = fuzz_le64(data);
        if (n >= 2 && n <= size - 8) {
            uint64_t end = data_end(data + 8, (size_t)n);
            if (end && end <= MAX_FILE && 8 + n + end > size && 8 + n + end <= MAX_FILE)
                if (ftruncate(fd, (off_t)(8 + n + end)) != 0) abort();
        }
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tg_model *m = NULL;
    tg_clear_error(ctx);
    int rc = tg_model_load(ctx, path, &m);
    fuzz_check(ctx, rc, "tg_model_load");
    if (rc == 0) {
        const tg_model_config *c = tg_model_config_get(m);
        FUZZ_ASSERT(c->n_keep >= 1, "n_keep %d", c->n_keep);
        FUZZ_ASSERT(c->has_ground || c->has_aerial, "a model without networks loaded");
        char hex[65];
        tg_clear_error(ctx);
        rc = tg_model_verify(ctx, m, hex);
        fuzz_check(ctx, rc, "tg_model_verify");
        run_encoders(m, data, size);
        tg_model_free(m);
    } else {
        FUZZ_ASSERT(m == NULL, "failed load left *out set");
    }
    close(fd);
    return 0;
}
