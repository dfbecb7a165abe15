"""ONNX export (checked by onnx.checker, run in onnxruntime against predict) of every
layer kind, chains and graph models, and the skl2onnx converters of barenet.sklearn. Skips
when the onnx extra is absent (pip install 'barenet[onnx]'). PyTorch import is in
test_torch_import.py, safetensors in test_safetensors.py."""

import json
import math
import warnings

import numpy as np
import pytest

from barenet import Input, Model, NeuralNetwork, Sequential, __version__
from barenet import _activations
from barenet.attention import MultiHeadAttention, PositionalEmbedding
from barenet.transformer import TransformerBlock
from barenet.layers import (GRU, LSTM, Activation, Add, AvgPool2D, BatchNormalization,
                            Bidirectional, Concatenate, Conv2D, Dense, Dropout, Embedding,
                            Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D, Layer,
                            LayerNormalization, Masking, MaxPool2D, Multiply, SimpleRNN)

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'barenet[onnx]')")
ort = pytest.importorskip("onnxruntime",
                          reason="onnxruntime is not installed (pip install 'barenet[onnx]')")
bonnx = pytest.importorskip("barenet.onnx")

# predict's outputs against onnxruntime's: rtol per dtype; atol for values near zero (the
# sums run in another order, and 1 + erf(z) loses digits for negative z in both)
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def run(proto, X):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": X})[0]


def check_export(model, X):
    """the exported model passes the checker and gives predict's outputs"""
    proto = model.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    got = run(proto, X)
    assert got.dtype == model.dtype
    np.testing.assert_allclose(got, model.predict(X), **TOL[model.dtype.name])
    return proto


def images(n, shape, dtype, seed=0):
    return (2 * np.random.default_rng(seed).standard_normal((n, *shape))).astype(dtype)


ACTIVATIONS = list(_activations.NAMES)

CASES = {
    # every activation, as the output's and (softmax aside) a hidden layer's
    **{f"dense-{a}": (lambda a=a: [Dense(6, "tanh" if a in ("softmax", "exp") else a), Dense(3, a)],
                      (5,)) for a in ACTIVATIONS},
    "dense-no-bias-dropout": (lambda: [Dense(7, "relu", use_bias=False), Dropout(0.5),
                                       Dense(2, "sigmoid")], (4,)),
    "conv-valid": (lambda: [Conv2D(3, 3, activation="relu"), Flatten(), Dense(2)], (2, 7, 6)),
    # 'same' with stride 2 on odd and even sizes: the odd pixel at the bottom/right
    "conv-same-stride": (lambda: [Conv2D(4, (3, 2), stride=2, padding="same",
                                         activation="gelu"), Flatten(), Dense(3, "softmax")],
                         (2, 7, 8)),
    "conv-same-even-kernel": (lambda: [Conv2D(2, 4, padding="same", activation="leaky_relu",
                                              use_bias=False), Flatten(), Dense(2, "tanh")],
                              (3, 5, 6)),
    "conv-explicit-pad": (lambda: [Conv2D(3, (2, 3), stride=(1, 2), padding=(2, 1),
                                          activation="sigmoid"), Flatten(), Dense(1, "exp")],
                          (1, 6, 5)),
    "maxpool": (lambda: [Conv2D(3, 3, padding="same", activation="tanh"), MaxPool2D(3, stride=2),
                         Flatten(), Dense(2)], (2, 9, 8)),
    "avgpool": (lambda: [AvgPool2D(2), Conv2D(2, 1, activation="exp"), AvgPool2D((2, 3),
                                                                                stride=(1, 2)),
                         Flatten(), Dense(4, "softmax")], (3, 8, 10)),
    "cnn": (lambda: [Conv2D(4, 3, padding="same", activation="relu"), MaxPool2D(2),
                     Conv2D(6, 3, padding=1, activation="gelu"), AvgPool2D(2), Dropout(0.3),
                     Flatten(), Dense(8, "leaky_relu"), Dropout(0.1), Dense(5, "softmax")],
            (2, 8, 8)),
}


