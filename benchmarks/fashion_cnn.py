"""Fashion-MNIST CNN benchmark: barenet's Sequential against the same network in PyTorch.

Trains Conv2D(32, 3, same, relu) - MaxPool2D(2) - Conv2D(64, 3, same, relu) -
MaxPool2D(2) - Flatten - Dense(128, relu) - Dropout(0.3) - Dense(10, softmax) on
(N, 1, 28, 28) float32 images, Adam from lr 1e-3 with cosine decay over the run (the same
rate for every peer in every epoch), batch 128, shuffled every epoch, each peer in its
own fresh process with capped threads, and prints seconds per epoch (mean of the
epochs after the first, which carries the warm-up), test accuracy, and the ratios. Memory
is measured as in _peers.py (peak RSS growth, MiB), but in two parts: "train" covers
building the network and all epochs, "eval" the test-set pass in chunks of EVAL_CHUNK
images (whose activations would otherwise dominate a CNN's figure). If
barenet.Sequential is missing the barenet row says so and the other peers still run.

    python benchmarks/fashion_cnn.py                       # 5 epochs, barenet and torch
    python benchmarks/fashion_cnn.py --peers torch --limit 10000 --epochs 2
    python benchmarks/fashion_cnn.py --model resnet        # the residual CNN of
                                                           # examples/fashion_resnet.py

--model resnet trains a small residual network instead (barenet through its functional API,
barenet.Model): Conv2D(16, 3, same, no bias)-BN-ReLU, a residual block of 16 filters (conv,
BN, ReLU, conv, BN, added to the block's input, ReLU), MaxPool2D(2), the same with 32
filters, MaxPool2D(2), Flatten, Dense(128, relu), Dropout(0.3), Dense(10, softmax); batch
normalisation with Keras's momentum 0.99 and epsilon 1e-3 (PyTorch: momentum 0.01, eps
1e-3, the same update rule).
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _peers  # noqa: E402 (also puts a checkout's src/ on the path)

IMAGE_SHAPE = (1, 28, 28)
N_CLASSES = 10
DROPOUT = 0.3
QUICK_ROWS, QUICK_EPOCHS = 5000, 2
ARCHS = {"cnn": "conv3x3(32, same)-relu-maxpool2-conv3x3(64, same)-relu-maxpool2-"
                "flatten-dense128-relu-dropout0.3-dense10",
         "resnet": "conv(16)-bn-relu-res(16)-maxpool2-conv(32)-bn-relu-res(32)-maxpool2-"
                   "flatten-dense128-relu-dropout0.3-dense10 (res: conv-bn-relu-conv-bn-add-relu)"}
RESNET_WIDTHS = (16, 32)


def barenet_resnet(seed):
    """the residual CNN through barenet's functional API"""
    import barenet
    from barenet.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, Dropout,
                                Flatten, MaxPool2D)

    def conv_bn(x, filters):
        return BatchNormalization()(Conv2D(filters, 3, padding="same", use_bias=False)(x))

    x = barenet.Input(IMAGE_SHAPE)
    h = x
    for filters in RESNET_WIDTHS:
        h = Activation("relu")(conv_bn(h, filters))
        r = conv_bn(Activation("relu")(conv_bn(h, filters)), filters)
        h = MaxPool2D(2)(Activation("relu")(Add()([r, h])))
    h = Dropout(DROPOUT)(Dense(128, activation="relu")(Flatten()(h)))
    out = Dense(N_CLASSES, activation="softmax")(h)
    return barenet.Model(x, out, dtype="float32", seed=seed)


def torch_resnet(nn):
    """the same residual CNN in PyTorch (BatchNorm2d momentum 0.01 = Keras's 0.99)"""
    def conv_bn(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding="same", bias=False),
                nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01)]

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(*conv_bn(c, c), nn.ReLU(), *conv_bn(c, c))

        def forward(self, x):
            return (self.body(x) + x).relu()

    layers, c_in = [], IMAGE_SHAPE[0]
    for c in RESNET_WIDTHS:
        layers += [*conv_bn(c_in, c), nn.ReLU(), Block(c), nn.MaxPool2d(2)]
        c_in = c
    side = IMAGE_SHAPE[1] // 4
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, 128), nn.ReLU(),
                         nn.Dropout(DROPOUT), nn.Linear(128, N_CLASSES))


# ---------------------------------------------------------------- peers
# Each returns {"seconds_per_epoch": [...], "test_accuracy", "peak_mem_mb", "final_loss",
# "note"} like _peers.py plus "eval_mem_mb", or {"error": ...}. Every epoch is timed on its
# own; the test set is scored in chunks of _peers.EVAL_CHUNK rows, outside the timing.

def cosine_lr(lr, epoch, epochs):
    """the learning rate of an epoch under cosine decay over the run (barenet's
    lr_schedule="cosine"), given to both peers epoch by epoch"""
    return lr * (1 + math.cos(math.pi * epoch / epochs)) / 2


