"""Every shipped config loads, builds, and takes one training step on a tiny input."""
from pathlib import Path

import pytest
import torch

from maskrcnn_ext.config import InstantiationError, LazyConfig, instantiate

REPO = Path(__file__).resolve().parents[2]
# Every config that defines a whole experiment: not the shared building blocks (common/, recipe.py, the
# ablations' arms.py), nor the Detectron2Bridge's, which are detectron2 LazyConfigs (tests/d2 runs them where
# detectron2 is installed).
CONFIGS = sorted(p for root in [REPO / "configs", *(REPO / "projects").glob("*/configs")] for p in root.rglob("*.py")
                 if "common" not in p.parts and p.name not in ("recipe.py", "arms.py")
                 and "Detectron2Bridge" not in p.parts)


def tiny_batch(num_classes: int, num_keypoints: int = 0) -> list[dict]:
    masks = torch.zeros(2, 64, 96, dtype=torch.bool)
    masks[0, 8:40, 10:42] = True
    masks[1, 30:60, 50:90] = True
    image = torch.randint(0, 255, (3, 64, 96), dtype=torch.uint8)
    instances = {"boxes": torch.tensor([[10.0, 8.0, 42.0, 40.0], [50.0, 30.0, 90.0, 60.0]]),
                 "classes": torch.tensor([0, num_classes - 1]), "masks": masks}
    if num_keypoints:  # every keypoint at its box's centre, visible
        centres = torch.tensor([[26.0, 24.0, 2.0], [70.0, 45.0, 2.0]])
        instances["keypoints"] = centres[:, None, :].expand(2, num_keypoints, 3).clone()
    return [{"image": image, "height": 64, "width": 96, "image_id": 1, "instances": instances}]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_config_builds_and_trains_one_step(path):
    cfg = LazyConfig.load(str(path))
    assert {"model", "dataloader", "optimizer", "lr_multiplier", "train"} <= set(cfg)
    torch.manual_seed(0)
    model = instantiate(cfg.model)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    keypoint_head = cfg.model.roi_heads.get("keypoint_head")
    num_keypoints = keypoint_head.num_keypoints if keypoint_head is not None else 0
    losses = model(tiny_batch(cfg.model.roi_heads.num_classes, num_keypoints))
    assert all(k.startswith("loss_") for k in losses)
    assert ("loss_mask" in losses) == (cfg.model.roi_heads.get("mask_head") is not None)
    assert ("loss_maskiou" in losses) == (cfg.model.roi_heads.get("maskiou_head") is not None)
    assert ("loss_keypoint" in losses) == (keypoint_head is not None)
    total = sum(losses.values())
    assert torch.isfinite(total)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    instantiate(cfg.lr_multiplier)  # the schedule is valid for the run length


def test_unregistered_dataset_is_named_in_the_error():
    cfg = LazyConfig.load(str(REPO / "configs/Shapes/mask_rcnn_R_18_FPN_tiny.py"))
    cfg.dataloader.test.dataset = "shapes_vall"
    with pytest.raises(InstantiationError) as err:
        instantiate(cfg.dataloader.test)
    message = str(err.value)
    assert "dataloader.test" in message and "shapes_vall" in message and "shapes_val" in message


def test_unknown_override_key_suggests_the_closest():
    cfg = LazyConfig.load(str(REPO / "configs/Shapes/mask_rcnn_R_18_FPN_tiny.py"))
    with pytest.raises(KeyError, match="train.max_iter"):
        LazyConfig.apply_overrides(cfg, ["train.max_iters=5"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_one_bad_image_policy_for_both_loaders(path):
    cfg = LazyConfig.load(str(path))
    assert (cfg.dataloader.on_bad_image, cfg.dataloader.max_bad_fraction) == ("error", 0.05)
    both = LazyConfig.apply_overrides(cfg, ["dataloader.on_bad_image=skip", "dataloader.max_bad_fraction=0.2"])
    for loader in (both.dataloader.train, both.dataloader.test):
        assert (loader.on_bad_image, loader.max_bad_fraction) == ("skip", 0.2)
    # One loader only, as `dataloader.train.on_bad_image="skip"` asks.
    train_only = LazyConfig.apply_overrides(LazyConfig.load(str(path)), ["dataloader.train.on_bad_image=skip"])
    assert (train_only.dataloader.train.on_bad_image, train_only.dataloader.test.on_bad_image) == ("skip", "error")