CASES.update({
    # every hidden activation as a layer of its own, on images and sequences
    **{f"activation-{a}": (lambda a=a: [Activation(a), Flatten(), Dense(3)], (2, 3, 4))
       for a in ACTIVATIONS if a != "softmax"},
    **{f"activation-seq-{a}": (lambda a=a: [Dense(4), Activation(a), Flatten(), Dense(2)], (3, 5))
       for a in ("gelu", "leaky_relu")},
    "batchnorm-vector": (lambda: [Dense(6), BatchNormalization(momentum=0.9), Activation("relu"),
                                  Dense(3, "softmax")], (5,)),
    "batchnorm-image": (lambda: [Conv2D(3, 3, padding="same"), BatchNormalization(epsilon=1e-5),
                                 Activation("relu"), MaxPool2D(2), Flatten(), Dense(2)],
                        (2, 6, 6)),
    "batchnorm-sequence": (lambda: [Dense(4, "tanh"), BatchNormalization(), Flatten(),
                                    Dense(2, "sigmoid")], (3, 5)),
    "layernorm-vector": (lambda: [Dense(6), LayerNormalization(), Activation("gelu"),
                                  Dense(3, "softmax")], (5,)),
    "layernorm-sequence": (lambda: [Dense(4), LayerNormalization(epsilon=1e-5),
                                    GlobalAveragePooling1D(), Dense(2)], (6, 3)),
    "global-max-sequence": (lambda: [Dense(4, "relu"), GlobalMaxPooling1D(), Dense(2)], (6, 3)),
    "sequence-flatten-dropout": (lambda: [Dropout(0.2), Flatten(), Dense(3, "exp")], (4, 3)),
})


def randomise_state(model, seed=0):
    """running statistics (BatchNormalization) and normalisation scales and offsets away
    from their initial 0/1, so that the export must carry them"""
    rng = np.random.default_rng(seed)
    k = 0
    for l, layer in enumerate(model.layers):
        if isinstance(layer, BatchNormalization):
            mean, var = model._spec.state_views(model._state, l)
            mean[...] = rng.normal(0, 0.5, mean.shape)
            var[...] = rng.uniform(0.2, 3, var.shape)
        if isinstance(layer, (BatchNormalization, LayerNormalization)):
            model.weights[k] = rng.uniform(0.5, 1.5, model.weights[k].shape)
            model.biases[k] = rng.normal(0, 0.3, model.biases[k].shape)
        k += bool(layer.n_params)
    return model


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("case", list(CASES))
def test_export_runs_in_onnxruntime_as_predict(case, n, backend, dtype):
    make, shape = CASES[case]
    model = Sequential(make(), input_shape=shape, dtype=dtype, seed=3, backend=backend)
    check_export(randomise_state(model), images(n, shape, dtype))


# -- graph models --------------------------------------------------------------------------

def residual_cnn(**kwargs):
    """a residual block with batch normalisation, a concatenation of two branches"""
    x = Input((2, 6, 6))
    h = BatchNormalization()(Conv2D(3, 3, padding="same")(x))
    r = Activation("relu")(Add()([Conv2D(3, 3, padding="same", activation="relu")(h), h]))
    side = MaxPool2D(2)(Conv2D(2, 1, activation="leaky_relu")(x))
    c = Concatenate()([MaxPool2D(2)(r), side])
    out = Dense(3, activation="softmax")(Dropout(0.2)(Flatten()(AvgPool2D(1)(c))))
    return Model(x, out, **kwargs)


def fan_out_mlp(**kwargs):
    """one hidden output read by three layers: a residual add of three, a product, a
    concatenation, and layer normalisation"""
    x = Input((6,))
    h = Dense(5, activation="tanh")(x)
    r = Add()([Dense(5, activation="tanh")(h), h, Dense(5, "gelu")(x)])
    m = Multiply()([h, Dense(5, activation="sigmoid")(x), LayerNormalization()(h)])
    out = Dense(3, activation="softmax")(Concatenate()([r, m]))
    return Model(x, out, **kwargs)


