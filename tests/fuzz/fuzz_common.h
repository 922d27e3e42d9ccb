/*
 * fuzz_common.h - what the fuzz harnesses (tests/fuzz/fuzz_*.c) share.
 *
 * Each harness defines the two libFuzzer entry points
 *     int LLVMFuzzerInitialize(int *argc, char ***argv);   (once)
 *     int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
 * and is linked either with clang's -fsanitize=fuzzer (make fuzz,
 * tests/fuzz/run.sh) or with tests/fuzz/replay_main.c, a plain main that
 * replays the seed corpus and the regression inputs (make check, any
 * compiler).
 *
 * Invariants checked on every input, besides "no crash, no sanitizer report":
 * a call that fails returns a negative TG_E* code, leaves that code in the
 * context (tg_errcode) and a non-empty message (tg_errmsg); fuzz_check()
 * aborts (a finding) when it does not hold.
 */
#ifndef TG_FUZZ_COMMON_H
#define TG_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpl_conv.h>
#include <cpl_error.h>

#include "transgeo/core.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort with a message: libFuzzer records the input as a crash. */
#define FUZZ_ASSERT(cond, ...)                                                  \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz invariant failed at %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* The error contract of core.h for a call that returned rc. */
static inline void fuzz_check(tg_ctx *ctx, int rc, const char *call)
{
    if (rc == 0) return;
    FUZZ_ASSERT(rc < 0 && rc >= TG_EINTERNAL, "%s returned %d, not a TG_E* code", call, rc);
    FUZZ_ASSERT(tg_errcode(ctx) == rc, "%s returned %d but tg_errcode() is %d", call, rc,
                tg_errcode(ctx));
    const char *m = tg_errmsg(ctx);
    FUZZ_ASSERT(m && *m, "%s failed (%d) with an empty message", call, rc);
}

/* GDAL set-up for harnesses: quiet, small caches, no sidecar file probing. */
static inline void fuzz_gdal_setup(void)
{
    CPLSetErrorHandler(CPLQuietErrorHandler);
    CPLSetConfigOption("GDAL_CACHEMAX", "32");
    CPLSetConfigOption("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
    CPLSetConfigOption("GDAL_NUM_THREADS", "1");
    CPLSetConfigOption("CPL_DEBUG", "OFF");
}

static inline tg_ctx *fuzz_ctx(void)
{
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx) != 0) abort();
    tg_ctx_set_threads(ctx, 1);
    return ctx;
}

static inline uint64_t fuzz_le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

#endif /* TG_FUZZ_COMMON_H */
