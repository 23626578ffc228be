"""The Mask R-CNN paper's Table 2/3 arms as Detectron2 LazyConfigs (projects/Detectron2Bridge/configs/coco
and shapes): each differs from its root in the arm's keys only; every CPU-scale arm trains two
iterations on a tiny shapes split and evaluates through projects/Detectron2Bridge/train_net.py (finite
losses, COCO metrics in metrics.json); every COCO-scale arm builds its model."""
import importlib.util
import json
import math

import pytest

pytest.importorskip("detectron2")

import torch
from d2_helpers import CONFIG_DIR, REPO
from detectron2.config import LazyConfig, instantiate
from omegaconf import OmegaConf

from maskrcnn_ext.d2 import register_toolkit_dataset
from maskrcnn_ext.data.coco import load_coco_json
from maskrcnn_ext.data.shapes import CLASS_NAMES, generate_shapes

TINY = "d2_test_shapes_tiny"
SUITE = REPO / "projects" / "Detectron2Bridge" / "suite_shapes.yaml"

# arm -> (root, keys the arm may change besides train.output_dir, per scale where they differ)
ARMS = {
    "a_R_50_C4": ("C4", ()),
    "a_R_50_FPN": ("FPN", ()),
    "d_C5_roialign": ("C5", ()),
    "a_R_101_C4": ("C4", {"shapes": ("model.backbone.stages", "model.roi_heads.res5"),
                          "coco": ("model.backbone.stages.depth", "train.init_checkpoint")}),
    "a_R_101_FPN": ("FPN", {"shapes": ("model.backbone.bottom_up.stages",),
                            "coco": ("model.backbone.bottom_up.stages.depth", "train.init_checkpoint")}),
    "a_X_101_FPN": ("FPN", {"shapes": ("model.backbone.bottom_up.stages", "model.backbone.bottom_up.stem"),
                            "coco": ("model.backbone.bottom_up.stages", "model.pixel_std", "train.init_checkpoint")}),
    "b_softmax": ("C4", ("model.roi_heads.mask_head._target_",)),
    "class_agnostic": ("C4", ("model.roi_heads.mask_head.num_classes",)),
    "c_roipool": ("C4", ("model.roi_heads.pooler.pooler_type",)),
    "c_roiwarp_max": ("C4", ("model.roi_heads.pooler._target_", "model.roi_heads.pooler.pooler_type")),
    "c_roiwarp_avg": ("C4", ("model.roi_heads.pooler._target_", "model.roi_heads.pooler.pooler_type")),
    "c_roialign_max": ("C4", ("model.roi_heads.pooler._target_", "model.roi_heads.pooler.pooler_type")),
    "c_roialign_unaligned": ("C4", ("model.roi_heads.pooler.pooler_type",)),
    "d_C5_roipool": ("C5", ("model.roi_heads.box_pooler.pooler_type", "model.roi_heads.mask_pooler.pooler_type")),
    "e_mlp_2fc": ("FPN", ("model.roi_heads.mask_head",)),
    "e_mlp_3fc": ("FPN", ("model.roi_heads.mask_head",)),
    "t3_faster_rcnn": ("FPN", ("model.roi_heads.mask_in_features", "model.roi_heads.mask_pooler",
                               "model.roi_heads.mask_head")),
}


