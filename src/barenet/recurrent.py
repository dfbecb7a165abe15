"""Recurrent layers: SimpleRNN, LSTM and GRU on sequences (T, C), and the Bidirectional
wrapper. Each is a Layer kind (barenet.layers) whose C code is csrc/ops/recurrent.c; the
NumPy reference here runs the same steps in the same order. Gate order, weight layout and
initialisers are Keras's (docs/recurrent.md gives the Keras and PyTorch mappings):

  kernel (C, G U), recurrent_kernel (U, G U), bias (G U) -- GRU's reset_after bias (2, G U),
  the input bias then the recurrent one; G = 1 (SimpleRNN), 4 (LSTM: i, f, c, o),
  3 (GRU: z, r, h).

In the model's flat buffer a layer holds first every direction's kernel and recurrent kernel
(the weights, which the l1/l2 penalty acts on), then every direction's bias. A step:

  P = x W + b_x for all N T steps at once (one GEMM), then per step s (time t = s, or
  T - 1 - s with go_backwards):  R = h W_h (+ b_h for GRU), and the cell
  SimpleRNN  h = act(P_t + R)
  LSTM       i, f, g, o = sig, sig, tanh, sig of (P_t + R); c = f c + i g; h = o tanh(c)
  GRU        z, r = sig(P_z + R_z), sig(P_r + R_r); n = tanh(P_n + r R_n);
             h = z h + (1 - z) n
A mask (N, T) (1 valid, 0 padded) carries the state unchanged over padded steps: the
step's output is the carried h, and the last output is each row's state at its last valid
step. `carry` (N, carry_size) is the initial state per row (h, then c for LSTM, per
direction), overwritten with the final state (prediction, generation)."""

import math

import numpy as np

from . import _activations
from .layers import Layer, MAX_SAMPLE_VALUES, _check_size_arg, _hwc, _rank_name, dropout_scale

# the activations a SimpleRNN may use: their derivative comes from the output
RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "identity")


def _sigmoid(z):
    return _activations.sigmoid(z)


def glorot_uniform(gen, shape):
    """Keras's glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out))"""
    limit = math.sqrt(6.0 / (shape[0] + shape[1]))
    return gen.uniform(-limit, limit, size=shape)


def orthogonal(gen, shape):
    """Keras's Orthogonal initialiser (gain 1) for a matrix of `shape`: the Q of a normal
    matrix's QR decomposition, signs fixed by R's diagonal (transposed when wide)"""
    rows, cols = shape
    flat = (cols, rows) if rows < cols else (rows, cols)
    q, r = np.linalg.qr(gen.standard_normal(flat))
    q = q * np.sign(np.diag(r))
    return q.T if rows < cols else q


