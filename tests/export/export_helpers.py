"""Models and comparisons shared by the export tests."""
from pathlib import Path

import torch
from torch import nn
from torchvision.ops import box_iou

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead, MaskScoringROIHeads

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py")


def mask_scoring_config(config: str = TINY):
    """The tiny (demo-architecture) config with the Mask Scoring study's MaskIoU head added."""
    cfg = LazyConfig.load(config)
    cfg.model.roi_heads._target_ = MaskScoringROIHeads
    cfg.model.roi_heads.maskiou_head = L(MaskIoUHead)(
        in_channels="${..mask_head.in_channels}", pooler_resolution=14, num_classes="${..num_classes}",
        conv_dims=[16, 16], fc_dims=[64])
    return cfg


def spread_random_model(cfg, seed: int = 0) -> nn.Module:
    """A random-init model whose class scores and mask logits are spread out, so that comparisons are
    not decided by near-ties (the default init puts every class near 1/(K+1) and every mask near 0.5)."""
    torch.manual_seed(seed)
    model = instantiate(cfg.model).eval()
    heads = model.roi_heads
    for layer, std in ((heads.box_predictor.cls_score, 0.05), (heads.mask_head.predictor, 0.3),
                       (heads.maskiou_head.predictor, 0.3)):
        nn.init.normal_(layer.weight, std=std)
    return model


def random_images(sizes, seed: int = 1) -> list[dict]:
    """Model inputs: uint8 images with smooth blobs (so that the RPN ranks anchors by content), at
    ``sizes`` ``[(h, w)]``, their original size twice the input's along y (the outputs are rescaled)."""
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for h, w in sizes:
        coarse = torch.rand((1, 3, max(h // 16, 1), max(w // 16, 1)), generator=generator)
        image = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)[0]
        inputs.append({"image": (image * 255).to(torch.uint8), "height": 2 * h, "width": w})
    return inputs


def match_instances(eager: dict, exported: dict, *, box_tol: float = 0.5, score_tol: float = 1e-4,
                    mask_iou: float = 0.98) -> dict:
    """Match detections order-insensitively (same class, best box IoU) and check every pair.

    A detection may go unmatched only where the per-image cap cuts: its score within ``score_tol`` of
    the lowest score kept. Returns the largest differences seen, for the report.
    """
    boxes_a, boxes_b = eager["boxes"].float(), exported["boxes"].float()
    iou = box_iou(boxes_a, boxes_b) if len(boxes_a) and len(boxes_b) else torch.zeros((len(boxes_a), len(boxes_b)))
    iou = torch.where(eager["classes"][:, None] == exported["classes"][None, :], iou, torch.zeros_like(iou))
    floor = float(torch.cat([eager["scores"], exported["scores"]]).min()) if len(boxes_a) + len(boxes_b) else 0.0
    worst = {"box": 0.0, "score": 0.0, "mask_score": 0.0, "mask_iou": 1.0, "unmatched": 0}
    used = set()
    for i in torch.argsort(eager["scores"], descending=True).tolist():
        j = int(iou[i].argmax()) if iou.shape[1] else -1
        if j < 0 or iou[i, j] < 0.9 or j in used:
            assert float(eager["scores"][i]) <= floor + score_tol, f"eager detection {i} has no match"
            worst["unmatched"] += 1
            continue
        used.add(j)
        worst["box"] = max(worst["box"], float((boxes_a[i] - boxes_b[j]).abs().max()))
        worst["score"] = max(worst["score"], float((eager["scores"][i] - exported["scores"][j]).abs()))
        mask_score_diff = float((eager["mask_scores"][i] - exported["mask_scores"][j]).abs())
        worst["mask_score"] = max(worst["mask_score"], mask_score_diff)
        a, b = eager["masks"][i], exported["masks"][j]
        union = int((a | b).sum())
        worst["mask_iou"] = min(worst["mask_iou"], int((a & b).sum()) / union if union else 1.0)
    for j in set(range(len(boxes_b))) - used:
        assert float(exported["scores"][j]) <= floor + score_tol, f"exported detection {j} has no match"
        worst["unmatched"] += 1
    assert worst["box"] <= box_tol and worst["score"] <= score_tol and worst["mask_score"] <= score_tol, worst
    assert worst["mask_iou"] >= mask_iou, worst
    return worst
