"""barenet.info(): what this installation of barenet is and what it runs on, as a dict.

The same facts as `barenet info` on the command line: the version, the backend in use
(the compiled C core or the NumPy reference), and for the compiled core the GEMM
micro-kernel chosen from this CPU's features at run time, the thread count and whether the
extension was built with OpenMP. A pure install (BARENET_PURE=1) reports backend "numpy",
compiled_available False and the reason in compiled_error."""

import platform
import sys
from typing import Any, Optional

import numpy as np

from . import _backend


def info(backend: Optional[str] = None) -> dict[str, Any]:
    """a dict describing this installation; backend= (or BARENET_BACKEND) as for
    NeuralNetwork: "auto" reports the backend a network would use by default.

    Keys: version, python, numpy, platform, machine, backend ("compiled" or "numpy"),
    compiled_available (bool), compiled_error (None or why the extension is unusable),
    cpu_kernel ("avx512", "avx2_fma", "generic", ... or None without the extension), threads (int),
    openmp (bool). Raises ImportError for backend="compiled" when the extension is absent
    or broken, as NeuralNetwork does."""
    from . import __version__, get_num_threads

    name = _backend.resolve(backend)
    error = _backend._try_compiled()
    result = {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": sys.platform,
        "machine": platform.machine(),
        "backend": name,
        "compiled_available": error is None,
        "compiled_error": None if error is None else error[1],
        "cpu_kernel": None,
        "threads": 1,
        "openmp": False,
    }
    if error is None:
        from . import _core
        result.update({key: value for key, value in _core.build_info().items()})
        result["openmp"] = bool(result.get("openmp", False))
        result["cpu_kernel"] = _core.cpu_kernel()
        result["threads"] = int(get_num_threads())
    return result
