"""TransformerBlock (barenet.transformer) as a whole, on both backends: float64 finite
differences for one block and a two-block language model (causal or not, with a padding
mask, with dropout in training mode), compiled against the NumPy reference after seeded
epochs with dropout, 1 and 2 threads giving the same parameters, and a block equal to the
same block written in PyTorch with copied weights (skipped without torch)."""

import numpy as np
import pytest

import barenet
from barenet import Input, Model, PositionalEmbedding
from barenet.layers import Dense, Embedding, LayerNormalization
from barenet.transformer import TransformerBlock
from conftest import finite_differences, numeric_gradient, training_loss_and_grad

VOCAB = 7


def tokens(n=4, t=5, pad=False, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, VOCAB, (n, t))
    if pad:  # right padding, a different length per row (row 0 unpadded)
        for i in range(1, n):
            X[i, max(1, t - i):] = 0
    return X, rng.integers(0, VOCAB, (n, t))


def gpt(backend, blocks=2, t=5, dim=8, heads=2, causal=True, dropout=0.0, mask_zero=False,
        dtype="float64", seed=3, **kwargs):
    """Embedding -> PositionalEmbedding -> `blocks` TransformerBlocks -> LayerNorm -> softmax"""
    x = Input((t,))
    h = PositionalEmbedding(t, dim)(Embedding(VOCAB, dim, mask_zero=mask_zero)(x))
    for _ in range(blocks):
        h = TransformerBlock(heads, mlp_dim=2 * dim, causal=causal, dropout=dropout)(h)
    out = Dense(VOCAB, activation="softmax")(LayerNormalization()(h))
    return Model(x, out, backend=backend, dtype=dtype, seed=seed, **kwargs)


@pytest.mark.parametrize("blocks", [1, 2])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("pad", [False, True], ids=["plain", "padded"])
def test_block_gradient_matches_finite_differences(backend, blocks, causal, pad):
    X, y = tokens(n=3, t=5, pad=pad)
    net = gpt(backend, blocks=blocks, causal=causal, mask_zero=pad, l2=0.01)
    _, grad = net.gradient(X, y)
    np.testing.assert_allclose(grad, numeric_gradient(net, X, y), rtol=1e-5, atol=1e-8)


