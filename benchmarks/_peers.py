"""Reference trainings that barenet's benchmarks compare against, one function per peer.

Every ``train_<peer>(X, y, Xt, yt, *, sizes, epochs, batch_size, lr, seed, dtype,
threads)`` trains the same MLP (He-normal weights, zero biases, ReLU hidden layers,
softmax + cross-entropy from the logits, Adam with bias correction, shuffled
mini-batches) and returns ``{"seconds_per_epoch": [...], "test_accuracy": float,
"peak_mem_mb": float, "final_loss": float, "note": str}``. Timing covers only the
epoch loop; data loading, imports and the test evaluation (in chunks of
``EVAL_CHUNK`` rows for every peer) are outside it.

Memory, measured the same way for every peer (``peak_rss``): the peak resident set
size (RSS) during the call minus the RSS just before it, in MiB. On Linux the peak
counter is reset first (``/proc/self/clear_refs`` = 5) and read from ``VmHWM``, so
earlier peaks (data loading) do not hide it; elsewhere it falls back to the growth
of ``getrusage(RUSAGE_SELF).ru_maxrss``, which can under-report. It counts everything
the training allocates (workspaces, optimizer state, autograd buffers, thread
pools, the test-set forward pass), not the data passed in. ``fashion_mnist.py``
runs each peer in its own process, so the peers do not share allocator state, and
also reports that process's whole peak RSS (interpreter, libraries and data) from
``process_peak_mb`` inside it: the parent's ``ru_maxrss`` of the child is not used
because Linux counts the parent's own peak into a child started by (v)fork + exec.

Only NumPy is required; torch, scikit-learn, threadpoolctl and onnxruntime are used when
importable and never become dependencies of barenet. ``onnxruntime_predict`` is an
inference peer (a predict callable), not a training one.
"""

import contextlib
import importlib.util
import itertools
import math
import os
import resource
import sys
import time

import numpy as np

# An installed barenet wins; from a plain checkout, the benchmarks (and the worker processes
# they start, through PYTHONPATH) use its src/.
_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if importlib.util.find_spec("barenet") is None and os.path.isdir(_SRC):
    sys.path.insert(1, _SRC)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)

DEFAULT_SIZES = (784, 256, 128, 10)
ADAM_BETA1, ADAM_BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
EVAL_CHUNK = 2048          # every peer scores the test set in chunks of this many rows


# ---------------------------------------------------------------- measuring

def _proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


_hwm_before_resets_kib = 0        # the VmHWM that peak_rss() resets are kept here


def process_peak_mb():
    """Peak RSS of this whole process so far (MiB), despite peak_rss()'s resets."""
    try:
        return max(_hwm_before_resets_kib, _proc_status_kib("VmHWM")) / 1024.0
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


@contextlib.contextmanager
def peak_rss():
    """Measure the peak RSS growth (MiB) of the block; the result is in ``box[0]``."""
    global _hwm_before_resets_kib
    box = [float("nan")]
    try:
        hwm = _proc_status_kib("VmHWM")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")                       # reset VmHWM to the current RSS
        _hwm_before_resets_kib = max(_hwm_before_resets_kib, hwm)
        base = _proc_status_kib("VmRSS")
        read_peak = lambda: _proc_status_kib("VmHWM")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024     # ru_maxrss: bytes on macOS
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale // 1024
        read_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale // 1024
    try:
        yield box
    finally:
        box[0] = max(0, read_peak() - base) / 1024.0


