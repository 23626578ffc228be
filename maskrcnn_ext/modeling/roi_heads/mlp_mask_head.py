"""The MLP mask heads of the paper's Table 2e: fully connected layers predict every mask pixel."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from ...layers.precision import to_parameter_dtype
from ...registry import MASK_HEAD_REGISTRY
from .box_head import init_fc

__all__ = ["MaskRCNNMLPHead"]


@MASK_HEAD_REGISTRY.register()
class MaskRCNNMLPHead(nn.Module):
    """Flattened RoI features -> fc layers (``fc_dims``) -> one fc emitting K·M² mask logits.

    Unlike the FCN head, the output layer sees the whole RoI at once but no longer keeps the
    pixel-to-pixel spatial correspondence, which is what the paper credits for the FCN's lead.

    Args:
        in_channels: channels C of the pooled features.
        pooler_resolution: side S of the pooled features.
        num_classes: K; the output has K masks (1 when ``cls_agnostic``).
        fc_dims: widths of the hidden fc layers, e.g. (1024, 1024) or (1024, 1024, 1024).
        mask_size: side M of the predicted masks (28 in the paper).
        cls_agnostic: predict one mask for all classes.

    Shapes: ``(R, C, S, S) -> (R, K, M, M)`` mask logits.
    """

    def __init__(self, *, in_channels: int, pooler_resolution: int, num_classes: int,
                 fc_dims: Sequence[int] = (1024, 1024), mask_size: int = 28, cls_agnostic: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * pooler_resolution ** 2
        for dim in fc_dims:
            layers += [init_fc(nn.Linear(width, dim)), nn.ReLU(inplace=True)]
            width = dim
        self.fcs = nn.Sequential(*layers)
        self.num_masks = 1 if cls_agnostic else num_classes
        self.mask_size = mask_size
        self.predictor = nn.Linear(width, self.num_masks * mask_size ** 2)
        # Near-zero logits at the start (probability 0.5), as for the FCN head's predictor.
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def forward(self, x: Tensor) -> Tensor:
        (logits,) = to_parameter_dtype(self, self.predictor(self.fcs(x)))
        return logits.view(-1, self.num_masks, self.mask_size, self.mask_size)
