"""The Transformer block as an ordinary graph of layers (no separate code path): called on
a node of a graph model, TransformerBlock adds LayerNormalization, MultiHeadAttention,
Add, Dense and Dropout nodes and returns the block's output node. A model built from it
trains, saves and loads as those layers; every kind runs in C and in the NumPy reference.

    x = barenet.Input((128,))                       # token ids
    h = PositionalEmbedding(128, 128)(Embedding(V, 128)(x))
    for _ in range(4):
        h = TransformerBlock(num_heads=4)(h)
    out = Dense(V, activation="softmax")(LayerNormalization()(h))
    model = barenet.Model(x, out)
"""

from ._validation import check_rate
from .layers import Add, Dense, Dropout, LayerNormalization, _check_size_arg

__all__ = ["TransformerBlock"]


class TransformerBlock:
    """A pre-norm Transformer block on a sequence (T, C), as GPT-2 arranges it:

        h = x + Dropout(MultiHeadAttention(LayerNormalization(x)))
        out = h + Dropout(Dense(C)(Dense(mlp_dim, "gelu")(LayerNormalization(h))))

    num_heads : heads of the attention
    key_dim : values per head of queries, keys and values (default C // num_heads)
    mlp_dim : the hidden width of the MLP (default 4 C)
    causal : each step attends to itself and the steps before it only (a language model)
    dropout : on the attention weights and after both residual branches (0: none)
    epsilon : of both LayerNormalizations

    Calling it on a node builds new layers each time: use one object per block."""

    def __init__(self, num_heads, key_dim=None, mlp_dim=None, *, causal=True, dropout=0.0,
                 epsilon=1e-5):
        what = "TransformerBlock"
        self.num_heads = _check_size_arg(num_heads, "num_heads", what)
        self.key_dim = None if key_dim is None else _check_size_arg(key_dim, "key_dim", what)
        self.mlp_dim = None if mlp_dim is None else _check_size_arg(mlp_dim, "mlp_dim", what)
        if not isinstance(causal, bool):
            raise TypeError(f"{what} causal must be True or False; got {causal!r}")
        self.causal = causal
        self.dropout = check_rate(dropout, f"{what} dropout")
        self.epsilon = epsilon
        self.layers = None  # the layers of the last call, in the order they were added

    def __call__(self, x):
        from .attention import MultiHeadAttention

        shape = getattr(x, "shape", None)
        if shape is None or len(shape) != 2:
            raise ValueError(f"TransformerBlock needs a node of a sequence (T, C); got {x!r}")
        channels = shape[1]
        key_dim = self.key_dim or max(1, channels // self.num_heads)
        mlp_dim = self.mlp_dim or 4 * channels
        layers = []

        def add(layer, node):
            layers.append(layer)
            return layer(node)

        h = add(LayerNormalization(self.epsilon), x)
        h = add(MultiHeadAttention(self.num_heads, key_dim, causal=self.causal,
                                   dropout=self.dropout), h)
        if self.dropout:
            h = add(Dropout(self.dropout), h)
        x = add(Add(), [x, h])
        h = add(LayerNormalization(self.epsilon), x)
        h = add(Dense(mlp_dim, activation="gelu"), h)
        h = add(Dense(channels), h)
        if self.dropout:
            h = add(Dropout(self.dropout), h)
        out = add(Add(), [x, h])
        self.layers = layers
        return out

    def __repr__(self):
        return (f"TransformerBlock(num_heads={self.num_heads}, key_dim={self.key_dim}, "
                f"mlp_dim={self.mlp_dim}, causal={self.causal}, dropout={self.dropout})")
