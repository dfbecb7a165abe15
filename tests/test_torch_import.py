"""PyTorch state_dict import (model.load_torch_state_dict): Linear, Conv2d, BatchNorm
(weights and running statistics) and LayerNorm parameters converted to barenet's layouts,
checked by running torch and barenet on the same inputs (an MLP, a CNN, models with
normalisation, a residual graph); errors name the key and change nothing. Skips when torch
is absent (pip install torch==2.13.0, the CPU build; .ci/run installs it)."""

import numpy as np
import pytest

from barenet import Input, Model, NeuralNetwork, Sequential
from barenet.layers import (Activation, Add, AvgPool2D, BatchNormalization, Conv2D, Dense,
                            Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                            LayerNormalization, MaxPool2D)

TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def images(n, shape, dtype, seed=0):
    return (2 * np.random.default_rng(seed).standard_normal((n, *shape))).astype(dtype)


def check_onnx(model, X, want):
    """the imported model exported to ONNX gives torch's numbers too (when onnx is there)"""
    try:
        import onnxruntime as ort

        import barenet.onnx  # noqa: F401
    except ImportError:
        return
    session = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": X})[0], want,
                               **TOL[model.dtype.name])


def trained_norms(torch, module, X):
    """module after a few training-mode forward passes (so BatchNorm's running statistics
    move away from 0 and 1) and random affine weights, in eval mode"""
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=gen,
                                                dtype=m.weight.dtype))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=m.bias.dtype))
        module.train()
        for _ in range(3):
            module(torch.from_numpy(X))
    return module.eval()


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed "
                                               "(pip install torch==2.13.0, the CPU build)")


def test_torch_mlp_import(backend, dtype):
    torch = _torch()
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6),
                             torch.nn.Tanh(), torch.nn.Linear(6, 1), torch.nn.Sigmoid())
    model = Sequential([Dense(8, "relu"), Dense(6, "tanh"), Dense(1, "sigmoid")],
                       input_shape=(5,), dtype=dtype, backend=backend)
    model.load_torch_state_dict(tm.state_dict())
    X = images(37, (5,), dtype)
    with torch.no_grad():
        want = tm.double()(torch.from_numpy(X.astype(np.float64))).numpy()
    np.testing.assert_allclose(model.predict(X), want, **TOL[dtype])
    np.testing.assert_array_equal(model.weights[1], tm[2].weight.detach().numpy().T
                                  .astype(dtype))
    # a NeuralNetwork takes the same dict (its layers have other activations here)
    net = NeuralNetwork([5, 8, 6, 1], dtype=dtype, backend=backend)
    net.load_torch_state_dict(tm.state_dict())
    np.testing.assert_array_equal(net.biases[2], model.biases[2])


def test_torch_cnn_import(backend, dtype):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(1)
    tm = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Conv2d(4, 3, (2, 3), stride=(2, 1), padding=(1, 0)), nn.Tanh(),
                       nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.2), nn.Linear(6, 5),
                       nn.Softmax(dim=1)).double().eval()
    model = Sequential([Conv2D(4, 3, padding=1, activation="relu"), MaxPool2D(2),
                        Conv2D(3, (2, 3), stride=(2, 1), padding=(1, 0), activation="tanh"),
                        AvgPool2D(2), Flatten(), Dropout(0.2), Dense(5, "softmax")],
                       input_shape=(2, 8, 13), dtype=dtype, backend=backend)
    model.load_torch_state_dict(tm.state_dict())
    X = images(37, (2, 8, 13), dtype)
    with torch.no_grad():
        want = tm(torch.from_numpy(X.astype(np.float64))).numpy()
    np.testing.assert_allclose(model.predict(X), want, **TOL[dtype])
    check_onnx(model, X, want)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on speed
