# The CPU-scale recipe shared by every shapes arm: the shapes_ablation data (4 classes, 1-3 medium or
# large shapes on 128-160 px images), 4 images per batch at short side 128-160 px (test 144 px), AdamW
# from scratch (nothing pretrained), 300 iterations with one 10x LR drop, one evaluation at the end
# on 200 validation images. Sized so that the whole suite (every arm x 2 seeds) fits in 2 hours on a
# 2-core machine.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

from .....configs.common.data.shapes import dataloader
from .....configs.common.optim import AdamW as optimizer
from .....configs.common.train import train

dataloader.train.dataset = "shapes_ablation_train"
dataloader.train.mapper.augmentations = [
    L(v2.RandomShortestSize)(min_size=[128, 144, 160], max_size=256),
    L(v2.RandomHorizontalFlip)(),
]
dataloader.test.dataset = "shapes_ablation_val"
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=144, max_size=256)]
dataloader.train.num_workers = 0  # on 2 cores a loader process only competes with training
dataloader.test.num_workers = 0

optimizer.lr = 1e-3

train.update(
    max_iter=300,
    eval_period=0,  # once, at the end
    log_period=20,
    checkpointer=dict(period=100, max_to_keep=1),
    vis_num_images=0,
)
lr_multiplier = L(warmup_multistep)(steps=[260], max_iter="${train.max_iter}", warmup_iters=50, warmup_factor=0.01)
