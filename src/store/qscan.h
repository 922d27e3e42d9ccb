/* qscan.h - the scan kernels of tg_index's compact codecs (internal to the
 * store layer; the public side is search.h).
 *
 * Two kernels score a block of compact rows against one query:
 *
 *     float s[256];
 *     tgq_i8_scores(codes, scales, nb, dim, q8, qscale, s);   // int8 rows
 *     tgq_f16_scores(halves, nb, dim, query, s);               // float16 rows
 *
 * int8: s[i] = scales[i] * qscale * sum_j codes[i*dim+j] * q8[j], the sum
 * exact in int32 (|sum| <= 127 * 127 * dim < 2^31 for dim <= 2^17; the index
 * refuses larger dims for int8). float16: s[i] = sum_j f32(halves[i*dim+j]) *
 * query[j] in float.
 *
 * Each kernel is written once per instruction set (AVX-512 VNNI, AVX2 +
 * F16C, portable C) and the widest the CPU has is picked once at run time,
 * as src/engine/tensor.c picks its vector kernels (TG_KERNELS=base|avx2|
 * avx512 forces a set there and here, for tests and benchmarks). All sets
 * give the same int8 sums (integer arithmetic); float16 sums may differ in
 * the last bits between sets (summation order), which the exact re-rank
 * makes irrelevant to the scores returned.
 *
 * Ownership: the caller owns every buffer; the kernels allocate nothing and
 * are thread-safe. */
#ifndef TG_QSCAN_H
#define TG_QSCAN_H

#include <stddef.h>
#include <stdint.h>

void tgq_i8_scores(const int8_t *codes, const float *scales, size_t nb, int dim, const int8_t *q8,
                   float qscale, float *out);
void tgq_f16_scores(const uint16_t *codes, size_t nb, int dim, const float *query, float *out);
/* The kernel set in use: "avx512", "avx2" or "base". */
const char *tgq_kernels_name(void);

#endif /* TG_QSCAN_H */
