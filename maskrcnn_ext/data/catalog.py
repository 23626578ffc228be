"""Named datasets and their metadata.

A dataset is registered under a name together with a zero-argument function that returns its
records (see the dataset-record contract in the package docs). The function runs lazily, on the
first :meth:`DatasetCatalog.get`, and its result is cached until the name is registered again.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Callable

logger = logging.getLogger(__name__)

__all__ = ["DatasetCatalog", "MetadataCatalog", "Metadata"]


def _unknown_name_error(kind: str, name: str, known: list[str]) -> KeyError:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    listed = ", ".join(sorted(known)) if known else "(none)"
    return KeyError(f"{kind} '{name}' is not registered.{hint} Registered: {listed}")


class _DatasetCatalog:
    """Maps dataset names to functions that produce their records."""

    def __init__(self) -> None:
        self._funcs: dict[str, Callable[[], list[dict]]] = {}
        self._cache: dict[str, list[dict]] = {}

    def register(self, name: str, func: Callable[[], list[dict]]) -> None:
        """Register ``func`` under ``name``.

        Args:
            name: dataset name, e.g. ``"shapes_train"``.
            func: zero-argument callable returning ``list[dict]`` dataset records.
        """
        if not callable(func):
            raise TypeError(f"DatasetCatalog.register('{name}'): func must be callable, got {type(func)}")
        if name in self._funcs and self._funcs[name] is not func:
            # Notebooks and tests legitimately re-register; replacing silently would hide typos.
            logger.warning("Dataset '%s' is re-registered; the previous function is replaced", name)
        self._funcs[name] = func
        self._cache.pop(name, None)

    def get(self, name: str) -> list[dict]:
        """Return the records of dataset ``name`` (computed once, then cached).

        Raises:
            KeyError: ``name`` is not registered; the message lists the registered names.
        """
        if name not in self._funcs:
            raise _unknown_name_error("Dataset", name, list(self._funcs))
        if name not in self._cache:
            records = self._funcs[name]()
            if not isinstance(records, list):
                raise TypeError(
                    f"Dataset '{name}': the registered function returned {type(records).__name__}, "
                    "expected list[dict]"
                )
            self._cache[name] = records
        return self._cache[name]

    def list(self) -> list[str]:
        """Return the registered dataset names, sorted."""
        return sorted(self._funcs)

    def remove(self, name: str) -> None:
        """Forget dataset ``name`` and its cached records."""
        self._funcs.pop(name, None)
        self._cache.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._funcs


class Metadata:
    """Attribute bag describing a dataset (class names, id mappings, source files).

    Attributes commonly set: ``thing_classes``, ``thing_dataset_id_to_contiguous_id``,
    ``json_file``, ``image_root``, ``evaluator_type``.
    """

    def __init__(self, *, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __getattr__(self, key: str) -> Any:
        # Only reached when normal lookup fails: make the missing key and the known keys explicit.
        if key.startswith("__"):
            raise AttributeError(key)  # keeps copy/pickle protocols working on a half-built object
        known = ", ".join(sorted(self.__dict__))
        name = self.__dict__.get("name", "?")
        raise AttributeError(f"Metadata of '{name}' has no attribute '{key}'. Available: {known}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "name":
            raise AttributeError("Metadata.name is fixed at creation")
        old = self.__dict__.get(key, value)
        if old != value:
            logger.info("Metadata '%s': attribute '%s' changed from %r to %r", self.name, key, old, value)
        self.__dict__[key] = value

    def set(self, **kwargs: Any) -> "Metadata":
        """Set several attributes at once and return ``self``."""
        for key, value in kwargs.items():
            setattr(self, key, value)
        return self

    def get(self, key: str, default: Any = None) -> Any:
        """Return attribute ``key`` or ``default`` when it is not set."""
        return self.__dict__.get(key, default)

    def __repr__(self) -> str:
        return f"Metadata({self.__dict__!r})"


class _MetadataCatalog:
    """Maps dataset names to :class:`Metadata`; a new name gets an empty bag on first access."""

    def __init__(self) -> None:
        self._metas: dict[str, Metadata] = {}

    def get(self, name: str) -> Metadata:
        if name not in self._metas:
            self._metas[name] = Metadata(name=name)
        return self._metas[name]

    def list(self) -> list[str]:
        return sorted(self._metas)

    def remove(self, name: str) -> None:
        self._metas.pop(name, None)


DatasetCatalog = _DatasetCatalog()
MetadataCatalog = _MetadataCatalog()