def test_torch_same_padding_matches(backend):
    """torch's padding='same' (stride 1) and barenet's put the odd pixel bottom/right alike"""
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(2)
    tm = nn.Sequential(nn.Conv2d(3, 2, (4, 3), padding="same"), nn.Sigmoid(),
                       nn.Conv2d(2, 2, 2, padding="same", bias=False), nn.Flatten()).double()
    model = Sequential([Conv2D(2, (4, 3), padding="same", activation="sigmoid"),
                        Conv2D(2, 2, padding="same", use_bias=False), Flatten(), Dense(3)],
                       input_shape=(3, 5, 6), backend=backend)
    state = tm.state_dict()
    state["out.weight"], state["out.bias"] = torch.eye(3, 60, dtype=torch.float64), torch.zeros(3)
    model.load_torch_state_dict(state)
    X = images(4, (3, 5, 6), "float64")
    with torch.no_grad():
        want = tm(torch.from_numpy(X)).numpy()[:, :3]
    np.testing.assert_allclose(model.predict(X), want, **TOL["float64"])


def test_torch_import_mapping_and_numpy_arrays():
    rng = np.random.default_rng(0)
    state = {"head.weight": rng.standard_normal((2, 3)), "body.weight": rng.standard_normal((3, 4)),
             "head.bias": rng.standard_normal(2), "body.bias": rng.standard_normal(3)}
    model = Sequential([Dense(3, "relu"), Dropout(0.5), Dense(2)], input_shape=(4,))
    with pytest.raises(ValueError, match=r"state_dict\['head.weight'\] must have shape \(3, 4\)"):
        model.load_torch_state_dict(state)   # in the dict's order: head first, body second
    model.load_torch_state_dict(state, mapping={0: "body", 2: "head"})
    np.testing.assert_array_equal(model.weights[0], state["body.weight"].T)
    np.testing.assert_array_equal(model.biases[1], state["head.bias"].reshape(1, 2))


def test_torch_import_errors_name_the_key_and_change_nothing():
    model = Sequential([Conv2D(2, 3), Flatten(), Dense(2, use_bias=False)], input_shape=(1, 4, 4),
                       seed=0)
    rng = np.random.default_rng(1)
    good = {"c.weight": rng.standard_normal((2, 1, 3, 3)), "c.bias": rng.standard_normal(2),
            "d.weight": rng.standard_normal((2, 8))}
    before = model.get_params()
    cases = [
        ({**good, "c.weight": np.zeros((2, 1, 2, 3))},
         r"state_dict\['c.weight'\] must have shape \(2, 1, 3, 3\) \(torch.nn.Conv2d weight"),
        ({k: v for k, v in good.items() if k != "c.bias"}, r"state_dict has no 'c.bias'"),
        ({**good, "d.bias": np.zeros(2)}, r"has 'd.bias' but layer 2.*use_bias=False"),
        ({**good, "c.weight": np.full((2, 1, 3, 3), np.nan)}, r"'c.weight'\] holds NaN"),
        ({**good, "bn.running_mean": np.zeros(2)}, r"\['bn.running_mean'\] match no layer"),
        ({"c.weight": good["c.weight"]}, r"1 modules with a weight"),
    ]
    for state, message in cases:
        with pytest.raises(ValueError, match=message):
            model.load_torch_state_dict(state)
        np.testing.assert_array_equal(model.get_params(), before)
    with pytest.raises(ValueError, match=r"mapping gives no module for layers \[2\]"):
        model.load_torch_state_dict(good, mapping={0: "c"})
    with pytest.raises(ValueError, match=r"mapping: 1: 'c'"):
        model.load_torch_state_dict(good, mapping={0: "c", 1: "c", 2: "d"})
    with pytest.raises(TypeError, match="state_dict must be a mapping"):
        model.load_torch_state_dict([1, 2])
    model.load_torch_state_dict(good)
    np.testing.assert_array_equal(model.weights[0], good["c.weight"].transpose(2, 3, 1, 0))




def test_torch_mlp_with_batchnorm(backend, dtype):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(3)
    tm = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8, momentum=0.5), nn.ReLU(),
                       nn.Dropout(0.3), nn.Linear(8, 6), nn.LayerNorm(6), nn.GELU(),
                       nn.Linear(6, 3), nn.Softmax(dim=1)).double()
    X = images(37, (5,), "float64")
    trained_norms(torch, tm, X)
    model = Sequential([Dense(8), BatchNormalization(epsilon=1e-5), Activation("relu"),
                        Dropout(0.3), Dense(6), LayerNormalization(epsilon=1e-5),
                        Activation("gelu"), Dense(3, "softmax")],
                       input_shape=(5,), dtype=dtype, backend=backend)
    model.load_torch_state_dict(tm.state_dict())
    with torch.no_grad():
        want = tm(torch.from_numpy(X)).numpy()
    Xd = X.astype(dtype)
    np.testing.assert_allclose(model.predict(Xd), want, **TOL[dtype])
    mean, var = model._spec.state_views(model._state, 1)
    np.testing.assert_array_equal(mean, tm[1].running_mean.numpy().astype(dtype))
    np.testing.assert_array_equal(var, tm[1].running_var.numpy().astype(dtype))
    check_onnx(model, Xd, want)