class _RecurrentBase(Layer):
    """what the recurrent kinds and Bidirectional share: shapes, parameters, the C fields,
    and the NumPy reference over `directions` directions of the cell `self.cell`"""

    penalised = True
    uses_mask = True
    directions = 1
    min_inputs = max_inputs = 1

    # -- shapes and parameters -------------------------------------------------------------
    def _output_shape(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{self._where()} needs a sequence input (T, C); it gets "
                             f"{_rank_name(shape)} of shape {shape}")
        self.steps, self.n_in = shape
        width = self.directions * self.cell.units
        return (self.steps, width) if self.cell.return_sequences else (width,)

    def sample_sizes(self):
        c = self.cell
        kept = self.directions * self.steps * (c.gates * c.units + 2 * c.units + 1)
        return {**super().sample_sizes(), "values kept for backward": kept + self.steps * self.n_in,
                "input projection": self.steps * c.gates * c.units}

    @property
    def _per_direction(self):
        """(weights, biases) per direction"""
        c = self.cell
        gu = c.gates * c.units
        return (self.n_in + c.units) * gu, gu * c.bias_rows

    @property
    def n_params(self):
        w, b = self._per_direction
        return self.directions * (w + b)

    @property
    def carry_size(self):
        """values of one row's carried state: h (and c for LSTM) per direction"""
        return self.directions * self.cell.units * self.cell.states

    def views(self, flat, start):
        """(all weights, all biases) as flat views: per direction kernel then recurrent
        kernel, then per direction the bias (cells() gives them shaped)"""
        w, b = self._per_direction
        mid = start + self.directions * w
        return flat[start:mid], flat[mid:mid + self.directions * b]

    def cells(self, flat, start):
        """per direction (kernel (C, G U), recurrent_kernel (U, G U), bias (G U) or GRU's
        reset_after bias (2, G U)): views of flat (Keras's shapes)"""
        return self.unpack(*self.views(flat, start))

    def unpack(self, weights, biases):
        """the same from this layer's flat weights and biases (a model's weights[i] and
        biases[i]): writing into them sets the model's parameters"""
        c = self.cell
        gu = c.gates * c.units
        wcount, bcount = self._per_direction
        out = []
        for d in range(self.directions):
            w = weights[d * wcount:(d + 1) * wcount]
            kernel = w[:self.n_in * gu].reshape(self.n_in, gu)
            recurrent = w[self.n_in * gu:].reshape(c.units, gu)
            bias = biases[d * bcount:(d + 1) * bcount]
            out.append((kernel, recurrent, bias.reshape(2, gu) if c.bias_rows == 2 else bias))
        return out

    def initialise(self, views, rng):
        """Glorot-uniform kernels, orthogonal recurrent kernels, zero biases (LSTM: forget
        gate bias 1), drawn from the model's rng (NumPy's global state when None)"""
        gen = np.random if rng is None else rng
        flat_w, flat_b = views
        c = self.cell
        gu = c.gates * c.units
        wcount, bcount = self._per_direction
        for d in range(self.directions):
            w = flat_w[d * wcount:(d + 1) * wcount]
            w[:self.n_in * gu] = glorot_uniform(gen, (self.n_in, gu)).ravel()
            w[self.n_in * gu:] = orthogonal(gen, (c.units, gu)).ravel()
            b = flat_b[d * bcount:(d + 1) * bcount]
            b[...] = 0
            if c.gates == 4:
                b[c.units:2 * c.units] = 1

    def c_fields(self, start, stream):
        row = super().c_fields(start, stream)
        c = self.cell
        row.update(activation=c.activation, rate=float(c.dropout),
                   b_offset=start + self.directions * self._per_direction[0],
                   directions=self.directions, go_backwards=int(c.go_backwards),
                   return_sequences=int(c.return_sequences),
                   reset_after=int(getattr(c, "reset_after", False)))
        return row

    @property
    def rate(self):
        return float(self.cell.dropout)

    # -- the NumPy reference ---------------------------------------------------------------
    def _dropped(self, x, drop, stream):
        """the input after dropout (the same mask for both directions)"""
        if drop is None or self.cell.dropout == 0:
            return x
        return x * dropout_scale(self.cell.dropout, drop, stream, x.shape, x.dtype)

    def _order(self, d, steps):
        """(times in processing order, output position of each step, or None)"""
        backwards = self.cell.go_backwards != (d == 1)
        times = list(range(steps - 1, -1, -1)) if backwards else list(range(steps))
        outs = list(range(steps - 1, -1, -1)) if d == 1 else list(range(steps))
        return times, outs

    def forward(self, params, at, xs, drop, stream, mask=None, carry=None):
        """(a, kept): a (N, T, dirs U) or (N, dirs U); kept what backward reads"""
        x = xs[0]
        n, steps, _ = x.shape
        cell, u = self.cell, self.cell.units
        xd = self._dropped(x, drop, stream)
        outs, kept = [], []
        for d, (kernel, recurrent, bias) in enumerate(self.cells(params, at)):
            state = None if carry is None else carry[:, d * u * cell.states:
                                                     (d + 1) * u * cell.states]
            h = np.zeros((n, u), x.dtype) if state is None else state[:, :u].copy()
            c = None
            if cell.states == 2:
                c = np.zeros((n, u), x.dtype) if state is None else state[:, u:].copy()
            b_in = bias[0] if cell.bias_rows == 2 else bias
            b_rec = bias[1] if cell.bias_rows == 2 else None
            p = (xd.reshape(-1, self.n_in) @ kernel + b_in).reshape(n, steps, -1)
            gates = np.empty_like(p)
            hp = np.empty((n, steps, u), x.dtype)        # h before each step, by time
            aux = np.empty((n, steps, u), x.dtype) if cell.states == 2 or cell.gates == 3 \
                else None                                # c after each step / GRU's R_n
            c0 = None if c is None else c.copy()
            seq = np.empty((n, steps, u), x.dtype) if cell.return_sequences else None
            times, positions = self._order(d, steps)
            for t, o in zip(times, positions):
                hp[:, t] = h
                r = h @ recurrent if b_rec is None else h @ recurrent + b_rec
                h_new, c_new, g, extra = cell.step(p[:, t], r, h, c, recurrent)
                if mask is not None:
                    valid = mask[:, t, None] != 0
                    h_new = np.where(valid, h_new, h)
                    if c is not None:
                        c_new = np.where(valid, c_new, c)
                gates[:, t] = g
                if cell.states == 2:
                    aux[:, t] = c_new
                elif extra is not None:
                    aux[:, t] = extra
                h, c = h_new, c_new
                if seq is not None:
                    seq[:, o] = h
            outs.append(seq if seq is not None else h)
            kept.append((gates, hp, aux, c0))
            if carry is not None:
                state[:, :u] = h
                if c is not None:
                    state[:, u:] = c
        return np.concatenate(outs, axis=-1) if len(outs) > 1 else outs[0], (xd, kept)

    def backward(self, params, at, d, xs, a, kept, drop, stream, is_output, need, mask=None,
                 carry=None):
        x = xs[0]
        n, steps, _ = x.shape
        cell, u = self.cell, self.cell.units
        xd, kept = kept
        dws, dbs = [], []
        dx = None
        for dr, (kernel, recurrent, bias) in enumerate(self.cells(params, at)):
            gates, hp, aux, c0 = kept[dr]
            dout = d[..., dr * u:(dr + 1) * u]
            dh = np.zeros((n, u), x.dtype) if cell.return_sequences else dout.copy()
            dc = np.zeros((n, u), x.dtype) if cell.states == 2 else None
            dp = np.zeros_like(gates)
            drec = np.zeros_like(gates)
            times, positions = self._order(dr, steps)
            for s in range(steps - 1, -1, -1):
                t = times[s]
                if cell.return_sequences:
                    dh = dh + dout[:, positions[s]]
                c_prev = None
                if cell.states == 2:
                    c_prev = c0 if s == 0 else aux[:, times[s - 1]]
                dpt, drt, dh_direct, dc_prev = cell.step_backward(
                    dh, dc, gates[:, t], None if aux is None else aux[:, t], hp[:, t], c_prev,
                    recurrent)
                if mask is not None:
                    valid = mask[:, t, None] != 0
                    dpt = np.where(valid, dpt, 0)
                    drt = np.where(valid, drt, 0)
                    dh_direct = np.where(valid, dh_direct, dh)
                    if dc is not None:
                        dc_prev = np.where(valid, dc_prev, dc)
                dp[:, t], drec[:, t] = dpt, drt
                dh = dh_direct + drt @ recurrent.T
                dc = dc_prev
            dp2, drec2 = dp.reshape(n * steps, -1), drec.reshape(n * steps, -1)
            dws.append((xd.reshape(-1, self.n_in).T @ dp2).ravel())
            dws.append(cell.recurrent_grad(hp.reshape(n * steps, u),
                                           None if aux is None else aux.reshape(n * steps, u),
                                           dp2, drec2).ravel())
            dbs.append(dp2.sum(axis=0))
            if cell.bias_rows == 2:
                dbs.append(drec2.sum(axis=0))  # (reset_after: dR's n block is dn r)
            if need[0]:
                part = (dp2 @ kernel.T).reshape(x.shape)
                dx = part if dx is None else dx + part
        if dx is not None and drop is not None and cell.dropout > 0:
            dx = dx * dropout_scale(cell.dropout, drop, stream, x.shape, x.dtype)
        return np.concatenate(dws), np.concatenate(dbs), [dx]


