/* test_safetensors.c - the safetensors reader (src/engine/safetensors.h) and the
 * model-file checks (include/transgeo/model.h) on the golden tiny model and on corrupt
 * variants made from it at test time: truncation at many cut points, header
 * edits, bit flips, wrong dtype/shape, missing/extra tensors, bad config.
 * Every error asserts its code and the words of its message. */
#include "config.h"
#include "transgeo/model.h"
#include "engine/safetensors.h"
#include "st_edit.h"
#include "tap.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char golden[1200];
static char tmpdir[1024];

static const char *tpath(const char *name)
{
    static char buf[4][1200];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/st_%s", tmpdir, name);
    return p;
}

/* rc == code and the message contains every needle ('|'-separated). */
static void expect(tg_ctx *ctx, int rc, int code, const char *needles, const char *what)
{
    const char *msg = tg_errmsg(ctx);
    int ok = rc == code;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", needles);
    for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save))
        ok &= strstr(msg, t) != NULL;
    TAP_OK(ok, "%s", what);
    if (!ok) printf("#   rc %d (want %d), message: %s\n#   want words: %s\n", rc, code, msg, needles);
}

static uint64_t header_len(const unsigned char *b)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    return n;
}

/* ---- the container ------------------------------------------------------ */

static void test_open(tg_ctx *ctx, const unsigned char *file, size_t size)
{
    tg_safetensors *st = NULL, *sm = NULL;
    int rc = tg_st_open(ctx, golden, &st);
    TAP_EQ(rc, 0, "open the golden model (mmap)");
    if (rc) return;
    uint64_t hl = header_len(file);
    json_t *root = json_loadb((const char *)file + 8, (size_t)hl, 0, NULL);
    TAP_EQ(tg_st_n_tensors(st), (long long)json_object_size(root) - 1, "every header entry is a tensor");
    TAP_OK(tg_st_meta(st, "arch") && !strcmp(tg_st_meta(st, "arch"), "transgeo"), "metadata read");
    TAP_OK(tg_st_meta(st, "no-such-key") == NULL, "absent metadata key is NULL");
    const tg_st_tensor *t = tg_st_find(st, "ground.blocks.1.attn.qkv.weight");
    TAP_OK(t && t->ndim == 2 && t->shape[0] == 96 && t->shape[1] == 32 && t->n_elems == 96 * 32,
           "tensor shape from the header");
    TAP_OK(t && ((uintptr_t)t->data % 64) == 0, "mmapped tensors are 64-byte aligned");
    uint64_t dn = 0;
    tg_st_data(st, &dn);
    TAP_EQ(dn, size - 8 - hl, "data section size");
    TAP_EQ(tg_st_file_size(st), size, "file size");

    tg_st_reader r;
    tg_st_reader_mem(&r, file, size, "mem.safetensors");
    rc = tg_st_open_reader(ctx, &r, &sm);
    TAP_EQ(rc, 0, "open the same bytes through a memory reader");
    const tg_st_tensor *u = sm ? tg_st_find(sm, "ground.blocks.1.attn.qkv.weight") : NULL;
    TAP_OK(u && t && !memcmp(u->data, t->data, 96 * 32 * 4), "same tensor data through both paths");
    TAP_OK(sm && !strcmp(tg_st_path(sm), "mem.safetensors"), "reader name kept for messages");

    /* a file whose tensors sit at odd addresses is realigned (copied) */
    unsigned char *odd = malloc(size + 1);
    memcpy(odd + 1, file, size);
    tg_st_reader_mem(&r, odd + 1, size, "odd");
    tg_safetensors *so = NULL;
    rc = tg_st_open_reader(ctx, &r, &so);
    TAP_EQ(rc, 0, "memory reader at an odd address");
    tg_st_close(so);
    free(odd);
    json_decref(root);
    tg_st_close(st);
    tg_st_close(sm);
    tg_st_close(NULL);
}

