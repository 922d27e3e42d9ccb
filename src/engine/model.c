/* model.c - load and validate TransGeo model files (see model.h). */
#include "config.h"
#include "transgeo/model.h"
#include "safetensors.h"
#include "transgeo/transgeo_model.h"
#include "vit.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* GDAL's SHA-256 (port/cpl_sha256.h, exported by libgdal but not installed
 * by Debian's libgdal-dev): one-shot digest of a buffer. */
void CPL_SHA256(const void *data, size_t len, unsigned char hash[32]);

#define FORMAT_ID "transgeo-safetensors-1"

static const char *const net_names[TG_N_BRANCHES] = {"ground", "aerial", "aerial_scan"};

struct tg_model {
    char *path;
    tg_safetensors *st;
    tg_model_config cfg;
    tg_vit nets[TG_N_BRANCHES];
    int present[TG_N_BRANCHES];
    tg_vit_block *blocks; /* TG_N_BRANCHES * depth */
};

const char *tg_model_branch_name(int branch)
{
    return branch >= 0 && branch < TG_N_BRANCHES ? net_names[branch] : "?";
}

const tg_vit *tg_model_vit(const tg_model *m, int branch)
{
    if (!m || branch < 0 || branch >= TG_N_BRANCHES || !m->present[branch]) return NULL;
    return &m->nets[branch];
}

/* ---- metadata ------------------------------------------------------------ */

/* Messages name the file, the metadata key or tensor and what was expected,
 * never a value read from the file: a model path may come from a database
 * someone else wrote (transgeo-sql(7), UNTRUSTED SQL AND DATABASES). Names
 * and shapes of the tensors a network needs are ours, so they are shown. */

struct meta_ctx {
    tg_ctx *ctx;
    const tg_safetensors *st;
    const char *fn;
};

static const char *need(struct meta_ctx *mc, const char *key, int *rc)
{
    const char *v = tg_st_meta(mc->st, key);
    if (!v && !*rc)
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata key '%s' is missing (not a transgeo model file? "
                           "convert checkpoints with tools/convert_checkpoint.py)", mc->fn, key);
    return v;
}

static int parse_long(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || isspace((unsigned char)*s)) return -1;
    *out = v;
    return 0;
}

static int parse_dbl(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || isspace((unsigned char)*s)) return -1;
    *out = v;
    return 0;
}

static void get_int(struct meta_ctx *mc, const char *key, long lo, long hi, int *out, int *rc)
{
    const char *v = need(mc, key, rc);
    if (!v || *rc) return;
    long x;
    if (parse_long(v, &x) || x < lo || x > hi) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata %s is not an integer in [%ld, %ld]", mc->fn, key,
                           lo, hi);
        return;
    }
    *out = (int)x;
}

/* (lo, hi]: lo_open; [lo, hi] otherwise */
static void get_dbl(struct meta_ctx *mc, const char *key, double lo, int lo_open, double hi,
                    double *out, int *rc)
{
    const char *v = need(mc, key, rc);
    if (!v || *rc) return;
    double x;
    if (parse_dbl(v, &x) || (lo_open ? x <= lo : x < lo) || x > hi) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL, "model '%s': metadata %s is not a number in %s%g, %g]",
                           mc->fn, key, lo_open ? "(" : "[", lo, hi);
        return;
    }
    *out = x;
}

/* "a,b[,c]" -> n numbers */
static int split_nums(const char *s, int n, double *out)
{
    char buf[256];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    int k = 0;
    for (; tok && k < n; tok = strtok_r(NULL, ",", &save), k++) {
        while (*tok == ' ') tok++;
        if (parse_dbl(tok, &out[k])) return -1;
    }
    return k == n && !tok ? 0 : -1;
}

static void get_hw(struct meta_ctx *mc, const char *key, int patch, int *hw, int *rc)
{
    const char *v = need(mc, key, rc);
    if (!v || *rc) return;
    double d[2];
    if (split_nums(v, 2, d) || d[0] != floor(d[0]) || d[1] != floor(d[1]) || d[0] < 1 ||
        d[1] < 1 || d[0] > 16384 || d[1] > 16384) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata %s is not 'H,W' in pixels (1..16384 each)", mc->fn,
                           key);
        return;
    }
    hw[0] = (int)d[0];
    hw[1] = (int)d[1];
    /* Sizes need not be multiples of the patch: the stride-P conv drops the
     * remainder (CVUSA's ground input is 112 x 616 -> a 7 x 38 grid). */
    if (hw[0] < patch || hw[1] < patch) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata %s is smaller than the patch size", mc->fn, key);
        return;
    }
    if ((long)(hw[0] / patch) * (hw[1] / patch) > 65536) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata %s gives more than 65536 patches", mc->fn, key);
    }
}

