# The tiny config made comparable across world sizes, to check a data-parallel setup: N processes
# must train (within float reordering) what one process trains with the same total batch.
#
# Four things differ by design between one process with a batch of 2 and two processes with 1 each:
# - batch norm statistics, which each process computes over its own images (SyncBN needs a GPU),
#   so this config uses group norm, whose statistics are per image;
# - zero padding to the largest image in the batch, which changes features and anchors near the
#   border, so every image is resized to one fixed size here;
# - aspect-ratio grouping, which forms each process's batches from its own share of the stream, so
#   it is off here;
# - float32 summation order, which differs with the process count (per-process convolutions, the
#   all-reduce) and with the CPU's SIMD kernels: through top-k, NMS and IoU thresholds a 1e-7
#   difference can flip a decision and the runs then diverge, so this config trains in float64.
# Images, augmentation seeds and the sampled anchors/RoIs already are functions of the global stream
# position, whatever the world size.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .mask_rcnn_R_18_FPN_tiny import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.norm = "GN"
model.roi_heads.mask_rois_per_image = 1
dataloader.train.aspect_ratio_grouping = False
dataloader.train.mapper.augmentations = [L(v2.Resize)(size=(256, 256)), L(v2.RandomHorizontalFlip)(p=0.5)]
train.dtype = "float64"
train.output_dir = "./output/shapes_R18_FPN_tiny_ddp_check"