static void test_truncated(tg_ctx *ctx, const unsigned char *file, size_t size)
{
    uint64_t hl = header_len(file);
    size_t cuts[] = {0, 1, 7, 8, 9, 16, 8 + (size_t)hl / 2, 8 + (size_t)hl - 1, 8 + (size_t)hl,
                     8 + (size_t)hl + 1, 8 + (size_t)hl + 100, size / 2, size - 64, size - 1};
    int all = 1, named = 1;
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tg_st_reader r;
        tg_st_reader_mem(&r, file, cuts[i], "cut.safetensors");
        tg_safetensors *st = NULL;
        int rc = tg_st_open_reader(ctx, &r, &st);
        int ok = rc == TG_EFORMAT && st == NULL && strstr(tg_errmsg(ctx), "'cut.safetensors'");
        if (!ok) printf("#   cut at %zu: rc %d: %s\n", cuts[i], rc, tg_errmsg(ctx));
        all &= ok;
        /* cuts inside the data section: a tensor no longer fits (not named:
         * messages show nothing read from the file), with the file's size */
        char sz[40];
        snprintf(sz, sizeof sz, "(%zu bytes)", cuts[i]);
        if (cuts[i] > 8 + hl)
            named &= strstr(tg_errmsg(ctx), "a tensor's data_offsets end beyond the data section") &&
                     strstr(tg_errmsg(ctx), "truncated") && strstr(tg_errmsg(ctx), sz);
        tg_st_close(st);
    }
    TAP_OK(all, "truncated at %zu cut points: TG_EFORMAT naming the file", sizeof cuts / sizeof cuts[0]);
    TAP_OK(named, "truncated data section: the message gives the file size and says truncated");

    /* truncated files on disk, through mmap */
    int disk = 1;
    size_t dcuts[] = {5, 8 + (size_t)hl - 3, size - 1};
    for (size_t i = 0; i < 3; i++) {
        st_spit(tpath("cut.safetensors"), file, dcuts[i]);
        tg_safetensors *st = NULL;
        int rc = tg_st_open(ctx, tpath("cut.safetensors"), &st);
        disk &= rc == TG_EFORMAT && strstr(tg_errmsg(ctx), "st_cut.safetensors");
        tg_st_close(st);
    }
    TAP_OK(disk, "truncated files on disk: TG_EFORMAT");
}

/* A reader that fails, and one that ends early despite its declared size. */
static long long fail_read(void *user, uint64_t off, void *buf, size_t n)
{
    (void)user;
    (void)off;
    (void)buf;
    (void)n;
    return -1;
}

static long long short_read(void *user, uint64_t off, void *buf, size_t n)
{
    const unsigned char *f = user;
    size_t avail = 8 + (size_t)header_len(f) + 100; /* the stream ends here */
    if (off >= avail) return 0;
    size_t k = n < avail - off ? n : (size_t)(avail - off);
    memcpy(buf, f + off, k);
    return (long long)k;
}

static void test_readers(tg_ctx *ctx, const unsigned char *file, size_t size)
{
    tg_st_reader r = {fail_read, size, NULL, "broken"};
    tg_safetensors *st = NULL;
    expect(ctx, tg_st_open_reader(ctx, &r, &st), TG_EIO, "'broken'|cannot read", "reader I/O error -> TG_EIO");
    tg_st_reader s = {short_read, size, (void *)file, "stream"};
    expect(ctx, tg_st_open_reader(ctx, &s, &st), TG_EFORMAT, "'stream'|data section|truncated",
           "stream ending before its declared size -> truncated");
    TAP_OK(st == NULL, "no object on failure");
}

/* Header edits on a copy of the bytes: (what, edit, code, words). */
struct raw_case {
    const char *what;
    void (*edit)(unsigned char *b, size_t n);
    const char *words;
};

