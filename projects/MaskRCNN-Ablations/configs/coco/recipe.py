# The paper's COCO recipe shared by every GPU-scale arm (He et al. 2017, section 3.1): 16 images per
# batch, SGD with LR 0.02, momentum 0.9 and weight decay 1e-4, 160k iterations with a 10x drop at
# 120k, shorter side 800 px (max 1333) in training and testing, no multi-scale jitter.
# Backbones fine-tune the ImageNet file of their arch, which each root (and each backbone arm of (a))
# names with configs/common/imagenet.py: the R-50 roots start from
# detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy: train.init_checkpoint=/path/R-50.pkl.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .....configs.common.data.coco import dataloader
from .....configs.common.optim import SGD as optimizer
from .....configs.common.schedules import lr_multiplier_paper as lr_multiplier
from .....configs.common.train import train

dataloader.train.mapper.augmentations = [
    L(v2.Resize)(size=800, max_size=1333),
    L(v2.RandomHorizontalFlip)(),
]
dataloader.train.total_batch_size = 16

train.update(max_iter=160000, eval_period=20000, checkpointer=dict(period=10000, max_to_keep=3), amp=dict(enabled=True))
