"""The counter-based generator (csrc/rng.h, barenet._rng): its definition pinned by an
independent pure-Python version and known splitmix64 values, C and NumPy bit-identical
(draws, uniforms, streams, permutations, dropout masks) including indices and seeds at the
ends of the uint64 range, and statistical sanity checks with fixed thresholds (the generator
is deterministic, so they cannot flake)."""

import math

import numpy as np
import pytest

from barenet import _rng
from conftest import require_compiled

M64 = (1 << 64) - 1
SEEDS = [0, 1, 2, 42, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1]
RAW_STREAMS = [0, 1, 2, 12345, 2**63, 2**64 - 1]


@pytest.fixture
def core():
    """barenet._core; under BARENET_BACKEND=compiled a missing extension fails the test"""
    require_compiled()
    from barenet import _core
    return _core


def indices():
    """indices from the start, the middle and the end of the uint64 range"""
    return np.concatenate([
        np.arange(0, 300, dtype=np.uint64),
        np.arange(2**63 - 100, 2**63 + 100, dtype=np.uint64),
        np.arange(2**64 - 200, 2**64 - 1, dtype=np.uint64),
        np.array([2**64 - 1, 2**32, 2**32 - 1], dtype=np.uint64),
    ])


# -- the definition, independently ------------------------------------------------------

def py_mix(z):
    z = (z + 0x9E3779B97F4A7C15) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return z ^ (z >> 31)


def py_u64(seed, stream, index):
    return py_mix(py_mix(seed ^ py_mix(stream)) ^ py_mix(index))


def test_mix_is_splitmix64():
    # the first outputs of the reference splitmix64 seeded with 0 (state += golden, finalise)
    assert py_mix(0) == 0xE220A8397B1DCDAF
    assert py_mix(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4
    z = np.array([0, 0x9E3779B97F4A7C15], dtype=np.uint64)
    assert _rng._mix(z).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4]


@pytest.mark.parametrize("seed", SEEDS)
def test_numpy_matches_definition(seed):
    idx = indices()[::7]
    for stream in RAW_STREAMS:
        expected = [py_u64(seed, stream, int(i)) for i in idx]
        assert _rng.rng_u64(seed, stream, idx).tolist() == expected
        u = _rng.rng_uniform(seed, stream, idx)
        assert u.tolist() == [(e >> 11) / 2**53 for e in expected]
    stream = py_mix(py_mix(py_mix(py_mix(2) ^ 7) ^ 3) ^ 1)
    assert _rng.rng_stream(_rng.STREAM_DROPOUT, 7, 3, 1) == stream


def test_numpy_takes_ints_modulo_2_64():
    idx = np.arange(5)
    assert np.array_equal(_rng.rng_u64(-1, 2**64 + 3, idx), _rng.rng_u64(M64, 3, idx))
    assert np.array_equal(_rng.rng_u64(5, 6, np.array([-1])), _rng.rng_u64(5, 6, [M64]))


# -- C and NumPy bit-identical ----------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_u64_and_uniform_c_equals_numpy(core, seed):
    idx = indices()
    streams = RAW_STREAMS + [_rng.rng_stream(k, a, b, c) for k in (1, 2)
                             for a, b, c in [(0, 0, 0), (3, 0, 0), (3, 9, 2), (M64, M64, M64)]]
    for stream in streams:
        out = np.empty(idx.size, dtype=np.uint64)
        core.rng_u64(out, seed, stream, idx)
        np.testing.assert_array_equal(out, _rng.rng_u64(seed, stream, idx))
        uni = np.empty(idx.size)
        core.rng_uniform(uni, seed, stream, idx)
        np.testing.assert_array_equal(uni, _rng.rng_uniform(seed, stream, idx))
        assert uni.min() >= 0.0 and uni.max() < 1.0


def test_stream_c_equals_numpy(core):
    for kind in (0, 1, 2, 3):
        for a, b, c in [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (123, 456, 7),
                        (2**63, 2**64 - 1, 2**32), (M64, M64, M64)]:
            assert core.rng_stream(kind, a, b, c) == _rng.rng_stream(kind, a, b, c)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 10, 257, 1000, 2047, 2049, 60000, 700000])