def train_barenet(X, y, Xt, yt, *, epochs, batch_size, lr, seed, threads, model="cnn"):
    """barenet.Sequential, one train(epochs=1) call per epoch (the optimizer's state and
    the epoch count continue from call to call, as in NeuralNetwork)"""
    try:
        import barenet
        Sequential = barenet.Sequential
        from barenet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
    except (ImportError, AttributeError) as exc:
        return {"error": f"barenet.Sequential not available ({type(exc).__name__}: {exc})"}
    try:
        barenet.set_num_threads(threads)
        with _peers.peak_rss() as mem:
            if model == "resnet":
                net = barenet_resnet(seed)
            else:
                net = Sequential([Conv2D(32, 3, padding="same", activation="relu"),
                                  MaxPool2D(2),
                                  Conv2D(64, 3, padding="same", activation="relu"),
                                  MaxPool2D(2), Flatten(),
                                  Dense(128, activation="relu"), Dropout(DROPOUT),
                                  Dense(N_CLASSES, activation="softmax")],
                                 input_shape=IMAGE_SHAPE, dtype="float32", seed=seed)
            times, losses = [], []
            for epoch in range(epochs):
                t0 = time.perf_counter()
                hist = net.train(X, y, epochs=1, learning_rate=cosine_lr(lr, epoch, epochs),
                                 batch_size=batch_size, optimizer="adam", verbose=False)
                times.append(time.perf_counter() - t0)
                losses.extend(float(v) for v in hist)
        with _peers.peak_rss() as eval_mem:
            correct = 0
            for start in range(0, Xt.shape[0], _peers.EVAL_CHUNK):
                pred = np.asarray(net.predict_classes(Xt[start:start + _peers.EVAL_CHUNK]))
                correct += int((pred.ravel() == yt[start:start + _peers.EVAL_CHUNK]).sum())
    except Exception as exc:  # noqa: BLE001 -- report the failure, let the other peers run
        traceback.print_exc()
        return {"error": f"barenet failed: {type(exc).__name__}: {exc}"}
    backend = getattr(net, "backend", None)
    return {"seconds_per_epoch": times, "test_accuracy": correct / max(1, len(yt)),
            "peak_mem_mb": mem[0], "eval_mem_mb": eval_mem[0],
            "final_loss": losses[-1] if losses else float("nan"),
            "note": f"barenet {getattr(barenet, '__version__', '?')}"
                    + (f", backend {backend}" if isinstance(backend, str) else "")
                    + f", {threads} threads"}


def train_torch(X, y, Xt, yt, *, epochs, batch_size, lr, seed, threads, model="cnn"):
    """the same network in PyTorch: torch's default initialisation, CrossEntropyLoss on
    the logits (softmax + cross-entropy), torch.optim.Adam, torch.randperm shuffling,
    dropout off (model.eval()) for the test set"""
    try:
        import torch
    except ImportError:
        return {"error": "torch: not installed, skipped"}
    nn = torch.nn
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    Xtr = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))   # shares memory
    ytr = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    n = Xtr.shape[0]
    side = IMAGE_SHAPE[1] // 2 // 2                                     # 28 -> 14 -> 7
    with _peers.peak_rss() as mem:
        if model == "resnet":
            model = torch_resnet(nn)
        else:
            model = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(),
                nn.Dropout(DROPOUT), nn.Linear(128, N_CLASSES))
        loss_fn = nn.CrossEntropyLoss()
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(_peers.ADAM_BETA1,
                               _peers.ADAM_BETA2), eps=_peers.ADAM_EPS)
        gen = torch.Generator().manual_seed(seed + 1)
        times, epoch_loss = [], float("nan")
        model.train()
        for epoch in range(epochs):
            t0 = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = cosine_lr(lr, epoch, epochs)
            order = torch.randperm(n, generator=gen)
            loss_sum = torch.zeros(())
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                xb, yb = Xtr.index_select(0, idx), ytr.index_select(0, idx)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * idx.numel()
            times.append(time.perf_counter() - t0)
            epoch_loss = float(loss_sum) / n
    with _peers.peak_rss() as eval_mem:
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, Xt.shape[0], _peers.EVAL_CHUNK):
                xt = np.ascontiguousarray(Xt[start:start + _peers.EVAL_CHUNK], dtype=np.float32)
                pred = model(torch.from_numpy(xt)).argmax(dim=1).numpy()
                correct += int((pred == yt[start:start + _peers.EVAL_CHUNK]).sum())
    return {"seconds_per_epoch": times, "test_accuracy": correct / max(1, len(yt)),
            "peak_mem_mb": mem[0], "eval_mem_mb": eval_mem[0], "final_loss": epoch_loss,
            "note": f"torch {torch.__version__}, float32, {torch.get_num_threads()} threads, "
                    f"default init"}


TRAINERS = {"barenet": train_barenet, "torch": train_torch}


# ---------------------------------------------------------------- running

