/* test_image.c - photo decoding, orientation, pixel limit, error paths, and
 * the Pillow-exact resize / model tensor, checked against Pillow itself.
 *
 * Reference: Debian's python3-pil (run as $PYTHON3) decodes and resizes the
 * same files; its output is compared byte for byte (u8) and float for float
 * (tensor). Those checks are skipped only if Python cannot import PIL and
 * numpy (optional tool). Fixtures: shared/data/photos plus images made here
 * (GDAL writes lossless PNG/TIFF/WebP/GIF/BMP; corrupt ones are cut or
 * patched from them). */
#include "config.h"
#include "transgeo/image.h"
#include "transgeo/exif.h"
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cpl_conv.h>
#include <cpl_multiproc.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <ogr_srs_api.h>

static tg_ctx *ctx;
static char tmpdir[1024];
static char photos[1024];
static int have_pil;

/* ---- helpers ------------------------------------------------------------ */

static const char *tpath(const char *name)
{
    static char buf[8][1200];
    static int i;
    char *p = buf[i++ & 7];
    snprintf(p, 1200, "%s/test_image_%s", tmpdir, name);
    return p;
}

static const char *photo(const char *name)
{
    static char buf[8][1200];
    static int i;
    char *p = buf[i++ & 7];
    snprintf(p, 1200, "%s/%s", photos, name);
    return p;
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) *n = (size_t)sz;
    return b;
}

static uint32_t rng = 12345;
static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Write a w x h image with nb bands (band-sequential data of type dt) with
 * the GDAL driver drv; ct: optional colour table for band 1. */
static int make_image(const char *path, const char *drv, int w, int h, int nb, GDALDataType dt,
                      const void *data, GDALColorTableH ct, const char *const *opts,
                      const char *const *md, const char *const *xmp)
{
    GDALDriverH mem = GDALGetDriverByName("MEM"), d = GDALGetDriverByName(drv);
    if (!mem || !d) return -1;
    GDALDatasetH m = GDALCreate(mem, "", w, h, nb, dt, NULL);
    if (!m) return -1;
    int sz = GDALGetDataTypeSizeBytes(dt);
    for (int b = 0; b < nb; b++) {
        if (GDALRasterIO(GDALGetRasterBand(m, b + 1), GF_Write, 0, 0, w, h,
                         (char *)(uintptr_t)data + (size_t)b * w * h * sz, w, h, dt, 0, 0) != CE_None) {
            GDALClose(m);
            return -1;
        }
    }
    if (ct) GDALSetRasterColorTable(GDALGetRasterBand(m, 1), ct);
    if (nb == 4) GDALSetRasterColorInterpretation(GDALGetRasterBand(m, 4), GCI_AlphaBand);
    if (md) GDALSetMetadata(m, (char **)(uintptr_t)md, NULL);
    if (xmp) GDALSetMetadata(m, (char **)(uintptr_t)xmp, "xml:XMP");
    GDALDatasetH o = GDALCreateCopy(d, path, m, FALSE, (char **)(uintptr_t)opts, NULL, NULL);
    GDALClose(m);
    if (!o) return -1;
    GDALClose(o);
    return 0;
}

static unsigned char *random_rgb_planar(int w, int h)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) p[i] = (unsigned char)(rnd() >> 7);
    return p;
}

/* Smooth content so JPEG quantisation keeps the structure (orientation tests):
 * red grows left to right, green top to bottom, blue along the diagonal. */
static unsigned char *gradient_planar(int w, int h)
{
    unsigned char *p = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            p[(size_t)y * w + x] = (unsigned char)(x * 255 / (w - 1));
            p[((size_t)h + y) * w + x] = (unsigned char)(y * 255 / (h - 1));
            p[((size_t)2 * h + y) * w + x] = (unsigned char)((x + y) * 255 / (w + h - 2));
        }
    return p;
}

static int contains(const char *s, const char *sub) { return s && strstr(s, sub) != NULL; }

/* Expect rc == want and the message to contain each of the given parts. */
static void expect_err(int rc, int want, const char *what, const char *part1, const char *part2)
{
    const char *m = tg_errmsg(ctx);
    int ok = rc == want && (!part1 || contains(m, part1)) && (!part2 || contains(m, part2));
    TAP_OK(ok, "%s: code %s and message", what, tg_strerror(want));
    if (!ok) tap_diag("got %d (%s): %s", rc, tg_strerror(rc), m);
    else tap_diag("  -> %s", m);
}