static void get_vec3(struct meta_ctx *mc, const char *key, int positive, float *out, int *rc)
{
    const char *v = need(mc, key, rc);
    if (!v || *rc) return;
    double d[3];
    if (split_nums(v, 3, d) || (positive && (d[0] <= 0 || d[1] <= 0 || d[2] <= 0))) {
        *rc = tg_set_error(mc->ctx, TG_EMODEL,
                           "model '%s': metadata %s is not three %snumbers 'R,G,B'", mc->fn, key,
                           positive ? "positive " : "");
        return;
    }
    for (int i = 0; i < 3; i++) out[i] = (float)d[i];
}

static int parse_config(tg_ctx *ctx, const tg_safetensors *st, const char *fn, tg_model_config *c)
{
    struct meta_ctx mc = {ctx, st, fn};
    int rc = 0;
    const char *format = need(&mc, "format", &rc);
    if (rc) return rc;
    if (strcmp(format, FORMAT_ID))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata format is not '" FORMAT_ID
                            "' (a model for another program, or an older format): convert it with "
                            "tools/convert_checkpoint.py", fn);
    const char *arch = need(&mc, "arch", &rc);
    if (rc) return rc;
    if (strcmp(arch, "transgeo"))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata arch is not 'transgeo': not a TransGeo model", fn);
    c->format = format;
    c->arch = arch;
    get_int(&mc, "embed_dim", 1, 16384, &c->embed_dim, &rc);
    get_int(&mc, "depth", 1, 256, &c->depth, &rc);
    get_int(&mc, "heads", 1, 16384, &c->heads, &rc);
    get_int(&mc, "mlp_dim", 1, 262144, &c->mlp_dim, &rc);
    get_int(&mc, "patch", 1, 1024, &c->patch, &rc);
    get_dbl(&mc, "ln_eps", 0.0, 1, 1.0, &c->ln_eps, &rc);
    get_int(&mc, "out_dim", 1, 1 << 20, &c->out_dim, &rc);
    if (rc) return rc;
    if (c->embed_dim % c->heads)
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata embed_dim is not divisible by heads", fn);
    c->tokens = need(&mc, "tokens", &rc);
    if (rc) return rc;
    if (!strcmp(c->tokens, "cls+dist"))
        c->n_prefix = 2;
    else if (!strcmp(c->tokens, "cls"))
        c->n_prefix = 1;
    else
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata tokens is not 'cls+dist' or 'cls'", fn);
    get_hw(&mc, "ground_hw", c->patch, c->ground_hw, &rc);
    get_hw(&mc, "aerial_hw", c->patch, c->aerial_hw, &rc);
    get_hw(&mc, "zoom_hw", c->patch, c->zoom_hw, &rc);
    get_dbl(&mc, "crop_ratio", 0.0, 1, 1.0, &c->crop_ratio, &rc);
    get_int(&mc, "zoom", 0, 1, &c->zoom, &rc);
    get_dbl(&mc, "aerial_gsd_m", 0.0, 1, 1e6, &c->aerial_gsd_m, &rc);
    get_dbl(&mc, "aerial_tile_m", 0.0, 1, 1e8, &c->aerial_tile_m, &rc);
    get_dbl(&mc, "ground_fov_deg", 0.0, 1, 360.0, &c->ground_fov_deg, &rc);
    get_vec3(&mc, "normalize_mean", 0, c->mean, &rc);
    get_vec3(&mc, "normalize_std", 1, c->std, &rc);
    if (rc) return rc;
    /* Optional (docs/ground-canvas.md): older files are full panoramas. */
    const char *el = tg_st_meta(st, "ground_elev_deg");
    c->ground_elev_deg[0] = 90.0;
    c->ground_elev_deg[1] = -90.0;
    if (el && (split_nums(el, 2, c->ground_elev_deg) || !(c->ground_elev_deg[0] <= 90.0) ||
               !(c->ground_elev_deg[1] >= -90.0) ||
               !(c->ground_elev_deg[0] > c->ground_elev_deg[1])))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata ground_elev_deg = '%s': expected 'top,bottom' "
                            "degrees with 90 >= top > bottom >= -90",
                            fn, el);
    const char *fb = tg_st_meta(st, "zoom_fallback");
    if (!fb || !strcmp(fb, "none"))
        c->zoom_fallback = TG_ZOOM_FALLBACK_NONE;
    else if (!strcmp(fb, "self"))
        c->zoom_fallback = TG_ZOOM_FALLBACK_SELF;
    else
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata zoom_fallback is not 'self' or 'none'", fn);
    if (c->zoom && c->zoom_fallback != TG_ZOOM_FALLBACK_NONE)
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata zoom_fallback applies only when zoom is '0' (this "
                            "file has zoom '1')", fn);
    if (!c->zoom && (c->aerial_hw[0] != c->zoom_hw[0] || c->aerial_hw[1] != c->zoom_hw[1]))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': zoom is '0' but metadata aerial_hw differs from zoom_hw "
                            "(without zoom both are the 'aerial' network's input)", fn);
    c->has_zoom = c->zoom || c->zoom_fallback == TG_ZOOM_FALLBACK_SELF;
    int gz = (c->zoom_hw[0] / c->patch) * (c->zoom_hw[1] / c->patch);
    if (!c->has_zoom && c->crop_ratio != 1.0)
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata crop_ratio is not '1' but the model does not zoom "
                            "(zoom '0', no zoom_fallback 'self'): expected crop_ratio '1'", fn);
    /* Deit.py forward_features_crop: int(self.crop_rate * n), a double product */
    double kd = c->crop_ratio * (double)gz;
    c->n_keep = c->has_zoom ? (int)kd : gz;
    if (c->n_keep < 1)
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': metadata crop_ratio keeps no patch of the zoom grid", fn);
    const char *sha = tg_st_meta(st, "sha256");
    if (sha) {
        size_t n = strlen(sha);
        int ok = n == 64;
        for (size_t i = 0; ok && i < n; i++) ok = isxdigit((unsigned char)sha[i]) != 0;
        if (!ok)
            return tg_set_error(ctx, TG_EMODEL,
                                "model '%s': metadata sha256 is not 64 hex digits", fn);
    }
    c->sha256 = sha ? sha : "";
    c->preset = tg_st_meta(st, "preset") ? tg_st_meta(st, "preset") : "";
    c->source = tg_st_meta(st, "source") ? tg_st_meta(st, "source") : "";
    return TG_OK;
}

