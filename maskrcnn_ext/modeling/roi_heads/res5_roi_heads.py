"""ROI heads for single-map C4 backbones: res5 runs per RoI and serves both branches."""
from __future__ import annotations

from itertools import chain
from typing import Any

from torch import Tensor, nn

from ...registry import ROI_HEADS_REGISTRY
from .roi_heads import BoxTrainStep, StandardROIHeads

__all__ = ["Res5ROIHeads", "pooling_settings"]


@ROI_HEADS_REGISTRY.register()
class Res5ROIHeads(StandardROIHeads):
    """The paper's ResNet-C4 head (its Figure 4, left): pool res4 (stride 16) to 14x14, run res5 on
    every RoI (7x7 out), average-pool it for the box predictor, and feed the same res5 features to a
    deconv mask head.

    ``box_head`` is the res5 stage (:func:`~maskrcnn_ext.modeling.backbone.build_res5_head`); it is
    shared by the two branches, so the mask head only adds the deconv and the predictor.

    Args:
        mask_from_box_features: in training, the mask head reads the rows of the box pass's res5
            output that belong to its positive RoIs (handed over in the :class:`BoxTrainStep`)
            instead of running res5 again on them, as detectron2's C4 heads do. This saves a res5
            pass, and with batch norm in res5 it normalises the mask features with the statistics
            of the whole RoI batch, as at test time, rather than of the positives alone. It needs
            the two branches to pool the same way: equal ``box_in_features`` and
            ``mask_in_features`` and equal :func:`pooling_settings` of the two poolers, checked
            here. False pools and runs res5 on the mask RoIs separately. At inference the mask
            branch always pools the detections and runs res5 on them.
        Others as :class:`StandardROIHeads`, with ``box_head`` mapping ``(R, C4, S, S)`` to
        ``(R, C5, S/2, S/2)``.

    Raises:
        ValueError: ``mask_from_box_features`` with branches that do not pool the same way.
    """

    def __init__(self, *, mask_from_box_features: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if mask_from_box_features and self.mask_on:
            if self.mask_in_features != self.box_in_features:
                raise ValueError(f"mask_from_box_features needs the box and mask branches to read the same maps, "
                                 f"got box_in_features={self.box_in_features} and "
                                 f"mask_in_features={self.mask_in_features}; set it to False to pool the mask "
                                 "RoIs separately in training")
            if pooling_settings(self.box_pooler) != pooling_settings(self.mask_pooler):
                raise ValueError("mask_from_box_features needs the box and mask poolers to be the same operation, "
                                 f"got {self.box_pooler!r} and {self.mask_pooler!r}; set it to False to pool "
                                 "the mask RoIs separately in training")
        self.mask_from_box_features = mask_from_box_features

    def box_roi_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5, S/2, S/2)``: res5 on the box pooler's RoIs, the features both branches use."""
        return self.box_head(self.box_pooler([features[f] for f in self.box_in_features], boxes))

    def box_predictor_input(self, roi_features: Tensor) -> Tensor:
        """``(R, C5, S/2, S/2)`` res5 features -> ``(R, C5)``, averaged over space."""
        return roi_features.mean(dim=(2, 3))

    def mask_features(self, features: dict[str, Tensor], boxes: list[Tensor]) -> Tensor:
        """``(R, C5, S/2, S/2)``: res5 on the mask pooler's RoIs, the features the mask head upsamples."""
        return self.box_head(self.mask_pooler([features[f] for f in self.mask_in_features], boxes))

    def mask_train_features(self, features: dict[str, Tensor], positives: list[dict[str, Tensor]],
                            keep: list[Tensor], box_step: BoxTrainStep) -> Tensor:
        """``(sum Pi, C5, S/2, S/2)``: with ``mask_from_box_features`` the positives' rows of the box
        step's res5 output, otherwise res5 run again on them (:meth:`mask_features`)."""
        if self.mask_from_box_features:
            return box_step.rows(keep)
        return super().mask_train_features(features, positives, keep, box_step)


def pooling_settings(pooler: nn.Module) -> tuple:
    """A comparable description of what a pooler computes, for deciding whether two poolers are the
    same operation (then pooled features of one serve for the other).

    It is the module's class, its public attributes (output size, spatial scales, sampling ratio,
    alignment, aggregate, level assignment, ...), its own parameters and buffers by value, and the
    same for its submodules in order; the train/eval flag is left out, it changes no pooling.

    Args:
        pooler: e.g. a :class:`~maskrcnn_ext.layers.poolers.MultiLevelROIPooler`.

    Returns:
        A nested tuple; equal tuples mean equal settings.
    """
    own = sorted((k, _comparable(v)) for k, v in vars(pooler).items() if not k.startswith("_") and k != "training")
    tensors = [(k, _comparable(t)) for k, t in chain(pooler.named_parameters(recurse=False),
                                                      pooler.named_buffers(recurse=False))]
    children = [(k, pooling_settings(child)) for k, child in pooler.named_children()]
    return type(pooler), tuple(own), tuple(tensors), tuple(children)


def _comparable(value: Any) -> Any:
    """``value`` in a form ``==`` compares by content (a tensor's ``==`` is elementwise)."""
    if isinstance(value, Tensor):
        return "tensor", value.dtype, tuple(value.shape), value.tolist()
    if isinstance(value, (list, tuple)):
        return tuple(_comparable(v) for v in value)
    return value
