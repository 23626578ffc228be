# The CPU demo: Mask R-CNN R-18-FPN trained from scratch on the synthetic shapes dataset.
# A narrow variant of the COCO recipe that trains and evaluates in minutes on 2 CPU cores: a
# half-width ResNet-18 (stem 32 channels), a 32-channel FPN, a 256-wide box head, a 64-channel mask
# head, short side 224-288 px in training, 4 images per batch, and AdamW, which converges in far
# fewer iterations than SGD when nothing is pretrained.
#
# `make demo` runs it as two data-parallel CPU processes (`--num-processes 2`, 2 images each); the
# numbers in benchmarks/README.md are measured that way.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

from ..common.data.shapes import dataloader
from ..common.models.mask_rcnn_fpn import model
from ..common.optim import AdamW as optimizer
from ..common.train import train

# From scratch: trainable batch norm everywhere, nothing frozen.
model.backbone.bottom_up.update(arch="resnet18", norm="BN", freeze_at=0, width=32)
model.backbone.out_channels = 32
# Under bfloat16 (model.inference_dtype / train.amp) keep the 32-channel pyramid in float32: it is
# the one part whose reduced precision cost this model AP (FPN's docstring), and it is cheap here.
model.backbone.full_precision = True
model.proposal_generator.update(
    anchor_sizes=[[16], [32], [64], [128], [256]],
    pre_nms_topk_train=1000, post_nms_topk_train=500, pre_nms_topk_test=500, post_nms_topk_test=200,
)
# The mask head costs far more per RoI than the box head: train it on 4 foreground RoIs per image
# (about one per object) instead of all of them.
model.roi_heads.update(num_classes=4, batch_size_per_image=128, mask_rois_per_image=4)
model.roi_heads.box_head.fc_dims = [256, 256]  # the box predictor's input follows
model.roi_heads.mask_head.conv_dims = [64, 64, 64, 64]

optimizer.lr = 1e-3

# On 2 cores a loader worker process only competes with the training threads.
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0
# Testing above the training scale helps the many small shapes (10-31 px): for the same weights,
# 352 px instead of 256 px gave bbox AP 0.631 vs 0.585 (APs 0.685 vs 0.593).
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=352, max_size=640)]

train.update(
    output_dir="./output/shapes_R18_FPN_demo",
    max_iter=880,
    eval_period=0,  # evaluate once, at the end
    log_period=20,
    checkpointer=dict(period=200, max_to_keep=2),
)

# One 10x lr drop for the last 100 iterations (the runs behind this choice: benchmarks/README.md).
lr_multiplier = L(warmup_multistep)(steps=[780], max_iter="${train.max_iter}", warmup_iters=50,
                                    warmup_factor=0.01)
