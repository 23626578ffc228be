# The CPU-scale keypoint recipe shared by the shapes arms: box + keypoint R-CNN on the shapes keypoint
# data (configs/common/data/shapes_keypoints.py) with the narrow from-scratch R-18-FPN of the shapes
# demo (half-width ResNet-18, 32-channel FPN, 256-wide box head), a keypoint head of 4 convs of 64
# channels on 14x14 RoIAlign features (56x56 heatmaps, 12 keypoints), AdamW, 300 iterations of 4
# images with one 10x LR drop, one evaluation at the end.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

from .....configs.common.data.shapes_keypoints import dataloader
from .....configs.common.models.keypoint_rcnn_fpn import model
from .....configs.common.optim import AdamW as optimizer
from .....configs.common.train import train

# From scratch, as the shapes demo: trainable batch norm everywhere, nothing frozen.
model.backbone.bottom_up.update(arch="resnet18", norm="BN", freeze_at=0, width=32)
model.backbone.out_channels = 32
model.proposal_generator.update(
    anchor_sizes=[[16], [32], [64], [128], [256]],
    pre_nms_topk_train=1000, post_nms_topk_train=500, pre_nms_topk_test=500, post_nms_topk_test=200,
)
model.roi_heads.update(num_classes=4, batch_size_per_image=128)
model.roi_heads.box_head.fc_dims = [256, 256]  # the box predictor's input follows
model.roi_heads.keypoint_pooler.sampling_ratio = 2
model.roi_heads.keypoint_head.update(num_keypoints=12, conv_dims=[64] * 4)

optimizer.lr = 1e-3
train.update(
    output_dir="./output/keypoints_shapes",
    max_iter=300,
    eval_period=0,  # once, at the end
    log_period=20,
    checkpointer=dict(period=100, max_to_keep=1),
    vis_num_images=0,
)
lr_multiplier = L(warmup_multistep)(steps=[260], max_iter="${train.max_iter}", warmup_iters=50, warmup_factor=0.01)
