"""The restricted unpickler for .pkl weights files: arrays load, code does not run."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from maskrcnn_ext.checkpoint.pickle_io import UnsafePickleError, load_array_pickle


class _Payload:
    """Unpickling an instance would call ``os.system`` through ``__reduce__`` if it were allowed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Plain:
    def __init__(self) -> None:
        self.value = 1


def _dump(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_dict_of_arrays_round_trips(tmp_path, protocol):
    state = {"model": {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
                       "b.bias": np.array([1.5, -2.0], dtype=np.float64), "n": np.int64(7)},
             "__author__": "someone", "list": [1, 2.0, (3, "x")]}
    loaded = load_array_pickle(_dump(tmp_path / "ok.pkl", state, protocol))
    assert loaded["__author__"] == "someone" and loaded["list"] == [1, 2.0, (3, "x")]
    for name, value in state["model"].items():
        np.testing.assert_array_equal(loaded["model"][name], value)
        assert loaded["model"][name].dtype == value.dtype


def test_os_system_reference_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "executed"
    path = _dump(tmp_path / "evil.pkl", {"model": {"w": np.zeros(2)}, "x": _Payload(str(marker))})
    with pytest.raises(UnsafePickleError, match=r"evil\.pkl.*(posix|os|nt)\.system"):
        load_array_pickle(path)
    assert not marker.exists()


def test_class_instance_is_refused(tmp_path):
    path = _dump(tmp_path / "obj.pkl", {"w": np.zeros(2), "obj": _Plain()})
    with pytest.raises(UnsafePickleError, match=r"obj\.pkl.*_Plain"):
        load_array_pickle(path)


def test_truncated_file_is_refused(tmp_path):
    data = pickle.dumps({"w": np.arange(1000, dtype=np.float32), "b": np.ones(3)}, protocol=4)
    for cut in (len(data) // 2, len(data) - 1, 10):
        path = tmp_path / f"cut{cut}.pkl"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"cut{cut}\.pkl.*truncated"):
            load_array_pickle(path)
