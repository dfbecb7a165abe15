"""A character-level GPT
=====================

A character-level GPT on the fortunes text: token and learned position embeddings,
4 pre-norm Transformer blocks (4 heads, 128 dimensions, causal attention, GELU MLP), a
final LayerNormalization and a softmax over the characters at every step, context 128
(float32, AdamW with weight decay on the kernels only, gradient clipping at 1, a linear
warm-up and cosine decay per step, batch 32). Prints the validation loss and bits per
character during training, saves the model with its vocabulary, loads it back and prints
text generated from a prompt.

    python examples/char_gpt.py                       # 2 epochs over the whole text
    python examples/char_gpt.py --chars 60000 --epochs 1 --layers 1 --dim 32 --context 32

The text comes from Debian's `fortunes` package (`apt-get install fortunes`: plain files
under /usr/share/games/fortunes) or a file or directory given with --text.
"""
import argparse
import math
import sys
import time

import numpy as np

import barenet
from barenet.attention import PositionalEmbedding
from barenet.datasets import load_text, sequences
from barenet.layers import Dense, Embedding, LayerNormalization
from barenet.optimizers import AdamW
from barenet.schedules import WarmupCosine
from barenet.text import Vocabulary
from barenet.transformer import TransformerBlock

FORTUNES = "/usr/share/games/fortunes"


def build(vocab_size, context, dim, layers, heads, dropout, seed):
    x = barenet.Input((context,))                                 # token ids
    h = PositionalEmbedding(context, dim)(Embedding(vocab_size, dim)(x))
    for _ in range(layers):
        h = TransformerBlock(heads, causal=True, dropout=dropout)(h)
    out = Dense(vocab_size, activation="softmax")(LayerNormalization(1e-5)(h))
    return barenet.Model(x, out, dtype="float32", seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A character-level GPT with generation.")
    parser.add_argument("--text", default=FORTUNES, help="a text file or a directory of them")
    parser.add_argument("--chars", type=int, default=None, metavar="N",
                        help="use only the first N characters")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--evals", type=int, default=4, help="validations per epoch")
    parser.add_argument("--generate", type=int, default=300, metavar="N")
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="char_gpt.npz", help="where to save the model")
    args = parser.parse_args(argv)
    if min(args.epochs, args.layers, args.heads, args.dim, args.context, args.batch_size,
           args.evals) < 1:
        parser.error("sizes and counts must be >= 1")

    text = load_text(args.text)
    if args.chars is not None:
        text = text[:args.chars]
    vocab = Vocabulary.from_text(text, level="char")
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)                           # the last 10 % for validation
    X, y = sequences(ids[:cut], args.context)
    Xv, yv = sequences(ids[cut:], args.context)
    model = build(len(vocab), args.context, args.dim, args.layers, args.heads, args.dropout,
                  args.seed)
    model.vocabulary = vocab
    steps_per_epoch = math.ceil(len(X) / args.batch_size)
    total = steps_per_epoch * args.epochs
    schedule = WarmupCosine(warmup_steps=min(100, total // 10 + 1), decay_steps=total,
                            min_lr=args.lr / 10)
    opt = AdamW(weight_decay=0.1, decay="weights", beta2=0.99, clipnorm=1.0)
    print(f"{len(text)} characters, {len(vocab)} ids; {len(X)} training and {len(Xv)} "
          f"validation windows of {args.context}; {model.n_params} parameters, "
          f"{model.backend} backend, {barenet.get_num_threads()} threads")
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    chunks = np.array_split(np.arange(len(X)), args.evals)
    for epoch in range(args.epochs):
        order = rng.permutation(len(X))
        for k, part in enumerate(chunks):          # a validation after each part
            rows = order[part]
            model.train(X[rows], y[rows], epochs=1, learning_rate=args.lr,
                        batch_size=args.batch_size, optimizer=opt, lr_schedule=schedule,
                        verbose=False)
            val = model.loss(Xv, yv)
            print(f"epoch {epoch + 1} part {k + 1}/{args.evals}: step {opt.step}, "
                  f"validation loss {val:.4f} ({val / math.log(2):.3f} bits per character), "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    model.save(args.out)
    again = barenet.Model.load(args.out)
    prompt = vocab.encode(args.prompt)
    tokens = again.generate(prompt, args.generate, temperature=0.8, top_k=20, seed=args.seed)
    same = np.array_equal(tokens, model.generate(prompt, args.generate, temperature=0.8,
                                                 top_k=20, seed=args.seed))
    print(f"saved to {args.out}; reloaded model generates the same: {same}")
    print("---\n" + args.prompt + vocab.decode(tokens) + "\n---")
    return 0 if same else 1


if __name__ == "__main__":
    status = main()
    if status:   # no SystemExit(0): the docs' gallery runs this file in-process
        sys.exit(status)
