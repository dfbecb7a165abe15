/* rng.c -- the loops over the counter-based generator of rng.h: arrays of draws, the
 * permutation used for shuffling (a sort of the draws in the caller's scratch) and
 * dropout masks. Single-threaded and allocation-free; the definitions live in rng.h. The
 * masks are written once for both precisions (precision.h). */
#ifndef REAL
#include "rng.h"

#include "parallel.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

void bn_rng_u64_array(uint64_t *out, uint64_t seed, uint64_t stream, const uint64_t *index,
                      int64_t count)
{
    const uint64_t key = bn_rng_key(seed, stream);
    for (int64_t i = 0; i < count; i++) out[i] = bn_rng_mix(key ^ bn_rng_mix(index[i]));
}

void bn_rng_uniform_array(double *out, uint64_t seed, uint64_t stream, const uint64_t *index,
                          int64_t count)
{
    for (int64_t i = 0; i < count; i++) out[i] = bn_rng_uniform(seed, stream, index[i]);
}

/* the inverse of bn_rng_mix: undo each xor-shift (x = y ^ y>>s ^ y>>2s ...) and each
 * multiplication (by the inverse modulo 2**64), last step first */
static uint64_t rng_unmix(uint64_t z)
{
    z ^= (z >> 31) ^ (z >> 62);
    z *= 0x319642B2D24D8EC3u; /* 0x94D049BB133111EB ** -1 */
    z ^= (z >> 27) ^ (z >> 54);
    z *= 0x96DE1B173F119089u; /* 0xBF58476D1CE4E5B9 ** -1 */
    z ^= (z >> 30) ^ (z >> 60);
    return z - 0x9E3779B97F4A7C15u;
}

/* sorts keys (n, all distinct) ascending through tmp (n); returns where the sorted keys
 * ended up (keys or tmp). An LSD radix sort over only the top bytes, as many as it takes for
 * 256^bytes to exceed n^2 / 64 (2 bytes for up to 2,000 keys, 4 for up to 500,000), orders
 * the keys by their top bits; keys sharing those bits (about 32 pairs for draws that are
 * uniform) then sit side by side, and one insertion pass puts them in full order. Bytes on
 * which all keys agree are skipped. */
static uint64_t *radix_sort_u64(uint64_t *keys, uint64_t *tmp, int64_t n)
{
    int bytes = 1;
    while (bytes < 8 && ldexp(1.0, 8 * bytes) <= (double)n * (double)n / 64.0) bytes++;
    size_t count[8][256];
    memset(count, 0, (size_t)bytes * sizeof count[0]);
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < bytes; d++) count[d][(keys[i] >> (64 - 8 * bytes + 8 * d)) & 255]++;
    uint64_t *src = keys, *dst = tmp;
    for (int d = 0; d < bytes; d++) {
        const int shift = 64 - 8 * bytes + 8 * d;
        if (count[d][(src[0] >> shift) & 255] == (size_t)n) continue;
        size_t start[256], sum = 0;
        for (int b = 0; b < 256; b++) { start[b] = sum; sum += count[d][b]; }
        for (int64_t i = 0; i < n; i++) dst[start[(src[i] >> shift) & 255]++] = src[i];
        uint64_t *t = src; src = dst; dst = t;
    }
    if (bytes < 8)
        for (int64_t i = 1; i < n; i++) { /* ties in the top bytes: a few short runs */
            const uint64_t v = src[i];
            int64_t j = i;
            for (; j > 0 && src[j - 1] > v; j--) src[j] = src[j - 1];
            src[j] = v;
        }
    return src;
}

/* the draws of indices 0..n-1, and the indices of sorted draws: loops of 64-bit integer
 * arithmetic that AVX-512 vectorises */
BN_VECTOR_CLONES
static void draws(uint64_t *out, uint64_t key, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = bn_rng_mix(key ^ bn_rng_mix((uint64_t)i));
}

BN_VECTOR_CLONES
static void indices_of(int64_t *perm, const uint64_t *sorted, uint64_t key, int64_t n)
{
    for (int64_t j = 0; j < n; j++) perm[j] = (int64_t)rng_unmix(rng_unmix(sorted[j]) ^ key);
}

void bn_rng_permutation(int64_t *perm, uint64_t *scratch, uint64_t seed, uint64_t stream,
                        int64_t n)
{
    if (n <= 0) return;
    const uint64_t key = bn_rng_key(seed, stream);
    draws(scratch, key, n);
    /* the draws are a bijection of the index, so each sorted draw gives back its index */
    indices_of(perm, radix_sort_u64(scratch, scratch + n, n), key, n);
}

#define BN_PRECISION_FILE "rng.c"
#include "precision.h"

#else /* ---- per precision: bn_dropout_mask_f64 / _f32 ---- */

void SFX(bn_dropout_mask)(REAL *out, uint64_t seed, uint64_t stream, int64_t count,
                          double rate)
{
    const REAL scale = (REAL)(1.0 / (1.0 - rate));
    for (int64_t i = 0; i < count; i++)
        out[i] = bn_dropout_keep(seed, stream, (uint64_t)i, rate) ? scale : (REAL)0;
}

#endif
