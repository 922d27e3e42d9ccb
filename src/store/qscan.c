/* qscan.c - scan kernels for tg_index's float16 and int8 codecs, and the
 * float16 conversions (see qscan.h and search.h). */
#include "config.h"
#include "qscan.h"
#include "transgeo/search.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define TGQ_X86 1
#endif

/* ---- float16 <-> float32 (IEEE 754 binary16, round to nearest even) ----
 * Bit arithmetic rather than the F16C instructions so the encoding is the
 * same on every host; tests/search_codec.py checks it against numpy.float16
 * on every binary16 value and on floats around each rounding boundary. */
uint16_t tg_f16_from_f32(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN stays NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to infinity */
    if (ax >= 0x38800000u) { /* normal in binary16: >= 2^-14 */
        /* drop 13 mantissa bits, rounding half to even; a carry into the
         * exponent is the correct next binade */
        ax += 0xfffu + ((ax >> 13) & 1u);
        return (uint16_t)(sign | ((ax - (112u << 23)) >> 13));
    }
    if (ax < 0x33000000u) return (uint16_t)sign; /* <= 2^-25: rounds to zero (2^-25 ties to even 0) */
    /* subnormal: k * 2^-24 with k = m * 2^(e - 150 + 24) = m >> (126 - e) */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t s = 126u - e; /* 14 .. 24 here */
    uint32_t k = m >> s, rem = m & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (k & 1u))) k++; /* k = 0x400 is the smallest normal: right */
    return (uint16_t)(sign | k);
}

float tg_f32_from_f16(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1f) {
        x = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        x = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m) { /* subnormal: m * 2^-24, exact in float */
        float v = (float)m * 0x1p-24f;
        memcpy(&x, &v, sizeof x);
        x |= sign;
    } else {
        x = sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* ---- portable kernels --------------------------------------------------- */

static void i8_base(const int8_t *codes, const float *scales, size_t nb, int dim, const int8_t *q8,
                    float qscale, float *out)
{
    for (size_t i = 0; i < nb; i++) {
        const int8_t *r = codes + i * (size_t)dim;
        int32_t acc = 0;
        for (int j = 0; j < dim; j++) acc += (int32_t)r[j] * q8[j];
        out[i] = scales[i] * qscale * (float)acc;
    }
}

static void f16_base(const uint16_t *codes, size_t nb, int dim, const float *q, float *out)
{
    for (size_t i = 0; i < nb; i++) {
        const uint16_t *r = codes + i * (size_t)dim;
        float acc = 0;
        for (int j = 0; j < dim; j++) acc += tg_f32_from_f16(r[j]) * q[j];
        out[i] = acc;
    }
}

#ifdef TGQ_X86
/* ---- AVX2 (+ F16C, FMA) ------------------------------------------------- */

__attribute__((target("avx2,fma,f16c"))) static inline int32_t hsum256_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma,f16c"))) static inline float hsum256_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 codes at a time: sign-extend to int16, vpmaddwd pairs into int32. */
__attribute__((target("avx2,fma,f16c"))) static void i8_avx2(const int8_t *codes,
                                                              const float *scales, size_t nb,
                                                              int dim, const int8_t *q8,
                                                              float qscale, float *out)
{
    int d16 = dim & ~15;
    for (size_t i = 0; i < nb; i++) {
        const int8_t *r = codes + i * (size_t)dim;
        __m256i acc = _mm256_setzero_si256();
        for (int j = 0; j < d16; j += 16) {
            __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(r + j)));
            __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q8 + j)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
        }
        int32_t s = hsum256_epi32(acc);
        for (int j = d16; j < dim; j++) s += (int32_t)r[j] * q8[j];
        out[i] = scales[i] * qscale * (float)s;
    }
}

__attribute__((target("avx2,fma,f16c"))) static void f16_avx2(const uint16_t *codes, size_t nb,
                                                               int dim, const float *q, float *out)
{
    int d8 = dim & ~7;
    for (size_t i = 0; i < nb; i++) {
        const uint16_t *r = codes + i * (size_t)dim;
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < d8; j += 8)
            acc = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r + j))),
                                  _mm256_loadu_ps(q + j), acc);
        float s = hsum256_ps(acc);
        for (int j = d8; j < dim; j++) s += tg_f32_from_f16(r[j]) * q[j];
        out[i] = s;
    }
}

/* ---- AVX-512 (F, BW, VL, VNNI) ------------------------------------------
 * vpdpbusd multiplies unsigned by signed bytes. The row codes are stored
 * signed; flipping their top bit (x ^ 0x80 = x + 128 as unsigned) gives
 *   sum_j (r_j + 128) q_j = sum_j r_j q_j + 128 sum_j q_j,
 * so the kernel subtracts 128 * sum(q), computed once per call. */
#define AVX512_ATTR __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* One row's int8 dot with the query, in int32 lanes (reduced by the caller). */
AVX512_ATTR static inline __m512i i8_row512(const int8_t *r, const int8_t *q8, int d64,
                                            __mmask64 tmask, __m512i flip)
{
    __m512i a = _mm512_setzero_si512();
    for (int j = 0; j < d64; j += 64)
        a = _mm512_dpbusd_epi32(a, _mm512_xor_si512(_mm512_loadu_si512(r + j), flip),
                                _mm512_loadu_si512(q8 + j));
    if (tmask) /* masked-off bytes are 0 in both operands: they add nothing */
        a = _mm512_dpbusd_epi32(
            a, _mm512_maskz_mov_epi8(tmask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tmask, r + d64), flip)),
            _mm512_maskz_loadu_epi8(tmask, q8 + d64));
    return a;
}