@contextlib.contextmanager
def blas_threads(threads, user_api=None):
    """Limit the threads of already-loaded BLAS/OpenMP libraries (user_api "blas": BLAS
    only) through threadpoolctl, if present.

    The ``*_NUM_THREADS`` environment variables that fashion_mnist.py sets for each
    worker process do the same for libraries loaded later.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=threads, user_api=user_api):
        yield


def _check_args(sizes, epochs, batch_size, dtype):
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if epochs < 1 or batch_size < 1 or len(sizes) < 2:
        raise ValueError("epochs and batch_size must be >= 1, sizes needs >= 2 entries")
    return dt


# ---------------------------------------------------------------- NumPy

def _he_init(sizes, dt, seed):
    """Flat parameter vector and (W, b) views; W[l] ~ N(0, 2/n_in), drawn in float64
    and rounded to dt, so float32 and float64 runs start from the same point."""
    rng = np.random.default_rng(seed)
    n_params = sum(i * o + o for i, o in itertools.pairwise(sizes))
    flat = np.zeros(n_params, dtype=dt)
    W, b = _views(flat, sizes)
    for w, n_in in zip(W, sizes[:-1]):
        w[...] = rng.standard_normal(w.shape) * math.sqrt(2.0 / n_in)
    return flat, W, b


def _views(flat, sizes):
    """Weights (n_in, n_out) and biases (n_out,) as views into one flat buffer."""
    W, b, off = [], [], 0
    for n_in, n_out in itertools.pairwise(sizes):
        W.append(flat[off:off + n_in * n_out].reshape(n_in, n_out))
        off += n_in * n_out
        b.append(flat[off:off + n_out])
        off += n_out
    assert off == flat.size                     # the whole layout was walked
    return W, b


def _numpy_logits(W, b, X):
    A = X
    for l in range(len(W)):
        A = A @ W[l]
        A += b[l]
        if l < len(W) - 1:
            np.maximum(A, 0, out=A)
    return A


def train_numpy(X, y, Xt, yt, *, sizes=DEFAULT_SIZES, epochs, batch_size=128, lr=1e-3,
                seed=0, dtype="float32", threads=2):
    """Plain NumPy MLP training, written to be as fast as NumPy allows.

    All parameters, gradients and both Adam moments are flat buffers of ``dtype``
    with per-layer views, so the Adam step is ten in-place passes over flat
    arrays; activations, batch and mask buffers are allocated once and sliced for
    the last, shorter batch. Python float scalars never upcast float32 arrays
    (NumPy >= 2 promotion), which the end of the function checks.
    """
    dt = _check_args(sizes, epochs, batch_size, dtype)
    X = np.ascontiguousarray(X, dtype=dt)
    y = np.ascontiguousarray(y, dtype=np.int64)
    n, L, B = X.shape[0], len(sizes) - 1, batch_size
    with peak_rss() as mem, blas_threads(threads):
        params, W, bias = _he_init(sizes, dt, seed)
        grads = np.zeros_like(params)
        m, v, tmp = np.zeros_like(params), np.zeros_like(params), np.empty_like(params)
        dW, db = _views(grads, sizes)
        Xb = np.empty((B, sizes[0]), dtype=dt)                      # (B, D)
        yb = np.empty(B, dtype=np.int64)
        A = [np.empty((B, k), dtype=dt) for k in sizes[1:]]         # A[l]: (B, sizes[l+1])
        dA = [np.empty((B, k), dtype=dt) for k in sizes[1:-1]]      # hidden gradients
        mask = [np.empty((B, k), dtype=bool) for k in sizes[1:-1]]
        P = np.empty((B, sizes[-1]), dtype=dt)                      # softmax, then dlogits
        rowmax = np.empty((B, 1), dtype=dt)
        rowsum = np.empty((B, 1), dtype=dt)
        rows = np.arange(B)
        rng = np.random.default_rng(seed + 1)
        step, times, epoch_loss = 0, [], float("nan")

        for _ in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(n)
            loss_sum = 0.0
            for start in range(0, n, B):
                idx = order[start:start + B]
                k = idx.size
                xb, r = Xb[:k], rows[:k]
                np.take(X, idx, axis=0, out=xb, mode="clip")    # clip: unbuffered gather
                np.take(y, idx, out=yb[:k], mode="clip")
                yk = yb[:k]
                # forward: Z = A_prev @ W + b, ReLU on hidden layers, in place
                prev = xb
                for l in range(L):
                    a = A[l][:k]
                    np.matmul(prev, W[l], out=a)
                    a += bias[l]
                    if l < L - 1:
                        np.maximum(a, 0, out=a)
                    prev = a
                # softmax cross-entropy from the logits (log-sum-exp)
                z, p = A[-1][:k], P[:k]
                np.max(z, axis=1, keepdims=True, out=rowmax[:k])
                z -= rowmax[:k]
                np.exp(z, out=p)
                np.sum(p, axis=1, keepdims=True, out=rowsum[:k])
                loss_sum += float(np.log(rowsum[:k]).sum() - z[r, yk].sum())
                p /= rowsum[:k]
                p[r, yk] -= 1
                p *= 1.0 / k                                        # dZ of the mean loss
                # backward: all gradients from this forward pass's weights
                dz = p
                for l in range(L - 1, -1, -1):
                    a_prev = xb if l == 0 else A[l - 1][:k]
                    np.matmul(a_prev.T, dz, out=dW[l])
                    np.sum(dz, axis=0, out=db[l])
                    if l > 0:
                        da = dA[l - 1][:k]
                        np.matmul(dz, W[l].T, out=da)
                        np.greater(a_prev, 0, out=mask[l - 1][:k])
                        np.multiply(da, mask[l - 1][:k], out=da)
                        dz = da
                # Adam with bias correction, in passes over the flat buffers. The
                # moments are kept scaled, m = M / (1-b1) and v = V / (1-b2) with M, V
                # the textbook ones, which saves two passes (10 instead of 12):
                #   m = b1 m + g,  v = b2 v + g^2,
                #   p -= lr M_hat / (sqrt(V_hat) + eps) = step_size m / (sqrt(v) + eps_v)
                step += 1
                s1 = (1.0 - ADAM_BETA1) / (1.0 - ADAM_BETA1 ** step)
                s2 = math.sqrt((1.0 - ADAM_BETA2 ** step) / (1.0 - ADAM_BETA2))
                step_size, eps_v = lr * s1 * s2, ADAM_EPS * s2
                m *= ADAM_BETA1
                m += grads
                v *= ADAM_BETA2
                np.multiply(grads, grads, out=tmp)
                v += tmp
                np.sqrt(v, out=tmp)
                tmp += eps_v
                np.divide(m, tmp, out=tmp)
                tmp *= step_size
                params -= tmp
            times.append(time.perf_counter() - t0)
            epoch_loss = loss_sum / n

        correct = 0
        for start in range(0, Xt.shape[0], EVAL_CHUNK):
            logits = _numpy_logits(W, bias, np.asarray(Xt[start:start + EVAL_CHUNK], dtype=dt))
            correct += int((logits.argmax(axis=1) == yt[start:start + EVAL_CHUNK]).sum())
    for arr in (params, grads, m, v, tmp, Xb, P, *A, *dA):
        assert arr.dtype == dt, f"upcast to {arr.dtype}"
    return {"seconds_per_epoch": times, "test_accuracy": correct / max(1, len(yt)),
            "peak_mem_mb": mem[0], "final_loss": epoch_loss,
            "note": f"{dt.name}, flat Adam buffers"}


# ---------------------------------------------------------------- PyTorch

def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def train_torch(X, y, Xt, yt, *, sizes=DEFAULT_SIZES, epochs, batch_size=128, lr=1e-3,
                seed=0, dtype="float32", threads=2):
    """The same training in PyTorch (CPU): nn.Linear + ReLU, He-normal weights
    (kaiming_normal_, fan_in) and zero biases, F.cross_entropy on the logits,
    torch.optim.Adam with its defaults otherwise, torch.randperm shuffling.

    Adam keeps torch's CPU default (the per-tensor loop). Measured here, the
    ``foreach=True`` variant slowed from 0.28 s to 37 s per 20000-row epoch within
    four epochs as the moments of rarely active inputs decayed into subnormals;
    ``torch.set_flush_denormal(True)`` cures that, but it changes numerics, so it is
    left off, as in a user's script."""
    import torch
    import torch.nn.functional as F

    dt = _check_args(sizes, epochs, batch_size, dtype)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    tdt = torch.float32 if dt == np.float32 else torch.float64
    Xtr = torch.from_numpy(np.ascontiguousarray(X, dtype=dt))     # shares memory
    ytr = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    n = Xtr.shape[0]
    with peak_rss() as mem:
        layers = []
        for l, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            lin = torch.nn.Linear(n_in, n_out, dtype=tdt)
            torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            torch.nn.init.zeros_(lin.bias)
            layers.append(lin)
            if l < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt = torch.optim.Adam(model.parameters(), lr=lr,
                               betas=(ADAM_BETA1, ADAM_BETA2), eps=ADAM_EPS)
        gen = torch.Generator().manual_seed(seed + 1)
        times, epoch_loss = [], float("nan")
        for _ in range(epochs):
            t0 = time.perf_counter()
            order = torch.randperm(n, generator=gen)
            loss_sum = torch.zeros((), dtype=tdt)
            for start in range(0, n, batch_size):
                idx = order[start:start + batch_size]
                xb, yb = Xtr.index_select(0, idx), ytr.index_select(0, idx)
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * idx.numel()
            times.append(time.perf_counter() - t0)
            epoch_loss = float(loss_sum) / n
        correct = 0
        with torch.no_grad():
            for start in range(0, Xt.shape[0], EVAL_CHUNK):
                xt = np.ascontiguousarray(Xt[start:start + EVAL_CHUNK], dtype=dt)
                pred = model(torch.from_numpy(xt)).argmax(dim=1).numpy()
                correct += int((pred == yt[start:start + EVAL_CHUNK]).sum())
        acc = correct / max(1, len(yt))
    return {"seconds_per_epoch": times, "test_accuracy": acc, "peak_mem_mb": mem[0],
            "final_loss": epoch_loss,
            "note": f"torch {torch.__version__}, {str(tdt).split('.')[-1]}, "
                    f"{torch.get_num_threads()} threads"}


