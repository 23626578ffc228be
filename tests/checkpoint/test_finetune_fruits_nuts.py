"""Fine-tuning a COCO Mask R-CNN on a 3-class dataset: configs/Pretrained/finetune_mask_rcnn_R_50_FPN_fruits_nuts.py
started from a file laid out exactly as torchvision's maskrcnn_resnet50_fpn_coco-*.pth (a seeded model with
random weights stands in for the real one; nothing is downloaded), trained on the real fruits_nuts photos.
The training run is skipped when the shared data folder (../shared/datasets/fruits_nuts beside the project)
is absent; the load report and config checks need no data."""
from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from maskrcnn_ext.checkpoint import read_model_state
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.engine.checkpoint import Checkpointer

REPO = Path(__file__).resolve().parents[2]
E2E = str(REPO / "tests" / "e2e")  # the end-to-end tests' train_net helpers
if E2E not in sys.path:
    sys.path.insert(0, E2E)
from e2e_helpers import load_train_net, run_train_net, train_rows  # noqa: E402

CONFIG = str(REPO / "configs" / "Pretrained" / "finetune_mask_rcnn_R_50_FPN_fruits_nuts.py")
CONFIG_D2 = str(REPO / "configs" / "Pretrained" / "finetune_mask_rcnn_R_50_FPN_fruits_nuts_detectron2.py")
# (checkpoint shape, 3-class model shape): the converted torchvision file holds COCO's 80 classes (+1
# background logit, 4 box deltas per class); the model has 3 classes.
CLASS_DEPENDENT = {
    "roi_heads.box_predictor.cls_score.weight": ((81, 1024), (4, 1024)),
    "roi_heads.box_predictor.cls_score.bias": ((81,), (4,)),
    "roi_heads.box_predictor.bbox_pred.weight": ((320, 1024), (12, 1024)),
    "roi_heads.box_predictor.bbox_pred.bias": ((320,), (12,)),
    "roi_heads.mask_head.predictor.weight": ((80, 256, 1, 1), (3, 256, 1, 1)),
    "roi_heads.mask_head.predictor.bias": ((80,), (3,)),
}
# Tensors loaded per part of the model: 53 convs + 53 FrozenBN x 4 in the ResNet-50, 4 lateral + 4 output
# convs in the FPN, the RPN head's 3 convs, fc6/fc7, and the mask head's 4 convs + deconv.
LOADED_PER_PART = {"backbone.bottom_up": 265, "backbone.fpn": 16, "proposal_generator.head": 6,
                   "roi_heads.box_head": 4, "roi_heads.mask_head": 10}
# Toolkit name -> torchvision name, read straight from the source file (independent of the converter).
SAME_AS_TORCHVISION = {
    "backbone.fpn.inner_blocks.3.0.weight": "backbone.fpn.inner_blocks.3.0.weight",
    "proposal_generator.head.conv.0.0.weight": "rpn.head.conv.0.0.weight",
    "roi_heads.box_head.fc1.weight": "roi_heads.box_head.fc6.weight",
    "roi_heads.box_head.fc2.bias": "roi_heads.box_head.fc7.bias",
    "roi_heads.mask_head.convs.0.weight": "roi_heads.mask_head.0.0.weight",
    "roi_heads.mask_head.deconv.weight": "roi_heads.mask_predictor.conv5_mask.weight",
}
# Small images, few RoIs and detections: the 18 photos then train and evaluate in seconds on 2 cores.
FAST = [
    "dataloader.train.mapper.augmentations.0.min_size=[160]", "dataloader.train.mapper.augmentations.0.max_size=224",
    "dataloader.test.mapper.augmentations.0.size=160", "dataloader.test.mapper.augmentations.0.max_size=224",
    "dataloader.train.num_workers=0", "dataloader.test.num_workers=0",
    "model.proposal_generator.post_nms_topk_train=200", "model.proposal_generator.pre_nms_topk_test=200",
    "model.proposal_generator.post_nms_topk_test=50", "model.roi_heads.batch_size_per_image=64",
    "model.roi_heads.box_predictor.test_topk_per_image=20",
]
MAX_ITER = 4


def _shared_datasets() -> Path:
    """The folder holding fruits_nuts/: ../shared/datasets beside the project."""
    return REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def datasets_env():
    """Points $MASKRCNN_EXT_DATASETS, which the config reads its paths from, at the shared folder."""
    if not (_shared_datasets() / "fruits_nuts" / "trainval.json").is_file():
        pytest.skip(f"fruits_nuts dataset not found under {_shared_datasets()}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MASKRCNN_EXT_DATASETS", str(_shared_datasets()))
        yield


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    """torchvision's COCO Mask R-CNN v1 with seeded random weights, saved as its real file is (91 class
    slots); returns (path, its state dict)."""
    torch.manual_seed(0)
    source = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                                num_classes=91)
    path = tmp_path_factory.mktemp("weights") / "maskrcnn_resnet50_fpn_coco-standin.pth"
    torch.save(source.state_dict(), path)
    return path, source.state_dict()


