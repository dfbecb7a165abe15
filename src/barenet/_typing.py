"""Names for the types in barenet's annotations (the package ships py.typed): what the
public API accepts. Nothing here runs; the values are checked by barenet._validation."""

import os
from typing import Any, Callable, Union

import numpy as np
import numpy.typing as npt

ArrayLike = npt.ArrayLike
"""anything np.asarray takes: arrays, lists, numbers"""
MatrixLike = Union[npt.ArrayLike, Any]
"""ArrayLike, or where the docs say so a scipy.sparse CSR matrix (scipy has no types)"""
DTypeLike = Union[str, np.dtype, type]
"""'float32' or 'float64', as a name, a NumPy dtype or a scalar type"""
PathLike = Union[str, "os.PathLike[str]"]
Schedule = Callable[[int, float, int], float]
"""a learning-rate schedule: (epoch, base rate, epochs of the call) -> rate"""
Array = np.ndarray
