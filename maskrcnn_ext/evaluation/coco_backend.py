"""Which COCO metric implementation evaluates: pycocotools, or faster-coco-eval when installed.

faster-coco-eval (``pip install maskrcnn_ext[fast-eval]``) reimplements pycocotools' ``COCO`` and
``COCOeval`` in C++ with the same interface. It gives the same numbers up to the order of float
additions (differences of 1e-16; ``tests/evaluation/test_coco_backend.py`` checks every metric the
evaluator reports to 1e-12), 2.5-5x faster (benchmarks/README.md).
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

__all__ = ["BACKENDS", "CocoBackend", "coco_backend"]

logger = logging.getLogger(__name__)
BACKENDS = ("auto", "pycocotools", "faster_coco_eval")


class CocoBackend(NamedTuple):
    """The ``COCO`` (annotations) and ``COCOeval`` classes of one implementation, and its name."""

    name: str
    coco: Any
    cocoeval: Any


def coco_backend(name: str = "auto") -> CocoBackend:
    """Resolve a backend name.

    Args:
        name: ``"pycocotools"``; ``"faster_coco_eval"`` (an error when it is not installed); or
            ``"auto"``: faster-coco-eval when it can be imported, else pycocotools.
    """
    if name not in BACKENDS:
        raise ValueError(f"Unknown COCO evaluation backend {name!r}; choose one of {list(BACKENDS)}")
    if name != "pycocotools":
        try:
            from faster_coco_eval import COCO as FastCOCO
            from faster_coco_eval import COCOeval_faster
        except ImportError as e:
            if name == "faster_coco_eval":
                raise ImportError("The faster_coco_eval backend needs `pip install faster-coco-eval` "
                                  "(or maskrcnn_ext[fast-eval])") from e
        else:
            return CocoBackend("faster_coco_eval", FastCOCO, COCOeval_faster)
    return CocoBackend("pycocotools", COCO, COCOeval)
