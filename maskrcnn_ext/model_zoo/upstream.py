"""Pretrained weights by their publishers' names: download once, convert once, cache both.

    train.init_checkpoint=torchvision/maskrcnn_resnet50_fpn_coco       # or torchvision/resnet50.IMAGENET1K_V1
    train.init_checkpoint=detectron2/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x
    train.init_checkpoint=detectron2/ImageNetPretrained/MSRA/R-50      # or detectron2://ImageNetPretrained/MSRA/R-50.pkl

torchvision's names come from torchvision's own weight enums (``torchvision/<builder>`` is the
builder's default weights, ``torchvision/<builder>.<WEIGHTS>`` any of them, and the file stem such as
``torchvision/maskrcnn_resnet50_fpn_coco`` works too); their file names carry a sha256 prefix, which
is checked. Detectron2 publishes no hashes, so its files are used as downloaded (their sha256 is
logged). The download lands in ``<cache>/upstream/<publisher>/`` and the converted toolkit weights
beside it as ``<file stem>.converted.pth`` (tensors only), with a ``.json`` of the config values the
weights need (:class:`~maskrcnn_ext.checkpoint.convert.ConvertedWeights`).
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from ..checkpoint.convert import ConvertedWeights, convert_weights
from ..utils.file_io import atomic_file
from .storage import ZooError, default_cache_dir, download, sha256_of

__all__ = ["UpstreamFile", "fetch_upstream", "is_upstream", "save_converted", "upstream_file", "upstream_names"]

logger = logging.getLogger(__name__)

TORCHVISION_URL_PREFIX = "https://download.pytorch.org/models/"
DETECTRON2_URL_PREFIX = "https://dl.fbaipublicfiles.com/detectron2/"
_D2_SCHEME = "detectron2://"
_PUBLISHERS = ("torchvision/", "detectron2/")
_HASHED = re.compile(r"-([0-9a-f]{8,64})\.pth$")

_TORCHVISION_BUILDERS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                         "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
                         "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")
# Detectron2's Mask R-CNN model zoo (its MODEL_ZOO.md): config name -> "<run id>/<file>".
_DETECTRON2_ZOO = {
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x": "137259246/model_final_9243eb.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x": "137260431/model_final_a54504.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_C4_3x": "137849525/model_final_4ce675.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x": "137849600/model_final_f10217.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x": "138363239/model_final_a2914c.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x": "138205316/model_final_a3ec72.pkl",
    "COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x": "139653917/model_final_2d9806.pkl",
}
# ImageNet backbones as Detectron2's configs name them (caffe2 .pkl files).
_DETECTRON2_IMAGENET = ("ImageNetPretrained/MSRA/R-50", "ImageNetPretrained/MSRA/R-101",
                        "ImageNetPretrained/FAIR/X-101-32x8d")


@dataclass(frozen=True)
class UpstreamFile:
    """A publisher's weights file: where it is, its sha256 prefix (None: unpublished), its cache folder."""

    url: str
    sha256: str | None
    publisher: str

    @property
    def file_name(self) -> str:
        return Path(urllib.parse.urlparse(self.url).path).name


def _torchvision_names() -> dict[str, str]:
    """``torchvision/...`` name -> file name, from torchvision's weight enums."""
    names: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for builder in _TORCHVISION_BUILDERS:
        weights = torchvision.models.get_model_weights(builder)
        names[f"torchvision/{builder}"] = Path(weights.DEFAULT.url).name
        for entry in weights:
            file_name = Path(entry.url).name
            names[f"torchvision/{builder}.{entry.name}"] = file_name
            aliases.setdefault(f"torchvision/{_HASHED.sub('', file_name)}", file_name)
    return {**aliases, **names}


def _detectron2_names() -> dict[str, str]:
    """``detectron2/...`` name -> path under Detectron2's URL prefix."""
    names = {f"detectron2/{name}": f"{name}/{file}" for name, file in _DETECTRON2_ZOO.items()}
    names.update({f"detectron2/{name}": f"{name}.pkl" for name in _DETECTRON2_IMAGENET})
    return names