static void set_len(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void e_huge(unsigned char *b, size_t n) { (void)n; set_len(b, UINT64_MAX); }
static void e_past(unsigned char *b, size_t n) { set_len(b, n); }
static void e_tiny(unsigned char *b, size_t n) { (void)n; set_len(b, 1); }
static void e_brace(unsigned char *b, size_t n) { (void)n; b[8] = '['; }
static char *find(unsigned char *b, size_t n, const char *s)
{
    size_t hl = (size_t)header_len(b), k = strlen(s);
    (void)n;
    for (size_t i = 8; i + k <= 8 + hl; i++)
        if (!memcmp(b + i, s, k)) return (char *)b + i;
    return NULL;
}
static void e_quote(unsigned char *b, size_t n) { *find(b, n, "\"dtype\"") = '\''; }
static void e_dup(unsigned char *b, size_t n) { memcpy(find(b, n, "\"aerial.norm.bias\""), "\"ground", 7); }
static void e_f16(unsigned char *b, size_t n) { memcpy(find(b, n, "\"F32\""), "\"F16\"", 5); }
static void e_bool(unsigned char *b, size_t n) { memcpy(find(b, n, "\"F32\""), "true ", 5); }

static void test_raw_edits(tg_ctx *ctx, const unsigned char *file, size_t size)
{
    static const struct raw_case cases[] = {
        {"header length 2^64-1", e_huge, "'raw.safetensors' (538816 bytes)|first 8 bytes are not a safetensors header length|not a safetensors file"},
        {"header length past the end", e_past, "first 8 bytes are not a safetensors header length|within the file|truncated"},
        {"header length 1", e_tiny, "first 8 bytes are not a safetensors header length|2 bytes to 100 MB"},
        {"header not an object", e_brace, "does not start with '{'"},
        {"invalid JSON (a quote flipped)", e_quote, "not valid JSON|corrupt"},
        {"duplicate tensor name", e_dup, "not valid JSON, or names a tensor twice"},
        {"dtype F16", e_f16, "a tensor's dtype is not F32|convert_checkpoint.py"},
        {"dtype not a string", e_bool, "dtype is not a string"},
    };
    unsigned char *b = malloc(size);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, file, size);
        cases[i].edit(b, size);
        tg_st_reader r;
        tg_st_reader_mem(&r, b, size, "raw.safetensors");
        tg_safetensors *st = NULL;
        expect(ctx, tg_st_open_reader(ctx, &r, &st), TG_EFORMAT, cases[i].words, cases[i].what);
        tg_st_close(st);
    }
    /* Bit flips over the whole header: never a crash, always 0 or TG_EFORMAT. */
    uint64_t hl = header_len(file);
    int fine = 1, n_err = 0, n = 0;
    for (size_t i = 0; i < 8 + hl; i += 3, n++) {
        memcpy(b, file, size);
        b[i] ^= (unsigned char)(1u << (i % 8));
        tg_st_reader r;
        tg_st_reader_mem(&r, b, size, "flip");
        tg_safetensors *st = NULL;
        int rc = tg_st_open_reader(ctx, &r, &st);
        fine &= rc == 0 || rc == TG_EFORMAT;
        n_err += rc != 0;
        tg_st_close(st);
    }
    TAP_OK(fine, "%d single-bit flips in the header: each opens or fails with TG_EFORMAT (%d failed)",
           n, n_err);
    free(b);
}

/* JSON edits of the header through st_rewrite. */
struct json_case {
    const char *what;
    const char *tensor;  /* tensor to edit (NULL: metadata edit) */
    const char *field;   /* "shape", "data_offsets", "dtype", "extra", "delete", "meta" */
    const char *value;   /* JSON text (or the metadata value; NULL deletes it) */
    int code;
    const char *words;
};

struct edit_arg {
    const struct json_case *c;
};

static void apply_json(json_t *root, void *user)
{
    const struct json_case *c = ((struct edit_arg *)user)->c;
    if (!strcmp(c->field, "meta")) {
        st_meta_set(root, c->tensor, c->value);
        return;
    }
    if (!strcmp(c->field, "meta_json")) {
        json_object_set_new(json_object_get(root, "__metadata__"), c->tensor,
                            json_loads(c->value, JSON_DECODE_ANY, NULL));
        return;
    }
    if (!strcmp(c->field, "delete")) {
        json_object_del(root, c->tensor);
        return;
    }
    if (!strcmp(c->field, "drop")) {
        st_drop_prefix(root, c->tensor);
        return;
    }
    if (!strcmp(c->field, "add")) {
        json_object_set_new(root, c->tensor, json_loads(c->value, 0, NULL));
        return;
    }
    json_t *t = json_object_get(root, c->tensor);
    if (!strcmp(c->field, "copy_offsets")) {
        json_object_set(t, "data_offsets", json_object_get(json_object_get(root, c->value), "data_offsets"));
        return;
    }
    json_object_set_new(t, c->field, json_loads(c->value, JSON_DECODE_ANY, NULL));
}

