/*
 * tap.h - the few macros every C test uses: TAP output ("ok N - what",
 * "not ok N - what", "ok N - what # SKIP why"), read by tests/runner.sh.
 *
 *     int main(void) {
 *         TAP_OK(1 + 1 == 2, "addition");
 *         TAP_NEAR(x, 0.5, 1e-6, "x from the golden file");
 *         return tap_done();
 *     }
 *
 * Paths: tap_srcdir() / tap_builddir() / tap_shared() give the source tree,
 * the build tree and ../shared/data (TG_SHARED_DATA overrides) for fixtures.
 */
#ifndef TG_TAP_H
#define TG_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_count;
static int tap_failed;

static void tap_vreport(int ok, const char *file, int line, const char *fmt, va_list ap)
{
    printf("%sok %d - ", ok ? "" : "not ", ++tap_count);
    vprintf(fmt, ap);
    printf("\n");
    if (!ok) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
}

static inline int tap_ok_at(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vreport(ok, file, line, fmt, ap);
    va_end(ap);
    return ok;
}

#define TAP_OK(cond, ...) tap_ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |got - want| <= tol, printing both on failure. */
#define TAP_NEAR(got, want, tol, ...)                                                  \
    do {                                                                               \
        double tap_g_ = (double)(got), tap_w_ = (double)(want);                        \
        if (!TAP_OK(fabs(tap_g_ - tap_w_) <= (double)(tol), __VA_ARGS__))              \
            printf("#   got %.10g, want %.10g (tolerance %g)\n", tap_g_, tap_w_,       \
                   (double)(tol));                                                     \
    } while (0)

/* Integer equality, printing both on failure. */
#define TAP_EQ(got, want, ...)                                                         \
    do {                                                                               \
        long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);               \
        if (!TAP_OK(tap_g_ == tap_w_, __VA_ARGS__))                                    \
            printf("#   got %lld, want %lld\n", tap_g_, tap_w_);                       \
    } while (0)

/* A skipped check: only for a missing optional tool, never for a missing feature. */
static inline void tap_skip(const char *what, const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++tap_count, what, why);
    fflush(stdout);
}

static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}

static inline const char *tap_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}
#define tap_srcdir() tap_env("TOP_SRCDIR", ".")
#define tap_builddir() tap_env("TOP_BUILDDIR", ".")
#define tap_shared() tap_env("TG_SHARED_DATA", "../shared/data")

#endif /* TG_TAP_H */