def upstream_names() -> list[str]:
    """Every name :func:`upstream_file` knows."""
    return sorted({**_torchvision_names(), **_detectron2_names()})


def is_upstream(spec: str) -> bool:
    """Whether ``spec`` is a publisher's name or a ``detectron2://`` URL (not whether it is known)."""
    return spec.startswith((_D2_SCHEME, *_PUBLISHERS))


def upstream_file(spec: str) -> UpstreamFile:
    """The file a publisher's name or ``detectron2://<path>`` URL stands for.

    Raises:
        ZooError: an unknown name (the closest known ones are listed).
    """
    if spec.startswith(_D2_SCHEME):
        return UpstreamFile(DETECTRON2_URL_PREFIX + spec[len(_D2_SCHEME):], None, "detectron2")
    torchvision_files, detectron2_paths = _torchvision_names(), _detectron2_names()
    if spec in torchvision_files:
        file_name = torchvision_files[spec]
        match = _HASHED.search(file_name)
        return UpstreamFile(TORCHVISION_URL_PREFIX + file_name, match.group(1) if match else None, "torchvision")
    if spec in detectron2_paths:
        return UpstreamFile(DETECTRON2_URL_PREFIX + detectron2_paths[spec], None, "detectron2")
    close = difflib.get_close_matches(spec, [*torchvision_files, *detectron2_paths], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `maskrcnn-ext convert --list` lists them"
    raise ZooError(f"unknown upstream weights {spec!r}{hint}")


def _download(upstream: UpstreamFile, raw: Path) -> None:
    try:
        download(upstream.url, raw, upstream.sha256)
    except ZooError as e:
        raise ZooError(f"{e}. Without network access, fetch {upstream.url} elsewhere and put it at {raw} "
                       f"(or set train.init_checkpoint to your local copy)") from e


def save_converted(converted: ConvertedWeights, path: str | os.PathLike, source: str) -> None:
    """Write converted weights (tensors only) and, beside them, a ``.json`` of what they need (and, for
    a COCO detector, its classes: the keys of a zoo manifest's)."""
    path = Path(path)
    with atomic_file(path, "wb") as f:
        torch.save(converted.state_dict, f)
    sidecar = {"source": source, "format": converted.source_format, "placement": converted.placement,
               "overrides": converted.overrides, "dropped": converted.dropped, **(converted.classes or {})}
    with atomic_file(path.with_suffix(".json"), "w") as f:
        json.dump(sidecar, f, indent=2)


def fetch_upstream(spec: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The converted toolkit weights of a publisher's file, downloading and converting it on first use.

    Args:
        spec: a name of :func:`upstream_names` or a ``detectron2://`` URL.
        cache_dir: the cache root (default :func:`~maskrcnn_ext.model_zoo.storage.default_cache_dir`).

    Raises:
        ZooError: an unknown name, no network (the message names the URL and where to put the file),
            a hash mismatch (nothing is cached then).
    """
    upstream = upstream_file(spec)
    folder = Path(cache_dir or default_cache_dir()) / "upstream" / upstream.publisher
    raw = folder / upstream.file_name
    converted_path = folder / f"{Path(upstream.file_name).stem}.converted.pth"
    if converted_path.is_file():
        logger.info("%s: using the converted %s", spec, converted_path)
        return converted_path
    if not raw.is_file():
        _download(upstream, raw)
    elif upstream.sha256 and not sha256_of(raw).startswith(upstream.sha256):
        raise ZooError(f"{raw} is not {upstream.url}: its sha256 does not start with {upstream.sha256}; "
                       "delete it (it is fetched again) or put the right file there")
    converted = convert_weights(raw)
    save_converted(converted, converted_path, upstream.url)
    logger.info("%s: %s weights converted to %s (%d tensors; needs %s)", spec, converted.source_format,
                converted_path, len(converted.state_dict), converted.overrides or "no config changes")
    return converted_path
