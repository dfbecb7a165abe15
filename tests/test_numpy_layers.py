"""The NumPy reference of the convolutional layers (barenet._numpy_layers), pinned four
ways: against naive loops written here (one output position at a time, in float64), on
examples worked by hand, by float64 central differences, and against PyTorch when it is
importable. Grid: kernels (3,3) (1,1) (3,2), strides 1, 2 and (2,1), paddings "valid",
"same", 1 and (2,0), odd inputs (7x5), one or several channels, with and without bias,
float32 and float64 (the dtype is kept; float32 within the bound of test_gemm.py:
|z - z_ref| <= 2 (k + 2) eps |w|.|x|, k the number of products summed)."""

import math

import numpy as np
import pytest

from barenet._numpy_layers import (avgpool2d_backward, avgpool2d_forward, conv2d_backward,
                                   conv2d_forward, conv_output_size, conv_padding,
                                   flatten_backward, flatten_forward, maxpool2d_backward,
                                   maxpool2d_forward)

N, H, W = 2, 7, 5
KERNELS = [(3, 3), (1, 1), (3, 2)]
STRIDES = [1, 2, (2, 1)]
PADDINGS = ["valid", "same", 1, (2, 0)]
CHANNELS = [(1, 1), (3, 4)]                   # (C in, F out)
POOL_SIZES = [2, 3, (3, 2), (2, 1)]
POOL_STRIDES = [1, 2, (2, 1), (1, 2)]
DTYPES = [np.float32, np.float64]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def setup_conv(kernel, stride, padding, c, f, bias=True, dtype=np.float64, seed=0):
    """x (N, C, H, W), w (KH, KW, C, F), b (F,) or None, pads"""
    rng = np.random.default_rng(seed)
    kh, kw = kernel
    x = rng.standard_normal((N, c, H, W)).astype(dtype)
    w = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    return x, w, b, conv_padding(H, W, kh, kw, stride, padding)


# ---------------------------------------------------------------- naive references