def _launcher():
    spec = importlib.util.spec_from_file_location(
        "d2_bridge_train_net", REPO / "projects" / "Detectron2Bridge" / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_net = _launcher()


def flatten(node, prefix=""):
    """``{dotted.key: leaf}`` of a config (list items by index), without resolving interpolations."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return {prefix: node}
    out = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_leaves(path):
    return flatten(OmegaConf.to_container(LazyConfig.load(str(path)), resolve=False))


@pytest.mark.parametrize("scale", ["shapes", "coco"])
def test_every_arm_differs_from_its_root_in_its_keys_only(scale):
    assert sorted(p.stem for p in (CONFIG_DIR / scale).glob("[a-z]*_*.py") if not p.stem.startswith("base")) \
        == sorted(ARMS)
    roots = {root: config_leaves(CONFIG_DIR / scale / f"base_R_50_{root}.py") for root in ("C4", "C5", "FPN")}
    for arm, (root, allowed) in ARMS.items():
        allowed = allowed.get(scale, ()) if isinstance(allowed, dict) else allowed
        leaves, base = config_leaves(CONFIG_DIR / scale / f"{arm}.py"), roots[root]
        changed = {k for k in leaves.keys() | base.keys() if leaves.get(k, "<absent>") != base.get(k, "<absent>")}
        assert leaves["train.output_dir"] == f"./output/d2_bridge/{scale}/{arm}"
        changed.discard("train.output_dir")
        assert all(any(k == a or k.startswith(a + ".") for a in allowed) for k in changed), (arm, changed)
        assert bool(changed) == bool(allowed), (arm, changed)


def test_arm_changes_at_both_scales_are_the_components_of_the_paper():
    shapes = {arm: LazyConfig.load(str(CONFIG_DIR / "shapes" / f"{arm}.py")).model.roi_heads for arm in ARMS}
    pooler_types = {arm: str(shapes[arm].pooler.pooler_type) for arm in ARMS if ARMS[arm][0] == "C4"}
    assert pooler_types == {"a_R_50_C4": "ROIAlignV2", "a_R_101_C4": "ROIAlignV2", "b_softmax": "ROIAlignV2",
                            "class_agnostic": "ROIAlignV2", "c_roipool": "ROIPool", "c_roiwarp_max": "ROIWarp",
                            "c_roiwarp_avg": "ROIWarpAvg", "c_roialign_max": "ROIAlignV2Max",
                            "c_roialign_unaligned": "ROIAlign"}
    assert shapes["c_roialign_max"].pooler.sampling_ratio == 2 == shapes["a_R_50_C4"].pooler.sampling_ratio
    assert shapes["class_agnostic"].mask_head.num_classes == 1 and shapes["a_R_50_C4"].num_classes == 4
    assert list(shapes["e_mlp_3fc"].mask_head.fc_dims) == [1024, 1024, 1024]
    assert shapes["t3_faster_rcnn"].mask_head is None


def test_toolkit_dataset_registers_once_in_detectron2_with_its_box_mode_as_an_enum():
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import BoxMode

    record = {"file_name": "a.png", "image_id": 7, "height": 20, "width": 30, "annotations": [
        {"bbox": [1.0, 2.0, 5.0, 6.0], "bbox_mode": "XYWH_ABS", "category_id": 1, "iscrowd": 0,
         "keypoints": [3.0, 4.0, 2], "num_keypoints": 1}]}
    register_toolkit_dataset("d2_test_one_record", load=lambda: [record], metadata={"thing_classes": ["a", "b"]})
    register_toolkit_dataset("d2_test_one_record", load=lambda: [], metadata={"thing_classes": ["c"]})  # kept
    (loaded,) = DatasetCatalog.get("d2_test_one_record")
    assert loaded["annotations"] == [{"bbox": [1.0, 2.0, 5.0, 6.0], "bbox_mode": BoxMode.XYWH_ABS,
                                      "category_id": 1, "iscrowd": 0}]
    assert record["annotations"][0]["bbox_mode"] == "XYWH_ABS"  # the toolkit's record is not modified
    assert MetadataCatalog.get("d2_test_one_record").thing_classes == ["a", "b"]


def test_launcher_registers_the_toolkit_shapes_splits_with_their_json():
    from detectron2.data import DatasetCatalog, MetadataCatalog

    train_net.register_datasets()
    assert {"shapes_ablation_train", "shapes_ablation_val", "shapes_tiny_val"} <= set(DatasetCatalog.list())
    metadata = MetadataCatalog.get("shapes_ablation_val")
    assert metadata.thing_classes == list(CLASS_NAMES) and metadata.json_file.endswith("ablation_val/annotations.json")
    assert metadata.thing_dataset_id_to_contiguous_id == {1: 0, 2: 1, 3: 2, 4: 3}


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory):
    """Four shapes images at the study's sizes, as a Detectron2 dataset (training and evaluation)."""
    root = tmp_path_factory.mktemp("datasets")
    json_file = generate_shapes(str(root), split="d2_tiny", num_images=4, seed=0, min_size=128, max_size=160,
                                max_instances=3, small_fraction=0.0)
    image_root = str(root / "shapes" / "d2_tiny" / "images")
    register_toolkit_dataset(TINY, load=lambda: load_coco_json(json_file, image_root, dataset_name=TINY), metadata=dict(
        thing_classes=list(CLASS_NAMES), thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(CLASS_NAMES))},
        json_file=json_file, image_root=image_root, evaluator_type="coco"))
    return TINY