static const struct json_case st_cases[] = {
    /* container checks (tg_st_open) */
    {"shape disagrees with data_offsets", "ground.norm.weight", "shape", "[31]", TG_EFORMAT,
     "a tensor's data_offsets do not hold 4 bytes (F32) per element of its shape"},
    {"data_offsets reversed", "ground.norm.weight", "data_offsets", "[128, 0]", TG_EFORMAT,
     "a tensor's data_offsets are out of order"},
    {"data_offsets past the data section", "ground.norm.weight", "data_offsets", "[100000000, 100000128]",
     TG_EFORMAT, "a tensor's data_offsets end beyond the data section"},
    {"overlapping tensors", "ground.norm.bias", "copy_offsets", "ground.norm.weight", TG_EFORMAT,
     "the bytes of two tensors overlap|corrupt"},
    {"negative dimension", "ground.norm.weight", "shape", "[-32]", TG_EFORMAT,
     "a tensor's shape holds something other than non-negative integers"},
    {"too many dimensions", "ground.norm.weight", "shape", "[1,1,1,1,1,1,1,1,32]", TG_EFORMAT,
     "a tensor's shape is not an array of at most 8"},
    {"unknown tensor field", "ground.norm.weight", "note", "\"hi\"", TG_EFORMAT,
     "a tensor's header entry has a field other than dtype, shape and data_offsets"},
    {"metadata value not a string", "depth", "meta_json", "2", TG_EFORMAT,
     "a __metadata__ value is not a string"},
    /* model checks (tg_model_load) */
    {"wrong shape", "ground.blocks.1.attn.qkv.weight", "shape", "[32,96]", TG_EMODEL,
     "tensor 'ground.blocks.1.attn.qkv.weight' does not have shape [96,32]"},
    {"wrong rank", "aerial.cls_token", "shape", "[32]", TG_EMODEL,
     "tensor 'aerial.cls_token' does not have shape [1,1,32]"},
    {"missing tensor", "aerial.head_dist.bias", "delete", NULL, TG_EMODEL,
     "tensor 'aerial.head_dist.bias' [24] is missing"},
    {"extra tensor in a network", "ground.blocks.0.attn.extra", "add",
     "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", TG_EMODEL,
     "a 'ground.*' tensor that a 'ground' network of its metadata's depth and tokens does not have"},
    {"extra block (depth 3 tensors in a depth-2 file)", "aerial.blocks.2.norm1.weight", "add",
     "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", TG_EMODEL,
     "a 'aerial.*' tensor that a 'aerial' network"},
    {"tensor outside the networks", "decoder.weight", "add",
     "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}", TG_EMODEL,
     "a tensor whose name is not 'ground.*', 'aerial.*' or 'aerial_scan.*'"},
    {"other arch", "arch", "meta", "vit", TG_EMODEL, "metadata arch is not 'transgeo'"},
    {"other format", "format", "meta", "gguf", TG_EMODEL, "metadata format is not 'transgeo-safetensors-1'"},
    {"no metadata at all", "__metadata__", "delete", NULL, TG_EMODEL,
     "metadata key 'format' is missing|convert_checkpoint.py"},
    {"missing config key", "heads", "meta", NULL, TG_EMODEL, "metadata key 'heads' is missing"},
    {"embed_dim not divisible by heads", "heads", "meta", "5", TG_EMODEL,
     "metadata embed_dim is not divisible by heads"},
    {"depth not a number", "depth", "meta", "two", TG_EMODEL, "metadata depth is not an integer"},
    {"depth out of range", "depth", "meta", "0", TG_EMODEL, "metadata depth is not an integer in [1, 256]"},
    {"depth larger than the file", "depth", "meta", "3", TG_EMODEL,
     "is missing (the file's 'ground.*' tensors are not those"},
    {"ln_eps zero", "ln_eps", "meta", "0", TG_EMODEL, "metadata ln_eps is not a number in (0"},
    {"hw not H,W", "ground_hw", "meta", "32", TG_EMODEL, "metadata ground_hw is not 'H,W'"},
    {"hw below the patch", "ground_hw", "meta", "8,104", TG_EMODEL, "metadata ground_hw is smaller than the patch size"},
    {"hw grid disagrees with pos_embed", "ground_hw", "meta", "48,104", TG_EMODEL,
     "tensor 'ground.pos_embed' does not have shape [1,20,32]"},
    {"tokens unknown", "tokens", "meta", "cls+reg", TG_EMODEL, "metadata tokens is not 'cls+dist' or 'cls'"},
    {"tokens cls with distillation tensors", "tokens", "meta", "cls", TG_EMODEL,
     "tensor 'ground.pos_embed' does not have shape [1,13,32]"},
    {"zoom 0 with aerial_scan", "zoom", "meta", "0", TG_EMODEL,
     "zoom is '0' but metadata aerial_hw differs from zoom_hw"},
    {"zoom not 0/1", "zoom", "meta", "2", TG_EMODEL, "metadata zoom is not an integer in [0, 1]"},
    {"zoom_fallback with zoom 1", "zoom_fallback", "meta", "self", TG_EMODEL,
     "metadata zoom_fallback applies only when zoom is '0'"},
    {"zoom_fallback unknown", "zoom_fallback", "meta", "maybe", TG_EMODEL,
     "metadata zoom_fallback is not 'self' or 'none'"},
    {"crop_ratio 0", "crop_ratio", "meta", "0", TG_EMODEL, "metadata crop_ratio is not a number in (0, 1]"},
    {"crop_ratio keeps nothing", "crop_ratio", "meta", "0.01", TG_EMODEL,
     "metadata crop_ratio keeps no patch of the zoom grid"},
    {"zoom 1 without aerial_scan", "aerial_scan.", "drop", NULL, TG_EMODEL,
     "zoom is '1' but the file has 'aerial' without 'aerial_scan'"},
    {"std not positive", "normalize_std", "meta", "0,1,1", TG_EMODEL,
     "metadata normalize_std is not three positive numbers"},
    {"mean with two values", "normalize_mean", "meta", "0.4,0.5", TG_EMODEL,
     "metadata normalize_mean is not three numbers"},
    {"sha256 not hex", "sha256", "meta", "xyz", TG_EMODEL, "metadata sha256 is not 64 hex digits"},
    {"gsd not positive", "aerial_gsd_m", "meta", "-1", TG_EMODEL, "metadata aerial_gsd_m is not a number in (0, 1e+06]"},
};

