"""Shared bits of the end-to-end tests."""
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py")
DEMO = str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_demo.py")


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def train_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r.get("type") == "train"]


def eval_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r.get("type") == "eval"]


def run_train_net(train_net, *argv: str):
    args = train_net.default_argument_parser().parse_args(list(argv))
    return train_net.main(args)


def load_train_net():
    """The launcher script as a module (it lives outside the package, like detectron2's tools/)."""
    spec = importlib.util.spec_from_file_location("train_net", REPO / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_in_rank_dir(argv: list[str], root: str) -> None:
    """A ``launch`` worker: ``train_net.main`` with this rank's own ``output_dir`` under ``root``."""
    from maskrcnn_ext.utils import comm

    train_net = load_train_net()
    run_train_net(train_net, *argv, f"train.output_dir={Path(root) / f'rank{comm.get_rank()}'}")


def file_hashes(root: Path, *, skip: str | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative paths), leaving out the subfolder ``skip``."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and (skip is None or p.relative_to(root).parts[0] != skip)}


def register_broken_copy(name: str, source: str, dest: Path, *, num_images: int, truncate: list[int]) -> list[str]:
    """Register ``name``: the first ``num_images`` images of the registered split ``source``, copied
    into ``dest``, with the images at positions ``truncate`` cut to 200 bytes.

    Returns:
        the truncated files' paths.
    """
    from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog, register_coco_instances

    DatasetCatalog.get(source)  # generates the split
    meta = MetadataCatalog.get(source)
    data = json.loads(Path(meta.json_file).read_text())
    data["images"] = data["images"][:num_images]
    kept = {image["id"] for image in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in kept]
    (dest / "images").mkdir(parents=True)
    for image in data["images"]:
        shutil.copy(Path(meta.image_root) / image["file_name"], dest / "images" / image["file_name"])
    broken = [dest / "images" / data["images"][i]["file_name"] for i in truncate]
    for path in broken:
        with open(path, "r+b") as f:
            f.truncate(200)
    (dest / "annotations.json").write_text(json.dumps(data))
    register_coco_instances(name, json_file=str(dest / "annotations.json"), image_root=str(dest / "images"))
    return [str(path) for path in broken]
