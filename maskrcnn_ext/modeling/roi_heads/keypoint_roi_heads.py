"""ROI heads with a keypoint branch (Keypoint R-CNN), alone or beside the mask branch.

:class:`KeypointROIHeads` extends only the two per-instance branch hooks of
:class:`StandardROIHeads`, so one class covers box + keypoint and box + mask + keypoint (the mask
branch is on when its three parts are given), and box-only and box + mask stay with the plain heads.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ...registry import ROI_HEADS_REGISTRY
from .keypoint_ops import decode_keypoints, keypoint_loss, keypoint_targets, keypoints_in_rois
from .roi_heads import BoxTrainStep, StandardROIHeads

__all__ = ["KeypointROIHeads"]


@ROI_HEADS_REGISTRY.register()
class KeypointROIHeads(StandardROIHeads):
    """:class:`StandardROIHeads` plus a keypoint branch with its own pooler.

    Training: the keypoint head runs on the foreground RoIs that hold at least one valid keypoint of
    their matched ground truth (labelled and inside the RoI, see
    :func:`~maskrcnn_ext.modeling.roi_heads.keypoint_ops.keypoint_targets`); the others would add
    nothing to the loss. Inference: every detection gets ``keypoints`` ``(D, K, 3)`` ``(x, y,
    score)`` in input-image coordinates.

    Args:
        keypoint_in_features: feature maps the keypoint pooler reads, finest first.
        keypoint_pooler: ``(maps, boxes) -> (R, C, S, S)``; any registered pooler (RoIAlign in the
            paper, RoIPool for its Table 6).
        keypoint_head: ``(R, C, S, S) -> (R, K, M, M)`` heatmap logits, e.g.
            :class:`~maskrcnn_ext.modeling.roi_heads.KRCNNConvDeconvUpsampleHead`.
        keypoint_loss_weight: weight of ``loss_keypoint``.
        normalize_keypoint_loss_by_visible: divide the summed cross entropy by the number of valid
            keypoints in the batch (Detectron2's default). False divides by a constant instead,
            ``images x batch_size_per_image x positive_fraction x K``: the number of keypoints a
            full batch of positive RoIs would carry, as in Detectron (use a larger
            ``keypoint_loss_weight`` with it, e.g. 4).
        Others as :class:`StandardROIHeads`.
    """

    def __init__(self, *, keypoint_in_features: Sequence[str], keypoint_pooler: nn.Module,
                 keypoint_head: nn.Module, keypoint_loss_weight: float = 1.0,
                 normalize_keypoint_loss_by_visible: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.keypoint_in_features = tuple(keypoint_in_features)
        self.keypoint_pooler, self.keypoint_head = keypoint_pooler, keypoint_head
        self.keypoint_loss_weight = keypoint_loss_weight
        self.normalize_keypoint_loss_by_visible = normalize_keypoint_loss_by_visible

    def instance_branch_losses(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                               targets: list[dict[str, Tensor]], box_step: BoxTrainStep) -> dict[str, Tensor]:
        """The mask branch's losses (when on) and ``loss_keypoint``."""
        losses = super().instance_branch_losses(features, sampled, targets, box_step)
        losses.update(self._forward_keypoint_train(features, sampled, targets))
        return losses

    def instance_branch_inference(self, features: dict[str, Tensor],
                                  detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """The mask branch's outputs (when on) and ``keypoints`` ``(D, K, 3)``."""
        detections = super().instance_branch_inference(features, detections)
        logits = self.keypoint_head(self.keypoint_features(features, [d["boxes"] for d in detections]))
        return self.keypoint_inference(logits, detections)

    def keypoint_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Hook: keypoint-head input ``(R, C, S, S)`` for per-image boxes ``[(Ri, 4)]``."""
        return self.keypoint_pooler([features[f] for f in self.keypoint_in_features], boxes)

    def _forward_keypoint_train(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                                targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        rois = [self._keypoint_rois(s, t) for s, t in zip(sampled, targets)]
        logits = self.keypoint_head(self.keypoint_features(features, [r["boxes"] for r in rois]))
        return self.keypoint_losses(logits, rois, num_images=len(sampled))

    def _keypoint_rois(self, sampled: dict[str, Tensor], target: dict[str, Tensor]) -> dict[str, Tensor]:
        """One image's RoIs for the keypoint branch: the foreground RoIs with at least one keypoint
        that has a target (:func:`keypoints_in_rois`), ``boxes`` ``(P, 4)`` and the matched
        ground truth's ``gt_keypoints`` ``(P, K, 3)``."""
        gt_keypoints = target.get("keypoints")
        if gt_keypoints is None:
            raise ValueError("KeypointROIHeads needs 'keypoints' (G, K, 3) in every training target; "
                             "load the data with keypoints (DatasetMapper(num_keypoints=K))")
        fg = torch.nonzero(sampled["gt_classes"] < self.num_classes).squeeze(1)
        boxes, matched = sampled["boxes"][fg], gt_keypoints[sampled["gt_index"][fg]]
        keep = keypoints_in_rois(matched, boxes).any(dim=1)
        return {"boxes": boxes[keep], "gt_keypoints": matched[keep]}

    def keypoint_losses(self, logits: Tensor, rois: list[dict[str, Tensor]], *, num_images: int) -> dict[str, Tensor]:
        """Hook: ``{"loss_keypoint"}`` for the keypoint RoIs.

        Args:
            logits: ``(R, K, M, M)`` keypoint-head output on the RoIs, images in order.
            rois: per image ``{"boxes": (P, 4), "gt_keypoints": (P, K, 3)}``.
            num_images: images in the batch (for the constant normaliser).
        """
        index, valid = keypoint_targets(torch.cat([r["gt_keypoints"] for r in rois]),
                                        torch.cat([r["boxes"] for r in rois]), logits.shape[-1])
        normalizer = None
        if not self.normalize_keypoint_loss_by_visible:
            normalizer = num_images * self.batch_size_per_image * self.positive_fraction * logits.shape[1]
        loss = keypoint_loss(logits, index, valid, normalizer=normalizer)
        return {"loss_keypoint": loss * self.keypoint_loss_weight}

    def keypoint_inference(self, logits: Tensor, detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Hook: attach ``keypoints`` ``(D, K, 3)`` ``(x, y, score)`` to each image's detections.

        Args:
            logits: ``(D, K, M, M)`` keypoint-head output on all images' detections, in order.
            detections: per image ``{"boxes", "scores", "classes", ...}``.
        """
        boxes = torch.cat([d["boxes"] for d in detections])
        keypoints = decode_keypoints(logits, boxes).split([len(d["boxes"]) for d in detections])
        return [dict(d, keypoints=k) for d, k in zip(detections, keypoints)]
