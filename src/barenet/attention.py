"""Attention layers for Transformers: MultiHeadAttention (self-attention on a sequence) and
PositionalEmbedding (a position vector added to each step). Each class owns its shapes,
parameters, C descriptor (csrc/ops/attention.c: kinds "attention" and "posembed") and its
NumPy reference forward/backward, which computes the same math as the C core. Blocks built
from them (LayerNormalization, Dense, Add) are ordinary graphs; see docs/attention.md."""

import math
from typing import Optional

import numpy as np

from ._validation import check_rate
from .layers import Layer, _check_size_arg, _rank_name, dropout_scale

ATTENTION, POSEMBED = "attention", "posembed"

# a cache's step count travels as a value of the model's dtype: float32 counts exactly
# to 2**24
MAX_CACHED_STEPS = 2**24


def _check_bool(value, name, layer):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{layer}: {name} must be True or False; got {value!r}")
    return bool(value)


class MultiHeadAttention(Layer):
    """Multi-head self-attention on a sequence (T, C) -> (T, C), Keras's MultiHeadAttention
    called as ``mha(x, x)``: per head h, Q = x Wq_h + bq_h, K = x Wk_h + bk_h, V = x Wv_h +
    bv_h (key_dim values each), P = softmax(Q K^T / sqrt(key_dim)) over the keys, O_h = P V;
    the heads side by side (T, H key_dim) are projected back to C: out = O Wo + bo.

    causal=True: step i attends to steps j <= i only (the masked scores are never computed).
    A step mask (Embedding(mask_zero=True) before it) removes padded steps as keys; a padded
    step's own output is computed (from the valid keys) and passed on with the mask, so the
    sequence cross-entropy ignores it. A query with no valid key gets zero weights (its
    output is bo). dropout: on the attention weights P while training, from barenet's
    counter-based generator (its own stream, like Dropout). Weights Wq, Wk, Wv (C, H
    key_dim) and Wo (H key_dim, C) start Glorot-uniform (each matrix's fans), biases zero.
    Training keeps P, H T^2 values per sample: memory O(T^2) per head."""

    kind = ATTENTION
    penalised = True
    uses_mask = True
    uses_stream = True

    def __init__(self, num_heads: int, key_dim: int, causal: bool = False,
                 dropout: float = 0.0, use_bias: bool = True, *,
                 max_len: Optional[int] = None) -> None:
        name = f"MultiHeadAttention({num_heads!r}, {key_dim!r})"
        self.num_heads = _check_size_arg(num_heads, "num_heads", name)
        self.key_dim = _check_size_arg(key_dim, "key_dim", name)
        self.causal = _check_bool(causal, "causal", name)
        self.rate = check_rate(dropout, f"{name}: dropout")
        self.use_bias = _check_bool(use_bias, "use_bias", name)
        if max_len is not None:
            if not self.causal:
                raise ValueError(f"{name}: max_len (a key/value cache for generation) needs "
                                 "causal=True")
            max_len = _check_size_arg(max_len, "max_len", name)
            if max_len > MAX_CACHED_STEPS:
                raise ValueError(f"{name}: max_len must be at most {MAX_CACHED_STEPS}; got "
                                 f"{max_len}")
        self.max_len = max_len
        self.channels = None

    @property
    def carry_size(self):
        """values per row of its key/value cache (prediction with a carry): the number of
        steps seen, then K and V of up to max_len steps (max_len, E) each; 0 without"""
        return 1 + 2 * self.max_len * self.width if self.max_len else 0

    @property
    def dropout(self):
        return self.rate

    @property
    def width(self):
        """E = num_heads * key_dim, the heads side by side"""
        return self.num_heads * self.key_dim

    def _output_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self._where()} needs a sequence input (T, C); it gets "
                             f"{_rank_name(shape)} of shape {shape}")
        self.channels = shape[1]
        return tuple(shape)

    def sample_sizes(self):
        sizes = super().sample_sizes()
        t, e = self.input_shape[0], self.width
        sizes["kept for backward (Q, K, V, O and the attention weights)"] = (
            4 * t * e + self.num_heads * t * t)
        sizes["weights"] = 4 * self.channels * e
        if self.max_len:
            sizes["key/value cache"] = self.carry_size
        return sizes

    @property
    def n_params(self):
        c, e = self.channels, self.width
        return 4 * c * e + (3 * e + c if self.use_bias else 0)

    def views(self, flat, start):
        """(the weights Wq, Wk, Wv, Wo one after another (4 C E,), the biases bq, bk, bv, bo
        (3 E + C,) or None)"""
        mid = start + 4 * self.channels * self.width
        b = flat[mid:mid + 3 * self.width + self.channels] if self.use_bias else None
        return flat[start:mid], b

    def unpack(self, params, at):
        """the views Wq, Wk, Wv (C, E), Wo (E, C), bq, bk, bv (E,), bo (C,) (biases None
        without)"""
        w, b = self.views(params, at)
        c, e = self.channels, self.width
        ws = [w[i * c * e:(i + 1) * c * e].reshape(c, e) for i in range(3)]
        ws.append(w[3 * c * e:].reshape(e, c))
        bs = ([b[0:e], b[e:2 * e], b[2 * e:3 * e], b[3 * e:]] if b is not None
              else [None] * 4)
        return ws + bs

    def initialise(self, views, rng):
        """Glorot-uniform Wq, Wk, Wv (fans C and E), Wo (E and C), zero biases"""
        w, b = views
        c, e = self.channels, self.width
        limit = math.sqrt(6.0 / (c + e))
        draw = (np.random.uniform(-limit, limit, w.shape) if rng is None
                else rng.uniform(-limit, limit, w.shape))
        w[...] = draw
        if b is not None:
            b[...] = 0

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(heads=self.num_heads, key_dim=self.key_dim, causal=int(self.causal),
                   table_rows=self.max_len or 0,
                   b_offset=start + 4 * self.channels * self.width if self.use_bias else -1)
        return row

    def config(self):
        return {"num_heads": self.num_heads, "key_dim": self.key_dim, "causal": self.causal,
                "dropout": self.rate, "use_bias": self.use_bias, "max_len": self.max_len}

    # -- the NumPy reference ----------------------------------------------------------------
    def _allowed(self, t, mask):
        """(N or 1, 1, T, T) bool: which keys j each query i sees"""
        allowed = np.tril(np.ones((t, t), dtype=bool)) if self.causal else np.ones((t, t), bool)
        allowed = allowed[None, None]
        if mask is not None:
            allowed = allowed & (mask[:, None, None, :] != 0)
        return allowed

    def _heads(self, rows, n, t):
        """(N T, E) -> (N, H, T, D)"""
        return rows.reshape(n, t, self.num_heads, self.key_dim).transpose(0, 2, 1, 3)

    def _rows(self, heads):
        """(N, H, T, D) -> (N T, E)"""
        n, _, t, _ = heads.shape
        return heads.transpose(0, 2, 1, 3).reshape(n * t, self.width)

    def _keep(self, drop, stream, shape, dtype):
        """the dropout factors of the attention weights (N, H, T, T), or None"""
        if drop is None or self.rate == 0:
            return None
        return dropout_scale(self.rate, drop, stream, shape, dtype)

    def forward(self, params, at, xs, drop, stream, mask=None, carry=None):
        """out = (softmax(Q K^T / sqrt(D)) with dropout) V, heads side by side, times Wo;
        kept: Q, K, V, O (N T, E) and P (N, H, T, T). carry (N, carry_size): the key/value
        cache (prediction only): this call's steps are appended and attend to all cached
        steps"""
        wq, wk, wv, wo, bq, bk, bv, bo = self.unpack(params, at)
        x = xs[0]
        n, t, c = x.shape
        x2 = x.reshape(n * t, c)
        proj = [x2 @ w if b is None else x2 @ w + b for w, b in ((wq, bq), (wk, bk), (wv, bv))]
        if carry is not None and self.max_len:
            return self._cached(proj, wo, bo, mask, carry, n, t, c), None
        q, k, v = (self._heads(m, n, t) for m in proj)
        scale = x.dtype.type(1.0 / math.sqrt(self.key_dim))
        allowed = self._allowed(t, mask)
        s = np.where(allowed, (q @ k.transpose(0, 1, 3, 2)) * scale, -np.inf)
        top = s.max(axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        e = np.where(allowed, np.exp(s - top), 0).astype(x.dtype)
        total = e.sum(axis=-1, keepdims=True)
        p = e * np.where(total > 0, 1 / np.where(total > 0, total, 1), 0).astype(x.dtype)
        keep = self._keep(drop, stream, p.shape, x.dtype)
        o = self._rows(p @ v if keep is None else (p * keep) @ v)
        out = o @ wo if bo is None else o @ wo + bo
        return out.reshape(n, t, c), (proj[0], proj[1], proj[2], o, p)

    def _cached(self, proj, wo, bo, mask, carry, n, t, c):
        """the forward with a key/value cache, row by row (csrc/ops/attention.c)"""
        e, L = self.width, self.max_len
        q, k, v = (m.reshape(n, t, e) for m in proj)
        scale = q.dtype.type(1.0 / math.sqrt(self.key_dim))
        o = np.empty((n, t, e), dtype=q.dtype)
        for s in range(n):
            off = int(carry[s, 0])
            if not 0 <= off <= L - t:
                raise ValueError(f"{self!r}: its cache holds {L} steps; {off} are cached and "
                                 f"{t} more do not fit")
            kc = carry[s, 1:1 + L * e].reshape(L, e)
            vc = carry[s, 1 + L * e:].reshape(L, e)
            kc[off:off + t], vc[off:off + t] = k[s], v[s]
            valid = np.ones(off + t, dtype=bool)
            if mask is not None:
                valid[off:] = mask[s] != 0
            allowed = np.tril(np.ones((t, off + t), dtype=bool), off) & valid[None, :]
            qh = q[s].reshape(t, self.num_heads, self.key_dim).transpose(1, 0, 2)
            kh, vh = (m[:off + t].reshape(off + t, self.num_heads, self.key_dim)
                      .transpose(1, 0, 2) for m in (kc, vc))
            sc = np.where(allowed, (qh @ kh.transpose(0, 2, 1)) * scale, -np.inf)
            top = sc.max(axis=-1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0)
            ex = np.where(allowed, np.exp(sc - top), 0).astype(q.dtype)
            total = ex.sum(axis=-1, keepdims=True)
            p = ex * np.where(total > 0, 1 / np.where(total > 0, total, 1), 0).astype(q.dtype)
            o[s] = (p @ vh).transpose(1, 0, 2).reshape(t, e)
            carry[s, 0] += t
        o = o.reshape(n * t, e)
        out = o @ wo if bo is None else o @ wo + bo
        return out.reshape(n, t, c)

    def backward(self, params, at, d, xs, a, kept, drop, stream, is_output, need, mask=None):
        wq, wk, wv, wo, bq, bk, bv, bo = self.unpack(params, at)
        x = xs[0]
        n, t, c = x.shape
        x2, d2 = x.reshape(n * t, c), d.reshape(n * t, c)
        q2, k2, v2, o, p = kept
        q, k, v = (self._heads(m, n, t) for m in (q2, k2, v2))
        dwo = o.T @ d2
        do = self._heads(d2 @ wo.T, n, t)
        keep = self._keep(drop, stream, p.shape, x.dtype)
        pk = p if keep is None else p * keep
        dv = pk.transpose(0, 1, 3, 2) @ do
        dp = do @ v.transpose(0, 1, 3, 2)
        if keep is not None:
            dp = dp * keep
        scale = x.dtype.type(1.0 / math.sqrt(self.key_dim))
        ds = p * (dp - (p * dp).sum(axis=-1, keepdims=True)) * scale
        dq, dk = ds @ k, ds.transpose(0, 1, 3, 2) @ q
        dq2, dk2, dv2 = self._rows(dq), self._rows(dk), self._rows(dv)
        dw = np.concatenate([(x2.T @ g).ravel() for g in (dq2, dk2, dv2)] + [dwo.ravel()])
        db = (np.concatenate([g.sum(axis=0) for g in (dq2, dk2, dv2, d2)])
              if self.use_bias else None)
        dx = None
        if need[0]:
            dx = (dq2 @ wq.T + dk2 @ wk.T + dv2 @ wv.T).reshape(x.shape)
        return dw, db, [dx]

    def __repr__(self):
        extra = "".join([", causal=True" if self.causal else "",
                         f", dropout={self.rate}" if self.rate else "",
                         ", use_bias=False" if not self.use_bias else "",
                         f", max_len={self.max_len}" if self.max_len else ""])
        return f"MultiHeadAttention({self.num_heads}, {self.key_dim}{extra})"


def sinusoidal_table(max_len: int, dim: int, dtype: "np.typing.DTypeLike" = np.float64
                     ) -> np.ndarray:
    """the Transformer paper's position vectors (max_len, dim): PE[t, 2i] =
    sin(t / 10000^(2i / dim)), PE[t, 2i + 1] = cos(t / 10000^(2i / dim)), computed in
    double and rounded once to dtype (as csrc/ops/attention.c does)"""
    t = np.arange(max_len, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angle = t * np.power(10000.0, -(2 * (j // 2)).astype(np.float64) / dim)
    return np.where(j % 2 == 1, np.cos(angle), np.sin(angle)).astype(dtype)


class PositionalEmbedding(Layer):
    """x + a position vector per step: a sequence (T, output_dim) -> (T, output_dim) with
    T <= max_len. kind="learned": row t of a trained table (max_len, output_dim), starting
    uniform in [-0.05, 0.05] like Embedding (not penalised by l1/l2); kind="sinusoidal":
    the fixed vectors of the Transformer paper (sinusoidal_table), no parameters. The step
    mask passes through."""

    kind = POSEMBED
    carry_size = 1  # prediction with a carry: the steps seen, so positions continue

    def __init__(self, max_len: int, output_dim: int, kind: str = "learned") -> None:
        name = f"PositionalEmbedding({max_len!r}, {output_dim!r})"
        self.max_len = _check_size_arg(max_len, "max_len", name)
        self.output_dim = _check_size_arg(output_dim, "output_dim", name)
        if self.max_len > MAX_CACHED_STEPS:  # its carried offset counts in the model's dtype
            raise ValueError(f"{name}: max_len must be at most {MAX_CACHED_STEPS}; got "
                             f"{max_len}")
        if kind not in ("learned", "sinusoidal"):
            raise ValueError(f"{name}: kind must be 'learned' or 'sinusoidal'; got {kind!r}")
        self.table_kind = kind

    def _output_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self._where()} needs a sequence input (T, {self.output_dim}); "
                             f"it gets {_rank_name(shape)} of shape {shape}")
        if shape[1] != self.output_dim:
            raise ValueError(f"{self._where()} adds vectors of output_dim={self.output_dim} "
                             f"values; its input has C={shape[1]} channels (shape {shape})")
        if shape[0] > self.max_len:
            raise ValueError(f"{self._where()} has positions for max_len={self.max_len} "
                             f"steps; its input has T={shape[0]} (shape {shape})")
        return tuple(shape)

    def sample_sizes(self):
        sizes = super().sample_sizes()
        sizes["table"] = self.max_len * self.output_dim
        return sizes

    @property
    def n_params(self):
        return self.max_len * self.output_dim if self.table_kind == "learned" else 0

    def views(self, flat, start):
        if self.table_kind != "learned":
            return ()
        return flat[start:start + self.n_params].reshape(self.max_len, self.output_dim), None

    def initialise(self, views, rng):
        if not views:
            return
        table = views[0]
        table[...] = (np.random.uniform(-0.05, 0.05, table.shape) if rng is None
                      else rng.uniform(-0.05, 0.05, table.shape))

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        row.update(table_rows=self.max_len,
                   w_offset=start if self.table_kind == "learned" else -1)
        return row

    def config(self):
        return {"max_len": self.max_len, "output_dim": self.output_dim,
                "kind": self.table_kind}

    def _table(self, params, at, t, dtype):
        if self.table_kind == "learned":
            return self.views(params, at)[0][:t]
        return sinusoidal_table(t, self.output_dim, dtype)

    def forward(self, params, at, xs, drop, stream, carry=None):
        x = xs[0]
        t = x.shape[1]
        if carry is None:
            return x + self._table(params, at, t, x.dtype), None
        table = self._table(params, at, self.max_len, x.dtype)
        out = np.empty_like(x)
        for s in range(x.shape[0]):  # each row from its own offset (csrc/ops/attention.c)
            off = int(carry[s, 0])
            if not 0 <= off <= self.max_len - t:
                raise ValueError(f"{self!r} has positions for {self.max_len} steps; {off} "
                                 f"are behind and {t} more do not fit")
            out[s] = x[s] + table[off:off + t]
            carry[s, 0] += t
        return out, None

    def backward(self, params, at, d, xs, a, z, drop, stream, is_output, need):
        dtable = None
        if self.table_kind == "learned":
            dtable = np.zeros((self.max_len, self.output_dim), dtype=d.dtype)
            dtable[:d.shape[1]] = d.sum(axis=0)
        return dtable, None, [d if need[0] else None]

    def __repr__(self):
        return f"PositionalEmbedding({self.max_len}, {self.output_dim}, kind={self.table_kind!r})"