AVX512_ATTR static void i8_avx512(const int8_t *codes, const float *scales, size_t nb, int dim,
                                  const int8_t *q8, float qscale, float *out)
{
    int32_t qsum = 0;
    for (int j = 0; j < dim; j++) qsum += q8[j];
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int d64 = dim & ~63, tail = dim - d64;
    __mmask64 tmask = tail ? (~(__mmask64)0 >> (64 - tail)) : 0;
    size_t i = 0;
    /* Four rows per step: each query vector is loaded once for four rows,
     * and four independent dpbusd chains keep the unit busy. */
    for (; i + 4 <= nb; i += 4) {
        const int8_t *r0 = codes + i * (size_t)dim, *r1 = r0 + dim, *r2 = r1 + dim, *r3 = r2 + dim;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < d64; j += 64) {
            /* the next four rows, one line of each per step: the hardware
             * prefetcher alone left the scan at 0.6 of the read bandwidth
             * (bench/store.sh, 10^6 x 1000) */
            _mm_prefetch((const char *)(r0 + 4 * (size_t)dim + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(r1 + 4 * (size_t)dim + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(r2 + 4 * (size_t)dim + j), _MM_HINT_T0);
            _mm_prefetch((const char *)(r3 + 4 * (size_t)dim + j), _MM_HINT_T0);
            __m512i q = _mm512_loadu_si512(q8 + j);
            a0 = _mm512_dpbusd_epi32(a0, _mm512_xor_si512(_mm512_loadu_si512(r0 + j), flip), q);
            a1 = _mm512_dpbusd_epi32(a1, _mm512_xor_si512(_mm512_loadu_si512(r1 + j), flip), q);
            a2 = _mm512_dpbusd_epi32(a2, _mm512_xor_si512(_mm512_loadu_si512(r2 + j), flip), q);
            a3 = _mm512_dpbusd_epi32(a3, _mm512_xor_si512(_mm512_loadu_si512(r3 + j), flip), q);
        }
        if (tail) {
            __m512i q = _mm512_maskz_loadu_epi8(tmask, q8 + d64);
#define TAILROW(a, r)                                                                              \
    a = _mm512_dpbusd_epi32(                                                                       \
        a, _mm512_maskz_mov_epi8(tmask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(tmask, r + d64), flip)), q)
            TAILROW(a0, r0);
            TAILROW(a1, r1);
            TAILROW(a2, r2);
            TAILROW(a3, r3);
#undef TAILROW
        }
        out[i] = scales[i] * qscale * (float)(_mm512_reduce_add_epi32(a0) - 128 * qsum);
        out[i + 1] = scales[i + 1] * qscale * (float)(_mm512_reduce_add_epi32(a1) - 128 * qsum);
        out[i + 2] = scales[i + 2] * qscale * (float)(_mm512_reduce_add_epi32(a2) - 128 * qsum);
        out[i + 3] = scales[i + 3] * qscale * (float)(_mm512_reduce_add_epi32(a3) - 128 * qsum);
    }
    for (; i < nb; i++)
        out[i] = scales[i] * qscale *
                 (float)(_mm512_reduce_add_epi32(i8_row512(codes + i * (size_t)dim, q8, d64, tmask, flip)) -
                         128 * qsum);
}

AVX512_ATTR static void f16_avx512(const uint16_t *codes, size_t nb, int dim, const float *q,
                                   float *out)
{
    int d16 = dim & ~15, tail = dim - d16;
    __mmask16 tmask = (__mmask16)(tail ? (0xffffu >> (16 - tail)) : 0);
    for (size_t i = 0; i < nb; i++) {
        const uint16_t *r = codes + i * (size_t)dim;
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < d16; j += 16)
            acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(r + j))),
                                  _mm512_loadu_ps(q + j), acc);
        if (tail)
            acc = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tmask, r + d16)),
                                  _mm512_maskz_loadu_ps(tmask, q + d16), acc);
        out[i] = _mm512_reduce_add_ps(acc);
    }
}
#endif

/* ---- dispatch ----------------------------------------------------------- */

typedef struct qkernels {
    const char *name;
    void (*i8)(const int8_t *, const float *, size_t, int, const int8_t *, float, float *);
    void (*f16)(const uint16_t *, size_t, int, const float *, float *);
} qkernels;

static const qkernels q_base = {"base", i8_base, f16_base};
#ifdef TGQ_X86
static const qkernels q_avx2 = {"avx2", i8_avx2, f16_avx2};
static const qkernels q_avx512 = {"avx512", i8_avx512, f16_avx512};
#endif
static const qkernels *qk = &q_base;
static pthread_once_t qk_once = PTHREAD_ONCE_INIT;

#ifdef TGQ_X86
/* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c". */
static int has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

static void qk_pick(void)
{
#ifdef TGQ_X86
    __builtin_cpu_init();
    const char *force = getenv("TG_KERNELS"); /* as src/engine/tensor.c: base | avx2 | avx512 */
    int want = force && *force ? (!strcmp(force, "base") ? 0 : !strcmp(force, "avx2") ? 1 : 2) : 2;
    if (want >= 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") && has_f16c())
        qk = &q_avx512;
    else if (want >= 1 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c())
        qk = &q_avx2;
#endif
}

static const qkernels *QK(void)
{
    pthread_once(&qk_once, qk_pick);
    return qk;
}

void tgq_i8_scores(const int8_t *codes, const float *scales, size_t nb, int dim, const int8_t *q8,
                   float qscale, float *out)
{
    QK()->i8(codes, scales, nb, dim, q8, qscale, out);
}

void tgq_f16_scores(const uint16_t *codes, size_t nb, int dim, const float *query, float *out)
{
    QK()->f16(codes, nb, dim, query, out);
}

const char *tgq_kernels_name(void) { return QK()->name; }