static int vsimem_leftovers(void)
{
    char **l = VSIReadDir("/vsimem/");
    int n = 0;
    for (int i = 0; l && l[i]; i++)
        if (strncmp(l[i], "transgeo_photo_", 15) == 0) n++;
    CSLDestroy(l);
    return n;
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* A PNG whose IHDR claims w x h, with a tiny IDAT and IEND (all CRCs right). */
static size_t png_header_only(unsigned char *out, uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char idat[8] = {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
    size_t o = 0;
    memcpy(out, sig, 8); o = 8;
    put_be32(out + o, 13); memcpy(out + o + 4, "IHDR", 4);
    put_be32(out + o + 8, w); put_be32(out + o + 12, h);
    out[o + 16] = 8; out[o + 17] = 2; out[o + 18] = 0; out[o + 19] = 0; out[o + 20] = 0;
    put_be32(out + o + 21, crc32_png(out + o + 4, 17)); o += 25;
    put_be32(out + o, 8); memcpy(out + o + 4, "IDAT", 4); memcpy(out + o + 8, idat, 8);
    put_be32(out + o + 16, crc32_png(out + o + 4, 12)); o += 20;
    put_be32(out + o, 0); memcpy(out + o + 4, "IEND", 4);
    put_be32(out + o + 8, crc32_png(out + o + 4, 4)); o += 12;
    return o;
}

/* ---- Pillow reference ---------------------------------------------------- */

/* Jobs, one per line: "decode IN OUT" | "resize IN OUT W H" | "tensor IN OUT W H".
 * The image is opened, exif_transpose'd and converted to RGB as our loader
 * does; resize is Image.resize((W, H), Image.BILINEAR) (= torchvision Resize
 * on a PIL image); tensor adds ToTensor + Normalize(ImageNet) in float32. */
static const char *pil_script =
    "import sys\n"
    "import numpy as np\n"
    "from PIL import Image, ImageOps\n"
    "MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)\n"
    "STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)\n"
    "for line in open(sys.argv[1]):\n"
    "    a = line.split()\n"
    "    if not a: continue\n"
    "    im = Image.open(a[1])\n"
    "    im = ImageOps.exif_transpose(im).convert('RGB')\n"
    "    if a[0] in ('resize', 'tensor'):\n"
    "        im = im.resize((int(a[3]), int(a[4])), Image.BILINEAR)\n"
    "    u8 = np.asarray(im, dtype=np.uint8)\n"
    "    if a[0] == 'tensor':\n"
    "        x = u8.astype(np.float32) / np.float32(255)\n"
    "        x = (x - MEAN) / STD\n"
    "        x.transpose(2, 0, 1).astype(np.float32).tofile(a[2])\n"
    "    else:\n"
    "        u8.tofile(a[2])\n"
    "print('pil ' + __import__('PIL').__version__)\n";

static FILE *jobs;

static void pil_job(const char *kind, const char *in, const char *out, int w, int h)
{
    if (!jobs) return;
    if (w) fprintf(jobs, "%s %s %s %d %d\n", kind, in, out, w, h);
    else fprintf(jobs, "%s %s %s\n", kind, in, out);
}

static int run_pil(void)
{
    if (jobs) fclose(jobs);
    jobs = NULL;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", tap_env("PYTHON3", "/usr/bin/python3"),
             tpath("pil.py"), tpath("jobs.txt"));
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    int ok = 0;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "pil ", 4) == 0) {
            ok = 1;
            line[strcspn(line, "\n")] = 0;
            tap_diag("reference: Pillow %s", line + 4);
        } else {
            printf("# python: %s", line);
        }
    }
    return pclose(p) == 0 && ok ? 0 : -1;
}

/* ---- tests --------------------------------------------------------------- */

