/* bench/image_bench.c - photo preprocessing time: decode (tg_image_load),
 * resize (tg_image_resize) and the full model input (tg_image_to_tensor),
 * best of N runs, milliseconds, one line:
 *     decode_ms=... resize_ms=... tensor_ms=... w=... h=...
 * Run by bench/image_bench.sh next to the same steps in Pillow + numpy.
 *     image_bench PHOTO OUT_H OUT_W [RUNS] */
#include "transgeo/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PHOTO OUT_H OUT_W [RUNS]\n", argv[0]);
        return 2;
    }
    int oh = atoi(argv[2]), ow = atoi(argv[3]), runs = argc > 4 ? atoi(argv[4]) : 5;
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx)) return 1;
    float *x = malloc(sizeof(float) * 3 * (size_t)oh * ow);
    double best_dec = 1e30, best_rs = 1e30, best_t = 1e30;
    int w = 0, h = 0, rc = 0;
    for (int r = 0; r < runs && !rc; r++) {
        tg_image *img = NULL, *s = NULL;
        double t0 = now_ms();
        rc = tg_image_load(ctx, argv[1], &img);
        double t1 = now_ms();
        if (!rc) rc = tg_image_resize(ctx, img, ow, oh, &s);
        double t2 = now_ms();
        if (!rc) rc = tg_image_to_tensor(ctx, img, oh, ow, mean, std, x);
        double t3 = now_ms();
        if (t1 - t0 < best_dec) best_dec = t1 - t0;
        if (t2 - t1 < best_rs) best_rs = t2 - t1;
        if (t3 - t2 < best_t) best_t = t3 - t2;
        w = tg_image_width(img);
        h = tg_image_height(img);
        tg_image_free(s);
        tg_image_free(img);
    }
    if (rc) fprintf(stderr, "image_bench: %s\n", tg_errmsg(ctx));
    else printf("decode_ms=%.2f resize_ms=%.2f tensor_ms=%.2f w=%d h=%d\n", best_dec, best_rs, best_t, w, h);
    free(x);
    tg_ctx_free(ctx);
    return rc ? 1 : 0;
}