# ---------------------------------------------------------------- scikit-learn

def sklearn_available():
    try:
        import sklearn.neural_network  # noqa: F401
    except ImportError:
        return False
    return True


def train_sklearn(X, y, Xt, yt, *, sizes=DEFAULT_SIZES, epochs, batch_size=128, lr=1e-3,
                  seed=0, dtype="float32", threads=2):
    """The same training with scikit-learn's MLPClassifier (solver="adam", alpha=0).

    It computes in the dtype of X: float32 here when dtype="float32" (MLPClassifier
    keeps float32 input; labels become a bool indicator matrix), float64 otherwise.
    One ``partial_fit`` call per epoch, each timed. ``fit`` with ``max_iter=1`` and
    ``warm_start=True`` would not be the same training: every ``fit`` call creates
    a new Adam optimizer (moments and step count reset) and, with an int
    random_state, replays the same shuffle order; ``partial_fit`` keeps the Adam
    state, and a RandomState object gives a fresh shuffle each epoch, so this is
    ``fit(max_iter=epochs)`` cut into timed epochs. Differences that remain:
    sklearn's own initialisation (Glorot-uniform scaled for ReLU, not He-normal)
    and input validation on every call (part of its real cost).
    """
    import sklearn
    from sklearn.neural_network import MLPClassifier

    dt = _check_args(sizes, epochs, batch_size, dtype)
    X = np.ascontiguousarray(X, dtype=dt)
    Xt = np.ascontiguousarray(Xt, dtype=dt)
    classes = np.arange(sizes[-1])
    with peak_rss() as mem, blas_threads(threads):
        clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu",
                            solver="adam", learning_rate_init=lr, batch_size=batch_size,
                            alpha=0.0, beta_1=ADAM_BETA1, beta_2=ADAM_BETA2,
                            epsilon=ADAM_EPS, shuffle=True,
                            random_state=np.random.RandomState(seed))
        times = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            clf.partial_fit(X, y, classes=classes)
            times.append(time.perf_counter() - t0)
        correct = sum(int((clf.predict(Xt[i:i + EVAL_CHUNK]) == yt[i:i + EVAL_CHUNK]).sum())
                      for i in range(0, Xt.shape[0], EVAL_CHUNK))
        acc = correct / max(1, len(yt))
    used = clf.coefs_[0].dtype
    return {"seconds_per_epoch": times, "test_accuracy": acc, "peak_mem_mb": mem[0],
            "final_loss": float(clf.loss_),
            "note": f"sklearn {sklearn.__version__}, computes in {used.name}"}


