"""Standard (FPN-style) ROI heads: a box branch and a mask branch on pooled RoI features."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from ...registry import ROI_HEADS_REGISTRY
from .fast_rcnn import FastRCNNOutputLayers
from .mask_head import mask_targets
from .mask_losses import MaskDecoder, MaskLoss, SigmoidMaskLoss, mask_decoder_for
from .sampling import ROI_STREAM, match_and_sample, sampling_generator

__all__ = ["BoxTrainStep", "StandardROIHeads"]


@dataclass(frozen=True)
class BoxTrainStep:
    """What the box step of a training forward hands to the mask step, as a value: the heads keep no
    state between the two steps.

    Attributes:
        losses: the box branch's losses (``loss_cls``, ``loss_box_reg``).
        roi_features: ``(R, ...)`` the box branch's per-RoI features (:meth:`StandardROIHeads.box_roi_features`)
            of every sampled RoI, images concatenated in order: the box head's ``(R, D)`` output for
            :class:`StandardROIHeads`, res5's ``(R, C5, S/2, S/2)`` output for C4 heads.
        rois_per_image: sampled RoIs of each image, in order (their sum is R).
    """

    losses: dict[str, Tensor]
    roi_features: Tensor
    rois_per_image: tuple[int, ...]

    def rows(self, keep: Sequence[Tensor]) -> Tensor:
        """``roi_features`` of a subset of the sampled RoIs.

        Args:
            keep: per image, ``(Pi,)`` int64 indices into that image's sampled RoIs.

        Returns:
            ``(sum Pi, ...)``: their rows of ``roi_features``, images in order.
        """
        starts = torch.tensor((0,) + self.rois_per_image[:-1], device=self.roi_features.device).cumsum(0)
        return self.roi_features[torch.cat([k + start for k, start in zip(keep, starts)])]


@ROI_HEADS_REGISTRY.register()
class StandardROIHeads(nn.Module):
    """Box and mask branches, each with its own pooler over its own feature maps.

    Subclasses change behaviour by overriding the small hooks: :meth:`instance_branch_losses` and
    :meth:`instance_branch_inference` (e.g. a keypoint branch); :meth:`mask_losses` and
    :meth:`mask_inference` (e.g. mask scoring); :meth:`box_roi_features`, :meth:`box_predictor_input`,
    :meth:`mask_features` and :meth:`mask_train_features` (e.g. res5 features shared by both branches
    in C4 models). In training the box step returns a :class:`BoxTrainStep` that the mask step
    receives as an argument, so a mask branch can reuse what the box branch computed without state
    kept on the module between the two.

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
        mask_loss: the mask loss object, e.g. ``L(SoftmaxMaskLoss)()`` in a config
            (:mod:`~maskrcnn_ext.modeling.roi_heads.mask_losses`); default the paper's per-class
            sigmoid, :class:`SigmoidMaskLoss`. Inference decodes the masks with the decoder the loss
            names (:attr:`mask_decoder`), so training and decoding cannot disagree.
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
                 mask_rois_per_image: int | None = None, mask_loss: MaskLoss = SigmoidMaskLoss()) -> None:
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
        mask_decoder_for(mask_loss)  # refuses, here rather than at the first step, a loss naming no decoder
        self.mask_loss_fn = mask_loss
        if mask_rois_per_image is not None and mask_rois_per_image < 1:
            raise ValueError(f"mask_rois_per_image must be >= 1 or None, got {mask_rois_per_image}")
        self.mask_rois_per_image = mask_rois_per_image

    @property
    def mask_decoder(self) -> MaskDecoder:
        """``(mask_logits (D, K, M, M), classes (D,)) -> (D, M, M)`` probabilities: the decoding that
        matches :attr:`mask_loss_fn`, looked up from it on every use so that the two cannot drift
        apart (e.g. if the loss is replaced after construction)."""
        return mask_decoder_for(self.mask_loss_fn)

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
            box_step = self._forward_box_train(features, sampled)
            losses = dict(box_step.losses)
            losses.update(self.instance_branch_losses(features, sampled, targets, box_step))
            return [], losses
        detections = self._forward_box_inference(features, proposals, image_sizes)
        return self.instance_branch_inference(features, detections), {}

    # --- the branches that run on the box branch's RoIs ---------------------------------------------
    def instance_branch_losses(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                               targets: list[dict[str, Tensor]], box_step: BoxTrainStep) -> dict[str, Tensor]:
        """Hook: the losses of the per-instance branches that follow the box branch in training;
        here the mask branch's when it is on. Heads with more branches (e.g. keypoints) extend it.

        Args:
            features: backbone maps by name.
            sampled: per image the sampled RoIs with their labels (:meth:`label_and_sample_proposals`).
            targets: per image ground truth.
            box_step: the box step of this forward.
        """
        return self._forward_mask_train(features, sampled, targets, box_step) if self.mask_on else {}

    def instance_branch_inference(self, features: dict[str, Tensor],
                                  detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Hook: add the per-instance branches' outputs to the box detections (per image
        ``{"boxes", "scores", "classes"}``); here the mask branch's when it is on."""
        return self._forward_mask_inference(features, detections) if self.mask_on else detections

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
    def box_roi_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Hook: the box branch's per-RoI features, the part a mask branch may share.

        Args:
            features: backbone maps by name.
            boxes: per-image boxes ``[(Ri, 4)]`` XYXY.

        Returns:
            ``(R, ...)``, ``R = sum Ri``: here the box head's output ``(R, D)`` on the box pooler's
            ``(R, C, S, S)``.
        """
        pooled = self.box_pooler([features[f] for f in self.box_in_features], boxes)
        return self.box_head(pooled)

    def box_predictor_input(self, roi_features: Tensor) -> Tensor:
        """Hook: ``(R, ...)`` :meth:`box_roi_features` -> ``(R, D)`` box-predictor input (here the same)."""
        return roi_features

    def box_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Box-predictor input ``(R, D)`` for per-image boxes ``[(Ri, 4)]``."""
        return self.box_predictor_input(self.box_roi_features(features, boxes))

    def _forward_box_train(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]]) -> BoxTrainStep:
        """Box losses on the sampled RoIs, returned with the per-RoI features for the mask step."""
        boxes = [s["boxes"] for s in sampled]
        roi_features = self.box_roi_features(features, boxes)
        predictions = self.box_predictor(self.box_predictor_input(roi_features))
        return BoxTrainStep(losses=self.box_predictor.losses(predictions, sampled), roi_features=roi_features,
                            rois_per_image=tuple(len(b) for b in boxes))

    def _forward_box_inference(self, features: dict[str, Tensor], proposals: list[Tensor],
                               image_sizes: list[tuple[int, int]]) -> list[dict[str, Tensor]]:
        predictions = self.box_predictor(self.box_features(features, proposals))
        return self.box_predictor.inference(predictions, proposals, image_sizes)

    # --- mask branch ------------------------------------------------------------------------------
    def mask_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """Hook: mask-head input ``(R, C, S, S)`` for per-image boxes ``[(Ri, 4)]``: here the mask
        pooler's output. Used at inference, and in training unless :meth:`mask_train_features` says
        otherwise."""
        return self.mask_pooler([features[f] for f in self.mask_in_features], boxes)

    def mask_train_features(self, features: dict[str, Tensor], positives: list[dict[str, Tensor]],
                            keep: list[Tensor], box_step: BoxTrainStep) -> Tensor:
        """Hook: mask-head input for the RoIs the mask branch trains on.

        Args:
            features: backbone maps by name.
            positives: per image the RoIs the mask branch trains on (``boxes`` ``(Pi, 4)``, ...).
            keep: per image ``(Pi,)`` indices of those RoIs among its sampled RoIs, i.e. which rows
                of ``box_step`` they are (:meth:`BoxTrainStep.rows`).
            box_step: the box step of this forward, on all the sampled RoIs.

        Returns:
            ``(sum Pi, C, S, S)``; here :meth:`mask_features` of the positives' boxes (the box
            branch's features are of no use to a separately pooled mask branch).
        """
        return self.mask_features(features, [p["boxes"] for p in positives])

    def _forward_mask_train(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                            targets: list[dict[str, Tensor]], box_step: BoxTrainStep) -> dict[str, Tensor]:
        keep = [self._mask_training_indices(s) for s in sampled]
        positives = [_select(s, k) for s, k in zip(sampled, keep)]
        roi_features = self.mask_train_features(features, positives, keep, box_step)
        mask_logits = self.mask_head(roi_features)
        return self.mask_losses(roi_features, mask_logits, self._with_mask_targets(positives, targets, mask_logits),
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

    def mask_losses(self, roi_features: Tensor, mask_logits: Tensor, positives: list[dict[str, Tensor]],
                    targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Hook: mask losses for the positive RoIs, here ``{"loss_mask"}`` from :attr:`mask_loss_fn`.

        Args:
            roi_features: ``(R, C, S, S)`` pooled features of the positive RoIs.
            mask_logits: ``(R, K, M, M)`` mask-head output.
            positives: per image the positive RoIs (``boxes``, ``gt_classes``, ``gt_index`` and
                ``mask_targets``, their ground-truth masks cropped to them, ``(P, M, M)`` in {0, 1}).
            targets: per image ground truth with ``masks`` ``(G, H, W)``.
        """
        gt = torch.cat([p["mask_targets"] for p in positives])
        classes = torch.cat([p["gt_classes"] for p in positives])
        return {"loss_mask": self.mask_loss_fn(mask_logits, classes, gt) * self.mask_loss_weight}

    def mask_inference(self, roi_features: Tensor, mask_logits: Tensor,
                       detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Hook: attach ``mask_probs`` ``(D, M, M)`` of the predicted class (:attr:`mask_decoder`)
        and ``mask_scores``.

        Args:
            roi_features: ``(D, C, S, S)`` mask-head input of the detections.
            mask_logits: ``(D, K, M, M)`` mask-head output.
            detections: per image ``{"boxes", "scores", "classes"}``.
        """
        classes = torch.cat([d["classes"] for d in detections])
        probs = self.mask_decoder(mask_logits, classes).split([len(d["boxes"]) for d in detections])
        return [dict(d, mask_probs=p, mask_scores=d["scores"]) for d, p in zip(detections, probs)]


def _select(fields: dict[str, Tensor], keep: Tensor) -> dict[str, Tensor]:
    return {k: v[keep] for k, v in fields.items()}