def test_torch_cnn_with_batchnorm2d(backend, dtype):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(4)
    tm = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                       nn.MaxPool2d(2), nn.Conv2d(4, 3, 3), nn.BatchNorm2d(3, eps=1e-3),
                       nn.Tanh(), nn.Flatten(), nn.Linear(12, 4)).double()
    X = images(37, (2, 8, 8), "float64")
    trained_norms(torch, tm, X)
    model = Sequential([Conv2D(4, 3, padding=1, use_bias=False),
                        BatchNormalization(epsilon=1e-5), Activation("relu"), MaxPool2D(2),
                        Conv2D(3, 3), BatchNormalization(), Activation("tanh"), Flatten(),
                        Dense(4)], input_shape=(2, 8, 8), dtype=dtype, backend=backend)
    model.load_torch_state_dict(tm.state_dict())
    with torch.no_grad():
        want = tm(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(model.predict(X.astype(dtype)), want, **TOL[dtype])
    check_onnx(model, X.astype(dtype), want)


class _TorchResidual:
    """a torch module: a residual block with batch normalisation, as a graph"""

    @staticmethod
    def make(torch):
        nn = torch.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(2, 3, 3, padding=1)
                self.bn = nn.BatchNorm2d(3)
                self.conv = nn.Conv2d(3, 3, 3, padding=1)
                self.head = nn.Linear(3 * 4 * 4, 2)

            def forward(self, x):
                h = self.bn(self.stem(x))
                r = torch.relu(torch.relu(self.conv(h)) + h)
                return self.head(torch.flatten(nn.functional.avg_pool2d(r, 2), 1))
        return Net().double()


def test_torch_residual_graph_with_mapping(backend):
    torch = _torch()
    torch.manual_seed(5)
    tm = _TorchResidual.make(torch)
    X = images(37, (2, 8, 8), "float64")
    trained_norms(torch, tm, X)
    x = Input((2, 8, 8))
    stem = Conv2D(3, 3, padding=1)
    bn = BatchNormalization(epsilon=1e-5)
    conv = Conv2D(3, 3, padding=1, activation="relu")
    head = Dense(2)
    h = bn(stem(x))
    r = Activation("relu")(Add()([conv(h), h]))
    model = Model(x, head(Flatten()(AvgPool2D(2)(r))), backend=backend)
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    mapping = {index[id(layer)]: name for layer, name in
               ((stem, "stem"), (bn, "bn"), (conv, "conv"), (head, "head"))}
    model.load_torch_state_dict(tm.state_dict(), mapping=mapping)
    with torch.no_grad():
        want = tm(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(model.predict(X), want, **TOL["float64"])
    check_onnx(model, X, want)


def test_torch_layernorm_on_sequences(backend):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(6)
    lin, ln, out = nn.Linear(3, 5).double(), nn.LayerNorm(5).double(), nn.Linear(5, 2).double()
    X = images(37, (4, 3), "float64")
    trained_norms(torch, ln, np.zeros((2, 5)))
    with torch.no_grad():
        want = out(ln(lin(torch.from_numpy(X))).mean(dim=1)).numpy()
    model = Sequential([Dense(5), LayerNormalization(epsilon=1e-5), GlobalAveragePooling1D(),
                        Dense(2)], input_shape=(4, 3), backend=backend)
    state = {**{f"lin.{k}": v for k, v in lin.state_dict().items()},
             **{f"ln.{k}": v for k, v in ln.state_dict().items()},
             **{f"out.{k}": v for k, v in out.state_dict().items()}}
    model.load_torch_state_dict(state)
    np.testing.assert_allclose(model.predict(X), want, **TOL["float64"])


def test_norm_import_errors_change_nothing():
    model = Sequential([Dense(3), BatchNormalization(), Dense(1)], input_shape=(2,), seed=0)
    rng = np.random.default_rng(0)
    good = {"a.weight": rng.standard_normal((3, 2)), "a.bias": rng.standard_normal(3),
            "bn.weight": np.ones(3), "bn.bias": np.zeros(3), "bn.running_mean": np.zeros(3),
            "bn.running_var": np.ones(3) * 2, "bn.num_batches_tracked": np.array(5),
            "c.weight": rng.standard_normal((1, 3)), "c.bias": np.zeros(1)}
    params, state = model.get_params(), model._state.copy()
    cases = [
        ({k: v for k, v in good.items() if k != "bn.running_var"},
         r"state_dict has no 'bn.running_var'.*BatchNorm1d/BatchNorm2d running_var"),
        ({**good, "bn.running_var": -np.ones(3)}, "negative variance"),
        ({**good, "bn.running_mean": np.zeros(4)}, r"'bn.running_mean'\] must have shape \(3,\)"),
        ({**good, "bn.extra": np.zeros(1)}, r"\['bn.extra'\] match no layer"),
    ]
    for sd, message in cases:
        with pytest.raises(ValueError, match=message):
            model.load_torch_state_dict(sd)
        np.testing.assert_array_equal(model.get_params(), params)
        np.testing.assert_array_equal(model._state, state)
    f32 = Sequential([Dense(3), BatchNormalization(), Dense(1)], input_shape=(2,), seed=0,
                     dtype="float32")
    before = f32.get_params()
    with pytest.raises(ValueError, match="finite"):   # 1e300 is infinity in float32
        f32.load_torch_state_dict({**good, "c.bias": np.array([1e300])})
    np.testing.assert_array_equal(f32.get_params(), before)
    model.load_torch_state_dict(good)
    np.testing.assert_array_equal(model._state, [0, 0, 0, 2, 2, 2])


def test_torch_embedding_language_model(backend, dtype):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(8)
    tm = nn.Sequential(nn.Embedding(11, 6, padding_idx=0), nn.LayerNorm(6), nn.Linear(6, 11),
                       nn.Softmax(dim=-1)).double()
    trained_norms(torch, tm[1], np.zeros((2, 6)))
    ids = np.random.default_rng(0).integers(0, 11, (37, 5))
    with torch.no_grad():
        want = tm(torch.from_numpy(ids)).numpy()
    model = Sequential([Embedding(11, 6, mask_zero=True), LayerNormalization(epsilon=1e-5),
                        Dense(11, "softmax")], input_shape=(5,), dtype=dtype, backend=backend)
    model.load_torch_state_dict(tm.state_dict())
    np.testing.assert_allclose(model.predict(ids), want, **TOL[dtype])


# -- recurrent and attention modules -------------------------------------------------------

def _recurrent_pair(torch, kind, units, n_in, bidirectional, return_sequences, activation):
    """a torch.nn.RNN/LSTM/GRU (batch_first, random biases) and the barenet layer it maps to"""
    from barenet.layers import GRU, LSTM, Bidirectional, SimpleRNN
    nn = torch.nn
    module = {"rnn": lambda: nn.RNN(n_in, units, nonlinearity=activation, batch_first=True,
                                    bidirectional=bidirectional),
              "lstm": lambda: nn.LSTM(n_in, units, batch_first=True,
                                      bidirectional=bidirectional),
              "gru": lambda: nn.GRU(n_in, units, batch_first=True,
                                    bidirectional=bidirectional)}[kind]().double()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.copy_(torch.randn(p.shape, dtype=p.dtype) * 0.5)
    layer = {"rnn": lambda: SimpleRNN(units, activation=activation,
                                      return_sequences=return_sequences),
             "lstm": lambda: LSTM(units, return_sequences=return_sequences),
             "gru": lambda: GRU(units, return_sequences=return_sequences)}[kind]()
    return module, Bidirectional(layer) if bidirectional else layer


def _torch_recurrent_out(torch, module, X, return_sequences):
    """torch's output as barenet gives it: (N, T, dirs U), or the last states (N, dirs U)"""
    with torch.no_grad():
        out, h = module(torch.from_numpy(X.astype(np.float64)))
    if isinstance(h, tuple):
        h = h[0]       # LSTM: (h_n, c_n)
    if return_sequences:
        return out.numpy()
    return h.transpose(0, 1).reshape(X.shape[0], -1).numpy()


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind, activation", [("rnn", "tanh"), ("rnn", "relu"),
                                              ("lstm", "tanh"), ("gru", "tanh")])
