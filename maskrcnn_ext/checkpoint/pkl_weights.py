"""``.pkl`` weights files from other toolkits, read safely and converted to this toolkit's names.

:func:`~maskrcnn_ext.checkpoint.weights.read_model_state` sends ``.pkl`` files here, so
``train.init_checkpoint=model_final_f10217.pkl`` (Detectron2's zoo) or ``=R-50.pkl`` (MSRA's caffe2
ImageNet ResNet, as Detectron2's ``ImageNetPretrained/MSRA``) converts on load. The format is told
from the file's contents: Detectron2's zoo files are ``{"model": {...}, "__author__": ...}``; anything
else must be a dict of caffe2 blobs (optionally under ``"blobs"``, as Detectron1 saved them).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping

import numpy as np
from torch import Tensor

from .detectron2 import caffe2_names_for, convert_caffe2_resnet, convert_detectron2_model, is_detectron2_zoo
from .pickle_io import load_array_pickle

__all__ = ["PKL_SUFFIX", "read_pkl_state"]

logger = logging.getLogger(__name__)

PKL_SUFFIX = ".pkl"


def read_pkl_state(path: str | os.PathLike, *, model_keys: Collection[str] | None = None) -> dict[str, Tensor]:
    """The toolkit state dict of a Detectron2 zoo or MSRA caffe2 ``.pkl`` file.

    Args:
        path: the ``.pkl`` file (read with the restricted unpickler: numpy arrays only).
        model_keys: the target model's state-dict names, to place a caffe2 backbone (FPN, C4 or bare
            backbone); None assumes an FPN model's ``backbone.bottom_up``.

    Raises:
        UnsafePickleError: the file names a non-numpy global.
        ValueError: truncated, not a dict of arrays, or holding tensors no rule converts.
    """
    data = load_array_pickle(path)
    if is_detectron2_zoo(data):
        logger.info("%s: Detectron2 model-zoo weights (author %r)", path, data.get("__author__"))
        return convert_detectron2_model(data["model"]).state
    blobs = data.get("blobs", data) if isinstance(data, Mapping) else data
    if not isinstance(blobs, Mapping) or not blobs or not all(isinstance(v, np.ndarray) for v in blobs.values()):
        raise ValueError(f"{path}: neither Detectron2 model-zoo weights ({{'model': ..., '__author__': ...}}) "
                         f"nor a dict of caffe2 arrays; got {type(data).__name__}")
    logger.info("%s: MSRA / Detectron1 caffe2 blobs", path)
    names = caffe2_names_for(model_keys) if model_keys is not None else "backbone.bottom_up."
    return convert_caffe2_resnet(blobs, prefix=names).state