static void test_errors(void)
{
    tg_image *img = (tg_image *)1;
    int rc;

    rc = tg_image_load(ctx, NULL, &img);
    expect_err(rc, TG_EINVAL, "NULL path", "NULL", NULL);
    TAP_OK(img == NULL, "out is NULL after a failure");
    rc = tg_image_load(ctx, photo("01.jpg"), NULL);
    expect_err(rc, TG_EINVAL, "NULL out", "NULL", NULL);

    rc = tg_image_load(ctx, tpath("does_not_exist.jpg"), &img);
    expect_err(rc, TG_EIO, "missing file", "does_not_exist.jpg", "no such file");
    rc = tg_image_load(ctx, tmpdir, &img);
    expect_err(rc, TG_EIO, "directory", "is a directory", NULL);

    write_file(tpath("empty.jpg"), "", 0);
    rc = tg_image_load(ctx, tpath("empty.jpg"), &img);
    expect_err(rc, TG_EIMAGE, "empty file", "empty.jpg", "empty (0 bytes)");

    const char *text = "latitude,longitude\n52.5,13.4\nthis is not an image\n";
    write_file(tpath("text.jpg"), text, strlen(text));
    rc = tg_image_load(ctx, tpath("text.jpg"), &img);
    expect_err(rc, TG_EIMAGE, "text file", "text.jpg", "not an image");

    /* Unreadable file. Root ignores permissions, so as root the check runs
     * in a child that drops to uid/gid 65534 (nobody) first. That child must
     * reach the file's directory, which the build tree may not allow (a clone
     * inside a 0700 directory, as mktemp -d and Debian's home directories
     * make): the file goes into a fresh 0755 directory under /tmp instead. */
    if (geteuid() != 0) {
        write_file(tpath("noperm.jpg"), "x", 1);
        chmod(tpath("noperm.jpg"), 0);
        rc = tg_image_load(ctx, tpath("noperm.jpg"), &img);
        expect_err(rc, TG_EIO, "unreadable file", "noperm.jpg", "cannot read");
        chmod(tpath("noperm.jpg"), 0644);
    } else {
        char pub[64] = "/tmp/tg_test_image.XXXXXX", file[128] = "";
        int have_dir = mkdtemp(pub) != NULL;
        int made = have_dir && chmod(pub, 0755) == 0;
        if (made) {
            snprintf(file, sizeof file, "%s/noperm.jpg", pub);
            made = write_file(file, "x", 1) == 0 && chmod(file, 0) == 0;
        }
        TAP_OK(made, "a 0755 directory under /tmp with a mode-0 file for uid 65534 (%s)", file);
        int fd[2];
        char msg[1100] = "";
        int crc = 0;
        if (made && pipe(fd) == 0) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                close(fd[0]);
                int r = 99;
                if (setgid(65534) == 0 && setuid(65534) == 0) {
                    tg_ctx *c = NULL;
                    tg_ctx_create(&c);
                    tg_image *im = NULL;
                    r = -tg_image_load(c, file, &im);
                    if (write(fd[1], tg_errmsg(c), strlen(tg_errmsg(c))) < 0) r = 98;
                }
                _exit(r);
            }
            close(fd[1]);
            ssize_t got, off = 0;
            while ((got = read(fd[0], msg + off, sizeof msg - 1 - (size_t)off)) > 0) off += got;
            msg[off] = 0;
            close(fd[0]);
            int st = 0;
            waitpid(pid, &st, 0);
            crc = WIFEXITED(st) ? -WEXITSTATUS(st) : 1;
        }
        int ok = crc == TG_EIO && contains(msg, "noperm.jpg") && contains(msg, "cannot read");
        TAP_OK(ok, "unreadable file (checked as uid 65534): code %s and message", tg_strerror(TG_EIO));
        tap_diag("  -> %d: %s", crc, msg);
        if (*file) unlink(file);
        if (have_dir) rmdir(pub);
    }

    /* Truncated JPEG: header intact, scan data cut (libjpeg only warns). */
    size_t n = 0;
    unsigned char *jpg = read_file(photo("01.jpg"), &n);
    TAP_OK(jpg && n == 1414236, "read 01.jpg (%zu bytes)", n);
    write_file(tpath("trunc.jpg"), jpg, 300000);
    rc = tg_image_load(ctx, tpath("trunc.jpg"), &img);
    expect_err(rc, TG_EIMAGE, "truncated JPEG (300000 of 1414236 bytes)", "truncated", "ends early");
    rc = tg_image_load_mem(ctx, jpg, 300000, &img);
    expect_err(rc, TG_EIMAGE, "truncated JPEG in memory", "image in memory (300000 bytes)", "truncated");
    TAP_OK(!contains(tg_errmsg(ctx), "/vsimem/"), "memory message does not leak the /vsimem/ name");
    /* Truncated inside the header. */
    write_file(tpath("trunc100.jpg"), jpg, 100);
    rc = tg_image_load(ctx, tpath("trunc100.jpg"), &img);
    expect_err(rc, TG_EIMAGE, "JPEG cut to 100 bytes", "trunc100.jpg", "JPEG");

    /* Memory errors. */
    rc = tg_image_load_mem(ctx, NULL, 10, &img);
    expect_err(rc, TG_EINVAL, "NULL buffer", "NULL", NULL);
    rc = tg_image_load_mem(ctx, jpg, 0, &img);
    expect_err(rc, TG_EIMAGE, "empty buffer", "image in memory (0 bytes)", "empty");
    rc = tg_image_load_mem(ctx, text, strlen(text), &img);
    expect_err(rc, TG_EIMAGE, "text in memory", "image in memory", "not an image");
    TAP_OK(!contains(tg_errmsg(ctx), "/vsimem/"), "no /vsimem/ name in: %s", tg_errmsg(ctx));

    /* Decompression bombs: refused from the header. */
    unsigned char png[128];
    size_t pn = png_header_only(png, 100000, 100000);
    write_file(tpath("bomb.png"), png, pn);
    rc = tg_image_load(ctx, tpath("bomb.png"), &img);
    expect_err(rc, TG_EIMAGE, "PNG header claiming 100000 x 100000", "more pixels than the limit", "limit of 100000000 ");
    rc = tg_image_load_mem(ctx, png, pn, &img);
    expect_err(rc, TG_EIMAGE, "the same PNG from memory", "image in memory", "decompression-bomb");
    /* A JPEG whose SOF says 60000 x 60000: walk the segments to the frame
     * header (an EXIF thumbnail has a SOF of its own inside APP1). */
    unsigned char *g = gradient_planar(16, 8);
    make_image(tpath("small.jpg"), "JPEG", 16, 8, 3, GDT_Byte, g, NULL, NULL, NULL, NULL);
    free(g);
    size_t sn = 0;
    unsigned char *small = read_file(tpath("small.jpg"), &sn);
    int patched = 0;
    for (size_t i = 2; small && i + 9 < sn;) {
        unsigned m = small[i + 1];
        if (small[i] != 0xFF) break;
        if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
            small[i + 5] = 0xEA; small[i + 6] = 0x60; /* height 60000 */
            small[i + 7] = 0xEA; small[i + 8] = 0x60; /* width 60000 */
            patched = 1;
            break;
        }
        i += 2 + ((size_t)small[i + 2] << 8 | small[i + 3]);
    }
    TAP_OK(patched, "found the JPEG frame header (SOF) to patch");
    img = NULL;
    rc = tg_image_load_mem(ctx, small, sn, &img);
    expect_err(rc, TG_EIMAGE, "JPEG SOF claiming 60000 x 60000", "more pixels than the limit", "limit");
    tg_image_free(img);
    free(small);

    /* The limit is configurable, per call and per process. */
    tg_image_opts o;
    tg_image_opts_default(&o);
    TAP_EQ(o.max_pixels, TG_IMAGE_MAX_PIXELS_DEFAULT, "default limit is 100 Mpx");
    o.max_pixels = 1000;
    rc = tg_image_load_ex(ctx, photo("01.jpg"), &o, &img);
    expect_err(rc, TG_EIMAGE, "01.jpg with max_pixels 1000", "more pixels than the limit", "limit of 1000 ");
    tg_image_set_max_pixels(7990271);
    rc = tg_image_load(ctx, photo("01.jpg"), &img);
    expect_err(rc, TG_EIMAGE, "01.jpg with the process limit one below its size", "limit of 7990271", NULL);
    tg_image_set_max_pixels(7990272);
    rc = tg_image_load(ctx, photo("01.jpg"), &img);
    TAP_OK(rc == 0, "01.jpg loads with the process limit equal to its size");
    tg_image_free(img);
    tg_image_set_max_pixels(0);
    TAP_EQ(tg_image_max_pixels(), TG_IMAGE_MAX_PIXELS_DEFAULT, "set_max_pixels(0) restores the default");

    /* Formats GDAL reads but photos must not be: a VRT pointing at a file. */
    char vrt[2048];
    snprintf(vrt, sizeof vrt,
             "<VRTDataset rasterXSize=\"16\" rasterYSize=\"16\"><VRTRasterBand dataType=\"Byte\" band=\"1\">"
             "<SimpleSource><SourceFilename>%s</SourceFilename><SourceBand>1</SourceBand></SimpleSource>"
             "</VRTRasterBand></VRTDataset>", photo("corrupt_exif.jpg"));
    write_file(tpath("ref.vrt"), vrt, strlen(vrt));
    rc = tg_image_load(ctx, tpath("ref.vrt"), &img);
    expect_err(rc, TG_EIMAGE, "VRT file refused", "VRT", "not a photo format");
    rc = tg_image_load_mem(ctx, vrt, strlen(vrt), &img);
    expect_err(rc, TG_EIMAGE, "VRT in memory refused", "VRT", "not a photo format");

    /* Unsupported sample type. */
    float fl[16 * 16];
    for (int i = 0; i < 256; i++) fl[i] = (float)i;
    make_image(tpath("float.tif"), "GTiff", 16, 16, 1, GDT_Float32, fl, NULL, NULL, NULL, NULL);
    rc = tg_image_load(ctx, tpath("float.tif"), &img);
    expect_err(rc, TG_EIMAGE, "Float32 TIFF", "Float32", "not supported");

    /* Truncated PNG (pixel data cut): libpng fails, we say so. */
    unsigned char *rgb = random_rgb_planar(64, 64);
    make_image(tpath("full.png"), "PNG", 64, 64, 3, GDT_Byte, rgb, NULL, NULL, NULL, NULL);
    free(rgb);
    size_t fn = 0;
    unsigned char *fp = read_file(tpath("full.png"), &fn);
    TAP_OK(fp && fn > 4000, "made a 64x64 random PNG (%zu bytes)", fn);
    write_file(tpath("trunc.png"), fp, fn / 2);
    rc = tg_image_load(ctx, tpath("trunc.png"), &img);
    expect_err(rc, TG_EIMAGE, "PNG cut in half", "trunc.png", "cannot decode");
    free(fp);

    /* Argument checks of the other calls. */
    unsigned char px[12] = {0};
    rc = tg_image_from_rgb8(ctx, px, 0, 2, &img);
    expect_err(rc, TG_EINVAL, "from_rgb8 with width 0", "0 x 2", NULL);
    rc = tg_image_from_rgb8(ctx, NULL, 2, 2, &img);
    expect_err(rc, TG_EINVAL, "from_rgb8 with NULL pixels", "NULL", NULL);
    tg_image *two = NULL;
    TAP_OK(tg_image_from_rgb8(ctx, px, 2, 2, &two) == 0, "from_rgb8 2x2");
    rc = tg_image_resize(ctx, two, 0, 5, &img);
    expect_err(rc, TG_EINVAL, "resize to width 0", "0 x 5", NULL);
    rc = tg_image_resize(ctx, two, 70000, 5, &img);
    expect_err(rc, TG_EINVAL, "resize to width 70000", "1..65535", NULL);
    float t[3 * 4];
    const float mean[3] = {0.5f, 0.5f, 0.5f}, bad_std[3] = {0.2f, 0.0f, 0.2f};
    rc = tg_image_to_tensor(ctx, two, 2, 2, mean, bad_std, t);
    expect_err(rc, TG_EINVAL, "to_tensor with std 0", "channel 1", "std must be non-zero");
    rc = tg_image_to_tensor(ctx, two, 2, 2, mean, mean, NULL);
    expect_err(rc, TG_EINVAL, "to_tensor with NULL dst", "NULL", NULL);
    tg_image_free(two);
    tg_image_free(NULL);
    TAP_EQ(tg_image_width(NULL), 0, "width(NULL) = 0");

    TAP_EQ(vsimem_leftovers(), 0, "no /vsimem/ file left behind after the error paths");
    free(jpg);
}

