"""Reading ``.pkl`` weights files (Detectron2's model zoo, MSRA / Detectron1 caffe2 ImageNet models)
without running code from them.

A pickle can name any importable callable and have the loader call it (``os.system`` included), so
:func:`load_array_pickle` admits only the globals numpy needs to rebuild arrays and scalars; any other
global is refused before it is looked up, naming the file and the global. Containers (dict, list,
tuple) and primitives need no globals and load as usual.
"""
from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

try:  # numpy >= 2 (numpy.core is a deprecated alias there)
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

__all__ = ["UnsafePickleError", "load_array_pickle"]

# (module, name) pairs a pickle of numpy arrays refers to. numpy 2 writes ``numpy._core``, numpy 1
# (and Python 2 era Detectron files) ``numpy.core``; both resolve to the running numpy's functions.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{(module, "_reconstruct"): _multiarray._reconstruct
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): _multiarray.scalar
       for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    # Protocol 5 rebuilds an array from its out-of-band-capable buffer with _frombuffer.
    **{(module, "_frombuffer"): _numeric._frombuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Protocol-2 pickles written by Python 3 encode bytes (an array's buffer) as latin-1 text and
    # rebuild them with _codecs.encode, which only turns a string into bytes.
    ("_codecs", "encode"): __import__("_codecs").encode,
    # OrderedDict is a plain container.
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the numpy allow-list (it was not imported or called)."""


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler whose :meth:`find_class` resolves only :data:`_ALLOWED_GLOBALS`."""

    def __init__(self, file: io.BufferedIOBase, *, source: str) -> None:
        # latin1 reads Python 2 pickles' str buffers as the bytes numpy expects.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise UnsafePickleError(f"{self.source}: refused to load the global {module}.{name}; only numpy "
                                    "arrays, numpy scalars and plain containers are read from .pkl weights files")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refused a persistent id {pid!r}; .pkl weights files hold "
                                "numpy arrays only (a torch.save file should end in .pth)")


def load_array_pickle(path: str | os.PathLike) -> Any:
    """Unpickle a file of numpy arrays in containers, refusing anything that could run code.

    Args:
        path: a ``.pkl`` file.

    Returns:
        The unpickled object (dicts, lists, tuples, primitives, numpy arrays and scalars).

    Raises:
        UnsafePickleError: the file names a global outside the allow-list (nothing was executed).
        ValueError: the file is truncated or not a pickle.
    """
    source = os.fspath(path)
    with open(source, "rb") as f:
        data = f.read()
    try:
        return _ArrayUnpickler(io.BytesIO(data), source=source).load()
    except UnsafePickleError:
        raise
    except EOFError as e:
        raise ValueError(f"{source}: the pickle ends early ({len(data)} bytes); the file is truncated "
                         "(an interrupted download?)") from e
    except (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        # A cut inside an array's buffer or an opcode argument surfaces as one of these.
        raise ValueError(f"{source}: not a readable pickle of arrays ({len(data)} bytes; truncated or "
                         f"corrupt?): {type(e).__name__}: {e}") from e
