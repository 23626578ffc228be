"""The MaskIoU head of Mask Scoring R-CNN (Huang et al. 2019) and its training targets.

The head regresses, per RoI, the IoU between the predicted mask and the ground-truth instance. At
test time the mask score becomes ``box score x predicted IoU``, so masks are ranked by their
estimated quality rather than by the classifier's confidence alone.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...layers.precision import to_parameter_dtype
from ...registry import MASKIOU_HEAD_REGISTRY
from .box_head import init_conv

__all__ = ["MaskIoUHead", "fraction_inside_boxes", "maskiou_targets"]


@MASKIOU_HEAD_REGISTRY.register()
class MaskIoUHead(nn.Module):
    """RoI features and the predicted mask in, one IoU per class out.

    The mask of the RoI's class is max-pooled to the features' size and concatenated to them as an
    extra channel; 3x3 convs follow (the last with stride 2), then fully connected layers and a
    per-class linear output.

    Args:
        in_channels: channels C of the RoI features.
        pooler_resolution: side S of the RoI features (14 for FPN heads, 7 after res5 in C4 heads).
        num_classes: K; one predicted IoU per class.
        conv_dims: output channels of each 3x3 conv (the paper: four of 256).
        fc_dims: widths of the hidden fully connected layers (the paper: 1024, 1024).
        loss_weight: weight of the L2 loss (the paper 1.0; MMDetection uses 0.5).

    Gradients: the predicted mask enters the head detached. The IoU target is computed from the
    binarised mask and is not differentiable, so a gradient through the head's mask input would only
    teach the mask head to produce masks that are easy to score, not better masks. The RoI features
    are not detached: the MaskIoU loss trains the shared trunk, as in the paper.
    """

    def __init__(self, *, in_channels: int, pooler_resolution: int, num_classes: int,
                 conv_dims: Sequence[int] = (256,) * 4, fc_dims: Sequence[int] = (1024, 1024),
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not conv_dims:
            raise ValueError("MaskIoUHead needs at least one conv (the last one halves the resolution)")
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        layers: list[nn.Module] = []
        channels = in_channels + 1
        for i, dim in enumerate(conv_dims):
            stride = 2 if i == len(conv_dims) - 1 else 1
            layers += [init_conv(nn.Conv2d(channels, dim, 3, stride=stride, padding=1)), nn.ReLU(inplace=True)]
            channels = dim
        self.convs = nn.Sequential(*layers)
        side = (pooler_resolution + 1) // 2
        fcs: list[nn.Module] = []
        width = channels * side * side
        for dim in fc_dims:
            fcs += [nn.Linear(width, dim), nn.ReLU(inplace=True)]
            width = dim
        self.fcs = nn.Sequential(nn.Flatten(), *fcs)
        self.predictor = nn.Linear(width, num_classes)
        nn.init.normal_(self.predictor.weight, std=0.01)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, roi_features: Tensor, mask_probs: Tensor) -> Tensor:
        """
        Args:
            roi_features: ``(R, C, S, S)``.
            mask_probs: ``(R, M, M)`` foreground probability of each RoI's class, ``M`` a multiple of S.

        Returns:
            ``(R, K)`` predicted IoU per class, in the parameters' dtype.
        """
        pooled = F.adaptive_max_pool2d(mask_probs.detach().unsqueeze(1), roi_features.shape[-2:])
        x = self.convs(torch.cat([roi_features, pooled.to(roi_features.dtype)], dim=1))
        return to_parameter_dtype(self, self.predictor(self.fcs(x)))[0]

    def loss(self, predicted: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """Weighted mean squared error on each RoI's ground-truth class only.

        Args:
            predicted: ``(R, K)`` head output.
            classes: ``(R,)`` ground-truth classes.
            targets: ``(R,)`` IoU targets from :func:`maskiou_targets`.

        Returns:
            A scalar; zero (keeping the graph) when there are no RoIs.
        """
        if len(predicted) == 0:
            return predicted.sum() * 0
        own = predicted[torch.arange(len(classes), device=classes.device), classes]
        return F.mse_loss(own, targets.to(own.dtype)) * self.loss_weight

    def predict(self, predicted: Tensor, classes: Tensor, scores: Tensor) -> Tensor:
        """``(D,)`` mask scores: ``scores`` times the predicted IoU of each detection's class, the
        IoU clamped to [0, 1] so a mask score never exceeds its box score or turns negative.
        """
        if len(predicted) == 0:
            return scores.clone()
        own = predicted[torch.arange(len(classes), device=classes.device), classes]
        return scores * own.clamp(0.0, 1.0).to(scores.dtype)

    def _load_from_state_dict(self, state_dict: Mapping[str, Tensor], prefix: str, *args, **kwargs) -> None:
        self.check_loadable(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def check_loadable(self, state_dict: Mapping[str, Tensor], prefix: str) -> None:
        """Refuse a checkpoint whose MaskIoU head has other shapes (class count or widths).

        Unlike a box predictor's class count, these cannot be dropped quietly: a head partly
        re-initialised would give scores that look trained but rank masks at random.
        """
        weight = state_dict.get(prefix + "predictor.weight")
        if weight is not None and weight.shape[0] != self.num_classes:
            raise ValueError(
                f"The checkpoint's MaskIoU head ({prefix}predictor) predicts {weight.shape[0]} classes but "
                f"this model's has {self.num_classes}. Build the model with num_classes={weight.shape[0]}, "
                f"or remove the checkpoint's '{prefix}*' tensors to train a fresh MaskIoU head."
            )
        for name, value in self.state_dict().items():
            theirs = state_dict.get(prefix + name)
            if theirs is not None and tuple(theirs.shape) != tuple(value.shape):
                raise ValueError(
                    f"The checkpoint's MaskIoU head has {prefix}{name} of shape {tuple(theirs.shape)}, this "
                    f"model's {tuple(value.shape)}: its conv_dims, fc_dims, in_channels or pooler_resolution "
                    f"differ. Build the head as the checkpoint's, or remove the checkpoint's '{prefix}*' "
                    "tensors to train a fresh MaskIoU head."
                )


def fraction_inside_boxes(masks: Tensor, gt_index: Tensor, boxes: Tensor) -> Tensor:
    """Fraction of each matched ground-truth instance's area that lies inside its RoI.

    Args:
        masks: ``(G, H, W)`` ground-truth masks of one image.
        gt_index: ``(R,)`` matched instance of each RoI.
        boxes: ``(R, 4)`` RoIs, XYXY in pixels; a pixel counts as inside when its centre is (edges
            inclusive).

    Returns:
        ``(R,)`` in [0, 1]; 1 for an empty instance (nothing of it lies outside).
    """
    if len(boxes) == 0:
        return boxes.new_zeros(0)
    _, height, width = masks.shape
    # Summed-area table per instance: any box's pixel count from four look-ups. int32 is exact
    # (H * W < 2**31) and reads only the corners each RoI needs, never a table per RoI.
    table = F.pad(masks.to(torch.int32).cumsum(1).cumsum(2), (1, 0, 1, 0))
    x0 = torch.ceil(boxes[:, 0] - 0.5).clamp(0, width).long()
    y0 = torch.ceil(boxes[:, 1] - 0.5).clamp(0, height).long()
    x1 = (torch.floor(boxes[:, 2] - 0.5) + 1).clamp(0, width).long().maximum(x0)
    y1 = (torch.floor(boxes[:, 3] - 0.5) + 1).clamp(0, height).long().maximum(y0)
    g = gt_index
    inside = (table[g, y1, x1] - table[g, y0, x1] - table[g, y1, x0] + table[g, y0, x0]).to(boxes.dtype)
    total = table[g, -1, -1].to(boxes.dtype)
    return torch.where(total > 0, inside / total.clamp(min=1), torch.ones_like(total))


def maskiou_targets(mask_probs: Tensor, gt_roi_masks: Tensor, fraction_inside: Tensor) -> Tensor:
    """IoU between each predicted mask, binarised at 0.5 (logit 0), and its whole ground-truth instance.

    Both masks are measured on the RoI's ``M x M`` grid. The ground-truth area is that of the whole
    instance: its area inside the RoI divided by the fraction of it that lies inside, so a RoI
    that cuts off part of the object is not rewarded for a mask that only covers the visible part.

    Args:
        mask_probs: ``(R, M, M)`` predicted foreground probabilities of the ground-truth class.
        gt_roi_masks: ``(R, M, M)`` ground truth cropped to the RoI, values in {0, 1}.
        fraction_inside: ``(R,)`` from :func:`fraction_inside_boxes`.

    Returns:
        ``(R,)`` IoU targets in [0, 1] (0 where both masks are empty).
    """
    predicted = mask_probs > 0.5
    gt = gt_roi_masks > 0.5
    intersection = (predicted & gt).flatten(1).sum(1).float()
    gt_area = gt.flatten(1).sum(1).float() / fraction_inside.float().clamp(min=1e-6)
    union = predicted.flatten(1).sum(1).float() + gt_area - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1e-6), torch.zeros_like(union))