def tiny_overrides(output_dir, max_iter=2):
    return [f"train.max_iter={max_iter}", f"train.output_dir={output_dir}", "train.log_period=1",
            f"dataloader.train.dataset.names={TINY}", f"dataloader.test.dataset.names={TINY}",
            "dataloader.train.total_batch_size=2",
            # keep every detection: after 2 iterations all scores may sit under detectron2's 0.05, and
            # its evaluator reports AP as NaN for a model without predictions
            "model.roi_heads.box_predictor.test_score_thresh=0.0"]


def read_metrics(output_dir):
    return [json.loads(line) for line in (output_dir / "metrics.json").read_text().splitlines()]


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_shapes_arm_trains_and_evaluates_through_the_launcher(arm, tiny_shapes, tmp_path):
    cfg = train_net.load_config(str(CONFIG_DIR / "shapes" / f"{arm}.py"), tiny_overrides(tmp_path))
    assert cfg.train.device == "cpu" and cfg.model.roi_heads.num_classes == 4
    torch.manual_seed(0)
    train_net.train(cfg)
    metrics = read_metrics(tmp_path)
    losses = [m["total_loss"] for m in metrics if "total_loss" in m]
    assert len(losses) == 2 and all(math.isfinite(v) and v > 0 for v in losses)
    final = metrics[-1]
    assert final["iteration"] == 2  # the evaluation after the last iteration (detectron2 counts from 1 here)
    tasks = ["bbox"] if arm == "t3_faster_rcnn" else ["bbox", "segm"]
    for task in tasks:
        assert 0.0 <= final[f"{task}/AP"] <= 100.0 and math.isfinite(final[f"{task}/AP50"])
    assert ("segm/AP" in final) == (arm != "t3_faster_rcnn")


def test_launcher_main_saves_config_resumes_and_evaluates_the_same_weights_again(tiny_shapes, tmp_path):
    config = str(CONFIG_DIR / "shapes" / "c_roipool.py")
    train_net.main(train_net.parse_args(["--config-file", config, *tiny_overrides(tmp_path), "train.seed=3"]))
    saved = LazyConfig.load(str(tmp_path / "config.yaml"))  # detectron2's config.yaml, loadable again
    assert (saved.train.seed, saved.model.roi_heads.pooler.pooler_type) == (3, "ROIPool")

    train_net.main(train_net.parse_args(["--config-file", config, "--resume", *tiny_overrides(tmp_path, 3)]))
    evals = [m for m in read_metrics(tmp_path) if "bbox/AP" in m]
    assert [m["iteration"] for m in evals] == [2, 3]  # resumed after the 2 done, evaluated after the third

    results = train_net.main(train_net.parse_args([
        "--config-file", config, "--eval-only", *tiny_overrides(tmp_path / "eval"),
        f"train.init_checkpoint={tmp_path / 'model_final.pth'}"]))
    # The same weights on the same images: the final evaluation of training, to the digit.
    assert results["bbox"]["AP"] == pytest.approx(evals[-1]["bbox/AP"], abs=1e-9)
    assert results["segm"]["AP"] == pytest.approx(evals[-1]["segm/AP"], abs=1e-9)


def test_suite_lists_every_cpu_arm_and_the_c4_roi_subset():
    yaml = pytest.importorskip("yaml")
    suite = yaml.safe_load(SUITE.read_text())
    assert suite["launcher"] == "projects/Detectron2Bridge/train_net.py" and suite["seeds"] == [0, 1]
    toolkit = yaml.safe_load((REPO / "projects" / "MaskRCNN-Ablations" / "suite_shapes.yaml").read_text())
    assert list(suite["arms"]) == list(toolkit["arms"])  # the same arms, in the same order
    assert all(path == f"configs/shapes/{arm}.py" for arm, path in suite["arms"].items())
    assert suite["subsets"]["c4_roi"] == ["c_roipool", "c_roiwarp_max", "c_roiwarp_avg", "c_roialign_max", "a_R_50_C4"]


@pytest.mark.parametrize("arm", sorted(ARMS))
def test_coco_arm_builds_its_model(arm):
    cfg = LazyConfig.load(str(CONFIG_DIR / "coco" / f"{arm}.py"))
    assert cfg.train.max_iter == 160000 and cfg.dataloader.train.total_batch_size == 16
    assert cfg.lr_multiplier.scheduler.milestones == [120000, 160000]
    model = instantiate(cfg.model)
    assert model.roi_heads.num_classes == 80 and model.roi_heads.mask_on == (arm != "t3_faster_rcnn")
