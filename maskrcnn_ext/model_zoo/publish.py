"""Turn a finished run directory into a model-zoo entry: hash-named weights, a manifest, an index row."""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
import os
import re
import statistics
from pathlib import Path
from typing import Any

import torch
import torchvision
import yaml

from .. import __version__
from ..analysis.runs import arm_name, read_metrics
from ..checkpoint import load_model_weights, read_model_state
from ..config import LazyConfig, instantiate
from ..data.classes import CLASSES_FILE, dataset_classes, read_run_classes
from ..engine.predictor import first_test_input
from ..utils.env import git_commit
from .flops import count_flops, count_parameters
from .index import read_index, write_index
from ..utils.file_io import atomic_file
from .storage import ZooError

__all__ = ["publish_run"]

logger = logging.getLogger(__name__)

FINAL_CHECKPOINT = "model_final.pth"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def default_name(run_dir: Path) -> str:
    """``<arm>`` for a plain run, ``<arm>-seed<k>`` for a sweep's ``<arm>/seed<k>`` run."""
    arm = arm_name(run_dir)
    return arm if arm == run_dir.name else f"{arm}-{run_dir.name}"


def _final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    path = run_dir / FINAL_CHECKPOINT
    if not path.is_file():
        others = sorted(p.name for p in run_dir.glob("model_*.pth"))
        found = f"it has {', '.join(others)}" if others else "it has no checkpoint at all"
        raise ZooError(f"{run_dir} has no {FINAL_CHECKPOINT} ({found}); publish a finished run")
    return {key: value.detach().clone().contiguous() for key, value in read_model_state(path).items()}


def _final_metrics(run_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The last eval row and a train-time summary; a run without evaluation is refused."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise ZooError(f"{run_dir} has no metrics.jsonl; publish needs the run's final evaluation")
    train, evals = read_metrics(path)
    if not evals:  # a run trained without a final evaluation, evaluated afterwards by --eval-only
        evals = _final_checkpoint_evaluation(run_dir)
    if not evals:
        raise ZooError(f"{path} has no evaluation row and {run_dir / 'eval'} no evaluation of {FINAL_CHECKPOINT}; "
                       f"evaluate it first (train_net.py --config-file {run_dir / 'config.yaml'} --eval-only "
                       f"train.init_checkpoint={run_dir / FINAL_CHECKPOINT})")
    times = [row["time"] for row in train.values() if "time" in row]
    iterations = max(train) + 1 if train else None
    timing = {}
    if times and iterations:
        timing = {"iterations": iterations, "s_per_iter": statistics.median(times)}
        timing["train_time_s"] = timing["s_per_iter"] * iterations
    final = dict(evals[max(evals)])
    if "inference/s_per_img" not in final:  # runs from before the evaluator recorded it
        seconds = _logged_inference_time(run_dir / "log.txt")
        if seconds is not None:
            final["inference/s_per_img"] = seconds
    return final, timing


def _final_checkpoint_evaluation(run_dir: Path) -> dict[int, dict[str, float]]:
    """The latest ``--eval-only`` row of the run's final checkpoint (``run_dir/eval/model_final*/``)."""
    found = sorted((run_dir / "eval").glob(f"{Path(FINAL_CHECKPOINT).stem}*/metrics.jsonl"),
                   key=lambda p: p.stat().st_mtime)
    for metrics in reversed(found):
        evals = read_metrics(metrics)[1]
        if evals:
            return {0: evals[max(evals)]}
    return {}


def _logged_inference_time(log: Path) -> float | None:
    """The last "Total inference time: ... (X s/img" of a run's log, if any."""
    if not log.is_file():
        return None
    text = log.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"Total inference time: \S+ \(([0-9.]+) s/img", text)
    return float(found[-1]) if found else None


