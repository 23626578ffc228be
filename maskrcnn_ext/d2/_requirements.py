"""The bridge's one hard requirement, checked on import before anything imports from detectron2."""
from __future__ import annotations

import importlib

INSTALL_HINT = (
    "maskrcnn_ext.d2 needs detectron2, which is not on PyPI. Install it by its official instructions "
    "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html), e.g. "
    "`python -m pip install 'git+https://github.com/facebookresearch/detectron2.git'` in the environment that "
    "has torch, then import maskrcnn_ext.d2 again"
)


def require_detectron2() -> None:
    """Import detectron2, or raise an ImportError that says how to install it."""
    try:
        importlib.import_module("detectron2")
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT}. ({type(err).__name__}: {err})") from err


require_detectron2()
