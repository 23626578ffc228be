from .fpn import FPN
from .resnet import ResNetBottomUp, build_res5_head, freeze_module, get_norm

__all__ = ["FPN", "ResNetBottomUp", "build_res5_head", "freeze_module", "get_norm"]