def load_data(limit):
    """(X (N, 1, 28, 28), y, Xt, yt), float32 images in [0, 1], int64 labels"""
    from barenet.datasets import load_fashion_mnist
    (X, y), (Xt, yt) = load_fashion_mnist(dtype="float32")
    if limit is not None:
        X, y = X[:limit], y[:limit]
    X = np.ascontiguousarray(X.reshape(-1, *IMAGE_SHAPE))
    Xt = np.ascontiguousarray(Xt.reshape(-1, *IMAGE_SHAPE))
    return X, np.asarray(y, dtype=np.int64), Xt, np.asarray(yt, dtype=np.int64)


# ---------------------------------------------------------------- reporting

def epoch_seconds(result):
    """mean of the epochs after the first (the first carries warm-up); the only epoch
    when there is one"""
    t = result["seconds_per_epoch"]
    return statistics.fmean(t[1:]) if len(t) > 1 else t[0]


def fmt(x, spec):
    """format(x, spec), or a "-" of the same width when x is missing"""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return format("-", spec.split(".")[0])
    return format(x, spec)


def report(results, n_train, batch_size):
    steps = math.ceil(n_train / batch_size)
    head = (f"{'peer':<8} {'s/epoch':>8} {'median':>8} {'min':>8} {'first':>8} "
            f"{'ms/step':>8} {'test acc':>8} {'loss':>7} {'train +MiB':>10} {'eval +MiB':>9} "
            f"{'proc MiB':>8}  note")
    print(head)
    print("-" * len(head))
    ok = {}
    for peer, r in results.items():
        if "error" in r:
            print(f"{peer:<8} {r['error']}")
            continue
        ok[peer] = r
        t = r["seconds_per_epoch"]
        s = epoch_seconds(r)
        print(f"{peer:<8} {s:>8.3f} {statistics.median(t):>8.3f} {min(t):>8.3f} {t[0]:>8.3f} "
              f"{s / steps * 1e3:>8.2f} {r['test_accuracy']:>8.4f} "
              f"{fmt(r['final_loss'], '>7.4f')} {fmt(r['peak_mem_mb'], '>10.1f')} "
              f"{fmt(r.get('eval_mem_mb'), '>9.1f')} "
              f"{fmt(r.get('process_peak_mb'), '>8.0f')}  {r.get('note', '')}")
    if "barenet" in ok and "torch" in ok:
        b, t = ok["barenet"], ok["torch"]
        mem = b["peak_mem_mb"] / t["peak_mem_mb"] if t["peak_mem_mb"] > 0 else float("nan")
        print(f"\ntorch / barenet time x{epoch_seconds(t) / epoch_seconds(b):.2f} "
              f"(>1: barenet is faster)   barenet / torch train memory x{fmt(mem, '.2f')}   "
              f"accuracy barenet - torch {b['test_accuracy'] - t['test_accuracy']:+.4f}")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=None,
                    help=f"epochs per peer (default 5; {QUICK_EPOCHS} with --quick)")
    ap.add_argument("--peers", default="barenet,torch",
                    help="comma-separated from barenet,torch (run in this order)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="train on the first N rows only (the test set stays whole)")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke test: --limit {QUICK_ROWS} --epochs {QUICK_EPOCHS} "
                         f"unless given")
    ap.add_argument("--model", choices=sorted(ARCHS), default="cnn",
                    help="the plain CNN (default) or the residual CNN with batch normalisation")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--in-process", action="store_true",
                    help="run peers in this process (debugging; memory figures less clean)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.epochs is None:
        args.epochs = QUICK_EPOCHS if args.quick else 5
    if args.quick and args.limit is None:
        args.limit = QUICK_ROWS
    if min(args.epochs, args.threads, args.batch_size) < 1 or (args.limit or 1) < 1:
        ap.error("--epochs, --threads, --batch-size and --limit must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return _peers.run_worker(args, TRAINERS)
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in TRAINERS]
    if unknown:
        sys.exit(f"unknown peer(s) {unknown}; choose from {sorted(TRAINERS)}")
    X, y, Xt, yt = load_data(args.limit)
    cfg = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
           "seed": args.seed, "threads": args.threads, "model": args.model}
    print(f"{ARCHS[args.model]}\n{X.shape[0]} train / {Xt.shape[0]} test images, {args.epochs} epochs, "
          f"batch {args.batch_size}, Adam lr {args.lr} cosine, float32, {args.threads} threads; "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{os.cpu_count()} CPUs")
    results = {}
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.TemporaryDirectory(prefix="barenet-cnn-") as tmp:
        if not args.in_process:
            np.savez(os.path.join(tmp, "data.npz"), X=X, y=y, Xt=Xt, yt=yt)
        for peer in peers:
            print(f"  {peer} ...", file=sys.stderr, flush=True)
            if args.in_process:
                r = TRAINERS[peer](X, y, Xt, yt, **cfg)
                r.setdefault("process_peak_mb", _peers.process_peak_mb())
            else:
                r = _peers.run_peer(__file__, peer, tmp, cfg, args.threads)
            results[peer] = r
    if hasattr(os, "getloadavg"):       # other work on the machine shows up in the times
        print(f"load average (1 min): {load_before:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after the run")
    print()
    report(results, X.shape[0], args.batch_size)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": cfg, "limit": args.limit, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
