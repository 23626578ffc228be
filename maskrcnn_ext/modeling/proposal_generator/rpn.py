"""Region Proposal Network: torchvision's anchors, head, matching and losses behind our interface."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import batched_nms, clip_boxes_to_image

from ...layers.precision import to_parameter_dtype
from ...registry import PROPOSAL_GENERATOR_REGISTRY
from .anchors import GridAnchorGenerator
from ..roi_heads.sampling import RPN_STREAM, sample_fg_bg, sampling_generator

__all__ = ["RPN"]


class _SeededAnchorSampler(BalancedPositiveNegativeSampler):
    """torchvision's anchor sampler, drawing each image's anchors from that image's own generator.

    torchvision calls the sampler with the anchor labels only, so :meth:`RPN.forward` hands the
    generators over through ``generators`` for the duration of one forward.
    """

    generators: list[torch.Generator | None] | None = None

    def __call__(self, matched_idxs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per image, uint8 ``(A,)`` masks of the sampled positive and negative anchors.

        ``matched_idxs``: per image ``(A,)`` labels, 1 positive, 0 negative, -1 ignored.
        """
        generators = self.generators or [None] * len(matched_idxs)
        pos_masks, neg_masks = [], []
        for labels, generator in zip(matched_idxs, generators):
            pos, neg = sample_fg_bg(torch.where(labels >= 1)[0], torch.where(labels == 0)[0],
                                    self.batch_size_per_image, self.positive_fraction, generator)
            for index, masks in ((pos, pos_masks), (neg, neg_masks)):
                mask = torch.zeros_like(labels, dtype=torch.uint8)
                mask[index] = 1
                masks.append(mask)
        return pos_masks, neg_masks