def test_block_gradient_with_dropout_matches_finite_differences(backend):
    """in training mode the masks of attention and residual dropout are fixed by (seed,
    epoch, batch), so the training objective's gradient checks out"""
    X, y = tokens(n=3, t=4, pad=True)
    net = gpt(backend, blocks=2, t=4, dropout=0.3, mask_zero=True)
    p0 = net.get_params()
    loss, grad = training_loss_and_grad(net, p0, X, y, drop=(5, 0, 1))
    assert loss != net.loss(X, y)  # the dropout acts
    numeric = finite_differences(lambda p: training_loss_and_grad(net, p, X, y, (5, 0, 1))[0],
                                 p0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.usefixtures("needs_compiled")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_training_equals_the_reference(dtype):
    X, y = tokens(n=24, t=6, pad=True, seed=2)
    nets = [gpt(b, t=6, dropout=0.1, mask_zero=True, dtype=dtype) for b in ("numpy", "compiled")]
    hist = [net.train(X, y, epochs=3, learning_rate=0.01, batch_size=8, optimizer="momentum",
                      verbose=False) for net in nets]
    tol = 1e-9 if dtype == "float64" else 2e-4
    np.testing.assert_allclose(hist[1], hist[0], rtol=tol)
    np.testing.assert_allclose(nets[1].get_params(), nets[0].get_params(), rtol=tol,
                               atol=tol * 1e-2)
    np.testing.assert_allclose(nets[1].predict(X), nets[0].predict(X), rtol=tol,
                               atol=tol * 1e-2)


@pytest.mark.usefixtures("needs_compiled")
def test_training_does_not_depend_on_the_thread_count():
    """sizes past every layer's one-thread threshold (batch 32, T 40, 4 heads)"""
    X, y = tokens(n=64, t=40, pad=True, seed=4)
    results = []
    before = barenet.get_num_threads()
    try:
        for threads in (1, 2):
            barenet.set_num_threads(threads)
            net = gpt("compiled", t=40, dim=32, heads=4, dropout=0.1, mask_zero=True,
                      dtype="float32")
            net.train(X, y, epochs=2, learning_rate=1e-3, batch_size=32, optimizer="adamw",
                      verbose=False)
            results.append(net.get_params())
    finally:
        barenet.set_num_threads(before)
    assert np.array_equal(results[0], results[1])


def torch_block(torch, block, params, offsets, index, heads):
    """the same pre-norm block in PyTorch, barenet's weights copied in"""
    nn, F = torch.nn, torch.nn.functional
    ln1, attn, _, ln2, fc, proj, _ = block.layers

    def t(a):
        return torch.tensor(np.ascontiguousarray(a))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            c = attn.channels
            self.ln1 = nn.LayerNorm(c, eps=ln1.epsilon, dtype=torch.float64)
            self.ln2 = nn.LayerNorm(c, eps=ln2.epsilon, dtype=torch.float64)
            self.qkv = nn.Linear(c, 3 * attn.width, dtype=torch.float64)
            self.out = nn.Linear(attn.width, c, dtype=torch.float64)
            self.fc = nn.Linear(c, fc.n_out, dtype=torch.float64)
            self.proj = nn.Linear(fc.n_out, c, dtype=torch.float64)
            wq, wk, wv, wo, bq, bk, bv, bo = attn.unpack(params, offsets[index[id(attn)]])
            with torch.no_grad():
                self.qkv.weight.copy_(t(np.concatenate([wq, wk, wv], axis=1).T))
                self.qkv.bias.copy_(t(np.concatenate([bq, bk, bv])))
                self.out.weight.copy_(t(wo.T))
                self.out.bias.copy_(t(bo))
                for lin, dense in ((self.fc, fc), (self.proj, proj)):
                    w, b = dense.views(params, offsets[index[id(dense)]])
                    lin.weight.copy_(t(w.T))
                    lin.bias.copy_(t(b.reshape(-1)))
                for ln, norm in ((self.ln1, ln1), (self.ln2, ln2)):
                    g, b = norm.views(params, offsets[index[id(norm)]])
                    ln.weight.copy_(t(np.ravel(g)))
                    ln.bias.copy_(t(np.ravel(b)))

        def forward(self, x):
            n, steps, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(attn.width, dim=2)
            q, k, v = (a.view(n, steps, heads, attn.key_dim).transpose(1, 2) for a in (q, k, v))
            o = F.scaled_dot_product_attention(q, k, v, is_causal=attn.causal)
            x = x + self.out(o.transpose(1, 2).reshape(n, steps, attn.width))
            return x + self.proj(F.gelu(self.fc(self.ln2(x))))

    return Block()


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_block_equals_torch_with_copied_weights(backend, causal):
    """a block on a sequence input (Dropout absent at rate 0), a Dense on top (a model's
    output is Dense): GPT-2's pre-norm block with torch's exact GELU and
    scaled_dot_product_attention, then the same Dense"""
    torch = pytest.importorskip("torch")
    n, t, c, heads = 3, 6, 8, 2
    x = Input((t, c))
    block = TransformerBlock(heads, causal=causal)
    model = Model(x, Dense(3)(block(x)), loss="mse", seed=4, backend=backend)
    for layer in model.layers:  # LayerNorm's gain and offset away from 1 and 0
        if isinstance(layer, LayerNormalization):
            i = model.layers.index(layer)
            g, b = layer.views(model._params, model._spec.offsets[i])
            g[...] = np.linspace(0.5, 1.5, g.size).reshape(g.shape)
            b[...] = np.linspace(-0.2, 0.2, b.size).reshape(b.shape)
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    ref = torch_block(torch, block, model.get_params(), model._spec.offsets, index, heads)
    X = np.random.default_rng(1).standard_normal((n, t, c))
    with torch.no_grad():
        expected = ref(torch.tensor(X)).numpy() @ model.weights[-1] + model.biases[-1]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-10, atol=1e-12)