/* ---- tensors ---------------------------------------------------------------- */

struct expect {
    char name[96];
    int ndim;
    int64_t shape[4];
    const float **dst; /* where the pointer goes */
};

static void fmt_shape(char *buf, size_t n, const int64_t *shape, int ndim)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, i ? "," : "", shape[i]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

/* The tensors of network `net` (timm names), with shapes from the config. */
static int expected_tensors(const tg_model_config *c, int branch, tg_vit *v, struct expect **out)
{
    const char *net = net_names[branch];
    int D = c->embed_dim, M = c->mlp_dim, O = c->out_dim, P = c->patch, np = c->n_prefix;
    const int *hw = branch == TG_BRANCH_GROUND ? c->ground_hw
                    : branch == TG_BRANCH_AERIAL ? c->zoom_hw : c->aerial_hw;
    v->D = D;
    v->depth = c->depth;
    v->heads = c->heads;
    v->M = M;
    v->P = P;
    v->n_prefix = np;
    v->out_dim = O;
    v->H = hw[0];
    v->W = hw[1];
    v->gh = hw[0] / P;
    v->gw = hw[1] / P;
    v->eps = (float)c->ln_eps;
    int G = v->gh * v->gw;
    size_t n = 0, cap = (size_t)8 + (size_t)c->depth * 12 + 8;
    struct expect *e = calloc(cap, sizeof *e);
    if (!e) return -1;
#define ADD(nm, dst_, nd, ...)                                                                    \
    do {                                                                                          \
        struct expect *x_ = &e[n++];                                                              \
        snprintf(x_->name, sizeof x_->name, "%s.%s", net, nm);                                    \
        int64_t s_[] = {__VA_ARGS__};                                                             \
        x_->ndim = nd;                                                                            \
        memcpy(x_->shape, s_, sizeof s_);                                                         \
        x_->dst = dst_;                                                                           \
    } while (0)
    ADD("cls_token", &v->cls, 3, 1, 1, D);
    if (np == 2) ADD("dist_token", &v->dist, 3, 1, 1, D);
    ADD("pos_embed", &v->pos, 3, 1, np + G, D);
    ADD("patch_embed.proj.weight", &v->pe_w, 4, D, 3, P, P);
    ADD("patch_embed.proj.bias", &v->pe_b, 1, D);
    for (int i = 0; i < c->depth; i++) {
        tg_vit_block *b = &v->blocks[i];
        char nm[80];
#define BLK(suffix, dst_, nd, ...)                                                                \
    do {                                                                                          \
        snprintf(nm, sizeof nm, "blocks.%d.%s", i, suffix);                                       \
        ADD(nm, dst_, nd, __VA_ARGS__);                                                           \
    } while (0)
        BLK("norm1.weight", &b->ln1_w, 1, D);
        BLK("norm1.bias", &b->ln1_b, 1, D);
        BLK("attn.qkv.weight", &b->qkv_w, 2, 3 * D, D);
        BLK("attn.qkv.bias", &b->qkv_b, 1, 3 * D);
        BLK("attn.proj.weight", &b->proj_w, 2, D, D);
        BLK("attn.proj.bias", &b->proj_b, 1, D);
        BLK("norm2.weight", &b->ln2_w, 1, D);
        BLK("norm2.bias", &b->ln2_b, 1, D);
        BLK("mlp.fc1.weight", &b->fc1_w, 2, M, D);
        BLK("mlp.fc1.bias", &b->fc1_b, 1, M);
        BLK("mlp.fc2.weight", &b->fc2_w, 2, D, M);
        BLK("mlp.fc2.bias", &b->fc2_b, 1, D);
#undef BLK
    }
    ADD("norm.weight", &v->norm_w, 1, D);
    ADD("norm.bias", &v->norm_b, 1, D);
    ADD("head.weight", &v->head_w, 2, O, D);
    ADD("head.bias", &v->head_b, 1, O);
    if (np == 2) {
        ADD("head_dist.weight", &v->hd_w, 2, O, D);
        ADD("head_dist.bias", &v->hd_b, 1, O);
    }
#undef ADD
    *out = e;
    return (int)n;
}