def sequence_graph(**kwargs):
    """sequences: per-step Dense, layer normalisation, global pooling, concatenation along
    channels, batch normalisation, flatten"""
    x = Input((4, 3))
    h = LayerNormalization()(Dense(5, activation="gelu")(x))
    s = Concatenate()([h, BatchNormalization()(x)])                  # (4, 8)
    a = GlobalAveragePooling1D()(s)
    m = GlobalMaxPooling1D()(Dense(5)(x))
    f = Flatten()(Dropout(0.1)(h))
    out = Dense(2, activation="sigmoid")(Concatenate()([a, m, f]))
    return Model(x, out, **kwargs)


GRAPHS = {"residual_cnn": (residual_cnn, (2, 6, 6)), "fan_out_mlp": (fan_out_mlp, (6,)),
          "sequence": (sequence_graph, (4, 3))}


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("case", list(GRAPHS))
def test_graph_model_exports(case, n, backend, dtype):
    make, shape = GRAPHS[case]
    model = randomise_state(make(dtype=dtype, seed=4, backend=backend))
    proto = check_export(model, images(n, shape, dtype, seed=n))
    layers = json.loads({p.key: p.value for p in proto.metadata_props}["barenet_layers"])
    assert [entry["inputs"] for entry in layers] == [list(e) for e in model.edges]


def test_trained_batchnorm_graph_exports(backend):
    """running statistics after real training steps (not set by hand) reach the export"""
    model = residual_cnn(seed=0, backend=backend)
    X = images(40, (2, 6, 6), "float64")
    model.train(X, np.arange(40) % 3, epochs=3, batch_size=8, verbose=False)
    assert not np.allclose(model._state[:3], 0)
    check_export(model, X)


def token_model(**kwargs):
    """token ids read by an Embedding and, as numbers, by a Dense beside it"""
    x = Input((6,))
    e = LayerNormalization()(Embedding(9, 4)(x))
    pooled = GlobalAveragePooling1D()(e)
    out = Dense(3, activation="softmax")(Concatenate()([pooled, Dense(2, "tanh")(x)]))
    return Model(x, out, **kwargs)


SEQUENCE_OUTPUTS = {
    # a language model's shape: ids in, a softmax over the vocabulary at every step out
    "lm": (lambda **kw: Sequential([Embedding(9, 5, mask_zero=True), Dense(6, "gelu"),
                                    Dense(9, "softmax")], input_shape=(7,), **kw), "ids"),
    "tokens-graph": (token_model, "ids"),
    "masking": (lambda **kw: Sequential([Masking(0.5), Dense(4, "relu"), Flatten(),
                                         Dense(2)], input_shape=(5, 3), **kw), "values"),
    "sequence-out": (lambda **kw: Sequential([Masking(), Dense(4, "tanh"), Dense(3, "softmax")],
                                             input_shape=(5, 2), **kw), "values"),
    "sequence-regression": (lambda **kw: Sequential([Dense(4, "gelu"), Dense(3)],
                                                    input_shape=(5, 2), **kw), "values"),
}


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("case", list(SEQUENCE_OUTPUTS))
def test_tokens_masks_and_sequence_outputs(case, n, backend, dtype):
    make, data = SEQUENCE_OUTPUTS[case]
    model = randomise_state(make(dtype=dtype, seed=2, backend=backend))
    rng = np.random.default_rng(n)
    shape = model.input_shape
    if data == "ids":
        X = rng.integers(0, 9, (n, *shape))
        X[:, -2:] = 0   # padding
        feed = X.astype(np.int64)
    else:
        X = images(n, shape, dtype, seed=n)
        value = getattr(model.layers[0], "mask_value", 0.0)
        X[:, 1] = value   # a padded step
        X[:, 3, 0] = value   # a step with one value that is not padding
        feed = X
    proto = model.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    got = run(proto, feed)
    want = model.predict(X.astype(dtype))
    assert got.shape == want.shape and got.dtype == model.dtype
    np.testing.assert_allclose(got, want, **TOL[dtype])
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["barenet_input_dtype"] == ("int64 token ids" if data == "ids" else dtype)


