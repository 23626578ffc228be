"""Standard (FPN-style) ROI heads: a box branch and a mask branch on pooled RoI features."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..registry import MASK_LOSS_REGISTRY, ROI_HEADS_REGISTRY, build_from_registry
from .fast_rcnn import FastRCNNOutputLayers
from .mask_head import mask_targets
from .sampling import ROI_STREAM, match_and_sample, sampling_generator

__all__ = ["StandardROIHeads"]


@ROI_HEADS_REGISTRY.register()
class StandardROIHeads(nn.Module):
    """Box and mask branches, each with its own pooler over its own feature maps.

    Subclasses change behaviour by overriding the small hooks: :meth:`mask_loss` and
    :meth:`mask_inference` (e.g. mask scoring), :meth:`box_features` / :meth:`mask_features`
    (e.g. shared Res5 features for C4 models).

    Args:
        num_classes: K foreground classes.
        box_in_features: feature maps the box pooler reads, finest first.
        box_pooler: ``(maps, boxes) -> (R, C, S, S)``.
        box_head: ``(R, C, S, S) -> (R, D)`` (or spatial features).
        box_predictor: class scores, deltas, losses and inference.
        mask_in_features / mask_pooler / mask_head: the mask branch; all None for box-only models.
        batch_size_per_image: RoIs sampled per image in training.
        positive_fraction: target fraction of foreground RoIs in the sample.
        iou_threshold: proposal-to-ground-truth IoU for a foreground RoI.
        proposal_append_gt: add ground-truth boxes to the proposals in training.
        mask_loss_weight: weight of ``loss_mask``.
        mask_loss_type: registered name of the mask loss and its matching inference
            (``SigmoidMaskLoss``, the paper's default, or ``SoftmaxMaskLoss``).
        mask_rois_per_image: train the mask branch on at most this many foreground RoIs per image
            (a random subset; None uses all, as in the paper). The mask head costs far more per RoI
            than the box head, so on CPU a cap buys more iterations for little loss of signal.
    """

    def __init__(self, *, num_classes: int, box_in_features: Sequence[str], box_pooler: nn.Module,
                 box_head: nn.Module, box_predictor: FastRCNNOutputLayers,
                 mask_in_features: Sequence[str] | None = None, mask_pooler: nn.Module | None = None,
                 mask_head: nn.Module | None = None, batch_size_per_image: int = 512,
                 positive_fraction: float = 0.25, iou_threshold: float = 0.5,
                 proposal_append_gt: bool = True, mask_loss_weight: float = 1.0,
                 mask_rois_per_image: int | None = None, mask_loss_type: str = "SigmoidMaskLoss") -> None:
        super().__init__()
        parts = (mask_in_features, mask_pooler, mask_head)
        if any(p is not None for p in parts) and any(p is None for p in parts):
            raise ValueError("The mask branch needs mask_in_features, mask_pooler and mask_head together")
        self.num_classes = num_classes
        self.box_in_features = tuple(box_in_features)
        self.box_pooler, self.box_head, self.box_predictor = box_pooler, box_head, box_predictor
        self.mask_on = mask_head is not None
        self.mask_in_features = tuple(mask_in_features or ())
        self.mask_pooler, self.mask_head = mask_pooler, mask_head
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.iou_threshold = iou_threshold
        self.proposal_append_gt = proposal_append_gt
        self.mask_loss_weight = mask_loss_weight
        self.mask_loss_fn = build_from_registry(MASK_LOSS_REGISTRY, mask_loss_type)
        if mask_rois_per_image is not None and mask_rois_per_image < 1:
            raise ValueError(f"mask_rois_per_image must be >= 1 or None, got {mask_rois_per_image}")
        self.mask_rois_per_image = mask_rois_per_image

    def forward(self, features: dict[str, Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict[str, Tensor]] | None = None
                ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """
        Args:
            features: backbone maps by name.
            proposals: per-image proposals ``[(P, 4)]`` XYXY.
            image_sizes: per-image unpadded ``(h, w)``.
            targets: in training, per image ``{"boxes": (G, 4), "classes": (G,), "masks": (G, H, W)}``.

        Returns:
            In training ``([], losses)``; in inference (per-image detections, {}), each
            ``{"boxes", "scores", "classes"}`` plus ``"mask_probs": (D, M, M)`` and ``"mask_scores"``.
        """
        if self.training:
            if targets is None:
                raise ValueError("ROI heads need targets in training mode")
            sampled = self.label_and_sample_proposals(proposals, targets)
            losses = self._forward_box_train(features, sampled)
            if self.mask_on:
                losses.update(self._forward_mask_train(features, sampled, targets))
            return [], losses
        detections = self._forward_box_inference(features, proposals, image_sizes)
        if self.mask_on:
            detections = self._forward_mask_inference(features, detections)
        return detections, {}

    @torch.no_grad()
    def label_and_sample_proposals(self, proposals: list[Tensor],
                                   targets: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Per image, the sampled RoIs with their labels (see :func:`match_and_sample`)."""
        return [match_and_sample(p, t["boxes"], t["classes"], num_classes=self.num_classes,
                                 iou_threshold=self.iou_threshold, batch_size=self.batch_size_per_image,
                                 positive_fraction=self.positive_fraction,
                                 append_gt=self.proposal_append_gt,
                                 generator=sampling_generator(t.get("sample_seed"), ROI_STREAM, p.device))
                for p, t in zip(proposals, targets)]

    # --- box branch -------------------------------------------------------------------------------
    def box_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Box-head features ``(R, D)`` for per-image boxes."""
        pooled = self.box_pooler([features[f] for f in self.box_in_features], boxes)
        return self.box_head(pooled)

    def _forward_box_train(self, features: dict[str, Tensor],
                           sampled: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        predictions = self.box_predictor(self.box_features(features, [s["boxes"] for s in sampled]))
        return self.box_predictor.losses(predictions, sampled)

    def _forward_box_inference(self, features: dict[str, Tensor], proposals: list[Tensor],
                               image_sizes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        predictions = self.box_predictor(self.box_features(features, proposals))
        return self.box_predictor.inference(predictions, proposals, image_sizes)

    # --- mask branch ------------------------------------------------------------------------------
    def mask_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Pooled mask-branch features ``(R, C, S, S)`` for per-image boxes."""
        return self.mask_pooler([features[f] for f in self.mask_in_features], boxes)

    def _forward_mask_train(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                            targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        positives = [_select(s, self._mask_training_indices(s)) for s in sampled]
        roi_features = self.mask_features(features, [p["boxes"] for p in positives])
        mask_logits = self.mask_head(roi_features)
        return self.mask_loss(roi_features, mask_logits, self._with_mask_targets(positives, targets, mask_logits),
                              targets)

    @staticmethod
    def _with_mask_targets(positives: list[dict[str, Tensor]], targets: list[dict[str, Tensor]],
                           mask_logits: Tensor) -> list[dict[str, Tensor]]:
        """Add each positive RoI's ground-truth mask cropped to it, ``mask_targets`` ``(P, M, M)``,
        computed once for every loss that needs it."""
        gt = mask_targets(positives, [t["masks"] for t in targets], mask_logits.shape[-1])
        return [dict(p, mask_targets=g) for p, g in zip(positives, gt.split([len(p["boxes"]) for p in positives]))]

    def _mask_training_indices(self, sampled: dict[str, Tensor]) -> Tensor:
        """Indices into one image's sampled RoIs of those the mask branch trains on."""
        # Foreground RoIs come first and in random order (match_and_sample), so a prefix is a
        # random subset.
        fg = torch.nonzero(sampled["gt_classes"] < self.num_classes).squeeze(1)
        return fg[: self.mask_rois_per_image]

    def _forward_mask_inference(self, features: dict[str, Tensor],
                                detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        roi_features = self.mask_features(features, [d["boxes"] for d in detections])
        mask_logits = self.mask_head(roi_features)
        return self.mask_inference(roi_features, mask_logits, detections)

    def mask_loss(self, roi_features: Tensor, mask_logits: Tensor, positives: list[dict[str, Tensor]],
                  targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Hook: mask losses for the positive RoIs.

        Args:
            roi_features: ``(R, C, S, S)`` pooled features of the positive RoIs.
            mask_logits: ``(R, K, M, M)`` mask-head output.
            positives: per image the positive RoIs (``boxes``, ``gt_classes``, ``gt_index`` and
                ``mask_targets``, their ground-truth masks cropped to them, ``(P, M, M)`` in {0, 1}).
            targets: per image ground truth with ``masks`` ``(G, H, W)``.
        """
        gt = torch.cat([p["mask_targets"] for p in positives])
        classes = torch.cat([p["gt_classes"] for p in positives])
        return {"loss_mask": self.mask_loss_fn.loss(mask_logits, classes, gt) * self.mask_loss_weight}

    def mask_inference(self, roi_features: Tensor, mask_logits: Tensor,
                       detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Hook: attach ``mask_probs`` ``(D, M, M)`` of the predicted class and ``mask_scores``."""
        classes = torch.cat([d["classes"] for d in detections])
        probs = self.mask_loss_fn.probs(mask_logits, classes).split([len(d["boxes"]) for d in detections])
        return [dict(d, mask_probs=p, mask_scores=d["scores"]) for d, p in zip(detections, probs)]


def _select(fields: dict[str, Tensor], keep: Tensor) -> dict[str, Tensor]:
    return {k: v[keep] for k, v in fields.items()}