/* Formats and pixel layouts, each against Pillow's Image.open().convert("RGB"). */
typedef struct fmt_case {
    const char *name, *drv, *file;
    int nb;
    GDALDataType dt;
    int palette;
    const char *opts[3];
    int pil; /* compare with Pillow */
} fmt_case;

static void test_formats(void)
{
    static const fmt_case cases[] = {
        {"RGB PNG", "PNG", "rgb.png", 3, GDT_Byte, 0, {NULL}, 1},
        {"grey PNG (replicated)", "PNG", "grey.png", 1, GDT_Byte, 0, {NULL}, 1},
        {"RGBA PNG (alpha dropped)", "PNG", "rgba.png", 4, GDT_Byte, 0, {NULL}, 1},
        {"palette PNG (expanded)", "PNG", "pal.png", 1, GDT_Byte, 1, {NULL}, 1},
        {"1-bit grey PNG (0/1 -> 0/255)", "PNG", "bits1.png", 1, GDT_Byte, 0, {"NBITS=1", NULL}, 1},
        {"4-bit grey PNG (x17)", "PNG", "bits4.png", 1, GDT_Byte, 0, {"NBITS=4", NULL}, 1},
        {"16-bit RGB PNG (high byte)", "PNG", "rgb16.png", 3, GDT_UInt16, 0, {NULL}, 1},
        {"16-bit grey PNG (high byte; Pillow would clip)", "PNG", "grey16.png", 1, GDT_UInt16, 0, {NULL}, 0},
        {"RGB TIFF (deflate)", "GTiff", "rgb.tif", 3, GDT_Byte, 0, {"COMPRESS=DEFLATE", NULL}, 1},
        {"RGB TIFF band-interleaved", "GTiff", "rgbb.tif", 3, GDT_Byte, 0, {"INTERLEAVE=BAND", NULL}, 1},
        {"lossless WebP", "WEBP", "rgb.webp", 3, GDT_Byte, 0, {"LOSSLESS=TRUE", NULL}, 1},
        {"GIF (palette)", "GIF", "pal.gif", 1, GDT_Byte, 1, {NULL}, 1},
        {"BMP", "BMP", "rgb.bmp", 3, GDT_Byte, 0, {NULL}, 1},
    };
    const int w = 37, h = 23;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const fmt_case *fc = &cases[c];
        if (!GDALGetDriverByName(fc->drv)) {
            tap_skip(fc->name, "GDAL driver not built in");
            continue;
        }
        int sz = GDALGetDataTypeSizeBytes(fc->dt);
        size_t n = (size_t)w * h * fc->nb;
        unsigned char *data = malloc(n * sz);
        int maxv = fc->palette ? 16 : !strcmp(fc->opts[0] ? fc->opts[0] : "", "NBITS=1") ? 1
                 : !strcmp(fc->opts[0] ? fc->opts[0] : "", "NBITS=4") ? 15 : fc->dt == GDT_UInt16 ? 65535 : 255;
        for (size_t i = 0; i < n; i++) {
            unsigned v = rnd() % (unsigned)(maxv + 1);
            if (sz == 1) data[i] = (unsigned char)v;
            else ((uint16_t *)data)[i] = (uint16_t)v;
        }
        GDALColorTableH ct = NULL;
        if (fc->palette) {
            ct = GDALCreateColorTable(GPI_RGB);
            for (int i = 0; i < 17; i++) {
                GDALColorEntry e = {(short)(i * 15), (short)(255 - i * 13), (short)((i * 71) % 256), 255};
                GDALSetColorEntry(ct, i, &e);
            }
        }
        int mk = make_image(tpath(fc->file), fc->drv, w, h, fc->nb, fc->dt, data, ct, fc->opts, NULL, NULL);
        if (ct) GDALDestroyColorTable(ct);
        TAP_OK(mk == 0, "%s: written by GDAL", fc->name);
        tg_image *img = NULL;
        int rc = tg_image_load(ctx, tpath(fc->file), &img);
        TAP_OK(rc == 0 && img && tg_image_width(img) == w && tg_image_height(img) == h,
               "%s: decoded %d x %d", fc->name, w, h);
        if (rc) tap_diag("%s", tg_errmsg(ctx));
        /* Our own expectation for the layouts Pillow does not share. */
        if (img && !fc->pil && fc->nb == 1 && fc->dt == GDT_UInt16) {
            const unsigned char *d = tg_image_data(img);
            int bad = 0;
            for (size_t i = 0; i < (size_t)w * h; i++) {
                unsigned v = ((uint16_t *)data)[i] >> 8;
                bad += d[i * 3] != v || d[i * 3 + 1] != v || d[i * 3 + 2] != v;
            }
            TAP_EQ(bad, 0, "%s: every pixel = value >> 8, replicated", fc->name);
        }
        if (img && fc->pil) {
            char out[64];
            snprintf(out, sizeof out, "%s.pil", fc->file);
            pil_job("decode", tpath(fc->file), tpath(out), 0, 0);
        }
        tg_image_free(img);
        free(data);
    }
}

