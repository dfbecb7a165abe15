"""A character GPT, barenet against the same model in PyTorch, in one run: token and
learned position embeddings, pre-norm blocks (LayerNorm, causal multi-head attention,
residual; LayerNorm, GELU MLP of 4 C, residual), a final LayerNorm and a softmax over the
characters (examples/char_gpt.py's model: 4 blocks, 4 heads, 128 dimensions, context 128).
Both start from the same weights (barenet's initialisation copied into torch), train with
AdamW (weight decay 0.1 on the kernels only, betas 0.9/0.99), global-norm clipping at 1, a
linear warm-up then cosine decay per step, batch 32, float32, on the same batches:

  * milliseconds per training step (median over the steps after the first few); the peers
    take turns, --chunk steps each (10), so that the machine's slow and fast phases (these
    are shared VMs: the same command has measured 1.15x and 1.49x from one run to the next
    when each peer ran its steps in one stretch) fall on both alike;
  * the validation loss after the same number of steps (nats; the goal: within 0.05);
  * the peak memory each training adds (RSS growth, MiB);
  * generation, batch 1: tokens per second, each peer continuing the prompt the way
    barenet's generate does for this model (a key/value cache when the attention layers
    carry one, else the model rerun on the window), with the same sampling.

    python benchmarks/transformer.py                  # 200 steps, then generation
    python benchmarks/transformer.py --steps 50 --layers 2 --quick
    python benchmarks/transformer.py --json out.json

Run it alone on the machine: two-thread timings collapse when anything else runs.
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
import _peers  # noqa: E402  (a checkout's src/ on the path when barenet is not installed)

import barenet  # noqa: E402
from barenet.datasets import load_text, sequences  # noqa: E402
from barenet.layers import LayerNormalization  # noqa: E402
from barenet.optimizers import AdamW  # noqa: E402
from barenet.schedules import WarmupCosine, step_lr  # noqa: E402
from barenet.text import Vocabulary  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "examples"))
from char_gpt import FORTUNES, build  # noqa: E402


def torch_gpt(torch, model, heads):
    """the barenet model's architecture in PyTorch with its weights copied in"""
    nn, F = torch.nn, torch.nn.functional
    from barenet.attention import MultiHeadAttention, PositionalEmbedding
    from barenet.layers import Dense, Embedding

    layers = model.layers
    emb = next(l for l in layers if isinstance(l, Embedding))
    pos = next(l for l in layers if isinstance(l, PositionalEmbedding))
    attns = [l for l in layers if isinstance(l, MultiHeadAttention)]
    norms = [l for l in layers if isinstance(l, LayerNormalization)]
    denses = [l for l in layers if isinstance(l, Dense)]
    params, at = model._params, model._spec.offsets
    index = {id(l): i for i, l in enumerate(layers)}

    def t(a):
        return torch.tensor(np.ascontiguousarray(a), dtype=torch.float32)

    class Block(nn.Module):
        def __init__(self, attn, ln1, ln2, fc, proj):
            super().__init__()
            c = attn.channels
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(c, eps=ln1.epsilon), nn.LayerNorm(c, eps=ln2.epsilon)
            self.qkv, self.out = nn.Linear(c, 3 * c), nn.Linear(c, c)
            self.fc, self.proj = nn.Linear(c, fc.n_out), nn.Linear(fc.n_out, c)
            wq, wk, wv, wo, bq, bk, bv, bo = attn.unpack(params, at[index[id(attn)]])
            with torch.no_grad():
                self.qkv.weight.copy_(t(np.concatenate([wq, wk, wv], axis=1).T))
                self.qkv.bias.copy_(t(np.concatenate([bq, bk, bv])))
                self.out.weight.copy_(t(wo.T))
                self.out.bias.copy_(t(bo))
                for lin, dense in ((self.fc, fc), (self.proj, proj)):
                    w, b = dense.views(params, at[index[id(dense)]])
                    lin.weight.copy_(t(w.T))
                    lin.bias.copy_(t(b.reshape(-1)))
                for ln, norm in ((self.ln1, ln1), (self.ln2, ln2)):
                    g, b = norm.views(params, at[index[id(norm)]])
                    ln.weight.copy_(t(np.ravel(g)))
                    ln.bias.copy_(t(np.ravel(b)))

        def forward(self, x, cache=None):
            n, steps, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (a.view(n, steps, self.heads, c // self.heads).transpose(1, 2)
                       for a in (q, k, v))
            if cache is not None:  # the key/value cache of generation
                if cache:
                    k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
                cache[:] = [k, v]
                causal = steps > 1
            else:
                causal = True
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            x = x + self.out(o.transpose(1, 2).reshape(n, steps, c))
            return x + self.proj(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(emb.input_dim, emb.output_dim)
            self.pos = nn.Embedding(pos.max_len, pos.output_dim)
            blocks = []
            for b, attn in enumerate(attns):
                ln1, ln2 = norms[2 * b], norms[2 * b + 1]
                fc, proj = denses[2 * b], denses[2 * b + 1]
                blocks.append(Block(attn, ln1, ln2, fc, proj))
            self.blocks = nn.ModuleList(blocks)
            self.ln, self.head = nn.LayerNorm(pos.output_dim, eps=norms[-1].epsilon), \
                nn.Linear(pos.output_dim, denses[-1].n_out)
            with torch.no_grad():
                self.tok.weight.copy_(t(emb.views(params, at[index[id(emb)]])[0]))
                self.pos.weight.copy_(t(pos.views(params, at[index[id(pos)]])[0]))
                g, b = norms[-1].views(params, at[index[id(norms[-1])]])
                self.ln.weight.copy_(t(np.ravel(g)))
                self.ln.bias.copy_(t(np.ravel(b)))
                w, b = denses[-1].views(params, at[index[id(denses[-1])]])
                self.head.weight.copy_(t(w.T))
                self.head.bias.copy_(t(b.reshape(-1)))

        def forward(self, x, caches=None, start=0):
            positions = torch.arange(start, start + x.shape[1])
            h = self.tok(x) + self.pos(positions)
            for i, block in enumerate(self.blocks):
                h = block(h, None if caches is None else caches[i])
            return self.head(self.ln(h))

    return GPT()


def barenet_stepper(model, X, y, args, schedule):
    """one training step of barenet's model on the rows given (a train call, as a user
    stepping through batches makes), timed"""
    barenet.set_num_threads(args.threads)
    opt = AdamW(weight_decay=0.1, decay="weights", beta2=0.99, clipnorm=1.0)

    def step(rows):
        t0 = time.perf_counter()
        model.train(X[rows], y[rows], epochs=1, learning_rate=args.lr,
                    batch_size=len(rows), shuffle=False, optimizer=opt,
                    lr_schedule=schedule, verbose=False)
        return time.perf_counter() - t0
    return step


def torch_stepper(torch, gpt, X, y, args, schedule):
    """one training step of the PyTorch model on the rows given, timed"""
    torch.set_num_threads(args.threads)
    decay = [p for n, p in gpt.named_parameters() if p.dim() >= 2 and "tok" not in n
             and "pos" not in n]
    rest = [p for n, p in gpt.named_parameters() if not (p.dim() >= 2 and "tok" not in n
                                                          and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr,
                            betas=(0.9, 0.99), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: step_lr(1.0, s, schedule.warmup_steps, schedule.decay_steps,
                               schedule.min_lr / args.lr))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(rows):
        t0 = time.perf_counter()
        xb, yb = torch.from_numpy(X[rows]), torch.from_numpy(y[rows])
        opt.zero_grad(set_to_none=True)
        logits = gpt(xb)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gpt.parameters(), 1.0)
        opt.step()
        sched.step()
        return time.perf_counter() - t0
    return step


def train_interleaved(steppers, batches, chunk):
    """every peer through all the batches, `chunk` steps of one peer then `chunk` of the
    next, so that a slow or fast phase of the machine (these are shared VMs) falls on all
    peers alike instead of on whichever ran then. The first chunk of each peer runs with
    its peak memory measured (its buffers are made in its first step). Returns
    {peer: (seconds per step, peak RSS growth in MiB)}."""
    times = {p: [] for p in steppers}
    mem = {}
    for start in range(0, len(batches), chunk):
        for p, step in steppers.items():
            if start == 0:
                with _peers.peak_rss() as box:
                    times[p] += [step(rows) for rows in batches[:chunk]]
                mem[p] = box[0]
            else:
                times[p] += [step(rows) for rows in batches[start:start + chunk]]
    return {p: (times[p], mem[p]) for p in steppers}


def torch_val_loss(torch, gpt, Xv, yv):
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    total = 0.0
    with torch.inference_mode():
        for i in range(0, len(Xv), 64):
            logits = gpt(torch.from_numpy(Xv[i:i + 64]))
            total += float(loss_fn(logits.reshape(-1, logits.shape[-1]),
                                   torch.from_numpy(yv[i:i + 64]).reshape(-1)))
    return total / yv.size


def sample(proba, rng, temperature=0.8):
    logp = np.log(np.maximum(proba.astype(np.float64), 1e-300)) / temperature
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return int(min(np.searchsorted(np.cumsum(p), rng.random()), len(p) - 1))


def generate_torch(torch, gpt, prompt, tokens, context, cached, seed):
    rng = np.random.default_rng(seed)
    ids = list(prompt)
    with torch.inference_mode():
        if cached:
            caches = [[] for _ in gpt.blocks]
            logits = gpt(torch.tensor([ids]), caches, 0)
            for k in range(tokens):
                token = sample(torch.softmax(logits[0, -1], 0).numpy(), rng)
                ids.append(token)
                if len(ids) > context:
                    break
                logits = gpt(torch.tensor([[token]]), caches, len(ids) - 1)
        else:
            for k in range(tokens):
                window = ids[-context:]
                logits = gpt(torch.tensor([window]))
                ids.append(sample(torch.softmax(logits[0, -1], 0).numpy(), rng))
    return ids[len(prompt):]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chars", type=int, default=None)
    ap.add_argument("--tokens", type=int, default=100, help="tokens to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=10,
                    help="steps of one peer before the next peer's (interleaved timing)")
    ap.add_argument("--quick", action="store_true", help="a smoke test on 100,000 characters")
    ap.add_argument("--peers", default="barenet,torch")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    if args.chunk < 1 or args.steps < 1:
        ap.error("--steps and --chunk must be >= 1")
    if args.quick:
        args.chars = args.chars or 100000
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    text = load_text(FORTUNES)
    if args.chars:
        text = text[:args.chars]
    vocab = Vocabulary.from_text(text, level="char")
    ids = vocab.encode(text)
    cut = int(len(ids) * 0.9)
    X, y = sequences(ids[:cut], args.context)
    Xv, yv = sequences(ids[cut:], args.context)
    Xv, yv = Xv[:256], yv[:256]
    rng = np.random.default_rng(args.seed)
    batches = [rng.choice(len(X), args.batch_size, replace=False) for _ in range(args.steps)]
    schedule = WarmupCosine(warmup_steps=max(1, args.steps // 10), decay_steps=args.steps,
                            min_lr=args.lr / 10)
    model = build(len(vocab), args.context, args.dim, args.layers, args.heads, 0.0, args.seed)
    try:
        import torch
        print(f"torch {torch.__version__}")
    except ImportError:
        torch = None
    print(f"barenet {barenet.__version__} ({barenet.info()['cpu_kernel']}), Python "
          f"{platform.python_version()}, {args.threads} threads; {model.n_params} parameters, "
          f"{args.steps} steps of batch {args.batch_size} x {args.context}")
    gpt = torch_gpt(torch, model, args.heads) if torch is not None and "torch" in peers else None
    results = {}
    skip = min(5, args.steps - 1)
    steppers = {}
    if "barenet" in peers:
        steppers["barenet"] = barenet_stepper(model, X, y, args, schedule)
    if gpt is not None:
        steppers["torch"] = torch_stepper(torch, gpt, X, y, args, schedule)
    trained = train_interleaved(steppers, batches, args.chunk)
    for p, (times, mem) in trained.items():
        loss = (model.loss(Xv, yv) if p == "barenet"
                else torch_val_loss(torch, gpt, Xv, yv))
        results[p] = {"ms_per_step": statistics.median(times[skip:]) * 1e3,
                      "val_loss": loss, "train_mem_mb": mem}
    cached = model._spec.carry_offsets[1] > 0
    prompt = vocab.encode("The ")
    if "barenet" in peers and args.tokens > 0:
        model.generate(prompt, 3, seed=0)
        t0 = time.perf_counter()
        model.generate(prompt, args.tokens, temperature=0.8, seed=args.seed)
        results["barenet"]["tokens_per_s"] = args.tokens / (time.perf_counter() - t0)
    if gpt is not None and args.tokens > 0:
        gpt.eval()
        t0 = time.perf_counter()
        out = generate_torch(torch, gpt, prompt, args.tokens, args.context, cached, args.seed)
        results["torch"]["tokens_per_s"] = len(out) / (time.perf_counter() - t0)
    print(f"generation: {'key/value cache' if cached else 'the window recomputed'}")
    print(f"{'peer':<8} {'ms/step':>9} {'val loss':>9} {'train +MiB':>10} {'tokens/s':>9}")
    for p, r in results.items():
        print(f"{p:<8} {r['ms_per_step']:9.1f} {r['val_loss']:9.4f} {r['train_mem_mb']:10.1f} "
              f"{r.get('tokens_per_s', float('nan')):9.1f}")
    if "barenet" in results and "torch" in results:
        b, t = results["barenet"], results["torch"]
        print(f"torch / barenet step time x{t['ms_per_step'] / b['ms_per_step']:.2f} (>1: "
              f"barenet is faster); val loss barenet - torch {b['val_loss'] - t['val_loss']:+.4f}"
              + (f"; generation barenet / torch x{b['tokens_per_s'] / t['tokens_per_s']:.2f}"
                 if args.tokens > 0 else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
