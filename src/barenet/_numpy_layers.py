"""The reference for barenet's convolutional layers (Conv2D, MaxPool2D, AvgPool2D,
Flatten): each layer's forward and backward as pure NumPy functions, side by side. It is
the specification the C core is tested against, so it favours clarity over speed: the
only Python loops run over kernel offsets (ky, kx), never over samples. Callers validate
options and sizes; arrays keep their dtype (float32 in, float32 out)."""

import math

import numpy as np

# Sizes: N samples, C input channels, H x W input, F filters (output channels),
# KH x KW kernel or pool window, SH x SW stride, OH x OW output.
# Layout: channels first, x (N, C, H, W); conv weights w (KH, KW, C, F), bias b (F,).


def _pair(v):
    """an int or a pair of ints -> (vertical, horizontal)"""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _tap(a, ky, kx, oh, ow, sh, sw):
    """(N, C, OH, OW) view of a (N, C, H, W) holding what each output position sees at
    kernel offset (ky, kx): _tap(...)[n, c, oy, ox] = a[n, c, oy*sh + ky, ox*sw + kx]"""
    return a[:, :, ky:ky + (oh - 1) * sh + 1:sh, kx:kx + (ow - 1) * sw + 1:sw]


# ---------------------------------------------------------------- sizes

def conv_padding(h, w, kh, kw, stride, padding):
    """(pad_top, pad_bottom, pad_left, pad_right) for padding "valid" (none), "same"
    (TensorFlow's: out = ceil(in / stride) per axis, the odd pixel at the bottom/right),
    an int p (p on every side) or a pair (ph, pw) (ph top and bottom, pw left and right)"""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f'padding must be "valid", "same", an int or a pair, '
                             f'got {padding!r}')
        sh, sw = _pair(stride)
        pads = []
        for size, k, s in ((h, kh, sh), (w, kw, sw)):
            out = math.ceil(size / s)
            total = max((out - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = _pair(padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return ph, ph, pw, pw


def conv_output_size(size, k, stride, pad_before, pad_after):
    """output length along one axis (callers check that it is >= 1)"""
    return (size + pad_before + pad_after - k) // stride + 1


def _output_shape(h, w, kh, kw, sh, sw, pads=(0, 0, 0, 0)):
    pt, pb, pl, pr = pads
    oh = conv_output_size(h, kh, sh, pt, pb)
    ow = conv_output_size(w, kw, sw, pl, pr)
    if oh < 1 or ow < 1:
        raise ValueError(f"a {kh}x{kw} window with stride ({sh}, {sw}) and padding {pads} "
                         f"does not fit a {h}x{w} input")
    return oh, ow


# ---------------------------------------------------------------- Conv2D

def conv2d_forward(x, w, b, stride, pads):
    """z[n, f, oy, ox] = b[f] + sum_{ky, kx, c} w[ky, kx, c, f] * xpad[n, c, oy*sh + ky, ox*sw + kx]
    with xpad = x zero-padded by pads = (top, bottom, left, right); b may be None"""
    n, _, h, wd = x.shape                                      # x: (N, C, H, W)
    kh, kw, _, f = w.shape                                     # w: (KH, KW, C, F)
    sh, sw = _pair(stride)
    pt, pb, pl, pr = pads
    oh, ow = _output_shape(h, wd, kh, kw, sh, sw, pads)
    xpad = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))     # (N, C, H+pt+pb, W+pl+pr)
    z = np.zeros((n, oh, ow, f), dtype=x.dtype)                # (N, OH, OW, F)
    for ky in range(kh):
        for kx in range(kw):
            # (N, C, OH, OW) . (C, F) -> (N, OH, OW, F)
            z += np.tensordot(_tap(xpad, ky, kx, oh, ow, sh, sw), w[ky, kx], axes=(1, 0))
    if b is not None:
        z += b                                                 # (F,) along the last axis
    return np.ascontiguousarray(z.transpose(0, 3, 1, 2))       # (N, F, OH, OW)


def conv2d_backward(dz, x, w, stride, pads, need_dx=True):
    """(dx or None, dw, db): the gradients of sum(dz * z) with respect to x, w and b,
    for z = conv2d_forward(x, w, b, stride, pads)"""
    n, c, h, wd = x.shape                                      # x: (N, C, H, W)
    kh, kw, _, f = w.shape                                     # w: (KH, KW, C, F)
    _, _, oh, ow = dz.shape                                    # dz: (N, F, OH, OW)
    sh, sw = _pair(stride)
    pt, pb, pl, pr = pads
    xpad = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))     # (N, C, Hp, Wp)
    dxpad = np.zeros_like(xpad) if need_dx else None           # (N, C, Hp, Wp)
    dw = np.empty_like(w)                                      # (KH, KW, C, F)
    for ky in range(kh):
        for kx in range(kw):
            # dw[ky, kx, c, f] = sum_{n, oy, ox} xpad[n, c, oy*sh+ky, ox*sw+kx] dz[n, f, oy, ox]
            dw[ky, kx] = np.tensordot(_tap(xpad, ky, kx, oh, ow, sh, sw), dz,
                                      axes=((0, 2, 3), (0, 2, 3)))              # (C, F)
            if need_dx:
                # every output position sends w[ky, kx] . dz back to the pixel it read
                dtap = _tap(dxpad, ky, kx, oh, ow, sh, sw)                     # a view
                dtap += np.tensordot(w[ky, kx], dz, axes=(1, 1)).transpose(1, 0, 2, 3)
    db = dz.sum(axis=(0, 2, 3))                                # (F,)
    dx = None
    if need_dx:
        dx = np.ascontiguousarray(dxpad[:, :, pt:pt + h, pl:pl + wd])         # (N, C, H, W)
    return dx, dw, db


