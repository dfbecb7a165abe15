"""barenet's thread count: how many OpenMP threads the compiled core may use for large
products (small ones always run on one). Results do not depend on it. The NumPy backend
runs on NumPy's BLAS, whose threads threadpoolctl controls.

After os.fork (multiprocessing's "fork" start method) the child runs barenet on one
thread: GNU OpenMP's thread pool does not survive a fork, and a child that entered a
parallel region would hang. The child can still train and predict."""

import os
import sys
import warnings
from typing import Optional

from . import _backend
from ._validation import check_int

_forked_child = False


def _after_fork_in_child():
    global _forked_child
    _forked_child = True
    if "barenet._core" in sys.modules:
        sys.modules["barenet._core"].set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def set_num_threads(n: Optional[int]) -> None:
    """use n >= 1 threads; None returns to the default (BARENET_NUM_THREADS, else OpenMP's).
    Never more than OpenMP allows, so threadpoolctl's limits apply to barenet too."""
    if n is not None:
        n = check_int(n, "n", minimum=1, maximum=2**31 - 1)
    if _forked_child and n != 1:
        warnings.warn("barenet: this process was forked; OpenMP threads cannot be used after "
                      "a fork, so barenet stays on 1 thread here (use the 'spawn' or "
                      "'forkserver' start method for parallel children)", RuntimeWarning,
                      stacklevel=2)
        n = 1
    if _backend._try_compiled() is None:
        from . import _core
        _core.set_num_threads(0 if n is None else n)


def get_num_threads() -> int:
    """the number of threads a large product in the compiled core uses now (1 without it)"""
    if _backend._try_compiled() is None:
        from . import _core
        return _core.get_num_threads()
    return 1
