"""Recurrent networks, barenet against PyTorch in one run (float32, the same sizes,
optimizer, batch and thread count, and by default the same initial weights):

  fashion  LSTM(128) over the 28 rows of Fashion-MNIST images, softmax over 10 classes,
           batch 128, Adam lr 2e-3 with global-norm clipping at 5: seconds per epoch, test
           accuracy
  char     a character LSTM language model on the fortunes text: Embedding(V, 64),
           LSTM(256) over windows of 128 characters, a softmax per step, batch 64, Adam
           lr 2e-3 with clipping at 1: seconds per epoch, validation bits per character
  small    generation, batch 1: one token in, one step of the char model, the next token
           out (the LSTM's state carried), microseconds per token: barenet's generate
           against a PyTorch loop of the same step (inference_mode) and the same sampling

Like with like. barenet's clipnorm is one global norm over all parameters, as
torch.nn.utils.clip_grad_norm_ (Keras's clipnorm is per tensor, its global_clipnorm is
this); both take the mean cross-entropy over all steps; Adam's eps is 1e-8 in both. Two
defaults differ, and with --init shared (the default) the benchmark removes both:
* the initial weights: barenet uses Keras's initialisers (Embedding U(-0.05, 0.05), Glorot
  kernels, orthogonal recurrent kernels, forget bias 1), torch its own (Embedding N(0, 1),
  LSTM and Linear U(-1/sqrt(fan), 1/sqrt(fan))). Shared: torch starts from barenet's
  initial weights, copied by the mapping of docs/recurrent.md.
* the LSTM bias: Keras and barenet have one bias b, torch two (bias_ih + bias_hh), each a
  parameter. Adam moves each of them by about lr per step, so torch's effective bias moves
  twice as fast (and clip_grad_norm_ counts its gradient twice). Shared: torch's bias_hh
  is zero and frozen, so both train the same function of the same parameters.
With both removed, the two train identically: from the same batches their losses agree to
float32 rounding for the first hundred batches (docs/recurrent.md). The batches are the same
too (--order shared, the default): one NumPy permutation per epoch, which torch's loop
follows and barenet trains on (the rows gathered in that order inside the timing, as
torch's loop gathers its batches, with barenet's own shuffle off); the char model's
validation bits per character then agree to 0.001 after 3 epochs. --order own lets each
shuffle with its own generator: the two then differ by the order's luck, up to 0.02 bits
per character after 3 epochs, either way. --init own lets each
peer initialise itself with its library's defaults (torch also with its two biases); on
the char model torch's defaults then reach about 0.2 lower validation bits per character
after 3 epochs, all of it from the Embedding's initial table (N(0, 1) against Keras's
U(-0.05, 0.05); see docs/recurrent.md, "Training like PyTorch").
The peers take turns, one epoch each, so that the machine's slow and fast phases (these
are shared VMs) fall on both alike.

    python benchmarks/sequence.py                       # all three, 2 epochs each
    python benchmarks/sequence.py --cases small --json out.json
    python benchmarks/sequence.py --quick               # a smoke test on a small subset

Timing covers the training epochs only (one train call per epoch for barenet, the usual
loop for torch); the first epoch carries warm-up, so s/epoch is the mean of the others
when there are several. Run it alone on the machine: two-thread timings collapse when
anything else runs.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402,F401  (a checkout's src/ on the path when barenet is not installed)

import barenet  # noqa: E402
from barenet.datasets import load_fashion_mnist, load_text, sequences  # noqa: E402
from barenet.layers import LSTM, Dense, Embedding  # noqa: E402
from barenet.optimizers import Adam  # noqa: E402
from barenet.text import Vocabulary  # noqa: E402

FORTUNES = "/usr/share/games/fortunes"


def per_epoch(times):
    return statistics.fmean(times[1:]) if len(times) > 1 else times[0]


def torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def share_weights(torch, net, lstm_index, emb, lstm, out):
    """copy barenet's parameters into the torch modules (docs/recurrent.md's mapping) and
    give torch's LSTM Keras's one bias: bias_hh zero and frozen"""
    (kernel, recurrent, bias), = net.layers[lstm_index].unpack(net.weights[lstm_index],
                                                               net.biases[lstm_index])
    t = torch.from_numpy
    with torch.no_grad():
        if emb is not None:
            emb.weight.copy_(t(net.weights[0].reshape(emb.weight.shape).copy()))
        lstm.weight_ih_l0.copy_(t(kernel.T.copy()))
        lstm.weight_hh_l0.copy_(t(recurrent.T.copy()))
        lstm.bias_ih_l0.copy_(t(bias.copy()))
        lstm.bias_hh_l0.zero_()
        out.weight.copy_(t(net.weights[lstm_index + 1].T.copy()))
        out.bias.copy_(t(net.biases[lstm_index + 1].ravel().copy()))
    lstm.bias_hh_l0.requires_grad_(False)


def epoch_orders(n, epochs, seed):
    """--order shared: the batch order of every epoch, one permutation each, which both
    peers then follow (barenet trains on the rows taken in that order, without its own
    shuffle), so that their losses differ only by the arithmetic"""
    rng = np.random.default_rng([seed, 7])
    return [rng.permutation(n) for _ in range(epochs)]


def trainable(model):
    return [p for p in model.parameters() if p.requires_grad]


# ---------------------------------------------------------------- fashion

def fashion_data(limit):
    (X, y), (Xt, yt) = load_fashion_mnist(dtype="float32")
    if limit:
        X, y = X[:limit], y[:limit]
    return (X.reshape(-1, 28, 28), y.astype(np.int64), Xt.reshape(-1, 28, 28),
            yt.astype(np.int64))


def fashion_barenet_model(seed):
    return barenet.Sequential([LSTM(128), Dense(10, activation="softmax")],
                              input_shape=(28, 28), dtype="float32", seed=seed)


def train_epochs(net, X, y, epochs, orders, **kw):
    """barenet's epochs, one train call each: its own shuffle, or the given batch orders
    (the rows gathered inside the timing, as torch's loop gathers its batches, into arrays
    made once, as torch's caching allocator reuses its batches' memory: a new 188 MB array
    per epoch would be zeroed page by page by the kernel, ~3 % of the Fashion epoch)"""
    Xe = None if orders is None else np.empty_like(X)  # made once: an allocator reuses it
    ye = None if orders is None else np.empty_like(y)
    for e in range(epochs):
        t0 = time.perf_counter()
        if orders is None:
            net.train(X, y, epochs=1, verbose=False, **kw)
        else:
            np.take(X, orders[e], axis=0, out=Xe)
            np.take(y, orders[e], axis=0, out=ye)
            net.train(Xe, ye, epochs=1, shuffle=False, verbose=False, **kw)
        yield time.perf_counter() - t0


def torch_batches(torch, n, batch, gen, orders, e):
    """the row indices of each of epoch e's batches for the torch loops"""
    if orders is None:
        order = torch.randperm(n, generator=gen)
    else:
        order = torch.from_numpy(orders[e])
    return [order[s:s + batch] for s in range(0, n, batch)]