static void compare_u8(const char *what, const tg_image *img, const char *pil_out)
{
    size_t n = 0;
    unsigned char *ref = read_file(pil_out, &n);
    size_t want = (size_t)tg_image_width(img) * tg_image_height(img) * 3;
    if (!ref || n != want) {
        TAP_OK(0, "%s: Pillow output %s has %zu bytes, expected %zu", what, pil_out, ref ? n : 0, want);
        free(ref);
        return;
    }
    const unsigned char *d = tg_image_data(img);
    int maxd = 0;
    size_t ndiff = 0;
    for (size_t i = 0; i < n; i++) {
        int df = abs((int)d[i] - (int)ref[i]);
        if (df) ndiff++;
        if (df > maxd) maxd = df;
    }
    TAP_OK(maxd == 0, "%s: identical to Pillow (max |diff| %d u8, %zu of %zu samples differ)", what, maxd,
           ndiff, n);
    free(ref);
}

static void compare_f32(const char *what, const float *x, size_t n, const char *pil_out)
{
    size_t nb = 0;
    unsigned char *ref = read_file(pil_out, &nb);
    if (!ref || nb != n * sizeof(float)) {
        TAP_OK(0, "%s: Pillow tensor %s has %zu bytes, expected %zu", what, pil_out, ref ? nb : 0,
               n * sizeof(float));
        free(ref);
        return;
    }
    double maxd = 0;
    for (size_t i = 0; i < n; i++) {
        float r;
        memcpy(&r, ref + i * 4, 4);
        double df = fabs((double)x[i] - (double)r);
        if (df > maxd) maxd = df;
    }
    TAP_OK(maxd == 0.0, "%s: tensor identical to Pillow+numpy float32 (max |diff| %g)", what, maxd);
    free(ref);
}

