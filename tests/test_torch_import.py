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