def fashion_barenet(data, epochs, threads, seed, init="shared", orders=None):
    X, y, Xt, yt = data
    barenet.set_num_threads(threads)
    net = fashion_barenet_model(seed)
    yield from train_epochs(net, X, y, epochs, orders, learning_rate=2e-3, batch_size=128,
                            optimizer=Adam(clipnorm=5.0))
    return {"metric": float(np.mean(net.predict_classes(Xt) == yt))}


def fashion_torch(data, epochs, threads, seed, init="shared", orders=None):
    torch = torch_or_none()
    if torch is None:
        return {"error": "torch not installed"}
    X, y, Xt, yt = data
    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(28, 128, batch_first=True)
            self.out = torch.nn.Linear(128, 10)

        def forward(self, x):
            h, _ = self.lstm(x)
            return self.out(h[:, -1])

    model = Net()
    if init == "shared":
        share_weights(torch, fashion_barenet_model(seed), 0, None, model.lstm, model.out)
    params = trainable(model)
    opt = torch.optim.Adam(params, lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for e in range(epochs):
        t0 = time.perf_counter()
        for idx in torch_batches(torch, len(Xtr), 128, gen, orders, e):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xtr[idx]), ytr[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
        yield time.perf_counter() - t0
    with torch.inference_mode():
        pred = torch.cat([model(torch.from_numpy(Xt[i:i + 2048])).argmax(1)
                          for i in range(0, len(Xt), 2048)]).numpy()
    return {"metric": float(np.mean(pred == yt))}


# ---------------------------------------------------------------- char

def char_data(chars, steps):
    text = load_text(FORTUNES)
    if chars:
        text = text[:chars]
    vocab = Vocabulary.from_text(text, level="char")
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)
    X, y = sequences(ids[:cut], steps)
    Xv, yv = sequences(ids[cut:], steps)
    return vocab, X, y, Xv, yv