def naive_conv2d(x, w, b, stride, pads):
    """(z, |w|.|x| + |b|) in float64, one output position at a time, each window sliced
    from a zero-padded copy built by hand"""
    sh, sw = pair(stride)
    pt, pb, pl, pr = pads
    n, c, h, wd = x.shape
    kh, kw, _, f = w.shape
    xpad = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xpad[:, :, pt:pt + h, pl:pl + wd] = x
    oh, ow = (xpad.shape[2] - kh) // sh + 1, (xpad.shape[3] - kw) // sw + 1
    w64 = w.astype(np.float64).transpose(3, 2, 0, 1)          # (F, C, KH, KW)
    b64 = np.zeros(f) if b is None else b.astype(np.float64)
    z, mag = np.zeros((n, f, oh, ow)), np.zeros((n, f, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            win = xpad[:, None, :, oy * sh:oy * sh + kh, ox * sw:ox * sw + kw]   # (N, 1, C, KH, KW)
            z[:, :, oy, ox] = (win * w64).sum(axis=(2, 3, 4)) + b64
            mag[:, :, oy, ox] = np.abs(win * w64).sum(axis=(2, 3, 4)) + np.abs(b64)
    return z, mag


def naive_windows(x, size, stride):
    """yields (oy, ox, oy*sh, ox*sw, window (N, C, KH, KW)) for every output position"""
    kh, kw = pair(size)
    sh, sw = pair(stride)
    for oy in range((x.shape[2] - kh) // sh + 1):
        for ox in range((x.shape[3] - kw) // sw + 1):
            yield oy, ox, oy * sh, ox * sw, x[:, :, oy * sh:oy * sh + kh, ox * sw:ox * sw + kw]


def pool_out_shape(x, size, stride):
    kh, kw = pair(size)
    sh, sw = pair(stride)
    return x.shape[0], x.shape[1], (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1


def naive_maxpool(x, size, stride):
    out = np.zeros(pool_out_shape(x, size, stride))
    for oy, ox, _, _, win in naive_windows(x, size, stride):
        out[:, :, oy, ox] = win.max(axis=(2, 3))
    return out


def naive_maxpool_backward(dout, x, size, stride):
    """scalar loops: the first strict improvement in row-major order wins"""
    kh, kw = pair(size)
    dx = np.zeros(x.shape)
    for oy, ox, y0, x0, win in naive_windows(x, size, stride):
        for n in range(x.shape[0]):
            for c in range(x.shape[1]):
                best, at = -math.inf, None
                for ky in range(kh):
                    for kx in range(kw):
                        if win[n, c, ky, kx] > best:
                            best, at = win[n, c, ky, kx], (ky, kx)
                dx[n, c, y0 + at[0], x0 + at[1]] += dout[n, c, oy, ox]
    return dx


def naive_avgpool(x, size, stride):
    out = np.zeros(pool_out_shape(x, size, stride))
    for oy, ox, _, _, win in naive_windows(x, size, stride):
        out[:, :, oy, ox] = win.astype(np.float64).mean(axis=(2, 3))
    return out


def naive_avgpool_backward(dout, x, size, stride):
    kh, kw = pair(size)
    dx = np.zeros(x.shape)
    for oy, ox, y0, x0, _ in naive_windows(x, size, stride):
        dx[:, :, y0:y0 + kh, x0:x0 + kw] += dout[:, :, oy, ox, None, None] / (kh * kw)
    return dx


def assert_within_bound(z, ref, mag, k):
    """|z - ref| <= 2 (k + 2) eps mag per element (test_gemm.py's bound)"""
    assert z.shape == ref.shape
    eps = np.finfo(z.dtype).eps
    err = np.abs(z.astype(np.float64) - ref)
    bound = 2 * (k + 2) * eps * mag + np.finfo(z.dtype).tiny
    assert np.all(err <= bound), f"max error {err.max():.3g}, bound {bound.max():.3g}"


def numeric_grad(loss, a, eps=1e-6):
    """central differences of loss() with respect to every element of a (modified in place
    and restored)"""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        up = loss()
        a[i] = old - eps
        down = loss()
        a[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


# ---------------------------------------------------------------- sizes and padding

@pytest.mark.parametrize("h, w, kernel, stride, padding, pads", [
    (28, 28, (3, 3), 1, "same", (1, 1, 1, 1)),       # out 28, total 2
    (5, 5, (2, 2), 2, "same", (0, 1, 0, 1)),         # out 3, total (3-1)*2 + 2 - 5 = 1
    (28, 28, (3, 3), 2, "same", (0, 1, 0, 1)),       # out 14, total 13*2 + 3 - 28 = 1
    (7, 5, (3, 2), (2, 1), "same", (1, 1, 0, 1)),    # out 4 x 5: totals 2 and 1
    (5, 5, (1, 1), 2, "same", (0, 0, 0, 0)),         # kernel < stride: total clipped at 0
    (3, 3, (5, 5), 1, "same", (2, 2, 2, 2)),         # kernel larger than the input
    (7, 5, (3, 3), 1, "valid", (0, 0, 0, 0)),
    (7, 5, (3, 3), 1, 2, (2, 2, 2, 2)),
    (7, 5, (3, 3), 1, (1, 0), (1, 1, 0, 0)),
])
def test_conv_padding_by_hand(h, w, kernel, stride, padding, pads):
    assert conv_padding(h, w, *kernel, stride, padding) == pads


def test_same_padding_gives_ceil_of_input_over_stride():
    for size in range(1, 13):
        for k in range(1, 6):
            for s in range(1, 4):
                pt, pb, pl, pr = conv_padding(size, size, k, k, s, "same")
                assert (pt, pb) == (pl, pr) and 0 <= pb - pt <= 1
                assert conv_output_size(size, k, s, pt, pb) == math.ceil(size / s)


def test_conv_output_size():
    assert conv_output_size(28, 3, 1, 0, 0) == 26
    assert conv_output_size(28, 3, 1, 1, 1) == 28
    assert conv_output_size(7, 3, 2, 0, 0) == 3
    assert conv_output_size(5, 2, 2, 0, 1) == 3
    assert conv_output_size(2, 3, 1, 0, 0) == 0        # callers reject this


@pytest.mark.parametrize("padding", ["full", "SAME", -1, (1, -1)])
def test_conv_padding_rejects(padding):
    with pytest.raises(ValueError):
        conv_padding(7, 5, 3, 3, 1, padding)


def test_window_larger_than_input_is_an_error():
    x = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_forward(x, np.zeros((3, 3, 1, 1)), None, 1, (0, 0, 0, 0))
    with pytest.raises(ValueError, match="does not fit"):
        maxpool2d_forward(x, 3, 1)


# ---------------------------------------------------------------- worked by hand

X3 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)        # [[1 2 3] [4 5 6] [7 8 9]]


def test_conv2d_by_hand():
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    b = np.array([0.5])
    # valid: z[0,0] = 1*1 + 2*2 + 4*3 + 5*4 = 37, then 47, 67, 77 (+ 0.5)
    z = conv2d_forward(X3, w, b, 1, conv_padding(3, 3, 2, 2, 1, "valid"))
    np.testing.assert_array_equal(z[0, 0], [[37.5, 47.5], [67.5, 77.5]])
    # same: one zero row below and one zero column right: z[0,2] = 3*1 + 6*3 = 21,
    # z[1,2] = 6*1 + 9*3 = 33, z[2,0] = 7*1 + 8*2 = 23, z[2,1] = 8 + 18 = 26, z[2,2] = 9
    z = conv2d_forward(X3, w, None, 1, conv_padding(3, 3, 2, 2, 1, "same"))
    np.testing.assert_array_equal(z[0, 0], [[37, 47, 21], [67, 77, 33], [23, 26, 9]])
    # stride 2, same: out 2, total 1 -> pads (0, 1, 0, 1): z = [[37, 21], [23, 9]]
    z = conv2d_forward(X3, w, None, 2, conv_padding(3, 3, 2, 2, 2, "same"))
    np.testing.assert_array_equal(z[0, 0], [[37, 21], [23, 9]])


def test_conv2d_backward_by_hand():
    w = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    dz = np.ones((1, 1, 2, 2))
    dx, dw, db = conv2d_backward(dz, X3, w, 1, (0, 0, 0, 0))
    # dw[ky,kx] = sum of the 2x2 block of x starting at (ky, kx): 1+2+4+5 = 12, ...
    np.testing.assert_array_equal(dw[:, :, 0, 0], [[12, 16], [24, 28]])
    np.testing.assert_array_equal(db, [4])
    # dx[i,j] = sum of the weights that touch pixel (i, j): the centre sees all four
    np.testing.assert_array_equal(dx[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])


def test_maxpool_by_hand_ties_and_overlap():
    x = np.array([[1.0, 3, 3], [3, 2, 0], [0, 3, 1]]).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(maxpool2d_forward(x, 2, 1)[0, 0], [[3, 3], [3, 3]])
    dout = np.array([[1.0, 2], [4, 8]]).reshape(1, 1, 2, 2)
    # windows (origin: elements in row-major order -> first maximum):
    # (0,0): 1 3 / 3 2 -> x[0,1];  (0,1): 3 3 / 2 0 -> x[0,1];  (1,0): 3 2 / 0 3 -> x[1,0]
    # (1,1): 2 0 / 3 1 -> x[2,1]. x[0,1] collects 1 + 2 from two overlapping windows.
    dx = maxpool2d_backward(dout, x, 2, 1)
    np.testing.assert_array_equal(dx[0, 0], [[0, 3, 0], [4, 0, 0], [0, 8, 0]])


def test_maxpool_all_equal_window_sends_everything_to_its_first_element():
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)       # ReLU outputs are often all zero
    dx = maxpool2d_backward(np.ones((1, 1, 2, 2), np.float32), x, 2, 2)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_maxpool_nan_counts_as_the_maximum():
    x = np.array([[1.0, np.nan], [5.0, np.nan]]).reshape(1, 1, 2, 2)
    assert np.isnan(maxpool2d_forward(x, 2, 2)).all()
    dx = maxpool2d_backward(np.ones((1, 1, 1, 1)), x, 2, 2)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1], [0, 0]])


def test_avgpool_by_hand():
    np.testing.assert_array_equal(avgpool2d_forward(X3, 2, 1)[0, 0], [[3, 4], [6, 7]])
    dx = avgpool2d_backward(np.ones((1, 1, 2, 2)), X3.shape, 2, 1)
    np.testing.assert_array_equal(dx[0, 0], [[.25, .5, .25], [.5, 1, .5], [.25, .5, .25]])


# ---------------------------------------------------------------- against the naive loops

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("c, f", CHANNELS)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_conv2d_forward_against_naive(kernel, stride, padding, c, f, bias, dtype):
    x, w, b, pads = setup_conv(kernel, stride, padding, c, f, bias, dtype)
    x0, w0 = x.copy(), w.copy()
    z = conv2d_forward(x, w, b, stride, pads)
    ref, mag = naive_conv2d(x, w, b, stride, pads)
    assert z.dtype == dtype and z.flags.c_contiguous
    assert z.shape == (N, f, conv_output_size(H, kernel[0], pair(stride)[0], *pads[:2]),
                       conv_output_size(W, kernel[1], pair(stride)[1], *pads[2:]))
    assert_within_bound(z, ref, mag, kernel[0] * kernel[1] * c + 1)
    np.testing.assert_array_equal(x, x0)                      # inputs left alone
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", POOL_STRIDES)
@pytest.mark.parametrize("size", POOL_SIZES)
def test_pools_against_naive(size, stride, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, 3, H, W)).astype(dtype)
    x0 = x.copy()
    out_shape = pool_out_shape(x, size, stride)
    dout = rng.standard_normal(out_shape).astype(dtype)
    kh, kw = pair(size)
    mag = naive_avgpool(np.abs(x), size, stride)

    out = maxpool2d_forward(x, size, stride)
    assert out.dtype == dtype and out.shape == out_shape
    np.testing.assert_array_equal(out, naive_maxpool(x, size, stride))   # max is exact
    dx = maxpool2d_backward(dout, x, size, stride)
    assert dx.dtype == dtype and dx.shape == x.shape
    assert_within_bound(dx, naive_maxpool_backward(dout, x, size, stride),
                        naive_maxpool_backward(np.abs(dout), x, size, stride), kh * kw)

    out = avgpool2d_forward(x, size, stride)
    assert out.dtype == dtype and out.shape == out_shape
    assert_within_bound(out, naive_avgpool(x, size, stride), mag, kh * kw)
    for given in (x, x.shape):
        dx = avgpool2d_backward(dout, given, size, stride)
        assert dx.dtype == dtype and dx.shape == x.shape
        assert_within_bound(dx, naive_avgpool_backward(dout, x, size, stride),
                            naive_avgpool_backward(np.abs(dout), x, size, stride), kh * kw)
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxpool_backward_first_maximum_on_relu_outputs(dtype):
    """after a ReLU whole windows tie at 0, and rounded values tie often: the first one wins"""
    rng = np.random.default_rng(2)
    x = np.maximum(np.round(rng.standard_normal((N, 3, H, W)), 0), 0).astype(dtype)
    for size, stride in [(2, 2), (3, 1), ((3, 2), (2, 1))]:
        dout = rng.standard_normal(pool_out_shape(x, size, stride)).astype(dtype)
        np.testing.assert_allclose(maxpool2d_backward(dout, x, size, stride),
                                   naive_maxpool_backward(dout, x, size, stride), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_dtype_and_need_dx(dtype):
    x, w, b, pads = setup_conv((3, 2), (2, 1), "same", 3, 4, True, dtype)
    dz = np.ones_like(conv2d_forward(x, w, b, (2, 1), pads))
    dx, dw, db = conv2d_backward(dz, x, w, (2, 1), pads)
    assert (dx.dtype, dw.dtype, db.dtype) == (dtype,) * 3
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    none, dw2, db2 = conv2d_backward(dz, x, w, (2, 1), pads, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten(dtype):
    x = np.arange(N * 3 * H * W, dtype=dtype).reshape(N, 3, H, W)
    flat = flatten_forward(x)
    assert flat.shape == (N, 3 * H * W) and flat.dtype == dtype
    np.testing.assert_array_equal(flat[1], x[1].ravel())      # (c, y, x) order
    assert flat[0, W] == x[0, 0, 1, 0] and flat[0, H * W] == x[0, 1, 0, 0]
    np.testing.assert_array_equal(flatten_backward(flat, x.shape), x)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_conv2d_backward_finite_differences(kernel, stride, padding):
    x, w, b, pads = setup_conv(kernel, stride, padding, 2, 3, seed=3)
    dz = np.random.default_rng(4).standard_normal(conv2d_forward(x, w, b, stride, pads).shape)
    loss = lambda: float(np.sum(dz * conv2d_forward(x, w, b, stride, pads)))
    dx, dw, db = conv2d_backward(dz, x, w, stride, pads)
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        np.testing.assert_allclose(analytic, numeric_grad(loss, param), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("stride", POOL_STRIDES)
@pytest.mark.parametrize("size", POOL_SIZES)
def test_pools_backward_finite_differences(size, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, 2, H, W))                     # continuous: no ties
    dout = rng.standard_normal(pool_out_shape(x, size, stride))
    for forward, backward in ((maxpool2d_forward, maxpool2d_backward),
                              (avgpool2d_forward, avgpool2d_backward)):
        loss = lambda: float(np.sum(dout * forward(x, size, stride)))
        np.testing.assert_allclose(backward(dout, x, size, stride), numeric_grad(loss, x),
                                   rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- against PyTorch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize("kernel", KERNELS)
def test_conv2d_against_torch(kernel, stride, padding, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, pads = setup_conv(kernel, stride, padding, 3, 4, True, dtype, seed=6)
    pt, pb, pl, pr = pads
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    zt = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wt.permute(3, 2, 0, 1), bt, stride=pair(stride))
    z = conv2d_forward(x, w, b, stride, pads)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(z, zt.detach().numpy(), **tol)
    dz = np.random.default_rng(7).standard_normal(z.shape).astype(dtype)
    zt.backward(torch.tensor(dz))
    for mine, theirs in zip(conv2d_backward(dz, x, w, stride, pads), (xt, wt, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), **tol)


@pytest.mark.parametrize("stride", POOL_STRIDES)
@pytest.mark.parametrize("size", POOL_SIZES)
def test_pools_against_torch(size, stride):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((N, 3, H, W))
    dout = rng.standard_normal(pool_out_shape(x, size, stride))
    for mine, theirs in ((maxpool2d_forward, F.max_pool2d), (avgpool2d_forward, F.avg_pool2d)):
        backward = maxpool2d_backward if mine is maxpool2d_forward else avgpool2d_backward
        xt = torch.tensor(x, requires_grad=True)
        out = theirs(xt, kernel_size=pair(size), stride=pair(stride))
        out.backward(torch.tensor(dout))
        np.testing.assert_allclose(mine(x, size, stride), out.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(backward(dout, x, size, stride), xt.grad.numpy(),
                                   rtol=1e-12, atol=1e-15)