typedef struct rs_case {
    const char *name;
    const char *src;   /* photo name, or NULL: random PNG of sw x sh */
    int sw, sh, dw, dh;
    int tensor;
} rs_case;

static const rs_case rs_cases[] = {
    {"01.jpg 3264x2448 -> 616x112 (CVUSA ground)", "01.jpg", 0, 0, 616, 112, 1},
    {"02.jpg 3264x2448 -> 640x320 (VIGOR ground)", "02.jpg", 0, 0, 640, 320, 1},
    {"03.jpg 3264x2448 -> 256x256", "03.jpg", 0, 0, 256, 256, 1},
    {"01.jpg 3264x2448 -> 3263x2447 (tiny shrink)", "01.jpg", 0, 0, 3263, 2447, 0},
    {"random 61x97 -> 640x320 (upscale)", NULL, 61, 97, 640, 320, 1},
    {"random 640x480 -> 7x5 (strong shrink)", NULL, 640, 480, 7, 5, 1},
    {"random 61x97 -> 200x20 (up x, down y)", NULL, 61, 97, 200, 20, 0},
    {"random 1x1 -> 4x3", NULL, 1, 1, 4, 3, 0},
    {"random 333x1 -> 17x9", NULL, 333, 1, 17, 9, 0},
    {"random 50x40 -> 50x40 (identity)", NULL, 50, 40, 50, 40, 0},
    {"random 50x40 -> 50x13 (vertical only)", NULL, 50, 40, 50, 13, 0},
    {"random 50x40 -> 101x40 (horizontal only)", NULL, 50, 40, 101, 40, 0},
    {"adobe_coords.jpg 32x28 -> 616x112", "adobe_coords.jpg", 0, 0, 616, 112, 1},
    {"test_exif.jpg (Orientation 2) 16x16 -> 5x9", "test_exif.jpg", 0, 0, 5, 9, 0},
};
#define N_RS (sizeof rs_cases / sizeof rs_cases[0])
static tg_image *rs_out[N_RS];
static float *rs_tensor[N_RS];

static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
static const float IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