def char_barenet_model(vocab_size, steps, units, seed):
    return barenet.Sequential([Embedding(vocab_size, 64),
                               LSTM(units, return_sequences=True),
                               Dense(vocab_size, activation="softmax")],
                              input_shape=(steps,), dtype="float32", seed=seed)


def char_barenet(data, epochs, threads, seed, init="shared", orders=None, units=256):
    vocab, X, y, Xv, yv = data
    barenet.set_num_threads(threads)
    net = char_barenet_model(len(vocab), X.shape[1], units, seed)
    yield from train_epochs(net, X, y, epochs, orders, learning_rate=2e-3, batch_size=64,
                            optimizer=Adam(clipnorm=1.0))
    return {"metric": net.loss(Xv, yv) / math.log(2)}


class TorchCharLM:
    """the char model in PyTorch; step() runs one token with the state carried"""

    def __new__(cls, torch, vocab_size, units):
        class Model(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(vocab_size, 64)
                self.lstm = torch.nn.LSTM(64, units, batch_first=True)
                self.out = torch.nn.Linear(units, vocab_size)

            def forward(self, x, state=None):
                h, state = self.lstm(self.emb(x), state)
                return self.out(h), state

        return Model()


def char_torch(data, epochs, threads, seed, init="shared", orders=None, units=256):
    torch = torch_or_none()
    if torch is None:
        return {"error": "torch not installed"}
    vocab, X, y, Xv, yv = data
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = TorchCharLM(torch, len(vocab), units)
    if init == "shared":
        share_weights(torch, char_barenet_model(len(vocab), X.shape[1], units, seed), 1,
                      model.emb, model.lstm, model.out)
    params = trainable(model)
    opt = torch.optim.Adam(params, lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for e in range(epochs):
        t0 = time.perf_counter()
        for idx in torch_batches(torch, len(Xtr), 64, gen, orders, e):
            opt.zero_grad(set_to_none=True)
            logits, _ = model(Xtr[idx])
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), ytr[idx].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        yield time.perf_counter() - t0
    with torch.inference_mode():
        total = 0.0
        for i in range(0, len(Xv), 256):
            logits, _ = model(torch.from_numpy(Xv[i:i + 256]))
            total += float(loss_fn(logits.reshape(-1, logits.shape[-1]),
                                   torch.from_numpy(yv[i:i + 256]).reshape(-1))) \
                * len(Xv[i:i + 256])
    return {"metric": total / len(Xv) / math.log(2)}


# ---------------------------------------------------------------- small

def sample(proba, rng, temperature=0.8):
    """PyTorch's sampling (NumPy), the arithmetic of barenet's generate: proba ** (1 /
    temperature), scaled by its largest first, in float64"""
    p = np.power(np.divide(proba, proba.max(), dtype=np.float64), 1.0 / temperature)
    cdf = np.cumsum(p, out=p)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1]), len(p) - 1))


def small_barenet(vocab_size, tokens, threads, seed, units=256):
    barenet.set_num_threads(threads)
    net = char_barenet_model(vocab_size, 128, units, seed)
    net.generate([2], 5, seed=0)  # warm-up
    t0 = time.perf_counter()
    net.generate([2], tokens, temperature=0.8, seed=seed)
    return {"us_per_token": (time.perf_counter() - t0) / tokens * 1e6}


def small_torch(vocab_size, tokens, threads, seed, units=256):
    torch = torch_or_none()
    if torch is None:
        return {"error": "torch not installed"}
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = TorchCharLM(torch, vocab_size, units).eval()
    rng = np.random.default_rng(seed)
    with torch.inference_mode():
        x, state = torch.tensor([[2]]), None
        for _ in range(5):  # warm-up
            logits, state = model(x, state)
        x, state = torch.tensor([[2]]), None
        t0 = time.perf_counter()
        for _ in range(tokens):
            logits, state = model(x, state)
            proba = torch.softmax(logits[0, -1], dim=0).numpy()
            x = torch.tensor([[sample(proba, rng)]])
    return {"us_per_token": (time.perf_counter() - t0) / tokens * 1e6}


# ---------------------------------------------------------------- main