class _Recurrent(_RecurrentBase):
    """one recurrent cell run over a sequence"""

    gates = 1
    states = 1      # h (1) or h and c (2)
    bias_rows = 1

    def __init__(self, units, activation="tanh", return_sequences=False, go_backwards=False,
                 dropout=0.0):
        name = type(self).__name__
        self.units = _check_size_arg(units, "units", f"{name}({units!r})")
        if self.gates * self.units > MAX_SAMPLE_VALUES:
            raise ValueError(f"{name}: {self.gates} * units must be <= {MAX_SAMPLE_VALUES}; "
                             f"got units={units}")
        self.activation = self._check_cell_activation(activation)
        from ._validation import check_bool, check_rate
        self.return_sequences = check_bool(return_sequences, f"{name} return_sequences")
        self.go_backwards = check_bool(go_backwards, f"{name} go_backwards")
        self.dropout = check_rate(dropout, f"{name} dropout")
        self.n_in = None

    @property
    def cell(self):
        return self

    def recurrent_grad(self, hp, aux, dp, drec):
        """dloss/dW_h over all steps: h before each step (rows, U) times dR (rows, G U)"""
        return hp.T @ drec

    def _check_cell_activation(self, activation):
        name = type(self).__name__
        if activation not in RNN_ACTIVATIONS:
            raise ValueError(f"{name}({self.units}): activation must be one of "
                             f"{list(RNN_ACTIVATIONS)}; got {activation!r}")
        return activation

    def config(self):
        return {"units": self.units, "activation": self.activation,
                "return_sequences": self.return_sequences, "go_backwards": self.go_backwards,
                "dropout": self.dropout}

    def __repr__(self):
        return (f"{type(self).__name__}({self.units}, return_sequences={self.return_sequences}"
                f", go_backwards={self.go_backwards})")