def test_a_layer_reading_step_masks_is_refused(monkeypatch):
    """a mask-reading kind whose converter does not take the mask must not be exported as
    if there were no mask"""
    model = SEQUENCE_OUTPUTS["masking"][0](seed=0)
    monkeypatch.setattr(model.layers[1], "uses_mask", True, raising=False)
    with pytest.raises(bonnx.NotExportableError, match=r"layer 1, Dense.*reads the step mask "
                                                       r"of Masking"):
        model.to_onnx()


# -- recurrent layers ----------------------------------------------------------------------

def randomise_biases(model, seed=0):
    """biases away from their initial zeros (LSTM's forget gate: ones), so that the export
    must place every gate's bias"""
    rng = np.random.default_rng(seed)
    for k, b in enumerate(model.biases):
        if b is not None:
            model.biases[k] = rng.normal(0, 0.5, b.shape)
    return model


RECURRENT = {
    "rnn-tanh-last": lambda: SimpleRNN(4),
    "rnn-relu-seq-backwards": lambda: SimpleRNN(3, activation="relu", return_sequences=True,
                                                go_backwards=True),
    "rnn-leaky-seq": lambda: SimpleRNN(3, activation="leaky_relu", return_sequences=True),
    "rnn-identity-backwards": lambda: SimpleRNN(3, activation="identity", go_backwards=True),
    "lstm-last": lambda: LSTM(4, dropout=0.2),
    "lstm-seq-backwards": lambda: LSTM(3, return_sequences=True, go_backwards=True),
    "gru-seq": lambda: GRU(4, return_sequences=True),
    "gru-reset-before-backwards": lambda: GRU(3, reset_after=False, go_backwards=True),
    "bi-lstm-seq": lambda: Bidirectional(LSTM(3, return_sequences=True)),
    "bi-gru-last-backwards": lambda: Bidirectional(GRU(3, go_backwards=True)),
    "bi-rnn-seq-backwards": lambda: Bidirectional(SimpleRNN(2, return_sequences=True,
                                                            go_backwards=True)),
    "bi-gru-reset-before-seq": lambda: Bidirectional(GRU(2, reset_after=False,
                                                         return_sequences=True)),
}


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("case", list(RECURRENT))
def test_recurrent_layer_exports(case, n, backend, dtype):
    """every cell, direction, go_backwards (outputs in processing order, as Keras) and
    return_sequences, stacked on an LSTM that returns sequences; float32 runs ONNX's own
    RNN/LSTM/GRU, float64 (which onnxruntime's recurrent ops do not run) a Scan of the
    cell"""
    model = randomise_biases(Sequential([LSTM(3, return_sequences=True), RECURRENT[case](),
                                         Dense(2)], input_shape=(5, 3), dtype=dtype, seed=1,
                                        backend=backend))
    proto = check_export(model, images(n, (5, 3), dtype, seed=n))
    ops = {node.op_type for node in proto.graph.node}
    layer = model.layers[1]
    native = {"simplernn": "RNN", "lstm": "LSTM", "gru": "GRU"}[layer.kind]
    assert (native in ops) == (dtype == "float32")
    assert ("Scan" in ops) == (dtype == "float64")


def masked_recurrent(cell, tokens, **kwargs):
    """a padding mask from Embedding(mask_zero=True) or Masking, through a stacked LSTM into
    `cell`"""
    first, shape = (Embedding(7, 3, mask_zero=True), (6,)) if tokens else (Masking(0.5), (6, 3))
    sequences = getattr(cell.cell, "return_sequences", False)
    return Sequential([first, LSTM(3, return_sequences=True), cell, Dense(3, "softmax")],
                      input_shape=shape, loss="sparse_categorical_crossentropy" if sequences
                      else "categorical_crossentropy", **kwargs)