def test_torch_recurrent_import(kind, activation, return_sequences, bidirectional, backend,
                                dtype):
    """a bare torch.nn.RNN/LSTM/GRU state_dict (keys weight_ih_l0 ..., _reverse) into
    SimpleRNN/LSTM/GRU/Bidirectional: torch's outputs (or last states) from barenet"""
    torch = _torch()
    torch.manual_seed(3)
    module, layer = _recurrent_pair(torch, kind, 4, 3, bidirectional, return_sequences,
                                    activation)
    fc = torch.nn.Linear(layer.directions * 4, 2).double()
    model = Sequential([layer, Dense(2)], input_shape=(6, 3), dtype=dtype, backend=backend)
    # the recurrent module's own keys (no prefix) and a head's, paired by a mapping
    model.load_torch_state_dict({**module.state_dict(), **{f"fc.{k}": v for k, v in
                                                           fc.state_dict().items()}},
                                mapping={0: "", 1: "fc"})
    X = images(37, (6, 3), dtype)
    with torch.no_grad():
        want = fc(torch.from_numpy(_torch_recurrent_out(torch, module, X,
                                                        return_sequences))).numpy()
    np.testing.assert_allclose(model.predict(X), want, **TOL[dtype])
    check_onnx(model, X, want)


def test_torch_lstm_language_model_with_default_mapping(backend, dtype):
    """Embedding -> bidirectional GRU -> LSTM -> Linear in a module: the default mapping
    pairs the recurrent modules by their weight_ih_l0 keys"""
    torch = _torch()
    nn = torch.nn
    from barenet.layers import GRU, LSTM, Bidirectional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(9, 5)
            self.gru = nn.GRU(5, 3, batch_first=True, bidirectional=True)
            self.lstm = nn.LSTM(6, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, ids):
            h = self.gru(self.emb(ids))[0]
            return torch.softmax(self.fc(self.lstm(h)[1][0][0]), dim=-1)

    torch.manual_seed(4)
    net = Net().double()
    model = Sequential([Embedding(9, 5), Bidirectional(GRU(3, return_sequences=True)),
                        LSTM(4), Dense(2, "softmax")], input_shape=(7,), dtype=dtype,
                       backend=backend)
    model.load_torch_state_dict(net.state_dict())
    ids = np.random.default_rng(1).integers(0, 9, (37, 7))
    with torch.no_grad():
        want = net(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(model.predict(ids), want, **TOL[dtype])


def test_torch_recurrent_import_errors_change_nothing():
    torch = _torch()
    from barenet.layers import GRU, LSTM, Bidirectional
    gru = torch.nn.GRU(3, 4, batch_first=True)
    keras_gru = Sequential([GRU(4, reset_after=False), Dense(1)], input_shape=(5, 3))
    with pytest.raises(ValueError, match=r"torch.nn.GRU computes the reset_after=True form"):
        keras_gru.load_torch_state_dict(gru.state_dict())
    model = Sequential([Bidirectional(LSTM(4)), Dense(1)], input_shape=(5, 3))
    before = model.get_params()
    head = {"fc.weight": np.ones((1, 8)), "fc.bias": np.ones(1)}
    lstm = torch.nn.LSTM(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"no 'weight_ih_l0_reverse'.*bidirectional=True"):
        model.load_torch_state_dict({**lstm.state_dict(), **head})
    two = {**torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True).state_dict(), **head}
    with pytest.raises(ValueError, match=r"state_dict\['weight_hh_l0'\] must have shape "
                                         r"\(16, 4\)"):
        model.load_torch_state_dict({**two, "weight_hh_l0": np.zeros((16, 3))})
    with pytest.raises(ValueError, match=r"some bias keys.*'bias_hh_l0_reverse'"):
        model.load_torch_state_dict({k: v for k, v in two.items() if k != "bias_hh_l0_reverse"})
    stacked = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    with pytest.raises(ValueError, match=r"keys \['weight_ih_l1'.*match no layer"):
        model.load_torch_state_dict({**stacked.state_dict(), **head})
    np.testing.assert_array_equal(model.get_params(), before)
    # bias=False: zero biases
    model.load_torch_state_dict({k: v for k, v in two.items() if "bias_" not in k})
    assert not model.biases[0].any()