def test_permutation_c_equals_numpy(core, n):
    for seed in (0, 1, 2**63, 2**64 - 1):
        stream = _rng.rng_stream(_rng.STREAM_SHUFFLE, seed % 5)
        expected = _rng.rng_permutation(seed, stream, n)
        perm = np.full(n, -1, dtype=np.int64)
        scratch = np.empty(2 * n, dtype=np.uint64)
        core.rng_permutation(perm, scratch, seed, stream)
        np.testing.assert_array_equal(perm, expected)
        np.testing.assert_array_equal(np.sort(perm), np.arange(n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_dropout_mask_c_equals_numpy(core, dtype, rate):
    for seed, stream in [(0, 0), (7, _rng.rng_stream(_rng.STREAM_DROPOUT, 1, 2, 3)),
                         (2**64 - 1, 2**63)]:
        expected = _rng.dropout_mask(seed, stream, 5000, rate, dtype)
        out = np.full(5000, np.nan, dtype=dtype)
        core.dropout_mask(out, seed, stream, rate)
        assert expected.dtype == dtype
        np.testing.assert_array_equal(out, expected)


# -- properties -------------------------------------------------------------------------

def test_permutation_is_the_argsort_of_the_draws():
    n = 5000
    keys = _rng.rng_u64(3, 4, np.arange(n))
    assert len(np.unique(keys)) == n  # draws of one stream never tie
    np.testing.assert_array_equal(_rng.rng_permutation(3, 4, n), np.argsort(keys))


def test_permutations_differ_between_seeds_and_streams():
    n = 1000
    base = _rng.rng_permutation(0, _rng.rng_stream(1, 0), n)
    for seed, epoch in [(1, 0), (0, 1), (2**64 - 1, 0), (0, 2)]:
        other = _rng.rng_permutation(seed, _rng.rng_stream(1, epoch), n)
        assert np.mean(other == base) < 0.01
    # every position is equally likely to receive every element: mean of perm[i] over
    # many permutations is near (n - 1) / 2
    perms = np.array([_rng.rng_permutation(0, _rng.rng_stream(1, e), 50) for e in range(400)])
    assert np.abs(perms.mean(axis=0) - 24.5).max() < 3.0


def test_uniformity():
    u = _rng.rng_uniform(12345, _rng.rng_stream(2, 0, 0, 0), np.arange(200_000))
    assert abs(u.mean() - 0.5) < 0.003
    assert abs(u.var() - 1 / 12) < 0.002
    counts = np.bincount((u * 100).astype(np.int64), minlength=100)
    expected = u.size / 100
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 160  # 99 degrees of freedom: P(chi2 > 160) ~ 1e-4
    bits = _rng.rng_u64(12345, 0, np.arange(20_000))
    ones = np.array([((bits >> np.uint64(b)) & np.uint64(1)).mean() for b in range(64)])
    assert np.abs(ones - 0.5).max() < 0.02


@pytest.mark.parametrize("seed_a, stream_a, seed_b, stream_b", [
    (0, 0, 1, 0), (1, 0, 2, 0), (2**64 - 1, 0, 0, 0), (0, 0, 0, 1),
    (0, _rng.rng_stream(2, 0, 0, 0), 0, _rng.rng_stream(2, 0, 0, 1)),
    (0, _rng.rng_stream(2, 0, 1, 0), 0, _rng.rng_stream(2, 1, 0, 0)),
    (0, _rng.rng_stream(1, 0), 0, _rng.rng_stream(2, 0)),
])
def test_nearby_seeds_and_streams_are_independent(seed_a, stream_a, seed_b, stream_b):
    idx = np.arange(50_000)
    a = _rng.rng_uniform(seed_a, stream_a, idx)
    b = _rng.rng_uniform(seed_b, stream_b, idx)
    assert not np.array_equal(a, b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    # and against a shifted copy of itself
    assert abs(np.corrcoef(a[1:], b[:-1])[0, 1]) < 0.02
    assert abs(np.corrcoef(a[1:], a[:-1])[0, 1]) < 0.02


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_values_and_keep_fraction(rate, dtype):
    n = 100_000
    mask = _rng.dropout_mask(9, _rng.rng_stream(_rng.STREAM_DROPOUT, 0, 0, 1), n, rate, dtype)
    scale = dtype(1.0 / (1.0 - rate))
    assert mask.dtype == dtype and mask.shape == (n,)
    assert set(np.unique(mask).tolist()) <= {0.0, float(scale)}
    keep = np.mean(mask != 0)
    assert abs(keep - (1 - rate)) < 4 * math.sqrt(rate * (1 - rate) / n) + 1e-12
    # inverted dropout keeps the expected value at 1
    assert abs(mask.astype(np.float64).mean() - 1.0) < 0.02
    keeps = _rng.dropout_keep(9, _rng.rng_stream(_rng.STREAM_DROPOUT, 0, 0, 1),
                              np.arange(n), rate)
    np.testing.assert_array_equal(keeps, mask != 0)
