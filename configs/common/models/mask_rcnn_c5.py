# Mask R-CNN, ResNet-50-C5 (the paper's Table 2d): everything reads res5 at stride 32, with the FPN
# model's heads (a 2-fc box head on 7x7 RoIs and the 4-conv FCN mask head on 14x14 RoIs), since the
# res5 head of C4 models is not applicable when res5 is already the backbone's last stage.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

from .mask_rcnn_fpn import model

model.backbone = L(ResNetBottomUp)(arch="resnet50", norm="FrozenBN", freeze_at=2, out_features=["res5"], width=64)
# res5 channels (32 x the stem width for bottleneck ResNets), set here once: the heads below read them.
model.proposal_generator.update(in_features=["res5"], in_channels=2048, anchor_sizes=[[32, 64, 128, 256, 512]])
model.roi_heads.update(
    box_in_features=["res5"],
    box_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=7, strides=[32], sampling_ratio=2, aligned=True),
    mask_in_features=["res5"],
    mask_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[32], sampling_ratio=2, aligned=True),
)
model.roi_heads.box_head.in_channels = "${...proposal_generator.in_channels}"
model.roi_heads.mask_head.in_channels = "${...proposal_generator.in_channels}"
model.size_divisibility = 32
