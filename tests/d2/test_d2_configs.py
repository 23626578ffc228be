"""Every Detectron2Bridge LazyConfig instantiates with detectron2's ``instantiate``, predicts on a small
random image and trains one step on CPU (a shrunken model from scratch: nothing is downloaded)."""
import pytest

pytest.importorskip("detectron2")

import numpy as np
import torch
from d2_helpers import CONFIG_DIR, annotation, ground_truth, random_image, write_record
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, instantiate
from detectron2.data import transforms as T
from detectron2.utils.events import EventStorage

from maskrcnn_ext.d2 import CopyPasteDatasetMapper

CONFIGS = sorted(CONFIG_DIR.glob("*.py"))
HEIGHT, WIDTH = 96, 128
NUM_CLASSES = 3


def shrink(model) -> None:
    """Few classes, proposals and RoIs; GroupNorm instead of FrozenBN, whose untrained statistics would
    leave a from-scratch ResNet's activations unnormalised (losses in the hundreds)."""
    model.roi_heads.num_classes = NUM_CLASSES
    model.roi_heads.batch_size_per_image = 32
    model.roi_heads.box_predictor.test_topk_per_image = 20
    model.proposal_generator.pre_nms_topk = (200, 100)
    model.proposal_generator.post_nms_topk = (50, 20)
    bottom_up = model.backbone.bottom_up if "bottom_up" in model.backbone else model.backbone
    bottom_up.stem.norm = bottom_up.stages.norm = "GN"
    if "res5" in model.roi_heads:  # C4: res5 runs in the ROI heads
        model.roi_heads.res5.norm = "GN"


def training_sample(cfg, tmp_path) -> dict:
    """A mapped training image: through the config's own mapper when it is the copy-paste one."""
    if "CopyPasteDatasetMapper" not in str(cfg.dataloader.train.mapper._target_):
        return {"image": random_image(HEIGHT, WIDTH), "height": HEIGHT, "width": WIDTH,
                "instances": ground_truth([[10, 20, 60, 80], [70, 10, 120, 50]], [0, 2], (HEIGHT, WIDTH))}
    cfg.dataloader.train.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=HEIGHT, max_size=WIDTH)]
    mapper = instantiate(cfg.dataloader.train.mapper)
    assert isinstance(mapper, CopyPasteDatasetMapper)
    pixels = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    record = write_record(tmp_path / "image.png", pixels, [
        annotation([5, 60, 15, 70], 1),  # small: pasted once more
        annotation([60, 10, 120, 50], 2),
        annotation([0, 0, 30, 30], 0, iscrowd=1),
    ])
    np.random.seed(0)
    sample = mapper(record)
    assert len(sample["instances"]) == 3 and sample["instances"].gt_classes.tolist() == [1, 2, 1]
    return sample


def test_every_config_imports_the_bridge_and_defines_a_whole_experiment():
    assert len(CONFIGS) >= 9
    for path in CONFIGS:
        assert "maskrcnn_ext.d2" in path.read_text(), path.name
        cfg = LazyConfig.load(str(path))
        assert {"model", "dataloader", "optimizer", "lr_multiplier", "train"} <= set(cfg), path.name
        assert 0 < instantiate(cfg.lr_multiplier)(0.5) <= 1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_predicts_and_trains_one_step_on_cpu(path, tmp_path):
    cfg = LazyConfig.load(str(path))
    shrink(cfg.model)
    torch.manual_seed(0)
    model = instantiate(cfg.model)

    # Inference first: with fresh weights every class scores about 1 / (K + 1), so there are detections.
    model.eval()
    with torch.no_grad():
        (output,) = model([{"image": random_image(HEIGHT, WIDTH, seed=1), "height": HEIGHT, "width": WIDTH}])
    inst = output["instances"]
    assert 0 < len(inst) <= 20 and inst.pred_masks.shape == (len(inst), HEIGHT, WIDTH)
    scoring = "mask_scoring" in path.stem
    assert inst.has("mask_scores") == scoring
    if scoring:
        assert (inst.mask_scores <= inst.scores).all() and (inst.mask_scores >= 0).all()

    model.train()
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    with EventStorage(0):
        losses = model([training_sample(cfg, tmp_path)])
    assert ("loss_maskiou" in losses) == scoring and "loss_mask" in losses
    assert all(torch.isfinite(v) for v in losses.values()), losses
    before = [p.detach().clone() for p in model.roi_heads.parameters()]
    optimizer.zero_grad()
    sum(losses.values()).backward()
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.roi_heads.parameters()))
