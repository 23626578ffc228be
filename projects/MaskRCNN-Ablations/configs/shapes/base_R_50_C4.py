# Root of the C4 arms at CPU scale: the COCO C4 model with a CPU-sized backbone (ResNet-18 at half
# width standing in for R-50: stem 32 channels, res4 128, res5 256; trainable BN), anchors halved for
# the small shapes, 8 RoIs per image (res5 runs on each), masks trained on 4 positive RoIs per image.
# C4 trains for 600 iterations, twice the recipe's: res5 on every RoI makes its RoIs costly, so it
# samples 16x fewer per image than the FPN and C5 roots, and at 300 iterations its heads were still
# too weak for the pooler arms to separate from seed noise (mask AP75 about 2, spread about 1; with
# 600: 18 vs 10 for RoIAlign vs RoIPool over 3 seeds). See the study's README.
from .....configs.common.models.mask_rcnn_c4 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.backbone.update(arch="resnet18", norm="BN", freeze_at=0, width=32)
model.proposal_generator.update(
    in_channels=128,  # res4 channels
    anchor_sizes=[[16, 32, 64, 128, 256]],
    pre_nms_topk_train=1000, post_nms_topk_train=500, pre_nms_topk_test=300, post_nms_topk_test=50,
)
model.roi_heads.update(num_classes=4, batch_size_per_image=8, mask_rois_per_image=4)
model.roi_heads.box_predictor.update(input_dim=256, test_topk_per_image=20)  # res5 channels (the mask head's too)
model.roi_heads.mask_head.deconv_dim = 64

train.max_iter = 600
lr_multiplier.steps = [520]
train.output_dir = "./output/ablations/shapes/R_50_C4"
