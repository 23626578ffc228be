"""A dataset with gapped category ids, as COCO's (ids up to 90 for 80 classes), registered by the
user's own config: train -> --eval-only -> predict -> publish -> zoo -> predict, each in a fresh process
that knows nothing of the dataset. Every result carries the dataset's category id, every label its name."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import REPO, TINY

from maskrcnn_ext.cli.predict import load_model
from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog
from maskrcnn_ext.experiments import predict as predict_module

# shapes' ids 1..4 -> gapped ones, with names the built-in shapes datasets do not use.
GAPPED = {1: (7, "disc"), 2: (23, "box"), 3: (61, "wedge"), 4: (90, "ell")}
DATASET_IDS = [dataset_id for dataset_id, _ in GAPPED.values()]
NAMES = [name for _, name in GAPPED.values()]

CONFIG = '''
from maskrcnn_ext.config import LazyConfig
from maskrcnn_ext.data import register_coco_instances

register_coco_instances("gapped_train", json_file=r"{root}/train.json", image_root=r"{train_images}")
register_coco_instances("gapped_val", json_file=r"{root}/val.json", image_root=r"{val_images}")
_cfg = LazyConfig.load(r"{tiny}")
model, optimizer, lr_multiplier, train, dataloader = (_cfg.model, _cfg.optimizer, _cfg.lr_multiplier,
                                                      _cfg.train, _cfg.dataloader)
dataloader.train.dataset, dataloader.test.dataset = "gapped_train", "gapped_val"
train.update(max_iter=12, eval_period=0, vis_num_images=0, checkpointer=dict(period=100, max_to_keep=1))
lr_multiplier.update(steps=[10], warmup_iters=2)
'''


def gapped_json(source: Path, target: Path) -> None:
    data = json.loads(source.read_text())
    data["categories"] = [{"id": GAPPED[c["id"]][0], "name": GAPPED[c["id"]][1]} for c in data["categories"]]
    for ann in data["annotations"]:
        ann["category_id"] = GAPPED[ann["category_id"]][0]
    target.write_text(json.dumps(data))


def run(*argv: str, cwd: Path) -> None:
    result = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}"


def read_predictions(folder: Path) -> dict:
    return json.loads((folder / "predictions.json").read_text())


@pytest.fixture(scope="module")
def chain(tmp_path_factory, datasets_root):
    """The whole chain's outputs: the run, and the predictions from the run and from the zoo."""
    root = tmp_path_factory.mktemp("gapped")
    for split in ("train", "val"):
        DatasetCatalog.get(f"shapes_tiny_{split}")  # generates the split
        gapped_json(Path(MetadataCatalog.get(f"shapes_tiny_{split}").json_file), root / f"{split}.json")
    train_images = Path(MetadataCatalog.get("shapes_tiny_train").image_root)
    val_images = Path(MetadataCatalog.get("shapes_tiny_val").image_root)
    config = root / "gapped.py"
    config.write_text(CONFIG.format(root=root, train_images=train_images, val_images=val_images, tiny=TINY))
    run_dir = root / "run"
    run(str(REPO / "train_net.py"), "--config-file", str(config), f"train.output_dir={run_dir}", cwd=root)
    run(str(REPO / "train_net.py"), "--config-file", str(config), "--eval-only",
        f"train.output_dir={run_dir}", f"train.init_checkpoint={run_dir / 'model_final.pth'}", cwd=root)
    inputs = sorted(train_images.glob("*.png"))[:3]
    cli = ["-m", "maskrcnn_ext", "predict"]
    run(*cli, str(run_dir), *map(str, inputs), "--output", str(root / "from_run"), "--score-thresh", "0", cwd=root)
    run("-m", "maskrcnn_ext", "publish", str(run_dir), "--zoo", str(root / "zoo"), "--name", "gapped",
        "--flops-input", "64x64", cwd=root)
    run(*cli, "gapped", *map(str, inputs), "--zoo", str(root / "zoo"), "--output", str(root / "from_zoo"),
        "--score-thresh", "0", cwd=root)
    return {"root": root, "run": run_dir, "inputs": inputs}


def test_the_run_records_its_classes(chain):
    recorded = json.loads((chain["run"] / "classes.json").read_text())
    assert recorded["class_names"] == NAMES
    assert recorded["contiguous_id_to_dataset_id"] == {str(i): dataset_id for i, dataset_id in enumerate(DATASET_IDS)}


def test_predictions_carry_the_datasets_category_ids(chain):
    from_run, from_zoo = read_predictions(chain["root"] / "from_run"), read_predictions(chain["root"] / "from_zoo")
    assert from_run["category_ids"] == "dataset"
    assert from_run["categories"] == [{"id": i, "name": n} for i, n in zip(DATASET_IDS, NAMES)]
    assert from_run["annotations"], "the tiny model should predict something at score 0"
    assert {a["category_id"] for a in from_run["annotations"]} <= set(DATASET_IDS)
    # The same weights from the zoo give the same results, ids included.
    key = lambda a: (a["image_id"], a["category_id"], round(a["score"], 5))  # noqa: E731
    assert sorted(map(key, from_zoo["annotations"])) == sorted(map(key, from_run["annotations"]))
    manifest = json.loads(next((chain["root"] / "zoo").glob("gapped-*.json")).read_text())
    assert manifest["class_names"] == NAMES


def test_pictures_are_labelled_with_class_names(chain, tmp_path, monkeypatch):
    """This process never registered the gapped dataset: the names come from the run directory."""
    assert "gapped_train" not in DatasetCatalog
    drawn = []
    draw = predict_module.draw_instances

    def spy(image, instances, **kwargs):
        drawn.append((instances, kwargs["class_names"]))
        return draw(image, instances, **kwargs)

    monkeypatch.setattr(predict_module, "draw_instances", spy)
    model, cfg, classes = load_model(str(chain["run"]), config=None, zoo=None)
    predict_module.predict_images(model, cfg, classes, chain["inputs"][:1], tmp_path, score_thresh=0.0)
    (instances, names), = drawn
    assert names == NAMES and len(instances["classes"]) > 0
    written = read_predictions(tmp_path)["annotations"]
    assert [a["category_id"] for a in written] == [DATASET_IDS[int(c)] for c in instances["classes"]]