/* Which network a file tensor belongs to, or -1. */
static int branch_of(const char *name)
{
    if (!strncmp(name, "ground.", 7)) return TG_BRANCH_GROUND;
    if (!strncmp(name, "aerial_scan.", 12)) return TG_BRANCH_AERIAL_SCAN;
    if (!strncmp(name, "aerial.", 7)) return TG_BRANCH_AERIAL;
    return -1;
}

static int bind_network(tg_ctx *ctx, tg_model *m, int branch)
{
    const char *fn = m->path;
    struct expect *e = NULL;
    tg_vit *v = &m->nets[branch];
    int n = expected_tensors(&m->cfg, branch, v, &e);
    if (n < 0) return tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", fn);
    int rc = TG_OK;
    for (int i = 0; i < n; i++) {
        const tg_st_tensor *t = tg_st_find(m->st, e[i].name);
        char want[96];
        fmt_shape(want, sizeof want, e[i].shape, e[i].ndim);
        if (!t) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model '%s': tensor '%s' %s is missing (the file's '%s.*' tensors "
                              "are not those of the network its metadata describes)", fn,
                              e[i].name, want, net_names[branch]);
            goto done;
        }
        int same = t->ndim == e[i].ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == e[i].shape[d];
        if (!same) {
            rc = tg_set_error(ctx, TG_EMODEL, "model '%s': tensor '%s' does not have shape %s",
                              fn, e[i].name, want);
            goto done;
        }
        *e[i].dst = t->data;
    }
    /* Any other tensor of this network is unexpected. */
    for (int i = 0; i < tg_st_n_tensors(m->st); i++) {
        const tg_st_tensor *t = tg_st_tensor_at(m->st, i);
        if (branch_of(t->name) != branch) continue;
        int known = 0;
        for (int j = 0; j < n && !known; j++) known = !strcmp(e[j].name, t->name);
        if (!known) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model '%s': the file has a '%s.*' tensor that a '%s' network of "
                              "its metadata's depth and tokens does not have", fn,
                              net_names[branch], net_names[branch]);
            goto done;
        }
    }
done:
    free(e);
    return rc;
}