@PROPOSAL_GENERATOR_REGISTRY.register()
class _RPNHead(RPNHead):
    """torchvision's RPN head (same layers and names), its outputs in the parameters' dtype: under
    autocast the convs run in reduced precision, box decoding and top-k do not."""

    def forward(self, x: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        logits, deltas = super().forward(x)
        return list(to_parameter_dtype(self, *logits)), list(to_parameter_dtype(self, *deltas))


class RPN(RegionProposalNetwork):
    """RPN over one or several feature maps with one anchor size per map.

    Args:
        in_features: feature maps to run on (e.g. ``("p2", ..., "p6")`` or ``("res4",)``).
        in_channels: channels of those maps (all equal).
        anchor_sizes: per map, the anchor sides in pixels (e.g. ``((32,), (64,), ...)``).
        aspect_ratios: height / width ratios, the same on every map.
        head_conv_depth: 3x3 convs before the objectness/delta predictors.
        pre_nms_topk_train / pre_nms_topk_test: proposals kept per map before NMS.
        post_nms_topk_train / post_nms_topk_test: proposals kept per image after NMS.
        nms_thresh: IoU threshold of the proposal NMS.
        batch_size_per_image: anchors sampled per image for the loss.
        positive_fraction: target fraction of positive anchors in that sample.
        fg_iou_thresh / bg_iou_thresh: anchor-to-ground-truth IoU for positives / negatives.
        round_anchors: round the cell anchors to whole pixels (torchvision's anchors, the default);
            False keeps their exact sizes, as Detectron2 does (:class:`GridAnchorGenerator`).
        anchor_strides: per feature map, its stride; None infers it from the padded image size,
            which is wrong when that size is not a multiple of the stride.
        anchor_offset: anchor centres at ``(cell index + offset) * stride``.
        nms_on_logits: rank proposals for NMS by their objectness logits, as Detectron2 does, and
            keep boxes of any positive size; False (torchvision) ranks by sigmoid probabilities,
            which tie when confident logits round to the same probability, and drops boxes under
            1e-3 px.
    """

    def __init__(self, *, in_features: Sequence[str], in_channels: int,
                 anchor_sizes: Sequence[Sequence[int]], aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 head_conv_depth: int = 1, pre_nms_topk_train: int = 2000, pre_nms_topk_test: int = 1000,
                 post_nms_topk_train: int = 1000, post_nms_topk_test: int = 1000, nms_thresh: float = 0.7,
                 batch_size_per_image: int = 256, positive_fraction: float = 0.5,
                 fg_iou_thresh: float = 0.7, bg_iou_thresh: float = 0.3, round_anchors: bool = True,
                 anchor_strides: Sequence[int] | None = None, anchor_offset: float = 0.0,
                 nms_on_logits: bool = False) -> None:
        if len(anchor_sizes) != len(in_features):
            raise ValueError(f"anchor_sizes has {len(anchor_sizes)} entries for {len(in_features)} "
                             f"feature maps {list(in_features)}; give one tuple of sizes per map")
        anchors = _anchor_generator(anchor_sizes, aspect_ratios, round_anchors=round_anchors,
                                    strides=anchor_strides, offset=anchor_offset)
        head = _RPNHead(in_channels, anchors.num_anchors_per_location()[0], conv_depth=head_conv_depth)
        super().__init__(
            anchors, head, fg_iou_thresh=fg_iou_thresh, bg_iou_thresh=bg_iou_thresh,
            batch_size_per_image=batch_size_per_image, positive_fraction=positive_fraction,
            pre_nms_top_n={"training": pre_nms_topk_train, "testing": pre_nms_topk_test},
            post_nms_top_n={"training": post_nms_topk_train, "testing": post_nms_topk_test},
            nms_thresh=nms_thresh)
        self.in_features = tuple(in_features)
        self.fg_bg_sampler = _SeededAnchorSampler(batch_size_per_image, positive_fraction)
        self.nms_on_logits = nms_on_logits

    def forward(self, images: ImageList, features: dict[str, Tensor],  # type: ignore[override]
                targets: list[dict[str, Tensor]] | None = None) -> tuple[list[Tensor], dict[str, Tensor]]:
        """
        Args:
            images: padded batch and the unpadded ``image_sizes``.
            features: all backbone maps; the RPN reads ``in_features``.
            targets: per image ``{"boxes": (G, 4)}`` during training, optionally with the image's
                ``"sample_seed"`` (int) to draw its anchor sample from.

        Returns:
            per-image proposals ``[(P, 4)]`` XYXY (detached), and in training
            ``{"loss_rpn_cls", "loss_rpn_loc"}``.
        """
        selected = {name: features[name] for name in self.in_features}
        if targets is not None:
            self.fg_bg_sampler.generators = [sampling_generator(t.get("sample_seed"), RPN_STREAM, t["boxes"].device)
                                             for t in targets]
        try:
            proposals, losses = super().forward(images, selected, targets)
        finally:
            self.fg_bg_sampler.generators = None
        renamed = {"loss_objectness": "loss_rpn_cls", "loss_rpn_box_reg": "loss_rpn_loc"}
        return proposals, {renamed.get(k, k): v for k, v in losses.items()}

    def compute_loss(self, objectness: Tensor, pred_bbox_deltas: Tensor, labels: list[Tensor],
                     regression_targets: list[Tensor]) -> tuple[Tensor, Tensor]:
        """torchvision's RPN losses, with the anchor labels in the logits' dtype: torchvision makes
        them float32, which would compute a float64 model's objectness loss in float32."""
        labels = [label.to(objectness.dtype) for label in labels]
        return super().compute_loss(objectness, pred_bbox_deltas, labels, regression_targets)

    def filter_proposals(self, proposals: Tensor, objectness: Tensor, image_shapes: list[tuple[int, int]],
                         num_anchors_per_level: list[int]) -> tuple[list[Tensor], list[Tensor]]:
        """Per image the top proposals of each level, clipped, NMS'ed per level and capped.

        Args:
            proposals: ``(B * A_total, 4)`` or ``(B, A_total, 4)`` decoded anchors.
            objectness: ``(B * A_total, 1)`` logits.
            image_shapes: per image ``(h, w)`` to clip to.
            num_anchors_per_level: ``A_l`` per feature map.

        Returns:
            per image ``(P, 4)`` boxes and ``(P,)`` scores (logits with ``nms_on_logits``, else
            probabilities), best first.
        """
        if not self.nms_on_logits:
            return super().filter_proposals(proposals, objectness, image_shapes, num_anchors_per_level)
        num_images = len(image_shapes)
        logits = objectness.detach().reshape(num_images, -1)
        proposals = proposals.detach().reshape(num_images, -1, 4)
        top = self._get_top_n_idx(logits, num_anchors_per_level)  # per level top-k, (B, sum k_l)
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=logits.device)
                            for i, n in enumerate(num_anchors_per_level)])[top]
        rows = torch.arange(num_images, device=logits.device)[:, None]
        boxes_all, scores_all = proposals[rows, top], logits[rows, top]
        final_boxes, final_scores = [], []
        for boxes, scores, lvl, size in zip(boxes_all, scores_all, levels, image_shapes):
            boxes = clip_boxes_to_image(boxes, size)
            keep = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).nonzero().squeeze(1)
            boxes, scores, lvl = boxes[keep], scores[keep], lvl[keep]
            keep = batched_nms(boxes, scores, lvl, self.nms_thresh)[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(scores[keep])
        return final_boxes, final_scores


def _anchor_generator(sizes: Sequence[Sequence[int]], aspect_ratios: Sequence[float], *, round_anchors: bool,
                      strides: Sequence[int] | None, offset: float) -> AnchorGenerator:
    """torchvision's generator for its defaults (unchanged results), :class:`GridAnchorGenerator` otherwise."""
    ratios = (tuple(aspect_ratios),) * len(sizes)
    if round_anchors and strides is None and offset == 0.0:
        return AnchorGenerator(tuple(tuple(s) for s in sizes), ratios)
    return GridAnchorGenerator(sizes=sizes, aspect_ratios=ratios, strides=strides, offset=offset,
                               round_cell_anchors=round_anchors)
