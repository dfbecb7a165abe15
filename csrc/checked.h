/* checked.h -- int64 arithmetic that reports overflow instead of wrapping, for every size
 * the C core computes from a network's description (a crafted model must never make a
 * small buffer look large enough). Each returns 1 and stores the result when it fits,
 * else 0 (and leaves *out unspecified). Negative operands are refused as well: sizes are
 * never negative. */
#ifndef BARENET_CHECKED_H
#define BARENET_CHECKED_H

#include <stdint.h>

static inline int bn_checked_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return 0;
#if defined(__GNUC__) || defined(__clang__)
    return !__builtin_mul_overflow(a, b, out);
#else
    if (a != 0 && b > INT64_MAX / a) return 0;
    *out = a * b;
    return 1;
#endif
}

static inline int bn_checked_add(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || a > INT64_MAX - b) return 0;
    *out = a + b;
    return 1;
}

static inline int bn_checked_mul3(int64_t a, int64_t b, int64_t c, int64_t *out)
{
    int64_t ab;
    return bn_checked_mul(a, b, &ab) && bn_checked_mul(ab, c, out);
}

#endif