# ---------------------------------------------------------------- MaxPool2D

def _pool_windows(x, size, stride):
    """(N, C, OH, OW, KH*KW): every window's elements in row-major (ky, kx) order"""
    kh, kw = _pair(size)
    sh, sw = _pair(stride)
    oh, ow = _output_shape(x.shape[2], x.shape[3], kh, kw, sh, sw)
    return np.stack([_tap(x, ky, kx, oh, ow, sh, sw)
                     for ky in range(kh) for kx in range(kw)], axis=-1)


def maxpool2d_forward(x, size, stride):
    """out[n, c, oy, ox] = max_{ky, kx} x[n, c, oy*sh + ky, ox*sw + kx] (no padding)"""
    return _pool_windows(x, size, stride).max(axis=-1)         # (N, C, OH, OW)


def maxpool2d_backward(dout, x, size, stride):
    """dx: each window's gradient goes to the window's FIRST maximum in row-major order
    (ky, then kx; a NaN counts as the maximum, as in np.argmax); overlapping windows
    (stride < size) add up"""
    kh, kw = _pair(size)
    sh, sw = _pair(stride)
    _, _, oh, ow = dout.shape                                  # dout: (N, C, OH, OW)
    first = _pool_windows(x, size, stride).argmax(axis=-1)     # (N, C, OH, OW): ky*KW + kx
    dx = np.zeros_like(x, dtype=dout.dtype)                    # (N, C, H, W)
    zero = dout.dtype.type(0)
    for ky in range(kh):
        for kx in range(kw):
            dtap = _tap(dx, ky, kx, oh, ow, sh, sw)
            dtap += np.where(first == ky * kw + kx, dout, zero)
    return dx


# ---------------------------------------------------------------- AvgPool2D

def avgpool2d_forward(x, size, stride):
    """out[n, c, oy, ox] = mean_{ky, kx} x[n, c, oy*sh + ky, ox*sw + kx] (no padding)"""
    kh, kw = _pair(size)
    sh, sw = _pair(stride)
    oh, ow = _output_shape(x.shape[2], x.shape[3], kh, kw, sh, sw)
    out = np.zeros((x.shape[0], x.shape[1], oh, ow), dtype=x.dtype)  # (N, C, OH, OW)
    for ky in range(kh):
        for kx in range(kw):
            out += _tap(x, ky, kx, oh, ow, sh, sw)
    out /= kh * kw
    return out


def avgpool2d_backward(dout, x, size, stride):
    """dx: dout / (KH*KW) to every element of each window, adding up where windows
    overlap; x is the forward's input or just its shape (N, C, H, W)"""
    shape = x.shape if hasattr(x, "shape") else tuple(x)
    kh, kw = _pair(size)
    sh, sw = _pair(stride)
    _, _, oh, ow = dout.shape                                  # dout: (N, C, OH, OW)
    share = dout / dout.dtype.type(kh * kw)                    # (N, C, OH, OW)
    dx = np.zeros(shape, dtype=dout.dtype)                     # (N, C, H, W)
    for ky in range(kh):
        for kx in range(kw):
            dtap = _tap(dx, ky, kx, oh, ow, sh, sw)
            dtap += share
    return dx


# ---------------------------------------------------------------- Flatten

def flatten_forward(x):
    """(N, C, H, W) -> (N, C*H*W), features in (c, y, x) order"""
    return x.reshape(x.shape[0], -1)


def flatten_backward(dout, shape):
    """(N, C*H*W) -> shape (N, C, H, W)"""
    return dout.reshape(shape)