def interleaved(runs):
    """the peers' training runs (generators: each yields its epochs' times, then returns
    its result, or returns an error at once) an epoch of one, then an epoch of the next, so
    that a slow or fast phase of the machine (these are shared VMs) falls on all peers
    alike instead of on whichever ran then. {peer: result with "seconds_per_epoch"}"""
    results = {p: None for p in runs}
    times = {p: [] for p in runs}
    live = dict(runs)
    while live:
        for p, run in list(live.items()):
            try:
                times[p].append(next(run))
            except StopIteration as done:
                results[p] = dict(done.value)
                del live[p]
    for p, r in results.items():
        if "error" not in r:
            r["seconds_per_epoch"] = times[p]
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="fashion,char,small")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="Fashion-MNIST training rows")
    ap.add_argument("--chars", type=int, default=None, help="characters of the text")
    ap.add_argument("--tokens", type=int, default=2000, help="tokens for the small case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peers", default="barenet,torch")
    ap.add_argument("--init", choices=("shared", "own"), default="shared",
                    help="shared: torch starts from barenet's weights with one LSTM bias "
                         "(like with like); own: each library's default initialisation")
    ap.add_argument("--order", choices=("shared", "own"), default="shared",
                    help="shared: both peers train on the same batches in the same order "
                         "(like with like); own: each shuffles with its own generator")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke test: --limit 2000 --chars 100000 --epochs 1 --tokens 200")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if args.quick:
        args.limit, args.chars = args.limit or 2000, args.chars or 100000
        args.epochs, args.tokens = 1, min(args.tokens, 200)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    print(f"barenet {barenet.__version__} ({barenet.info()['cpu_kernel']} kernels), "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{args.threads} threads, {os.cpu_count()} CPUs, initial weights: {args.init}, batch order: {args.order}")
    torch = torch_or_none()
    if torch is not None:
        print(f"torch {torch.__version__}")
    results = {}
    if "fashion" in cases:
        data = fashion_data(args.limit)
        print(f"\nfashion: LSTM(128) over 28 rows, {len(data[0])} images, batch 128, "
              f"{args.epochs} epochs")
        runs = {"barenet": fashion_barenet, "torch": fashion_torch}
        orders = (epoch_orders(len(data[0]), args.epochs, args.seed)
                  if args.order == "shared" else None)
        results["fashion"] = interleaved({p: runs[p](data, args.epochs, args.threads,
                                                     args.seed, args.init, orders)
                                          for p in peers})
        report(results["fashion"], "test accuracy", higher_better=True)
    if "char" in cases or "small" in cases:
        data = char_data(args.chars, 128)
    if "char" in cases:
        print(f"\nchar: Embedding({len(data[0])}, 64), LSTM(256) x 128 steps, "
              f"{len(data[1])} windows, batch 64, {args.epochs} epochs")
        runs = {"barenet": char_barenet, "torch": char_torch}
        orders = (epoch_orders(len(data[1]), args.epochs, args.seed)
                  if args.order == "shared" else None)
        results["char"] = interleaved({p: runs[p](data, args.epochs, args.threads, args.seed,
                                                  args.init, orders) for p in peers})
        report(results["char"], "val bits/char", higher_better=False)
    if "small" in cases:
        print(f"\nsmall: generation, batch 1, one LSTM(256) step per token, {args.tokens} "
              "tokens")
        runs = {"barenet": small_barenet, "torch": small_torch}
        results["small"] = {p: runs[p](len(data[0]), args.tokens, args.threads, args.seed)
                            for p in peers}
        for p, r in results["small"].items():
            print(f"  {p:<8} " + (r["error"] if "error" in r else
                                  f"{r['us_per_token']:9.1f} us/token"))
        ok = results["small"]
        if all("us_per_token" in ok.get(p, {}) for p in ("barenet", "torch")):
            print(f"  torch / barenet x{ok['torch']['us_per_token'] / ok['barenet']['us_per_token']:.2f}"
                  " (>1: barenet is faster)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def report(res, metric, higher_better):
    for p, r in res.items():
        if "error" in r:
            print(f"  {p:<8} {r['error']}")
            continue
        t = r["seconds_per_epoch"]
        print(f"  {p:<8} {per_epoch(t):8.2f} s/epoch (first {t[0]:.2f})   {metric} "
              f"{r['metric']:.4f}")
    if all("seconds_per_epoch" in res.get(p, {}) for p in ("barenet", "torch")):
        b, t = res["barenet"], res["torch"]
        print(f"  torch / barenet time x{per_epoch(t['seconds_per_epoch']) / per_epoch(b['seconds_per_epoch']):.2f}"
              f" (>1: barenet is faster)   {metric} barenet - torch "
              f"{b['metric'] - t['metric']:+.4f}")


if __name__ == "__main__":
    sys.exit(main())
