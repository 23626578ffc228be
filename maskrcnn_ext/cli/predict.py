"""``maskrcnn-ext predict``: run a model on images and write pictures and COCO-format results.

The model is a zoo name, a run directory (its ``config.yaml`` and final or last checkpoint), a
checkpoint with ``--config``, or an exported ``.pt2`` / ``.onnx`` file (``maskrcnn-ext export``; its
``config.yaml`` beside it, or ``--config``). Inputs are image files, folders (every image in them) or
glob patterns. Writes ``OUT/<image stem>.png`` (masks, boxes, class names, scores) and ``OUT/predictions.json`` (COCO
results, with an ``images`` list mapping ids to files). An unreadable image is reported and skipped.
Exit status: 0 every image done, 1 some image failed or the model could not be loaded.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="zoo name, run directory, checkpoint file (with --config), or exported .pt2/.onnx file")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="where to write")
    parser.add_argument("--config", type=Path, metavar="FILE", help="config of a checkpoint file")
    parser.add_argument("--zoo", help="zoo folder or URL for a zoo name (default: $MASKRCNN_EXT_ZOO, else ./model_zoo)")
    parser.add_argument("--score-thresh", type=float, default=0.5,
                        help="draw instances scoring at least this (default 0.5)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Image paths named by files, folders and glob patterns, sorted and without duplicates."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += [p for p in sorted(path.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS]
        elif path.is_file():
            found.append(path)
        else:
            matches = sorted(Path(p) for p in glob.glob(item, recursive=True))
            if not matches:
                logger.warning("%s: no such file or folder, and no file matches it as a pattern", item)
            found += [p for p in matches if p.is_file()]
    return list(dict.fromkeys(found))


def _run_checkpoint(run_dir: Path) -> Path:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.engine.checkpoint import last_checkpoint_file

    final = run_dir / "model_final.pth"
    if final.is_file():
        return final
    last = last_checkpoint_file(run_dir)
    if last is not None and Path(last).is_file():
        return Path(last)
    raise FileNotFoundError(f"{run_dir} has no model_final.pth and no last_checkpoint")


def load_model(spec: str, *, config: Path | None, zoo: str | None, device: str = "cpu") -> tuple[Any, Any, Any]:
    """``(model, cfg, classes)`` for a zoo name, a run directory, a checkpoint with its config, or an
    exported file (run on ``device``); ``classes`` (a :class:`~maskrcnn_ext.data.classes.ClassInfo` or
    None) says what its class indices mean."""
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.checkpoint import load_model_weights, read_model_state
    from maskrcnn_ext.config import LazyConfig, instantiate
    from maskrcnn_ext.data.classes import ClassInfo
    from maskrcnn_ext.model_zoo import locate

    path = Path(spec)
    if path.is_file() and path.suffix.lower() in (".pt2", ".onnx"):
        return _load_exported(path, config=config, device=device)
    if path.is_dir():
        config, weights = config or path / "config.yaml", _run_checkpoint(path)
    elif path.is_file():
        if config is None:
            raise ValueError(f"{spec} is a checkpoint file: give its --config")
        weights = path
    else:
        found = locate(spec, zoo=zoo)
        cfg, weights = found.config, found.weights
        classes = ClassInfo.from_json(found.manifest)
    if config is not None:
        cfg = LazyConfig.load(str(config))
        classes = _recorded_classes(Path(weights), cfg)
    model = instantiate(cfg.model)
    load_model_weights(model, read_model_state(weights)).require_complete(f"predicting with {weights}")
    return model, cfg, classes


def _load_exported(path: Path, *, config: Path | None, device: str) -> tuple[Any, Any, Any]:
    """An exported model's runner, the config saved beside it (or ``config``), and its recorded classes."""
    # Deferred: as above.
    from maskrcnn_ext.config import LazyConfig
    from maskrcnn_ext.data.classes import ClassInfo
    from maskrcnn_ext.export import load_exported

    config = config or path.parent / "config.yaml"
    if not Path(config).is_file():
        raise ValueError(f"{path} is an exported model without config.yaml beside it: give its --config")
    model = load_exported(path, device=device)
    return model, LazyConfig.load(str(config)), ClassInfo.from_json(model.metadata.get("classes") or {})


def _recorded_classes(weights: Path, cfg: Any) -> Any:
    """The classes recorded beside a checkpoint (its run's ``classes.json``, or a converted file's
    ``.json``), else those of the config's training dataset if it is registered in this process."""
    # Deferred: as above.
    from maskrcnn_ext.data.classes import ClassInfo, dataset_classes, read_run_classes

    classes = read_run_classes(weights.parent)
    sidecar = weights.with_suffix(".json")
    if classes is None and sidecar.is_file():
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        classes = ClassInfo.from_json(data) if "class_names" in data else None
    if classes is None:
        data = cfg.dataloader
        classes = dataset_classes(data.train.get("dataset")) or dataset_classes(data.test.get("dataset"))
    logger.info("Classes: %s", "none recorded" if classes is None else
                f"{len(classes.names or ())} from {classes.dataset or weights.parent}")
    return classes


def _resolve_device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def run(args: argparse.Namespace) -> int:
    # Deferred: `maskrcnn-ext --help` imports every subcommand module; torch loads only here.
    from maskrcnn_ext.model_zoo import ZooError

    try:
        model, cfg, classes = load_model(args.model, config=args.config, zoo=args.zoo,
                                         device=_resolve_device(args.device))
    except (ZooError, ValueError, OSError, KeyError, ImportError) as e:
        logger.error("cannot load the model %s: %s", args.model, e)
        return 1
    images = expand_inputs(args.inputs)
    if not images:
        logger.error("no images found in %s", " ".join(args.inputs))
        return 1
    from maskrcnn_ext.experiments.predict import predict_images

    failed = predict_images(model, cfg, classes, images, args.output, score_thresh=args.score_thresh,
                            device=_resolve_device(args.device))
    return 1 if failed else 0