@pytest.mark.parametrize("tokens", [True, False])
@pytest.mark.parametrize("case", ["rnn-relu-seq-backwards", "lstm-last", "gru-seq",
                                  "bi-lstm-seq", "bi-gru-last-backwards"])
def test_recurrent_step_masks_export(case, tokens, backend, dtype):
    """barenet's masks skip any step (not only padding at the end, which is all ONNX's
    sequence_lens can say): the export carries the mask into a Scan of the cell, whose
    Where keeps the state over masked steps"""
    model = randomise_biases(masked_recurrent(RECURRENT[case](), tokens, dtype=dtype, seed=2,
                                              backend=backend))
    rng = np.random.default_rng(5)
    if tokens:
        X = rng.integers(1, 7, (37, 6))
        X[:, 2] = 0          # a padded step inside every row
        X[:5, -2:] = 0       # padding at the end
        X[7] = 0             # a row that is all padding
        feed, X = X.astype(np.int64), X.astype(dtype)
    else:
        X = images(37, (6, 3), dtype, seed=5)
        X[:, 1] = 0.5
        X[:4, 4:] = 0.5
        X[9] = 0.5
        X[:, 3, 0] = 0.5     # one value equal to mask_value: not padding
        feed = X
    proto = model.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert "Scan" in {node.op_type for node in proto.graph.node}
    for rows in (slice(0, 1), slice(None)):
        np.testing.assert_allclose(run(proto, feed[rows]), model.predict(X[rows]), **TOL[dtype])


@pytest.mark.parametrize("opset", [bonnx.MIN_OPSET, 14, onnx.defs.onnx_opset_version()])
def test_recurrent_opsets(opset, dtype):
    model = randomise_biases(masked_recurrent(Bidirectional(GRU(3, return_sequences=True)),
                                              True, dtype=dtype, seed=3))
    X = np.random.default_rng(0).integers(0, 7, (9, 6))
    got = run(model.to_onnx(opset=opset), X.astype(np.int64))
    np.testing.assert_allclose(got, model.predict(X.astype(dtype)), **TOL[dtype])
    plain = randomise_biases(Sequential([LSTM(4, go_backwards=True), Dense(2)], input_shape=(5, 3),
                                        dtype=dtype, seed=3))
    X = images(9, (5, 3), dtype)
    np.testing.assert_allclose(run(plain.to_onnx(opset=opset), X), plain.predict(X), **TOL[dtype])


# -- attention ----------------------------------------------------------------------------

def attention_model(causal, masked, kind, use_bias=True, blocks=1, **kwargs):
    """token ids with padding (mask_zero) or not, a positional embedding, a bare
    MultiHeadAttention and TransformerBlocks, as examples/char_gpt.py builds them"""
    x = Input((7,))
    h = PositionalEmbedding(9, 8, kind=kind)(Embedding(6, 8, mask_zero=masked)(x))
    h = MultiHeadAttention(2, 3, causal=causal, use_bias=use_bias)(h)
    for _ in range(blocks):
        h = TransformerBlock(2, causal=causal)(h)
    out = Dense(6, activation="softmax")(LayerNormalization(1e-5)(h))
    return Model(x, out, **kwargs)


def token_rows(n, seed=0):
    X = np.random.default_rng(seed).integers(0, 6, (n, 7))
    X[:, 1] = 0          # a padded step inside every row
    X[-1] = 0            # a row that is all padding: its queries see no key
    return X


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("causal, masked, kind, use_bias", [
    (False, False, "learned", True), (True, False, "sinusoidal", True),
    (False, True, "sinusoidal", False), (True, True, "learned", True)])
