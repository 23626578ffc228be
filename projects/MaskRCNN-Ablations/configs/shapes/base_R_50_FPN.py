# Root of the FPN arms at CPU scale: the COCO FPN model with the C4 root's CPU-sized backbone
# (ResNet-18 at half width standing in for R-50, trainable BN), a 32-channel FPN, a 256-wide 2-fc box head, a 64-channel 4-conv mask
# head, 128 RoIs per image, masks trained on 4 positive RoIs per image.
from .....configs.common.models.mask_rcnn_fpn import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.backbone.bottom_up.update(arch="resnet18", norm="BN", freeze_at=0, width=32)
model.backbone.out_channels = 32
model.proposal_generator.update(
    anchor_sizes=[[16], [32], [64], [128], [256]],
    pre_nms_topk_train=1000, post_nms_topk_train=500, pre_nms_topk_test=300, post_nms_topk_test=50,
)
model.roi_heads.update(num_classes=4, batch_size_per_image=128, mask_rois_per_image=4)
model.roi_heads.box_head.fc_dims = [256, 256]
model.roi_heads.box_predictor.update(input_dim=256, test_topk_per_image=20)
model.roi_heads.mask_head.conv_dims = [64, 64, 64, 64]

train.output_dir = "./output/ablations/shapes/R_50_FPN"
