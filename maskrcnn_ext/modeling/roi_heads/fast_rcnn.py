"""Box classification/regression predictor with its losses and test-time inference."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import batched_nms, clip_boxes_to_image

from ...layers.precision import to_parameter_dtype

__all__ = ["FastRCNNOutputLayers"]


class FastRCNNOutputLayers(nn.Module):
    """Linear class scores (K + 1, background last) and per-class box deltas.

    Args:
        input_dim: feature width D from the box head (flattened if the features are spatial).
        num_classes: K foreground classes.
        box_reg_weights: (wx, wy, ww, wh) scaling of the regression targets.
        cls_agnostic_bbox_reg: one box regression for all classes instead of one per class.
        smooth_l1_beta: beta of the smooth-L1 box loss; 0 is plain L1.
        test_score_thresh: detections below this class probability are dropped.
        test_nms_thresh: per-class NMS IoU threshold.
        test_topk_per_image: detections kept per image.
        loss_weight: weight of ``loss_cls`` and ``loss_box_reg``.
    """

    def __init__(self, *, input_dim: int, num_classes: int,
                 box_reg_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
                 cls_agnostic_bbox_reg: bool = False, smooth_l1_beta: float = 0.0,
                 test_score_thresh: float = 0.05, test_nms_thresh: float = 0.5,
                 test_topk_per_image: int = 100, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(input_dim, num_classes + 1)
        box_dim = 4 if cls_agnostic_bbox_reg else 4 * num_classes
        self.bbox_pred = nn.Linear(input_dim, box_dim)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.box_coder = BoxCoder(weights=box_reg_weights)
        self.smooth_l1_beta = smooth_l1_beta
        self.test_score_thresh = test_score_thresh
        self.test_nms_thresh = test_nms_thresh
        self.test_topk_per_image = test_topk_per_image
        self.loss_weight = loss_weight

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(R, D)`` or ``(R, D, h, w)`` -> class logits ``(R, K + 1)``, deltas ``(R, 4K)`` or ``(R, 4)``,
        in the parameters' dtype (full precision under autocast: see :mod:`maskrcnn_ext.layers.precision`)."""
        if x.dim() > 2:
            x = torch.flatten(x, 1)
        logits, deltas = to_parameter_dtype(self, self.cls_score(x), self.bbox_pred(x))
        return logits, deltas

    def losses(self, predictions: tuple[Tensor, Tensor], proposals: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """
        Args:
            predictions: output of :meth:`forward` for the concatenated sampled proposals.
            proposals: per image ``{"boxes": (R, 4), "gt_classes": (R,) with K for background,
                "gt_boxes": (R, 4)}``.

        Returns:
            ``loss_cls`` (cross entropy) and ``loss_box_reg`` (smooth L1 over foreground RoIs,
            normalized by the number of sampled RoIs).
        """
        logits, deltas = predictions
        gt_classes = torch.cat([p["gt_classes"] for p in proposals])
        loss_cls = F.cross_entropy(logits, gt_classes)
        fg = torch.nonzero((gt_classes >= 0) & (gt_classes < self.num_classes)).squeeze(1)
        if deltas.shape[1] == 4:
            fg_deltas = deltas[fg]
        else:
            fg_deltas = deltas.view(-1, deltas.shape[1] // 4, 4)[fg, gt_classes[fg]]
        boxes = torch.cat([p["boxes"] for p in proposals])[fg]
        gt_boxes = torch.cat([p["gt_boxes"] for p in proposals])[fg]
        targets = self.box_coder.encode_single(gt_boxes, boxes)
        loss_box = F.smooth_l1_loss(fg_deltas, targets, beta=self.smooth_l1_beta, reduction="sum")
        loss_box = loss_box / max(gt_classes.numel(), 1)
        return {"loss_cls": loss_cls * self.loss_weight, "loss_box_reg": loss_box * self.loss_weight}

    def predict_boxes(self, deltas: Tensor, proposals: list[Tensor]) -> list[Tensor]:
        """Decoded boxes per image, ``[(R, K, 4)]`` (or ``(R, 1, 4)`` when class-agnostic)."""
        boxes = torch.cat(proposals)
        per_roi = deltas.shape[1] // 4
        decoded = self.box_coder.decode_single(deltas.reshape(-1, 4), boxes.repeat_interleave(per_roi, dim=0))
        decoded = decoded.view(len(boxes), per_roi, 4)  # explicit sizes: R may be 0
        return list(decoded.split([len(p) for p in proposals]))

    def inference(self, predictions: tuple[Tensor, Tensor], proposals: list[Tensor],
                  image_sizes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        """Score threshold, per-class NMS and top-k per image.

        Args:
            predictions: output of :meth:`forward` for the concatenated proposals.
            proposals: per-image proposal boxes ``[(R, 4)]``.
            image_sizes: per-image ``(h, w)`` to clip boxes to.

        Returns:
            per image ``{"boxes": (D, 4), "scores": (D,), "classes": (D,)}`` sorted by score.
        """
        logits, deltas = predictions
        probs = F.softmax(logits, dim=-1).split([len(p) for p in proposals])
        boxes = self.predict_boxes(deltas, proposals)
        return [self._inference_single(b, p, size) for b, p, size in zip(boxes, probs, image_sizes)]

    def _inference_single(self, boxes: Tensor, probs: Tensor, image_size: tuple[int, int]) -> dict[str, Tensor]:
        scores = probs[:, :-1]
        num_rois, num_classes = scores.shape
        boxes = clip_boxes_to_image(boxes, image_size).expand(num_rois, num_classes, 4)
        keep = scores > self.test_score_thresh
        roi_index, classes = keep.nonzero(as_tuple=True)
        boxes, scores = boxes[roi_index, classes], scores[roi_index, classes]
        keep = batched_nms(boxes, scores, classes, self.test_nms_thresh)[: self.test_topk_per_image]
        return {"boxes": boxes[keep], "scores": scores[keep], "classes": classes[keep]}
