/* rng.h -- counter-based random numbers: every draw is a pure function of (seed, stream,
 * index), so the C core (per element, here) and the NumPy backend (vectorised, in
 * src/barenet/_rng.py) draw bit-identical numbers in any order and on any thread. What is
 * drawn where (which stream, which index) is the caller's business (train.c, layers.c).
 *
 * Definition (all arithmetic on uint64, wrapping modulo 2**64):
 *   mix(z)      = the splitmix64 finaliser: z += 0x9E3779B97F4A7C15;
 *                 z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
 *                 z = (z ^ (z >> 27)) * 0x94D049BB133111EB;  return z ^ (z >> 31)
 *   key         = mix(seed ^ mix(stream))                   -- once per (seed, stream)
 *   u64         = mix(key ^ mix(index))                     -- two rounds per draw
 *   uniform     = (u64 >> 11) * 2**-53                      -- a double in [0, 1)
 *   stream      = mix(mix(mix(mix(kind) ^ a) ^ b) ^ c)      -- kind and counters a, b, c
 * mix is a bijection, so for a fixed (seed, stream) index -> u64 is a bijection too: no two
 * indices of one stream ever draw the same u64 (bn_rng_permutation relies on it). Keys of
 * nearby seeds or streams differ in about half their bits, so their draws are unrelated. */
#ifndef BARENET_RNG_H
#define BARENET_RNG_H

#include <stdint.h>

/* kinds of stream; the counters are (epoch, batch, layer), unused ones 0 */
enum { BN_STREAM_SHUFFLE = 1, BN_STREAM_DROPOUT = 2 };

/* the splitmix64 finaliser (with its golden-ratio increment) */
static inline uint64_t bn_rng_mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* the stream id of (kind, a, b, c), e.g. (BN_STREAM_DROPOUT, epoch, batch, layer) */
static inline uint64_t bn_rng_stream(uint64_t kind, uint64_t a, uint64_t b, uint64_t c)
{
    return bn_rng_mix(bn_rng_mix(bn_rng_mix(bn_rng_mix(kind) ^ a) ^ b) ^ c);
}

/* the per-(seed, stream) key; loops compute it once (the compiler hoists it anyway) */
static inline uint64_t bn_rng_key(uint64_t seed, uint64_t stream)
{
    return bn_rng_mix(seed ^ bn_rng_mix(stream));
}

/* draw number `index` of stream `stream` under `seed`: a uniformly distributed uint64 */
static inline uint64_t bn_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    return bn_rng_mix(bn_rng_key(seed, stream) ^ bn_rng_mix(index));
}

/* the same draw as a double in [0, 1): its top 53 bits times 2**-53 (exact) */
static inline double bn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(bn_rng_u64(seed, stream, index) >> 11) * (1.0 / 9007199254740992.0);
}

/* inverted dropout: 1 if element `index` is kept at this rate (probability 1 - rate), else 0;
 * a kept element is scaled by 1 / (1 - rate). Equals bn_dropout_mask_* != 0. */
static inline int bn_dropout_keep(uint64_t seed, uint64_t stream, uint64_t index, double rate)
{
    return bn_rng_uniform(seed, stream, index) >= rate;
}

/* out[i] = bn_rng_u64 / bn_rng_uniform of index[i], for i < count (bindings and tests) */
void bn_rng_u64_array(uint64_t *out, uint64_t seed, uint64_t stream, const uint64_t *index,
                      int64_t count);
void bn_rng_uniform_array(double *out, uint64_t seed, uint64_t stream, const uint64_t *index,
                          int64_t count);

/* perm (n) = a uniformly random permutation of 0..n-1: the indices sorted by their draws
 * bn_rng_u64(seed, stream, i) (= NumPy's argsort(draws, kind="stable"); draws never tie).
 * scratch (2n) is the caller's; nothing is allocated. n <= 0 does nothing. */
void bn_rng_permutation(int64_t *perm, uint64_t *scratch, uint64_t seed, uint64_t stream,
                        int64_t n);

/* out (count)[i] = bn_dropout_keep(seed, stream, i, rate) / (1 - rate), the scale rounded
 * once to the output type; 0 <= rate < 1 (rate 0 gives all ones) */
void bn_dropout_mask_f64(double *out, uint64_t seed, uint64_t stream, int64_t count,
                         double rate);
void bn_dropout_mask_f32(float *out, uint64_t seed, uint64_t stream, int64_t count,
                         double rate);

#endif