static void test_resize_prepare(void)
{
    for (size_t i = 0; i < N_RS; i++) {
        const rs_case *c = &rs_cases[i];
        char in[1200], name[64];
        if (c->src) {
            snprintf(in, sizeof in, "%s", photo(c->src));
        } else {
            unsigned char *p = random_rgb_planar(c->sw, c->sh);
            snprintf(name, sizeof name, "rs%zu.png", i);
            snprintf(in, sizeof in, "%s", tpath(name));
            make_image(in, "PNG", c->sw, c->sh, 3, GDT_Byte, p, NULL, NULL, NULL, NULL);
            free(p);
        }
        tg_image *img = NULL;
        int rc = tg_image_load(ctx, in, &img);
        TAP_OK(rc == 0, "%s: source loaded", c->name);
        if (rc) {
            tap_diag("%s", tg_errmsg(ctx));
            continue;
        }
        rc = tg_image_resize(ctx, img, c->dw, c->dh, &rs_out[i]);
        TAP_OK(rc == 0 && tg_image_width(rs_out[i]) == c->dw && tg_image_height(rs_out[i]) == c->dh,
               "%s: resized", c->name);
        snprintf(name, sizeof name, "rs%zu.u8", i);
        pil_job("resize", in, tpath(name), c->dw, c->dh);
        if (c->tensor) {
            size_t n = (size_t)3 * c->dw * c->dh;
            rs_tensor[i] = malloc(n * sizeof(float));
            rc = tg_image_to_tensor(ctx, img, c->dh, c->dw, IMAGENET_MEAN, IMAGENET_STD, rs_tensor[i]);
            TAP_OK(rc == 0, "%s: tensor made", c->name);
            /* The tensor is the resize, /255, normalised, CHW. */
            const unsigned char *u = tg_image_data(rs_out[i]);
            int bad = 0;
            for (int ch = 0; ch < 3 && rs_out[i]; ch++)
                for (int p = 0; p < c->dw * c->dh; p++) {
                    float want = ((float)u[p * 3 + ch] / 255.0f - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
                    bad += rs_tensor[i][(size_t)ch * c->dw * c->dh + p] != want;
                }
            TAP_EQ(bad, 0, "%s: tensor = (resized/255 - mean)/std in CHW order", c->name);
            snprintf(name, sizeof name, "rs%zu.f32", i);
            pil_job("tensor", in, tpath(name), c->dw, c->dh);
        }
        /* Identity resize keeps the pixels. */
        if (c->sw == c->dw && c->sh == c->dh)
            TAP_OK(memcmp(tg_image_data(img), tg_image_data(rs_out[i]), (size_t)c->sw * c->sh * 3) == 0,
                   "%s: same pixels", c->name);
        tg_image_free(img);
    }
    /* A constant image stays constant at any size (weights sum to 1). */
    unsigned char flat[7 * 5 * 3];
    for (size_t i = 0; i < sizeof flat; i += 3) { flat[i] = 200; flat[i + 1] = 17; flat[i + 2] = 255; }
    tg_image *f = NULL, *r = NULL;
    tg_image_from_rgb8(ctx, flat, 7, 5, &f);
    int bad = 0;
    static const int sizes[][2] = {{1, 1}, {3, 2}, {7, 5}, {50, 3}, {2, 77}, {640, 320}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        if (tg_image_resize(ctx, f, sizes[s][0], sizes[s][1], &r)) { bad++; continue; }
        const unsigned char *d = tg_image_data(r);
        for (int i = 0; i < sizes[s][0] * sizes[s][1]; i++)
            bad += d[i * 3] != 200 || d[i * 3 + 1] != 17 || d[i * 3 + 2] != 255;
        tg_image_free(r);
    }
    TAP_EQ(bad, 0, "a constant image stays constant at 6 sizes");
    tg_image_free(f);
}

static void test_resize_compare(void)
{
    for (size_t i = 0; i < N_RS; i++) {
        const rs_case *c = &rs_cases[i];
        char name[64];
        if (!rs_out[i]) continue;
        snprintf(name, sizeof name, "rs%zu.u8", i);
        compare_u8(c->name, rs_out[i], tpath(name));
        if (rs_tensor[i]) {
            snprintf(name, sizeof name, "rs%zu.f32", i);
            compare_f32(c->name, rs_tensor[i], (size_t)3 * c->dw * c->dh, tpath(name));
        }
    }
}

/* JPEGs with EXIF Orientation 1..8 (written by GDAL's JPEG driver). */
static tg_image *orient_img[9];

static void test_orientation_prepare(void)
{
    const int w = 24, h = 16;
    unsigned char *g = gradient_planar(w, h);
    tg_image *raw = NULL;
    for (int o = 1; o <= 8; o++) {
        char name[32], md[32];
        snprintf(name, sizeof name, "orient%d.jpg", o);
        snprintf(md, sizeof md, "EXIF_Orientation=%d", o);
        const char *mdl[] = {md, NULL};
        make_image(tpath(name), "JPEG", w, h, 3, GDT_Byte, g, NULL, NULL, mdl, NULL);
        int rc = tg_image_load(ctx, tpath(name), &orient_img[o]);
        int swap = o >= 5;
        TAP_OK(rc == 0 && tg_image_width(orient_img[o]) == (swap ? h : w) &&
                   tg_image_height(orient_img[o]) == (swap ? w : h) && tg_image_orientation(orient_img[o]) == o,
               "Orientation %d: loaded upright as %d x %d", o, swap ? h : w, swap ? w : h);
        tg_image_opts opts;
        tg_image_opts_default(&opts);
        opts.apply_orientation = 0;
        tg_image *r = NULL;
        rc = tg_image_load_ex(ctx, tpath(name), &opts, &r);
        TAP_OK(rc == 0 && tg_image_width(r) == w && tg_image_height(r) == h,
               "Orientation %d with apply_orientation = 0: stored order %d x %d", o, w, h);
        if (o == 1) raw = r;
        else {
            /* Same JPEG bytes apart from the tag: the stored pixels match. */
            TAP_OK(r && raw && !memcmp(tg_image_data(r), tg_image_data(raw), (size_t)w * h * 3),
                   "Orientation %d: stored pixels equal those of Orientation 1", o);
            tg_image_free(r);
        }
        char out[40];
        snprintf(out, sizeof out, "orient%d.pil", o);
        pil_job("decode", tpath(name), tpath(out), 0, 0);
    }
    /* Corner checks, independent of the implementation's table: where does
     * the stored top-left pixel (0,0) end up? (EXIF 2.32, Orientation.) */
    static const struct { int o; int where; } corner[] = {
        /* where: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left */
        {1, 0}, {2, 1}, {3, 2}, {4, 3}, {5, 0}, {6, 1}, {7, 2}, {8, 3},
    };
    for (size_t i = 0; raw && i < 8; i++) {
        tg_image *im = orient_img[corner[i].o];
        if (!im) continue;
        int W = tg_image_width(im), H = tg_image_height(im);
        int x = corner[i].where == 1 || corner[i].where == 2 ? W - 1 : 0;
        int y = corner[i].where >= 2 ? H - 1 : 0;
        TAP_OK(!memcmp(tg_image_data(im) + ((size_t)y * W + x) * 3, tg_image_data(raw), 3),
               "Orientation %d: stored pixel (0,0) lands at (%d,%d)", corner[i].o, x, y);
    }
    tg_image_free(raw);
    free(g);
}

static void test_orientation_compare(void)
{
    for (int o = 1; o <= 8; o++) {
        char name[32], what[64];
        snprintf(name, sizeof name, "orient%d.pil", o);
        snprintf(what, sizeof what, "Orientation %d vs ImageOps.exif_transpose", o);
        if (orient_img[o]) compare_u8(what, orient_img[o], tpath(name));
    }
}

/* Memory input: same pixels as the file, /vsimem/ always cleaned up, and
 * safe from several threads at once (unique /vsimem/ names). */
typedef struct thr_arg {
    const unsigned char *buf;
    size_t n;
    int fails;
    unsigned long sum;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    tg_ctx *c = NULL;
    tg_ctx_create(&c);
    for (int i = 0; i < 20; i++) {
        tg_image *img = NULL;
        if (tg_image_load_mem(c, a->buf, a->n, &img)) { a->fails++; continue; }
        const unsigned char *d = tg_image_data(img);
        for (int k = 0; k < 16 * 16 * 3; k++) a->sum += d[k];
        tg_image_free(img);
    }
    tg_ctx_free(c);
    return NULL;
}

static void test_memory(void)
{
    size_t n = 0;
    unsigned char *b = read_file(photo("test_exif.jpg"), &n);
    tg_image *a = NULL, *m = NULL;
    int rc1 = tg_image_load(ctx, photo("test_exif.jpg"), &a);
    int rc2 = tg_image_load_mem(ctx, b, n, &m);
    TAP_OK(rc1 == 0 && rc2 == 0 && tg_image_width(a) == 16 && tg_image_width(m) == 16 &&
               !memcmp(tg_image_data(a), tg_image_data(m), 16 * 16 * 3) && tg_image_orientation(m) == 2,
           "test_exif.jpg: file and memory give the same upright pixels (Orientation 2 applied)");
    TAP_EQ(vsimem_leftovers(), 0, "no /vsimem/ file left after loading from memory");
    unsigned long want = 0;
    for (int k = 0; a && k < 16 * 16 * 3; k++) want += tg_image_data(a)[k];
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){b, n, 0, 0};
        pthread_create(&th[i], NULL, thr_main, &args[i]);
    }
    int fails = 0, wrong = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        fails += args[i].fails;
        wrong += args[i].sum != want * 20;
    }
    TAP_OK(fails == 0 && wrong == 0, "4 threads x 20 loads from memory: all succeed with the same pixels");
    TAP_EQ(vsimem_leftovers(), 0, "no /vsimem/ file left after the threads");
    tg_image_free(a);
    tg_image_free(m);
    free(b);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", tap_env("TG_TMPDIR", "/tmp"));
    snprintf(photos, sizeof photos, "%s/photos", tap_shared());
    mkdir(tmpdir, 0755);
    tg_ctx_create(&ctx);
    GDALAllRegister();

    write_file(tpath("pil.py"), pil_script, strlen(pil_script));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import PIL, numpy' >/dev/null 2>&1", tap_env("PYTHON3", "/usr/bin/python3"));
    have_pil = system(cmd) == 0;
    if (have_pil) jobs = fopen(tpath("jobs.txt"), "w");

    test_errors();
    test_formats();
    test_resize_prepare();
    test_orientation_prepare();
    test_memory();

    if (!have_pil) {
        tap_skip("comparisons with Pillow", "python3 with PIL and numpy not available (apt-get install python3-pil python3-numpy)");
    } else if (run_pil() != 0) {
        TAP_OK(0, "Pillow reference script ran");
    } else {
        /* Formats: our decode vs Pillow's convert("RGB"). */
        static const char *const fmt_files[] = {"rgb.png", "grey.png", "rgba.png", "pal.png", "bits1.png",
                                                "bits4.png", "rgb16.png", "rgb.tif", "rgbb.tif", "rgb.webp",
                                                "pal.gif", "rgb.bmp", NULL};
        for (int i = 0; fmt_files[i]; i++) {
            char out[64];
            snprintf(out, sizeof out, "%s.pil", fmt_files[i]);
            if (access(tpath(out), R_OK) != 0) continue; /* driver missing: skipped above */
            tg_image *img = NULL;
            if (tg_image_load(ctx, tpath(fmt_files[i]), &img) == 0) {
                char what[96];
                snprintf(what, sizeof what, "decode %s", fmt_files[i]);
                compare_u8(what, img, tpath(out));
            }
            tg_image_free(img);
        }
        test_resize_compare();
        test_orientation_compare();
    }

    for (size_t i = 0; i < N_RS; i++) {
        tg_image_free(rs_out[i]);
        free(rs_tensor[i]);
    }
    for (int o = 1; o <= 8; o++) tg_image_free(orient_img[o]);
    tg_ctx_free(ctx);
    GDALDestroyDriverManager();
    OSRCleanup();
    CPLCleanupTLS();
    return tap_done();
}