int tg_model_load(tg_ctx *ctx, const char *path, tg_model **out)
{
    if (!out) return tg_set_error(ctx, TG_EINVAL, "tg_model_load: out is NULL");
    *out = NULL;
    if (!path) return tg_set_error(ctx, TG_EINVAL, "tg_model_load: path is NULL");
    tg_model *m = calloc(1, sizeof *m);
    if (!m) return tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", path);
    int rc = TG_OK;
    m->path = strdup(path);
    if (!m->path) {
        rc = tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", path);
        goto fail;
    }
    rc = tg_st_open(ctx, path, &m->st);
    if (rc) goto fail;
    tg_model_config *c = &m->cfg;
    rc = parse_config(ctx, m->st, path, c);
    if (rc) goto fail;

    /* networks present, and no tensor outside them */
    for (int i = 0; i < tg_st_n_tensors(m->st); i++) {
        const tg_st_tensor *t = tg_st_tensor_at(m->st, i);
        int b = branch_of(t->name);
        if (b < 0) {
            rc = tg_set_error(ctx, TG_EMODEL,
                              "model '%s': the file has a tensor whose name is not 'ground.*', "
                              "'aerial.*' or 'aerial_scan.*'", path);
            goto fail;
        }
        m->present[b] = 1;
        c->n_params += (long long)t->n_elems;
    }
    if (!m->present[TG_BRANCH_GROUND] && !m->present[TG_BRANCH_AERIAL]) {
        rc = tg_set_error(ctx, TG_EMODEL, "model '%s': no 'ground' or 'aerial' network in the file",
                          path);
        goto fail;
    }
    if (c->zoom && m->present[TG_BRANCH_AERIAL] != m->present[TG_BRANCH_AERIAL_SCAN]) {
        rc = tg_set_error(ctx, TG_EMODEL,
                          "model '%s': zoom is '1' but the file has '%s' without '%s' (a zoom "
                          "model needs both aerial networks)", path,
                          m->present[TG_BRANCH_AERIAL] ? "aerial" : "aerial_scan",
                          m->present[TG_BRANCH_AERIAL] ? "aerial_scan" : "aerial");
        goto fail;
    }
    if (!c->zoom && m->present[TG_BRANCH_AERIAL_SCAN]) {
        rc = tg_set_error(ctx, TG_EMODEL,
                          "model '%s': the file has an 'aerial_scan' network but metadata zoom is "
                          "'0'", path);
        goto fail;
    }
    m->blocks = calloc((size_t)TG_N_BRANCHES * (size_t)c->depth, sizeof *m->blocks);
    if (!m->blocks) {
        rc = tg_set_error(ctx, TG_ENOMEM, "model '%s': out of memory", path);
        goto fail;
    }
    for (int b = 0; b < TG_N_BRANCHES; b++) {
        if (!m->present[b]) continue;
        m->nets[b].blocks = m->blocks + (size_t)b * (size_t)c->depth;
        rc = bind_network(ctx, m, b);
        if (rc) goto fail;
    }
    c->has_ground = m->present[TG_BRANCH_GROUND];
    c->has_aerial = m->present[TG_BRANCH_AERIAL];
    c->has_aerial_scan = m->present[TG_BRANCH_AERIAL_SCAN];
    c->file_bytes = (long long)tg_st_file_size(m->st);
    *out = m;
    return TG_OK;
fail:
    tg_model_free(m);
    return rc;
}

void tg_model_free(tg_model *m)
{
    if (!m) return;
    tg_st_close(m->st);
    free(m->blocks);
    free(m->path);
    free(m);
}

const tg_model_config *tg_model_config_get(const tg_model *m) { return m ? &m->cfg : NULL; }
const char *tg_model_path(const tg_model *m) { return m ? m->path : NULL; }

int tg_model_verify(tg_ctx *ctx, const tg_model *m, char hex[65])
{
    if (!m) return tg_set_error(ctx, TG_EINVAL, "tg_model_verify: model is NULL");
    uint64_t n = 0;
    const void *data = tg_st_data(m->st, &n);
    unsigned char h[32];
    CPL_SHA256(data, (size_t)n, h);
    char got[65];
    for (int i = 0; i < 32; i++) snprintf(got + 2 * i, 3, "%02x", h[i]);
    if (hex) memcpy(hex, got, 65);
    if (!*m->cfg.sha256)
        return tg_set_error(ctx, TG_EMODEL, "model '%s': no sha256 in the metadata to verify against",
                            m->path);
    if (strcasecmp(got, m->cfg.sha256))
        return tg_set_error(ctx, TG_EMODEL,
                            "model '%s': the sha256 of the tensor data differs from the one in its "
                            "metadata: the file is corrupt", m->path);
    return TG_OK;
}

int tg_model_sniff(const void *head, size_t n)
{
    const unsigned char *b = head;
    if (!b || n < 9) return 0;
    uint64_t len = 0;
    for (int i = 7; i >= 0; i--) len = (len << 8) | b[i];
    return len >= 2 && len <= TG_ST_MAX_HEADER && b[8] == '{';
}