static void test_json_edits(tg_ctx *ctx)
{
    for (size_t i = 0; i < sizeof st_cases / sizeof st_cases[0]; i++) {
        const struct json_case *c = &st_cases[i];
        struct edit_arg ea = {c};
        const char *out = tpath("edit.safetensors");
        if (st_rewrite(golden, out, apply_json, &ea)) {
            TAP_OK(0, "%s: cannot write the variant", c->what);
            continue;
        }
        tg_model *m = NULL;
        int rc = tg_model_load(ctx, out, &m);
        char words[400];
        snprintf(words, sizeof words, "%s|st_edit.safetensors", c->words);
        expect(ctx, rc, c->code, words, c->what);
        TAP_OK(m == NULL, "%s: no model returned", c->what);
        tg_model_free(m);
    }
}

/* The variants that must load: the self-scan and no-zoom files. */
static void e_selfscan(json_t *root, void *user)
{
    (void)user;
    st_drop_prefix(root, "aerial_scan.");
    st_meta_set(root, "zoom", "0");
    st_meta_set(root, "zoom_fallback", "self");
    st_meta_set(root, "aerial_hw", "80,80");
}

static void e_only_ground(json_t *root, void *user)
{
    (void)user;
    st_drop_prefix(root, "aerial");
}

static void e_nothing(json_t *root, void *user)
{
    (void)user;
    st_drop_prefix(root, "aerial");
    st_drop_prefix(root, "ground");
}