def _mha_pair(torch, heads, channels, causal, use_bias=True):
    from barenet.attention import MultiHeadAttention
    module = torch.nn.MultiheadAttention(channels, heads, bias=use_bias,
                                         batch_first=True).double()
    if use_bias:
        with torch.no_grad():
            module.in_proj_bias.copy_(torch.randn(3 * channels, dtype=torch.float64) * 0.3)
            module.out_proj.bias.copy_(torch.randn(channels, dtype=torch.float64) * 0.3)
    return module.eval(), MultiHeadAttention(heads, channels // heads, causal=causal,
                                             use_bias=use_bias)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("use_bias", [True, False])
def test_torch_multihead_attention_import(causal, use_bias, backend, dtype):
    """nn.MultiheadAttention (in_proj_weight/bias, out_proj) into MultiHeadAttention;
    torch called as mha(x, x, x) with the causal mask"""
    torch = _torch()
    torch.manual_seed(5)
    module, layer = _mha_pair(torch, 2, 6, causal, use_bias)
    fc = torch.nn.Linear(6, 3).double()
    model = Sequential([layer, Dense(3)], input_shape=(5, 6), dtype=dtype, backend=backend)
    # the default mapping: the bare module's in_proj_weight (its out_proj belongs to it),
    # then fc
    model.load_torch_state_dict({**module.state_dict(), **{f"fc.{k}": v for k, v in
                                                           fc.state_dict().items()}})
    X = images(37, (5, 6), dtype)
    x = torch.from_numpy(X.astype(np.float64))
    future = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1) if causal else None
    with torch.no_grad():
        want = fc(module(x, x, x, attn_mask=future, need_weights=False)[0]).numpy()
    np.testing.assert_allclose(model.predict(X), want, **TOL[dtype])
    check_onnx(model, X, want)