class SimpleRNN(_Recurrent):
    """Elman recurrence h_t = activation(x_t W + h_{t-1} W_h + b) (Keras's SimpleRNN,
    torch.nn.RNN): units, activation ("tanh", "relu", "sigmoid", "leaky_relu",
    "identity"), return_sequences, go_backwards, dropout on the inputs."""

    kind = "simplernn"

    def step(self, p, r, h, c, recurrent):
        a = _activations.FORWARD[self.activation](p + r)
        return a, None, a, None

    def step_backward(self, dh, dc, g, aux, h_prev, c_prev, recurrent):
        dz = dh * _activations.DERIVATIVE[self.activation](g, None)
        return dz, dz, np.zeros_like(dh), None


class LSTM(_Recurrent):
    """Long short-term memory (Keras's LSTM; torch.nn.LSTM by docs/recurrent.md's mapping):
    gates i, f, c, o (sigmoid, sigmoid, tanh, sigmoid), c = f c + i g, h = o tanh(c).
    The forget gate's bias starts at 1 (Keras's unit_forget_bias)."""

    kind = "lstm"
    gates = 4
    states = 2

    def __init__(self, units, return_sequences=False, go_backwards=False, dropout=0.0,
                 activation="tanh"):
        super().__init__(units, activation, return_sequences, go_backwards, dropout)

    def _check_cell_activation(self, activation):
        if activation != "tanh":
            raise ValueError(f"LSTM({self.units}): only activation='tanh' is supported; got "
                             f"{activation!r}")
        return activation

    def step(self, p, r, h, c, recurrent):
        u = self.units
        pre = p + r
        i, f = _sigmoid(pre[:, :u]), _sigmoid(pre[:, u:2 * u])
        g, o = np.tanh(pre[:, 2 * u:3 * u]), _sigmoid(pre[:, 3 * u:])
        c_new = f * c + i * g
        return o * np.tanh(c_new), c_new, np.concatenate([i, f, g, o], axis=1), None

    def step_backward(self, dh, dc, gates, c_new, h_prev, c_prev, recurrent):
        u = self.units
        i, f, g, o = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:3 * u], gates[:, 3 * u:]
        tc = np.tanh(c_new)
        do = dh * tc
        dc = dc + dh * o * (1 - tc * tc)
        dpre = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                               dc * i * (1 - g * g), do * o * (1 - o)], axis=1)
        return dpre, dpre, np.zeros_like(dh), dc * f

    def config(self):
        cfg = super().config()
        del cfg["activation"]
        return cfg


