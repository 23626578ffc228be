# Root of sub-table (d) at CPU scale: the C5 model (all heads on res5, stride 32) with the FPN root's
# CPU-sized parts: ResNet-18 at half width (res5 256 channels), 256-wide box head, 64-channel mask head.
from .....configs.common.models.mask_rcnn_c5 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.backbone.update(arch="resnet18", norm="BN", freeze_at=0, width=32)
model.proposal_generator.update(
    in_channels=256,  # res5 channels (the box and mask heads' too)
    anchor_sizes=[[16, 32, 64, 128, 256]],
    pre_nms_topk_train=1000, post_nms_topk_train=500, pre_nms_topk_test=300, post_nms_topk_test=50,
)
model.roi_heads.update(num_classes=4, batch_size_per_image=128, mask_rois_per_image=4)
model.roi_heads.box_head.fc_dims = [256, 256]  # the box predictor's input follows
model.roi_heads.box_predictor.test_topk_per_image = 20
model.roi_heads.mask_head.conv_dims = [64, 64, 64, 64]

train.output_dir = "./output/ablations/shapes/R_50_C5"