PEERS = {"numpy": train_numpy, "torch": train_torch, "sklearn": train_sklearn}
AVAILABLE = {"numpy": lambda: True, "torch": torch_available, "sklearn": sklearn_available}


# ---------------------------------------------------------------- onnxruntime (inference)

def onnxruntime_available():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnxruntime_predict(model, threads=1, *, flat_input=False, opset=None):
    """An inference peer: `model` (any barenet model) exported by barenet.onnx and loaded
    into an onnxruntime CPU session with `threads` intra-op threads (1 or 2 here), one
    inter-op thread, sequential execution and every graph optimisation (constant folding,
    Conv+Add/Mul fusions, ...). Returns ``(predict, note)``: predict(X) takes what the
    exported graph takes (``(N, *input_shape)`` in the model's dtype, or the flat rows with
    flat_input=True) and returns the output array, as ``model.predict`` does; the session
    is built once here, so timing predict times inference only. onnxruntime's spinning
    worker threads are turned off (``session.intra_op.allow_spinning = 0``): spinning wins
    microbenchmarks on an idle machine and costs everything else on a shared one."""
    import onnxruntime as ort

    import barenet.onnx

    proto = barenet.onnx.to_model_proto(model, opset=opset, flat_input=flat_input)
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(proto.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    run = session.run
    dtype = np.dtype(model.dtype)

    def predict(X):
        return run(None, {"input": np.ascontiguousarray(X, dtype=dtype)})[0]

    return predict, f"onnxruntime {ort.__version__}, {threads} thread(s), opset " \
                    f"{proto.opset_import[0].version}"


def run_worker(args, trainers):
    """Child process: load the arrays, train one peer, print its result as JSON."""
    import json
    d = np.load(os.path.join(args.data, "data.npz"))
    X, y, Xt, yt = (np.ascontiguousarray(d[k]) for k in ("X", "y", "Xt", "yt"))
    result = trainers[args.worker](X, y, Xt, yt, **json.loads(args.config))
    result["process_peak_mb"] = process_peak_mb()
    print(json.dumps(result))


def run_peer(script, peer, data_dir, cfg, threads):
    """Run one peer of `script` (its --worker mode) in a fresh process with capped
    threads; return its result."""
    import json
    import subprocess
    cmd = [sys.executable, os.path.abspath(script), "--worker", peer,
           "--data", data_dir, "--config", json.dumps(cfg)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True,
                          env=env_for_threads(threads), check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"{peer}: worker failed with exit code {proc.returncode}"}
    return json.loads(lines[-1])


def env_for_threads(threads):
    """Environment variables that cap BLAS/OpenMP threads in a new process."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BARENET_NUM_THREADS"):
        env[var] = str(threads)
    return env
