# The Mask R-CNN paper's COCO recipe (He et al. 2017, section 3.1) on detectron2's own recipe files: its
# data (common/data/coco.py), SGD (common/optim.py: LR 0.02, momentum 0.9, weight decay 1e-4, 16 images
# per batch) and run settings (common/train.py), with what the paper does differently from detectron2's
# "1x": 160k iterations with a 10x LR drop at 120k (detectron2: 90k, drops at 60k and 80k) and a fixed
# 800 px shorter side in training (detectron2: 640-800 px jitter). detectron2's linear warm-up (1000
# iterations from 0.1%) is kept.
from detectron2.config import LazyCall as L
from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler

MAX_ITER, STEP = 160000, 120000


def paper_recipe(dataloader, train):
    """Set the paper's schedule and training scale on a detectron2 baseline's ``dataloader`` and
    ``train``; returns its ``lr_multiplier``."""
    dataloader.train.mapper.augmentations[0].short_edge_length = 800
    dataloader.train.total_batch_size = 16
    train.max_iter = MAX_ITER
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1], milestones=[STEP, MAX_ITER]),
        warmup_length=1000 / MAX_ITER, warmup_method="linear", warmup_factor=0.001)
