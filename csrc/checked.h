/* checked.h -- int64 size arithmetic that reports overflow instead of wrapping. Every size,
 * offset or element count that C derives from layer geometry and row counts (workspace
 * layouts, activation sizes) goes through these, so a huge layer cannot wrap to a small
 * buffer. Python bounds the sizes first (barenet/layers.py MAX_SAMPLE_VALUES); this is the
 * second line, and the one C relies on. Header-only; GCC/Clang builtins, a portable
 * fallback elsewhere (MSVC).
 *
 * Two forms:
 *  - predicates, bn_mul_overflows / bn_add_overflows: 1 when a op b does not fit in int64
 *    (then *out is unspecified), else 0 with *out = a op b;
 *  - sizes, bn_size_mul / bn_size_add: the result for non-negative operands, or -1 when an
 *    operand is negative or the result does not fit. -1 propagates (any operation on it
 *    gives -1), so a size can be written as one expression and checked once at the end:
 *    a size function returns -1 for "does not fit" and its caller refuses it. */
#ifndef BARENET_CHECKED_H
#define BARENET_CHECKED_H

#include <stdint.h>

/* 1: use the compiler's overflow builtins; defining it 0 forces the portable fallback
 * (tests/test_hardening_files.py compiles both) */
#ifndef BN_HAVE_OVERFLOW_BUILTINS
#if defined(__GNUC__) || defined(__clang__)
#define BN_HAVE_OVERFLOW_BUILTINS 1
#else
#define BN_HAVE_OVERFLOW_BUILTINS 0
#endif
#endif

/* *out = a * b; returns 1 when the product does not fit in int64 */
static inline int bn_mul_overflows(int64_t a, int64_t b, int64_t *out)
{
#if BN_HAVE_OVERFLOW_BUILTINS
    return __builtin_mul_overflow(a, b, out);
#else
    int over;
    if (a == 0 || b == 0) over = 0;
    else if (a > 0) over = b > 0 ? a > INT64_MAX / b : b < INT64_MIN / a;
    else over = b > 0 ? a < INT64_MIN / b : b < INT64_MAX / a;
    if (!over) *out = a * b;
    return over;
#endif
}

/* *out = a + b; returns 1 when the sum does not fit in int64 */
static inline int bn_add_overflows(int64_t a, int64_t b, int64_t *out)
{
#if BN_HAVE_OVERFLOW_BUILTINS
    return __builtin_add_overflow(a, b, out);
#else
    int over = (b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b);
    if (!over) *out = a + b;
    return over;
#endif
}

/* a * b for sizes a, b >= 0; -1 when either is negative (-1: an earlier overflow) or the
 * product does not fit */
static inline int64_t bn_size_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || bn_mul_overflows(a, b, &r)) return -1;
    return r;
}

/* a + b for sizes a, b >= 0; -1 when either is negative or the sum does not fit */
static inline int64_t bn_size_add(int64_t a, int64_t b)
{
    int64_t r;
    if (a < 0 || b < 0 || bn_add_overflows(a, b, &r)) return -1;
    return r;
}

/* a * b * c, checked as bn_size_mul */
static inline int64_t bn_size_mul3(int64_t a, int64_t b, int64_t c)
{
    return bn_size_mul(bn_size_mul(a, b), c);
}

#endif