static void test_model_files(tg_ctx *ctx, const unsigned char *file, size_t size)
{
    tg_model *m = NULL;
    int rc = tg_model_load(ctx, golden, &m);
    TAP_EQ(rc, 0, "golden model loads");
    if (!rc) {
        const tg_model_config *c = tg_model_config_get(m);
        TAP_OK(c->embed_dim == 32 && c->depth == 2 && c->heads == 4 && c->mlp_dim == 64 &&
                   c->patch == 16 && c->n_prefix == 2 && c->out_dim == 24,
               "config: architecture");
        TAP_OK(c->ground_hw[0] == 32 && c->ground_hw[1] == 104 && c->aerial_hw[0] == 64 &&
                   c->zoom_hw[0] == 80 && c->zoom && c->has_zoom && c->n_keep == 16,
               "config: sizes and zoom (K = int(0.64 * 25) = 16)");
        TAP_OK(c->has_ground && c->has_aerial && c->has_aerial_scan, "config: three networks");
        TAP_OK(fabs(c->crop_ratio - 0.64) < 1e-12 && fabs(c->ln_eps - 1e-6) < 1e-18 &&
                   fabsf(c->mean[0] - 0.485f) < 1e-7f && fabsf(c->std[2] - 0.225f) < 1e-7f,
               "config: numbers");
        TAP_OK(!strcmp(c->preset, "tiny") && strlen(c->sha256) == 64 && *c->source, "config: strings");
        TAP_EQ(c->n_params, 132112, "parameter count");
        char hex[65];
        TAP_EQ(tg_model_verify(ctx, m, hex), 0, "sha256 of the data section matches");
        TAP_OK(!strcmp(hex, c->sha256), "computed digest returned");
        TAP_OK(tg_model_sniff(file, size) == 1, "sniff: a model file");
        TAP_OK(!strcmp(tg_model_path(m), golden), "path kept");
    }
    tg_model_free(m);
    tg_model_free(NULL);

    /* a corrupt data byte: loads (the structure is fine), fails verification */
    unsigned char *b = malloc(size);
    memcpy(b, file, size);
    b[size - 5] ^= 0x10;
    st_spit(tpath("flip.safetensors"), b, size);
    free(b);
    m = NULL;
    rc = tg_model_load(ctx, tpath("flip.safetensors"), &m);
    TAP_EQ(rc, 0, "model with a flipped data bit loads");
    if (!rc) expect(ctx, tg_model_verify(ctx, m, NULL), TG_EMODEL, "sha256 of the tensor data differs from the one in its metadata|the file is corrupt",
                    "verify catches the flipped bit");
    tg_model_free(m);

    struct {
        const char *what;
        st_edit_fn fn;
        int code;
        const char *words;
    } loads[] = {
        {"self-scan file (no aerial_scan, zoom_fallback self)", e_selfscan, 0, ""},
        {"ground-only file", e_only_ground, 0, ""},
        {"file without networks", e_nothing, TG_EMODEL, "no 'ground' or 'aerial' network"},
    };
    for (size_t i = 0; i < sizeof loads / sizeof loads[0]; i++) {
        st_rewrite(golden, tpath("v.safetensors"), loads[i].fn, NULL);
        m = NULL;
        rc = tg_model_load(ctx, tpath("v.safetensors"), &m);
        if (loads[i].code)
            expect(ctx, rc, loads[i].code, loads[i].words, loads[i].what);
        else
            TAP_EQ(rc, 0, "%s loads", loads[i].what);
        if (!rc && i == 0) {
            const tg_model_config *c = tg_model_config_get(m);
            TAP_OK(!c->zoom && c->has_zoom && c->zoom_fallback == TG_ZOOM_FALLBACK_SELF &&
                       !c->has_aerial_scan && c->n_keep == 16,
                   "self-scan config: zooms without aerial_scan");
        }
        if (!rc && i == 1)
            TAP_OK(tg_model_config_get(m)->has_ground && !tg_model_config_get(m)->has_aerial,
                   "ground-only config");
        tg_model_free(m);
    }

    /* files that are not models */
    expect(ctx, tg_model_load(ctx, tpath("does-not-exist"), &m), TG_ENOTFOUND, "cannot open|does-not-exist",
           "missing file -> TG_ENOTFOUND");
    expect(ctx, tg_model_load(ctx, tmpdir, &m), TG_EIO, "not a regular file", "a directory -> TG_EIO");
    st_spit(tpath("empty"), "", 0);
    expect(ctx, tg_model_load(ctx, tpath("empty"), &m), TG_EFORMAT, "(0 bytes): too short for a safetensors file",
           "empty file -> TG_EFORMAT");
    st_spit(tpath("text"), "hello, world, this is not a model", 33);
    expect(ctx, tg_model_load(ctx, tpath("text"), &m), TG_EFORMAT, "header length",
           "text file -> TG_EFORMAT");
    TAP_OK(tg_model_sniff("hello, world", 12) == 0, "sniff: not a model");
    expect(ctx, tg_model_load(ctx, NULL, &m), TG_EINVAL, "path is NULL", "NULL path -> TG_EINVAL");
    expect(ctx, tg_model_load(ctx, golden, NULL), TG_EINVAL, "out is NULL", "NULL out -> TG_EINVAL");
}

int main(void)
{
    snprintf(golden, sizeof golden, "%s/tests/golden/tiny/model.safetensors", tap_srcdir());
    snprintf(tmpdir, sizeof tmpdir, "%s", tap_env("TG_TMPDIR", "/tmp"));
    mkdir(tmpdir, 0777);
    size_t size = 0;
    unsigned char *file = st_slurp(golden, &size);
    TAP_OK(file != NULL, "read %s", golden);
    if (!file) return tap_done();
    tg_ctx *ctx = NULL;
    tg_ctx_create(&ctx);
    test_open(ctx, file, size);
    test_truncated(ctx, file, size);
    test_readers(ctx, file, size);
    test_raw_edits(ctx, file, size);
    test_json_edits(ctx);
    test_model_files(ctx, file, size);
    tg_ctx_free(ctx);
    free(file);
    return tap_done();
}