def _write_weights(state: dict[str, torch.Tensor], zoo_dir: Path, name: str) -> tuple[Path, str]:
    """Save ``state`` as ``<name>-<sha8>.pth``: serialised and hashed in memory, written atomically,
    and renamed only after it re-reads with ``weights_only=True`` equal tensor by tensor."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()

    def reads_back_equal(tmp: Path) -> None:
        reread = torch.load(tmp, map_location="cpu", weights_only=True)
        if reread.keys() != state.keys() or not all(torch.equal(reread[k], state[k]) for k in state):
            raise ZooError(f"the weights written to {tmp} do not read back equal; nothing was published")

    path = zoo_dir / f"{name}-{digest[:8]}.pth"
    with atomic_file(path, "wb", check=reads_back_equal) as f:
        f.write(data)
    return path, digest


def _class_info(run_dir: Path, cfg: Any) -> dict[str, Any]:
    """The run's recorded classes (``classes.json``), else its training or test dataset's, if that is
    registered in this process (runs from before runs recorded them)."""
    data = cfg.dataloader
    classes = (read_run_classes(run_dir) or dataset_classes(data.train.get("dataset"))
               or dataset_classes(data.test.get("dataset")))
    if classes is None:
        raise ZooError(f"{run_dir} records no classes ({CLASSES_FILE}) and its dataset "
                       f"{data.train.get('dataset')!r} is not registered in this process: register it (e.g. "
                       "with a Python script calling register_coco_instances and then publish_run) so that the "
                       "published model knows its class names and category ids")
    return classes.to_json()


def _model_stats(cfg: Any, state: dict[str, torch.Tensor], run_dir: Path,
                 input_size: tuple[int, int] | None) -> dict[str, Any]:
    """Build the model, check the weights fit it exactly, count parameters and FLOPs."""
    model = instantiate(cfg.model)
    report = load_model_weights(model, state)
    if report.shape_mismatch or report.missing or report.unexpected:
        raise ZooError(f"{run_dir / FINAL_CHECKPOINT} does not fit the model of its own config.yaml:\n"
                       f"{report.summary()}")
    if input_size is None:
        try:
            image, original = first_test_input(cfg)
        except KeyError as e:  # a dataset registered by the user's own code, not in this process
            raise ZooError(f"cannot read a test image for the FLOP count: {e.args[0]}; give the input size "
                           "(--flops-input HxW, or input_size=(H, W))") from e
    else:
        image, original = torch.zeros(3, *input_size, dtype=torch.uint8), tuple(input_size)
    return {"params": count_parameters(model), "flops": count_flops(model, image, original_size=original)}


def _drop_replaced(zoo_dir: Path, old: dict[str, Any] | None, index: dict[str, Any]) -> None:
    if old is None:
        return
    still_used = {e["file"] for e in index["models"].values()} | {e["manifest"] for e in index["models"].values()}
    for key in ("file", "manifest"):
        if old[key] not in still_used and (zoo_dir / old[key]).is_file():
            (zoo_dir / old[key]).unlink()
            logger.info("Removed %s, replaced by the new entry", old[key])


def publish_run(run_dir: str | os.PathLike, zoo_dir: str | os.PathLike, *, name: str | None = None,
                input_size: tuple[int, int] | None = None, base_url: str | None = None) -> dict[str, Any]:
    """Publish a finished run into a zoo folder; publishing the same weights again changes nothing.

    Args:
        run_dir: a run directory with ``config.yaml``, ``model_final.pth`` and an eval row in
            ``metrics.jsonl``.
        zoo_dir: the zoo folder (created if needed).
        name: the model's name in the zoo; default :func:`default_name`.
        input_size: ``(H, W)`` of a blank image for the FLOP count; default the first test image.
        base_url: where the zoo folder will be served, for the links in ``MODEL_ZOO.md``.

    Returns:
        The model's index row.
    """
    run_dir, zoo_dir = Path(run_dir), Path(zoo_dir)
    name = name or default_name(run_dir)
    if not _NAME.match(name):
        raise ZooError(f"model name {name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit")
    if not (run_dir / "config.yaml").is_file():
        raise ZooError(f"{run_dir} has no config.yaml; is it a run directory?")
    metrics, timing = _final_metrics(run_dir)
    state = _final_state(run_dir)
    cfg = LazyConfig.load(str(run_dir / "config.yaml"))
    stats = _model_stats(cfg, state, run_dir, input_size)
    classes = _class_info(run_dir, cfg)
    index = read_index(str(zoo_dir))
    weights, digest = _write_weights(state, zoo_dir, name)
    previous = index["models"].get(name)
    try:
        date = previous["date"] if previous and previous["sha256"] == digest else datetime.date.today().isoformat()
        manifest = {
            "name": name, "file": weights.name, "sha256": digest, "date": date,
            "config": yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")),
            "config_file": _config_source(run_dir), **classes, "metrics": metrics, "training": timing, **stats,
            "versions": {"maskrcnn_ext": __version__, "torch": torch.__version__,
                         "torchvision": torchvision.__version__},
            "git_commit": git_commit(),
        }
        entry = _add_entry(zoo_dir, index, manifest, base_url)
    except BaseException:
        if not (previous and previous["file"] == weights.name):  # leave no unlisted files behind
            for path in (weights, weights.with_suffix(".json")):
                path.unlink(missing_ok=True)
        raise
    _drop_replaced(zoo_dir, previous, index)
    logger.info("Published %s as %s (sha256 %s) in %s", run_dir, name, digest, zoo_dir)
    return entry


def _add_entry(zoo_dir: Path, index: dict[str, Any], manifest: dict[str, Any], base_url: str | None) -> dict[str, Any]:
    """Write the manifest beside its weights and the model's row into the index and the table."""
    manifest_name = f"{Path(manifest['file']).stem}.json"
    with atomic_file(zoo_dir / manifest_name, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    metrics, flops = manifest["metrics"], manifest["flops"]
    entry = {
        "file": manifest["file"], "manifest": manifest_name, "sha256": manifest["sha256"], "date": manifest["date"],
        "config_file": manifest["config_file"], "box_ap": metrics.get("bbox/AP"), "mask_ap": metrics.get("segm/AP"),
        "train_time_s": manifest["training"].get("train_time_s"),
        "inference_s_per_img": metrics.get("inference/s_per_img"), "params": manifest["params"],
        "flops": {"gflops": flops["gflops"], "input_size": flops["input_size"]},
    }
    index["models"][manifest["name"]] = entry
    if base_url:
        index["base_url"] = base_url
    write_index(zoo_dir, index)
    return entry


def _config_source(run_dir: Path) -> str:
    """The config file the run was launched with (relative to where it was launched), else ``config.yaml``."""
    recorded = run_dir / "config_source.txt"
    if recorded.is_file():
        return recorded.read_text(encoding="utf-8").strip()
    done = run_dir / "sweep_done.json"  # runs launched by a sweep before config_source.txt existed
    if done.is_file():
        try:
            source = json.loads(done.read_text(encoding="utf-8")).get("config")
        except json.JSONDecodeError:
            source = None
        if source:
            parts = Path(source).parts
            return str(Path(*parts[parts.index("projects"):])) if "projects" in parts else Path(source).name
    return "config.yaml"
