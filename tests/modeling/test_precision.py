"""Mixed precision: the convs and matmuls run in bfloat16 under autocast, every head hands its outputs
back in full precision (so decoding, NMS, losses and pasting never see bfloat16), and a bfloat16
training step moves the weights the way a float32 one does."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from modeling_toys import build_tiny_model, synthetic_input
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.layers.precision import autocast, resolve_amp_dtype
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN

TINY = Path(__file__).resolve().parents[2] / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py"


def test_autocast_regions_produce_the_dtypes_they_claim():
    torch.manual_seed(0)
    model = build_tiny_model(mask_scoring=True).eval()
    images = model.preprocess_image([synthetic_input()])
    with torch.no_grad(), autocast("cpu", "bfloat16"):
        features = model.backbone(images.tensors)
        logits, deltas = model.proposal_generator.head([features[name] for name in ("p2", "p3", "p4", "p5", "p6")])
        proposals, _ = model.proposal_generator(ImageList(images.tensors, images.image_sizes), features)
        scores, box_deltas = model.roi_heads.box_predictor(model.roi_heads.box_features(features, proposals))
        roi_features = model.roi_heads.mask_features(features, [proposals[0][:5]])
        mask_logits = model.roi_heads.mask_head(roi_features)
        ious = model.roi_heads.maskiou_head(roi_features, mask_logits[:, 0].sigmoid())
    assert {f.dtype for f in features.values()} == {torch.bfloat16}  # where the time goes
    outputs = [*logits, *deltas, proposals[0], scores, box_deltas, mask_logits, ious]
    assert {t.dtype for t in outputs} == {torch.float32}  # what decisions and losses are made from


def test_a_full_precision_pyramid_stays_float32_under_autocast_while_the_bottom_up_net_does_not():
    torch.manual_seed(0)
    model = build_tiny_model().eval()
    model.backbone.full_precision = True
    x = model.preprocess_image([synthetic_input()]).tensors
    with torch.no_grad():
        full = model.backbone(x)
        with autocast("cpu", "bfloat16"):
            bottom_up = model.backbone.bottom_up(x)
            pyramid = model.backbone(x)
    assert {f.dtype for f in bottom_up.values()} == {torch.bfloat16}
    assert {f.dtype for f in pyramid.values()} == {torch.float32}
    # Only the bottom-up maps were rounded: the pyramid is float32 arithmetic on them.
    err = max(float((pyramid[k] - full[k]).abs().max() / full[k].abs().max()) for k in full)
    assert 0 < err < 0.05


def test_bfloat16_inference_returns_float32_detections_close_to_float32():
    torch.manual_seed(0)
    model = build_tiny_model().eval()
    batch = [synthetic_input()]
    full = model.inference(batch)[0]["instances"]
    model.inference_dtype = "bfloat16"
    reduced = model.inference(batch)[0]["instances"]
    assert reduced["boxes"].dtype == reduced["scores"].dtype == torch.float32
    assert reduced["boxes"].shape == full["boxes"].shape
    # An untrained model's near-tied scores may reorder, so match by IoU: float32's best detection is
    # found in bfloat16 at the same place, class and score.
    iou = box_iou(full["boxes"][:1], reduced["boxes"])[0]
    same = (iou > 0.95) & (reduced["classes"] == full["classes"][0])
    assert same.any()
    assert float((reduced["scores"][same] - full["scores"][0]).abs().min()) < 0.02


def gradient_cosine(norm: str, seed: int) -> float:
    """Cosine similarity of one bfloat16 and one float32 training step's gradient (tiny config's model,
    the same batch and anchor/RoI samples), checking the bfloat16 losses on the way."""
    cfg = LazyConfig.load(str(TINY))
    cfg.model.backbone.bottom_up.norm = norm
    torch.manual_seed(seed)
    model = instantiate(cfg.model).train()
    batch = [dict(synthetic_input(128, 160), sample_seed=1), dict(synthetic_input(128, 160), sample_seed=2)]

    def step(dtype):
        model.zero_grad()
        with autocast("cpu", dtype):
            losses = model(batch)
        sum(losses.values()).backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        return {k: v.detach() for k, v in losses.items()}, grads

    full_losses, full_grads = step(None)
    losses, grads = step("bfloat16")
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    assert all(abs(float(losses[k] - full_losses[k])) < 0.01 * max(1.0, float(full_losses[k])) for k in losses)
    return float(torch.nn.functional.cosine_similarity(grads, full_grads, dim=0))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_bfloat16_training_step_follows_the_float32_gradient(seed):
    # Fine-tuning (frozen BN): measured 0.998-0.9996 over 4 seeds.
    assert gradient_cosine("FrozenBN", seed) > 0.99


def test_a_bfloat16_step_with_batch_norm_trained_from_scratch_follows_the_gradient_more_loosely():
    # Training-mode BN subtracts the batch mean of the gradient, cancelling most of it in an untrained
    # net, so bfloat16's rounding weighs more: measured 0.985-0.992 over 3 seeds.
    assert gradient_cosine("BN", 0) > 0.97


def test_precision_names_are_checked():
    assert resolve_amp_dtype("auto", "cuda") == torch.float16
    assert resolve_amp_dtype("auto", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="choose float16, bfloat16 or auto"):
        resolve_amp_dtype("half", "cpu")
    with pytest.raises(ValueError, match="inference_dtype must be one of"):
        GeneralizedRCNN(backbone=torch.nn.Identity(), proposal_generator=torch.nn.Identity(),
                        roi_heads=torch.nn.Identity(), inference_dtype="bf16")


@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile's CPU backend needs a C++ compiler")
def test_a_compiled_backbone_gives_the_eager_detections_and_stays_out_of_the_state_dict():
    torch.manual_seed(0)
    model = build_tiny_model().eval()
    batch = [synthetic_input()]
    eager = model.inference(batch)[0]["instances"]
    model.compile_inference = True
    keys = set(model.state_dict())
    compiled = model.inference(batch)[0]["instances"]
    assert set(model.state_dict()) == keys
    assert compiled["boxes"].shape == eager["boxes"].shape
    torch.testing.assert_close(compiled["boxes"], eager["boxes"], atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(compiled["scores"], eager["scores"], atol=1e-4, rtol=1e-4)