class GRU(_Recurrent):
    """Gated recurrent unit (Keras's GRU): gates z, r (sigmoid) and the candidate n (tanh),
    h = z h + (1 - z) n. With reset_after=True (the default; torch.nn.GRU's form) the reset
    gate acts after the recurrent product, n = tanh(x W_n + b_xn + r (h W_hn + b_hn)), and
    the bias is (2, 3 units): the input bias, then the recurrent one. With
    reset_after=False (Keras's original form) n = tanh(x W_n + b_n + (r h) W_hn) and the
    bias is (3 units,)."""

    kind = "gru"
    gates = 3

    def __init__(self, units, return_sequences=False, go_backwards=False, dropout=0.0,
                 reset_after=True, activation="tanh"):
        from ._validation import check_bool
        self.reset_after = check_bool(reset_after, "GRU reset_after")
        self.bias_rows = 2 if self.reset_after else 1
        super().__init__(units, activation, return_sequences, go_backwards, dropout)

    def _check_cell_activation(self, activation):
        if activation != "tanh":
            raise ValueError(f"GRU({self.units}): only activation='tanh' is supported; got "
                             f"{activation!r}")
        return activation

    def step(self, p, r, h, c, recurrent):
        u = self.units
        z = _sigmoid(p[:, :u] + r[:, :u])
        rr = _sigmoid(p[:, u:2 * u] + r[:, u:2 * u])
        if self.reset_after:
            nn = np.tanh(p[:, 2 * u:] + rr * r[:, 2 * u:])
            kept = r[:, 2 * u:]                              # R_n
        else:
            kept = rr * h                                    # r h
            nn = np.tanh(p[:, 2 * u:] + kept @ recurrent[:, 2 * u:])
        return z * h + (1 - z) * nn, None, np.concatenate([z, rr, nn], axis=1), kept

    def step_backward(self, dh, dc, gates, kept, h_prev, c_prev, recurrent):
        u = self.units
        z, r, nn = gates[:, :u], gates[:, u:2 * u], gates[:, 2 * u:]
        dz = dh * (h_prev - nn) * z * (1 - z)
        dn = dh * (1 - z) * (1 - nn * nn)
        if self.reset_after:
            dr = dn * kept * r * (1 - r)
            dp = np.concatenate([dz, dr, dn], axis=1)
            return dp, np.concatenate([dz, dr, dn * r], axis=1), dh * z, None
        drh = dn @ recurrent[:, 2 * u:].T                    # dloss/d(r h)
        dr = drh * h_prev * r * (1 - r)
        dp = np.concatenate([dz, dr, dn], axis=1)
        # dR: the z and r blocks go through W_h; n's through (r h) (recurrent_grad)
        return dp, np.concatenate([dz, dr, np.zeros_like(dn)], axis=1), dh * z + drh * r, None

    def recurrent_grad(self, hp, kept, dp, drec):
        if self.reset_after:
            return hp.T @ drec
        u = self.units
        out = hp.T @ drec
        out[:, 2 * u:] = kept.T @ dp[:, 2 * u:]
        return out

    def config(self):
        cfg = super().config()
        del cfg["activation"]
        cfg["reset_after"] = self.reset_after
        return cfg

    def __repr__(self):
        text = super().__repr__()
        return text if self.reset_after else text[:-1] + ", reset_after=False)"


class Bidirectional(_RecurrentBase):
    """A recurrent layer run forwards and backwards over the sequence (Keras's
    Bidirectional): the second direction is a copy of `layer` with go_backwards flipped
    and its own parameters; with return_sequences its outputs are put back in time
    order. merge_mode "concat": the outputs side by side on the last axis (2 units).
    Both directions see the same dropout mask on the input."""

    def __init__(self, layer, merge_mode="concat"):
        if isinstance(layer, dict):  # from a saved model's header
            from .layers import KINDS
            spec = dict(layer)
            kind = spec.pop("type", None)
            if kind not in ("SimpleRNN", "LSTM", "GRU"):
                raise TypeError(f"Bidirectional: layer must be a SimpleRNN, LSTM or GRU; "
                                f"got type {kind!r}")
            layer = KINDS[kind](**spec)
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional: layer must be a recurrent layer (SimpleRNN, LSTM "
                            f"or GRU); got {layer!r}")
        if merge_mode != "concat":
            raise ValueError(f"Bidirectional: merge_mode must be 'concat'; got {merge_mode!r}")
        self.layer = layer
        self.merge_mode = merge_mode
        self.n_in = None

    directions = 2

    @property
    def cell(self):
        return self.layer

    @property
    def kind(self):
        return self.layer.kind

    def config(self):
        return {"layer": {"type": type(self.layer).__name__, **self.layer.config()},
                "merge_mode": self.merge_mode}

    def __repr__(self):
        return f"Bidirectional({self.layer!r})"


__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]