def test_torch_attention_with_padding_mask(backend, dtype):
    """Embedding(mask_zero=True) -> MultiHeadAttention against torch's key_padding_mask;
    with an all-padding row left out (torch gives NaN there, barenet the bias bo)"""
    torch = _torch()
    from barenet.attention import MultiHeadAttention

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 8)
            self.attn = torch.nn.MultiheadAttention(8, 4, batch_first=True)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, ids):
            x = self.emb(ids)
            h = self.attn(x, x, x, key_padding_mask=ids == 0, need_weights=False)[0]
            return torch.softmax(self.fc(h), dim=-1)

    torch.manual_seed(6)
    net = Net().double().eval()
    with torch.no_grad():
        net.attn.in_proj_bias.copy_(torch.randn(24, dtype=torch.float64) * 0.3)
    model = Sequential([Embedding(7, 8, mask_zero=True), MultiHeadAttention(4, 2),
                        Dense(3, "softmax")], input_shape=(6,),
                       loss="sparse_categorical_crossentropy", dtype=dtype, backend=backend)
    model.load_torch_state_dict(net.state_dict())
    ids = np.random.default_rng(2).integers(1, 7, (37, 6))
    ids[:, 2] = 0
    ids[:9, 4:] = 0
    with torch.no_grad():
        want = net(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(model.predict(ids), want, **TOL[dtype])


def test_torch_attention_shape_mismatch_is_refused():
    torch = _torch()
    from barenet.attention import MultiHeadAttention
    model = Sequential([MultiHeadAttention(2, 4), Dense(1)], input_shape=(5, 6))
    with pytest.raises(ValueError, match=r"embed_dim = C = 6.*num_heads \* key_dim is 8"):
        model.load_torch_state_dict(torch.nn.MultiheadAttention(6, 2).state_dict())
