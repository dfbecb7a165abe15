/* parallel.h -- how the C core's elementwise loops use the CPU. Vector clones: where GCC
 * can dispatch at load time (ifunc), functions marked BN_VECTOR_CLONES are compiled for
 * AVX-512 and for x86-64-v3 (AVX2 with FMA) too, so a wheel built for any x86-64 still
 * steps 16 or 8 floats at a time (AVX-512 halves Adam's step, whose square roots and
 * divisions bound it). Every clone gives the same bits: the core is built with
 * -ffp-contract=off (CMakeLists.txt), so the compiler never fuses a * b + c on its own and
 * nothing is reassociated; each operation rounds once whatever the vector width. Fused
 * multiply-adds are written out where they pay (BN_FMAF / BN_FMA: the polynomials of
 * vexp.h and verf.h): an FMA rounds once on every width too, an instruction in the
 * clones, a libm call (the same correctly rounded result) in the default one, which only
 * CPUs without AVX2 run. Threads: the one rule
 * for splitting the layer code's loops over OpenMP threads:
 * loops of fewer than BN_LAYER_PARALLEL_MIN element operations stay on one thread (a
 * parallel region costs more), larger ones use bn_get_num_threads(). Every loop split this
 * way computes each output element on one thread in a fixed order, so results do not
 * depend on the thread count. */
#ifndef BARENET_PARALLEL_H
#define BARENET_PARALLEL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h" /* bn_get_num_threads */

#define BN_LAYER_PARALLEL_MIN 200000.0

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BN_VECTOR_CLONES \
    __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#define BN_HAVE_VECTOR_CLONES 1
#else
#define BN_VECTOR_CLONES
#define BN_HAVE_VECTOR_CLONES 0
#endif

/* a small function inlined into every caller, so that each vector clone has its own copy
 * (an out-of-line copy is compiled for the baseline, without the clones' instructions) */
#if defined(_MSC_VER)
#define BN_INLINE static __forceinline
#else
#define BN_INLINE static inline __attribute__((always_inline))
#endif

/* a * b + c rounded once (fmaf / fma) where the clones, or the one build, have the
 * instruction; elsewhere (a build for a baseline x86-64 without clones) two roundings, as
 * a libm call per operation would cost more than the polynomials it serves gain. One
 * build gives one set of bits either way. */
#if BN_HAVE_VECTOR_CLONES || defined(__FMA__) || defined(__aarch64__) || defined(_M_ARM64)
#define BN_FMAF(a, b, c) fmaf((a), (b), (c))
#define BN_FMA(a, b, c) fma((a), (b), (c))
#else
#define BN_FMAF(a, b, c) ((a) * (b) + (c))
#define BN_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* BN_PARALLEL_FOR(nt, for (...) { ... }): the loop split over nt OpenMP threads, or run as
 * it is when nt is 1, without entering an OpenMP region (which costs ~0.3 us even for one
 * thread: libgomp builds a team). The caller's thread count must be a variable named nt. */
#ifdef _OPENMP
#if defined(_MSC_VER) && !defined(__clang__) /* MSVC's own pragma operator */
#define BN_PRAGMA_OMP_FOR __pragma(omp parallel for num_threads(nt) schedule(static))
#define BN_OMP_CRITICAL __pragma(omp critical(bn_layer_status))
#else
#define BN_PRAGMA_OMP_FOR _Pragma("omp parallel for num_threads(nt) schedule(static)")
#define BN_OMP_CRITICAL _Pragma("omp critical(bn_layer_status)")
#endif
#define BN_PARALLEL_FOR(threads, ...)                                                     \
    do {                                                                                  \
        if ((threads) > 1) {                                                              \
            BN_PRAGMA_OMP_FOR __VA_ARGS__                                                 \
        } else {                                                                          \
            __VA_ARGS__                                                                   \
        }                                                                                 \
    } while (0)
#else
#define BN_PARALLEL_FOR(threads, ...) do { __VA_ARGS__ } while (0)
#define BN_OMP_CRITICAL
#endif

/* threads for a loop of n independent items doing `work` element operations in all */
static inline int bn_threads_for(int64_t n, double work)
{
    int nt = bn_get_num_threads();
    if (work < BN_LAYER_PARALLEL_MIN || n < 2) return 1;
    return nt < n ? nt : (int)n;
}

/* BN_PARALLEL_RANGES(count, grain, work, lo, hi, body): [0, count) cut into one contiguous
 * range [lo, hi) per thread (bn_threads_for(count / grain, work) threads), body run on each:
 * for the passes over a whole (N, size) block that would otherwise leave the second core
 * idle between two parallel operations. BN_PARALLEL_PARTS(count, grain, work, part, lo, hi,
 * body) is the same with the range's index, part (0 .. threads - 1), given to the body too
 * (a buffer of its own per range). The body must not use the name nt. Each element is
 * still computed by one thread in the same way, so the bits do not depend on the thread
 * count. */
#define BN_PARALLEL_PARTS(count, grain, work, part, lo, hi, ...)                          \
    do {                                                                                  \
        const int64_t bn_count_ = (count);                                                \
        const int nt = bn_threads_for(bn_count_ / (grain), (work));                       \
        BN_PARALLEL_FOR(nt, for (int part = 0; part < nt; part++) {                       \
            const int64_t lo = bn_count_ * part / nt, hi = bn_count_ * (part + 1) / nt;   \
            __VA_ARGS__                                                                   \
        });                                                                               \
    } while (0)
#define BN_PARALLEL_RANGES(count, grain, work, lo, hi, ...) \
    BN_PARALLEL_PARTS(count, grain, work, bn_part_, lo, hi, __VA_ARGS__)

/* dst[0:count] = src[0:count] of `size`-byte elements, over threads when large */
static inline void bn_copy(void *dst, const void *src, int64_t count, int64_t size)
{
    BN_PARALLEL_RANGES(count, 4096, (double)count, lo, hi,
        memcpy((char *)dst + lo * size, (const char *)src + lo * size,
               (size_t)((hi - lo) * size)););
}

#endif
