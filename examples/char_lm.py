"""A character-level language model
================================

A character-level LSTM language model on the fortunes text: an Embedding of the
characters, LSTM(256) over windows of 128 characters, a softmax over the vocabulary at
every step (float32, Adam with gradient clipping, batch 64). Prints the validation loss in
bits per character after every epoch, saves the model with its vocabulary, loads it back,
and prints text generated from a prompt, one character at a time with the LSTM's state
carried from character to character.

    python examples/char_lm.py                    # 5 epochs on the whole text
    python examples/char_lm.py --chars 50000 --epochs 1 --units 64 --steps 64

The text comes from Debian's `fortunes` package (`apt-get install fortunes`: plain files
under /usr/share/games/fortunes) or a file or directory given with --text.
"""
import argparse
import math
import sys
import time

import numpy as np

import barenet
from barenet.datasets import load_text, sequences
from barenet.layers import LSTM, Dense, Embedding
from barenet.optimizers import Adam
from barenet.text import Vocabulary

FORTUNES = "/usr/share/games/fortunes"


def build(vocab_size, steps, units, seed):
    return barenet.Sequential([
        Embedding(vocab_size, 64),                    # (T,) ids -> (T, 64)
        LSTM(units, return_sequences=True),           # (T, units)
        Dense(vocab_size, activation="softmax"),      # (T, V): the next character
    ], input_shape=(steps,), dtype="float32", seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description="A character-level LSTM language model with generation.")
    parser.add_argument("--text", default=FORTUNES, help="a text file or a directory of them")
    parser.add_argument("--chars", type=int, default=None, metavar="N",
                        help="use only the first N characters")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--steps", type=int, default=128, help="characters per window")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--generate", type=int, default=300, metavar="N",
                        help="characters to generate at the end")
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="char_lm.npz", help="where to save the model")
    args = parser.parse_args(argv)
    if min(args.epochs, args.units, args.steps, args.batch_size) < 1:
        parser.error("--epochs, --units, --steps and --batch-size must be >= 1")

    text = load_text(args.text)
    if args.chars is not None:
        text = text[:args.chars]
    vocab = Vocabulary.from_text(text, level="char")
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)                           # the last 10 % for validation
    X, y = sequences(ids[:cut], args.steps)
    Xv, yv = sequences(ids[cut:], args.steps)
    net = build(len(vocab), args.steps, args.units, args.seed)
    net.vocabulary = vocab
    print(f"{len(text)} characters, {len(vocab)} ids; {len(X)} training and {len(Xv)} "
          f"validation windows of {args.steps}")
    print(f"{net}\n{net.n_params} parameters, {net.backend} backend, "
          f"{barenet.get_num_threads()} threads")
    opt = Adam(clipnorm=1.0)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train(X, y, epochs=1, learning_rate=2e-3, batch_size=args.batch_size,
                  optimizer=opt, verbose=False)
        bits = net.loss(Xv, yv) / math.log(2)
        print(f"epoch {epoch + 1}: validation {bits:.3f} bits per character "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
    net.save(args.out)
    again = barenet.Sequential.load(args.out)
    assert again.vocabulary == vocab
    prompt = vocab.encode(args.prompt)
    tokens = again.generate(prompt, args.generate, temperature=0.8, top_k=20, seed=args.seed)
    same = np.array_equal(tokens, net.generate(prompt, args.generate, temperature=0.8,
                                               top_k=20, seed=args.seed))
    print(f"saved to {args.out}; reloaded model generates the same: {same}")
    print("---\n" + args.prompt + vocab.decode(tokens) + "\n---")
    return 0 if same else 1


if __name__ == "__main__":
    status = main()
    if status:   # no SystemExit(0): the docs' gallery runs this file in-process
        sys.exit(status)