def test_attention_and_transformer_export(causal, masked, kind, use_bias, n, backend, dtype):
    """MultiHeadAttention (causal or not, with the padding mask of the keys or without) and
    PositionalEmbedding (learned, sinusoidal) in plain ONNX ops, no com.microsoft op"""
    model = randomise_biases(randomise_state(attention_model(
        causal, masked, kind, use_bias, dtype=dtype, seed=4, backend=backend)))
    X = token_rows(n, seed=n)
    proto = model.to_onnx()
    onnx.checker.check_model(proto, full_check=True)
    assert {node.domain for node in proto.graph.node} == {""}
    ops = [node.op_type for node in proto.graph.node]
    # the output's Softmax, and one per attention layer where every query has a key
    assert "Attention" not in ops and ops.count("Softmax") == (1 if masked else 3)
    got = run(proto, X.astype(np.int64))
    np.testing.assert_allclose(got, model.predict(X.astype(dtype)), **TOL[dtype])


@pytest.mark.parametrize("opset", [bonnx.MIN_OPSET, 17, onnx.defs.onnx_opset_version()])
def test_char_gpt_style_model_exports(opset, dtype):
    """two causal blocks with a learned position table longer than the context"""
    model = randomise_biases(attention_model(True, False, "learned", blocks=2, dtype=dtype,
                                             seed=1))
    X = np.random.default_rng(1).integers(0, 6, (37, 7))
    got = run(model.to_onnx(opset=opset), X.astype(np.int64))
    np.testing.assert_allclose(got, model.predict(X.astype(dtype)), **TOL[dtype])


def test_examples_char_gpt_model_exports():
    """the model examples/char_gpt.py builds (small sizes, dropout on), as it builds it"""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "char_gpt.py"
    spec = importlib.util.spec_from_file_location("_char_gpt", path)
    char_gpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(char_gpt)
    model = randomise_biases(char_gpt.build(vocab_size=11, context=8, dim=8, layers=2,
                                            heads=2, dropout=0.1, seed=0))
    X = np.random.default_rng(3).integers(0, 11, (37, 8))
    np.testing.assert_allclose(run(model.to_onnx(), X.astype(np.int64)), model.predict(X),
                               **TOL["float32"])


@pytest.mark.parametrize("opset", [bonnx.MIN_OPSET, 16, 17, 18])
def test_normalisation_in_every_opset(opset, dtype):
    """LayerNormalization: the ONNX op from opset 17 (float32), the composition before;
    ReduceMax/ReduceMean's axes an attribute before 18 and an input from 18"""
    model = randomise_state(sequence_graph(dtype=dtype, seed=1))
    proto = model.to_onnx(opset=opset)
    ops = {node.op_type for node in proto.graph.node}
    assert ("LayerNormalization" in ops) == (opset >= 17 and dtype == "float32")
    X = images(37, (4, 3), dtype)
    np.testing.assert_allclose(run(proto, X), model.predict(X), **TOL[dtype])


@pytest.mark.parametrize("n", [1, 37])
def test_neural_network_exports(n, backend, dtype):
    net = NeuralNetwork([6, 9, 5, 3], activation="gelu", output_activation="softmax",
                        dropout=0.25, dtype=dtype, seed=1, backend=backend)
    proto = check_export(net, images(n, (6,), dtype))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert [layer["class"] for layer in json.loads(meta["barenet_layers"])] == [
        "Dense", "Dropout", "Dense", "Dropout", "Dense"]


def test_flat_input_takes_predicts_flat_rows(backend, dtype):
    make, shape = CASES["cnn"]
    model = Sequential(make(), input_shape=shape, dtype=dtype, seed=0, backend=backend)
    X = images(37, shape, dtype)
    flat = X.reshape(37, -1)
    proto = model.to_onnx(flat_input=True)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == flat.shape[1]
    np.testing.assert_allclose(run(proto, flat), model.predict(flat), **TOL[dtype])


