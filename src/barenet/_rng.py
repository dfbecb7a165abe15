"""Counter-based random numbers, vectorised: the NumPy side of csrc/rng.h, with the same
names and bit-identical results. Every draw is a pure function of (seed, stream, index), so
both backends shuffle and drop out identically whatever order they evaluate in.

Seeds, streams and indices are unsigned 64-bit: Python ints are taken modulo 2**64 and
index arrays are cast to uint64 (so -1 means 2**64 - 1). Internal module: arguments are not
validated. The definition (see rng.h):

    mix(z)   = splitmix64 finaliser            key     = mix(seed ^ mix(stream))
    u64      = mix(key ^ mix(index))           uniform = (u64 >> 11) * 2**-53
    stream   = mix(mix(mix(mix(kind) ^ a) ^ b) ^ c)
"""

import numpy as np

STREAM_SHUFFLE = 1  # BN_STREAM_SHUFFLE: counters (epoch, 0, 0)
STREAM_DROPOUT = 2  # BN_STREAM_DROPOUT: counters (epoch, batch, layer)

_MASK = (1 << 64) - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_U = np.uint64


def _mix_int(z):
    """splitmix64 finaliser on one Python int (exact, no NumPy overflow warnings)"""
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _mix(z):
    """splitmix64 finaliser on a uint64 array (wraps modulo 2**64, as in C)"""
    z = z + _U(_GOLDEN)
    z = (z ^ (z >> _U(30))) * _U(_M1)
    z = (z ^ (z >> _U(27))) * _U(_M2)
    return z ^ (z >> _U(31))


def rng_stream(kind, a=0, b=0, c=0):
    """the stream id (a Python int) of kind (STREAM_SHUFFLE, STREAM_DROPOUT) and up to three
    counters, e.g. rng_stream(STREAM_DROPOUT, epoch, batch, layer)"""
    h = _mix_int(kind & _MASK)
    for counter in (a, b, c):
        h = _mix_int(h ^ (counter & _MASK))
    return h


def rng_key(seed, stream):
    """the per-(seed, stream) key (a Python int)"""
    return _mix_int((seed & _MASK) ^ _mix_int(stream & _MASK))


def rng_u64(seed, stream, index):
    """uint64 draws number `index` (array-like of integers) of `stream` under `seed`"""
    index = np.asarray(index).astype(np.uint64)
    with np.errstate(over="ignore"):
        return _mix(_U(rng_key(seed, stream)) ^ _mix(index))


def rng_uniform(seed, stream, index):
    """the same draws as float64 in [0, 1): their top 53 bits times 2**-53"""
    return (rng_u64(seed, stream, index) >> _U(11)).astype(np.float64) * 2.0 ** -53


def rng_permutation(seed, stream, n):
    """a uniformly random permutation of 0..n-1 (int64): the indices sorted by their draws,
    as bn_rng_permutation (the draws of one stream never tie)"""
    keys = rng_u64(seed, stream, np.arange(n, dtype=np.uint64))
    return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


def dropout_keep(seed, stream, index, rate):
    """bool array: which elements `index` are kept by inverted dropout at `rate`"""
    return rng_uniform(seed, stream, index) >= rate


def dropout_mask(seed, stream, count, rate, dtype=np.float64, start=0):
    """(count,) array of dtype: 1 / (1 - rate) where element start + i is kept, else 0; the
    scale is rounded once to dtype (as bn_dropout_mask_f32/f64). 0 <= rate < 1."""
    dtype = np.dtype(dtype)
    scale = dtype.type(1.0 / (1.0 - rate))
    keep = dropout_keep(seed, stream, np.arange(start, start + count, dtype=np.uint64), rate)
    return np.where(keep, scale, dtype.type(0)).astype(dtype, copy=False)
