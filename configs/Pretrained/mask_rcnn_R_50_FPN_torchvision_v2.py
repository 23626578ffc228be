# torchvision's COCO Mask R-CNN v2 (maskrcnn_resnet50_fpn_v2, Li et al. 2021's recipe; box AP 47.4 /
# mask AP 41.8 by torchvision's numbers) as a toolkit model, for weights converted by
# maskrcnn_ext.checkpoint.torchvision_detection.convert_torchvision_mask_rcnn. Everything of the v1
# config (mask_rcnn_R_50_FPN_torchvision_v1.py: unaligned RoIAlign, torchvision's resize, ...) plus
# v2's architecture:
# - BN after the FPN's lateral and output convs (torchvision's nn.BatchNorm2d: "BN");
# - a 2-conv RPN head;
# - a box head of 4 3x3 convs with BN and one fc of 1024 ("4conv1fc");
# - BN after each of the mask head's 4 convs.
# The ResNet-50 trunk stays FrozenBN: the v2 file's trunk holds BN statistics, which FrozenBN applies
# identically in eval mode (train with norm="BN" to update them as torchvision's recipe does). Unlike
# v1's, the v2 weights were trained with the usual eps 1e-5.
from .mask_rcnn_R_50_FPN_torchvision_v1 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.norm_eps = 1e-5
model.backbone.norm = "BN"
model.proposal_generator.head_conv_depth = 2
model.roi_heads.box_head.update(conv_dims=[256, 256, 256, 256], fc_dims=[1024], norm="BN")
# The box predictor reads the width of the head's last fc (the common config links fc_dims[1]).
model.roi_heads.box_predictor.input_dim = "${..box_head.fc_dims[0]}"
model.roi_heads.mask_head.norm = "BN"

train.output_dir = "./output/mask_rcnn_R_50_FPN_torchvision_v2"