def test_file_metadata_and_dynamic_batch(tmp_path):
    make, shape = CASES["maxpool"]
    model = Sequential(make(), input_shape=shape, dtype="float32", seed=0)
    path = tmp_path / "model.onnx"
    returned = model.to_onnx(path)
    proto = onnx.load(str(path))
    assert proto == returned
    onnx.checker.check_model(str(path), full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["barenet_version"] == __version__ and proto.producer_name == "barenet"
    layers = json.loads(meta["barenet_layers"])
    assert [entry["class"] for entry in layers] == ["Conv2D", "MaxPool2D", "Flatten", "Dense"]
    assert layers[0]["config"]["padding"] == "same" and layers[1]["output_shape"] == [3, 4, 3]
    assert meta["barenet_input_layout"] == "(N, 2, 9, 8) channels first"
    (dim_in, *rest), dim_out = proto.graph.input[0].type.tensor_type.shape.dim, \
        proto.graph.output[0].type.tensor_type.shape.dim
    assert dim_in.dim_param == "N" and [d.dim_value for d in rest] == [2, 9, 8]
    assert dim_out[0].dim_param == "N" and dim_out[1].dim_value == 2
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]   # no temporary left


@pytest.mark.parametrize("opset", [bonnx.MIN_OPSET, onnx.defs.onnx_opset_version()])
def test_opsets(opset):
    make, shape = CASES["cnn"]
    model = Sequential(make(), input_shape=shape, seed=0)
    proto = model.to_onnx(opset=opset)
    assert proto.opset_import[0].version == opset
    X = images(5, shape, "float64")
    np.testing.assert_allclose(run(proto, X), model.predict(X), **TOL["float64"])


@pytest.mark.parametrize("opset", [12, 0, 1000, "17", 17.0, True])
def test_bad_opset_is_refused(opset):
    net = NeuralNetwork([2, 3, 1])
    with pytest.raises(ValueError, match="opset must be"):
        net.to_onnx(opset=opset)


class Scale(Layer):
    """a layer kind barenet.onnx has no converter for"""

    kind = 5  # runs as a dropout would; only its class matters here

    def __repr__(self):
        return "Scale()"


def test_unexportable_layer_is_named():
    model = Sequential([Dense(3, "relu"), Dropout(0.1), Dense(1)], input_shape=(2,))
    model.layers[1] = Scale()
    with pytest.raises(bonnx.NotExportableError,
                       match=r"layer 1, Scale\(\) \(Scale\), cannot be exported"):
        model.to_onnx()
    assert issubclass(bonnx.NotExportableError, ValueError)


def test_erfc_composition_is_double_precision():
    """the float64 GELU's erfc against math.erfc, from the far negative tail to where
    erfc underflows"""
    y = np.concatenate([np.linspace(-8, 8, 3201), [-30, -1e-300, 0.0, 1e-300, 1e-8, 26, 27.2]])
    g = bonnx.GraphBuilder(np.float64)
    out = bonnx._erfc(g, "input")
    g.nodes.append(onnx.helper.make_node("Identity", [out], ["output"]))
    graph = onnx.helper.make_graph(
        g.nodes, "erfc", [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.DOUBLE,
                                                             ["N"])],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.DOUBLE, ["N"])],
        g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    proto.ir_version = 8
    got = run(proto, y)
    want = np.array([math.erfc(v) for v in y])
    np.testing.assert_allclose(got, want, rtol=2e-14, atol=0)


# -- skl2onnx -----------------------------------------------------------------------------

def _skl2onnx():
    return pytest.importorskip("skl2onnx", reason="skl2onnx is not installed "
                                                  "(pip install 'barenet[onnx]')")


def _pipeline_case(estimator, y_of, seed=0, dtype=np.float32):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(seed)
    X = (3 * rng.standard_normal((120, 5)) + 1).astype(dtype)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", estimator)])
    with warnings.catch_warnings():   # few iterations: ConvergenceWarning
        warnings.simplefilter("ignore")
        pipe.fit(X, y_of(X))
    return pipe, X


