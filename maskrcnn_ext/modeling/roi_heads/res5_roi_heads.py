"""ROI heads for single-map C4 backbones: res5 runs per RoI and serves both branches."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..registry import ROI_HEADS_REGISTRY
from .roi_heads import StandardROIHeads, _select

__all__ = ["Res5ROIHeads"]


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeads(StandardROIHeads):
    """The paper's ResNet-C4 head (its Figure 4, left): pool res4 (stride 16) to 14x14, run res5 on
    every RoI (7x7 out), average-pool it for the box predictor, and feed the same res5 features to a
    deconv mask head.

    ``box_head`` is the res5 stage (:func:`~maskrcnn_ext.modeling.backbone.build_res5_head`); it is
    shared by the two branches, so the mask head only adds the deconv and the predictor.

    Args:
        mask_from_box_features: in training, the mask head reads the rows of the box pass's res5
            output that belong to its positive RoIs instead of running res5 again on them. This
            saves a res5 pass, and with batch norm in res5 it normalises the mask features with the
            statistics of the whole RoI batch, as at test time, rather than of the positives alone.
            It needs the two poolers to be the same operation. At inference the mask branch always
            pools the detections and runs res5 on them.
        Others as :class:`StandardROIHeads`, with ``box_head`` mapping ``(R, C4, S, S)`` to
        ``(R, C5, S/2, S/2)`` and the mask pooler reading the same map as the box pooler.
    """

    def __init__(self, *, mask_from_box_features: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if mask_from_box_features and self.mask_on and repr(self.box_pooler) != repr(self.mask_pooler):
            raise ValueError("mask_from_box_features needs the box and mask poolers to be the same operation, "
                             f"got {self.box_pooler!r} and {self.mask_pooler!r}; set it to False to pool "
                             "the mask RoIs separately in training")
        self.mask_from_box_features = mask_from_box_features
        self._box_res5: Tensor | None = None  # the current training step's box-pass res5 output

    def res5_features(self, features: dict[str, Tensor], boxes: list[Tensor], pooler: nn.Module) -> Tensor:
        """``(R, C5, S/2, S/2)``: res5 on the RoIs pooled by ``pooler`` from ``box_in_features``."""
        return self.box_head(pooler([features[f] for f in self.box_in_features], boxes))

    def box_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5)``: res5 features averaged over space."""
        return self.res5_features(features, boxes, self.box_pooler).mean(dim=(2, 3))

    def mask_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5, S/2, S/2)``: the res5 features the mask head upsamples."""
        return self.res5_features(features, boxes, self.mask_pooler)

    def _forward_box_train(self, features: dict[str, Tensor],
                           sampled: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        res5 = self.res5_features(features, [s["boxes"] for s in sampled], self.box_pooler)
        self._box_res5 = res5 if self.mask_on and self.mask_from_box_features else None
        return self.box_predictor.losses(self.box_predictor(res5.mean(dim=(2, 3))), sampled)

    def _forward_mask_train(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]],
                            targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        res5, self._box_res5 = self._box_res5, None  # consumed here so no step sees another's output
        if res5 is None:
            return super()._forward_mask_train(features, sampled, targets)
        keep = [self._mask_training_indices(s) for s in sampled]
        starts = torch.tensor([0] + [len(s["boxes"]) for s in sampled[:-1]], device=res5.device).cumsum(0)
        roi_features = res5[torch.cat([k + start for k, start in zip(keep, starts)])]
        positives = [_select(s, k) for s, k in zip(sampled, keep)]
        mask_logits = self.mask_head(roi_features)
        return self.mask_loss(roi_features, mask_logits, self._with_mask_targets(positives, targets, mask_logits),
                              targets)