def test_only_the_class_dependent_tensors_keep_their_initialisation(standin, tmp_path):
    path, source = standin
    torch.manual_seed(0)
    model = instantiate(LazyConfig.load(CONFIG).model)
    initial = {name: model.state_dict()[name].clone() for name in CLASS_DEPENDENT}
    report = Checkpointer(model, str(tmp_path)).load_weights(str(path))  # as train.init_checkpoint is loaded

    assert {name: (c, m) for name, c, m in report.shape_mismatch} == CLASS_DEPENDENT
    assert report.missing == [] and report.unexpected == []
    state = model.state_dict()
    assert sorted(report.loaded) == sorted(set(state) - set(CLASS_DEPENDENT))
    parts = Counter(next(p for p in LOADED_PER_PART if name.startswith(p + ".")) for name in report.loaded)
    assert parts == LOADED_PER_PART
    converted = read_model_state(path, model=model)
    assert [name for name in report.loaded if not torch.equal(state[name], converted[name])] == []
    for ours, theirs in SAME_AS_TORCHVISION.items():
        assert torch.equal(state[ours], source[theirs]), ours
    for name, value in initial.items():
        assert torch.equal(state[name], value), name


@pytest.fixture(scope="module")
def finetune_run(datasets_env, standin, tmp_path_factory) -> tuple[Path, dict]:
    """A few iterations of the config through train_net, and its final evaluation; returns (run dir, results)."""
    out = tmp_path_factory.mktemp("finetune_run")
    results = run_train_net(
        load_train_net(), "--config-file", CONFIG, f"train.init_checkpoint={standin[0]}", f"train.output_dir={out}",
        f"train.max_iter={MAX_ITER}", "train.log_period=2", "train.vis_num_images=0",
        "lr_multiplier.steps=[3]", "lr_multiplier.warmup_iters=1", *FAST)
    return out, results


def test_a_short_run_trains_the_3_class_model_and_evaluates_its_classes(finetune_run):
    out, results = finetune_run
    rows = train_rows(out)
    assert [r["iteration"] for r in rows] == [1, 3]
    losses = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}
    for row in rows:
        assert losses <= set(row) and all(math.isfinite(row[k]) for k in (*losses, "total_loss"))
    # The fresh mask predictor (std 0.001, bias 0) predicts p ~ 0.5 everywhere: binary cross entropy ln 2.
    assert rows[0]["loss_mask"] == pytest.approx(math.log(2), abs=0.05)
    for task in ("bbox", "segm"):
        per_class = {k for k in results[task] if k.startswith("AP-")}
        assert per_class == {"AP-date", "AP-fig", "AP-hazelnut"}
        assert all(0.0 <= results[task][k] <= 1.0 for k in per_class)
    assert sum(results["gt_counts"].values()) == 165  # every instance of the 18 photos was evaluated
    log = (out / "log.txt").read_text()
    assert "loaded 301 tensors" in log and "kept the model's initialisation for 6" in log


def test_fine_tuning_trains_the_heads_and_leaves_the_frozen_stages_as_loaded(finetune_run, standin):
    out, _ = finetune_run
    final = torch.load(out / "model_final.pth", map_location="cpu", weights_only=True)["model"]
    assert final["roi_heads.box_predictor.cls_score.weight"].shape == (4, 1024)
    assert final["roi_heads.mask_head.predictor.weight"].shape == (3, 256, 1, 1)
    converted = read_model_state(standin[0])
    # freeze_at=2: the stem and res2 never change; everything from res3 on trains.
    frozen = [k for k in final if k.startswith(("backbone.bottom_up.stem.", "backbone.bottom_up.res2."))]
    assert len(frozen) == 55  # 1 stem conv + 4 stem BN + 10 res2 convs + 40 res2 BN
    assert all(torch.equal(final[k], converted[k]) for k in frozen)
    for name in ("roi_heads.box_head.fc1.weight", "roi_heads.mask_head.convs.0.weight",
                 "backbone.bottom_up.res3.0.conv1.weight"):
        assert not torch.equal(final[name], converted[name]), name


def test_the_detectron2_variant_is_detectron2s_model_with_3_classes():
    """model_final_f10217.pkl would load into either config; only this one computes as Detectron2 does."""
    ours = LazyConfig.load(CONFIG_D2).model
    reference = LazyConfig.load(str(REPO / "configs" / "Pretrained" / "mask_rcnn_R_50_FPN_detectron2.py")).model
    reference.roi_heads.num_classes = 3
    assert OmegaConf.to_container(ours, resolve=True) == OmegaConf.to_container(reference, resolve=True)
    assert ours.roi_heads.box_predictor.num_classes == ours.roi_heads.mask_head.num_classes == 3
    # The torchvision variant differs in the options the weights were trained with.
    torchvision_model = LazyConfig.load(CONFIG).model
    assert list(torchvision_model.pixel_std) == [58.395, 57.12, 57.375] and list(ours.pixel_std) == [1.0, 1.0, 1.0]
