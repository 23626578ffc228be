"""ROI heads for single-map C4 backbones: res5 runs per RoI and serves both branches."""
from __future__ import annotations

from torch import Tensor, nn

from ..registry import ROI_HEADS_REGISTRY
from .roi_heads import StandardROIHeads

__all__ = ["Res5ROIHeads"]


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeads(StandardROIHeads):
    """The paper's ResNet-C4 head (its Figure 4, left): pool res4 (stride 16) to 14x14, run res5 on
    every RoI (7x7 out), average-pool it for the box predictor, and feed the same res5 features to a
    deconv mask head.

    ``box_head`` is the res5 stage (:func:`~maskrcnn_ext.modeling.backbone.build_res5_head`); it is
    shared by the two branches, so the mask head only adds the deconv and the predictor. The mask
    branch runs res5 again on its positive RoIs rather than reusing rows of the box pass: the same
    weights, few RoIs (at most ``mask_rois_per_image``), and the hooks stay independent.

    Args: as :class:`StandardROIHeads`, with ``box_head`` mapping ``(R, C4, S, S)`` to
    ``(R, C5, S/2, S/2)`` and the mask pooler reading the same map as the box pooler.
    """

    def res5_features(self, features: dict[str, Tensor], boxes: list[Tensor], pooler: nn.Module) -> Tensor:
        """``(R, C5, S/2, S/2)``: res5 on the RoIs pooled by ``pooler`` from ``box_in_features``."""
        return self.box_head(pooler([features[f] for f in self.box_in_features], boxes))

    def box_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5)``: res5 features averaged over space."""
        return self.res5_features(features, boxes, self.box_pooler).mean(dim=(2, 3))

    def mask_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5, S/2, S/2)``: the res5 features the mask head upsamples."""
        return self.res5_features(features, boxes, self.mask_pooler)