TARGETS = {
    "binary": lambda X: (X[:, 0] + X[:, 1] > 1).astype(int),
    "multiclass": lambda X: (X[:, 0] > 0).astype(int) + (X[:, 2] > 1) + 5,
    "strings": lambda X: np.where(X[:, 0] > 1, "yes", np.where(X[:, 1] > 0, "maybe", "no")),
    "multilabel": lambda X: (X[:, :3] > 1).astype(int),
}


@pytest.mark.parametrize("target", list(TARGETS))
def test_skl2onnx_pipeline_classifier(target, backend):
    skl2onnx = _skl2onnx()
    from barenet.sklearn import MLPClassifier
    clf = MLPClassifier((8, 6), activation="gelu" if target == "binary" else "relu",
                        max_iter=30, random_state=0, backend=backend)
    pipe, X = _pipeline_case(clf, TARGETS[target])
    proto = skl2onnx.to_onnx(pipe, X[:1], options={id(clf): {"zipmap": False}})
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 37):
        labels, proba = session.run(None, {"X": X[:n]})
        np.testing.assert_array_equal(labels, pipe.predict(X[:n]))
        np.testing.assert_allclose(proba, pipe.predict_proba(X[:n]), **TOL["float32"])


def test_skl2onnx_double_input_computes_in_float64():
    skl2onnx = _skl2onnx()
    from barenet.sklearn import MLPClassifier
    clf = MLPClassifier((7,), activation="gelu", max_iter=20, random_state=2)
    pipe, X = _pipeline_case(clf, TARGETS["multiclass"], dtype=np.float64)
    proto = skl2onnx.to_onnx(pipe, X[:1], options={id(clf): {"zipmap": False}})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {"X": X})
    assert proba.dtype == np.float64
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), **TOL["float64"])


def test_skl2onnx_classifier_zipmap_default():
    skl2onnx = _skl2onnx()
    from barenet.sklearn import MLPClassifier
    pipe, X = _pipeline_case(MLPClassifier((4,), max_iter=20, random_state=1),
                             TARGETS["multiclass"])
    proto = skl2onnx.to_onnx(pipe, X[:1])
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, maps = session.run(None, {"X": X[:4]})
    np.testing.assert_array_equal(labels, pipe.predict(X[:4]))
    proba = pipe.predict_proba(X[:4])
    for row, want in zip(maps, proba):
        np.testing.assert_allclose([row[c] for c in pipe.classes_], want, **TOL["float32"])


def test_skl2onnx_pipeline_regressor(backend):
    skl2onnx = _skl2onnx()
    from barenet.sklearn import MLPRegressor
    reg = MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=30, random_state=0,
                       backend=backend)
    pipe, X = _pipeline_case(reg, lambda X: np.c_[X[:, 0] * 2 + X[:, 1], X[:, 2]])
    proto = skl2onnx.to_onnx(pipe, X[:1])
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"X": X})
    np.testing.assert_allclose(out, pipe.predict(X), **TOL["float32"])


def test_flat_input_must_be_a_bool():
    with pytest.raises(TypeError, match="flat_input must be True or False"):
        NeuralNetwork([2, 3, 1]).to_onnx(flat_input="yes")


@pytest.mark.parametrize("threads", [1, 2])
def test_benchmark_peer_predicts_as_barenet(threads, dtype):
    """benchmarks/_peers.py's onnxruntime peer (the inference benchmark's column) runs the
    exported model with predict's results"""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "_peers.py"
    spec = importlib.util.spec_from_file_location("_bench_peers", path)
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    assert peers.onnxruntime_available()
    make, shape = CASES["cnn"]
    model = Sequential(make(), input_shape=shape, dtype=dtype, seed=0)
    predict, note = peers.onnxruntime_predict(model, threads)
    assert f"{threads} thread(s)" in note
    X = images(37, shape, dtype)
    np.testing.assert_allclose(predict(X), model.predict(X), **TOL[dtype])
    flat, _ = peers.onnxruntime_predict(model, threads, flat_input=True)
    np.testing.assert_allclose(flat(X.reshape(37, -1)), model.predict(X), **TOL[dtype])
