"""barenet's thread count: how many OpenMP threads the compiled core may use for large
products (small ones always run on one). Results do not depend on it. The NumPy backend
runs on NumPy's BLAS, whose threads threadpoolctl controls."""

from . import _backend
from ._validation import check_int


def set_num_threads(n):
    """use n >= 1 threads; None returns to the default (BARENET_NUM_THREADS, else OpenMP's).
    Never more than OpenMP allows, so threadpoolctl's limits apply to barenet too."""
    if n is not None:
        n = check_int(n, "n", minimum=1)
    if _backend._try_compiled() is None:
        from . import _core
        _core.set_num_threads(0 if n is None else n)


def get_num_threads():
    """the number of threads a large product in the compiled core uses now (1 without it)"""
    if _backend._try_compiled() is None:
        from . import _core
        return _core.get_num_threads()
    return 1
