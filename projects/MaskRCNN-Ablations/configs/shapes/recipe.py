# The CPU-scale recipe shared by every shapes arm: the shapes_ablation data (4 classes, 1-3 medium or
# large shapes on 128-160 px images; configs/common/data/shapes_ablation.py), 4 images per batch at short
# side 128-160 px (test 144 px), AdamW from scratch (nothing pretrained), 300 iterations with one 10x LR
# drop, one evaluation at the end on 200 validation images. Sized so that the whole suite (every arm x 2
# seeds) fits in 2 hours on a 2-core machine.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

from .....configs.common.data.shapes_ablation import dataloader
from .....configs.common.optim import AdamW as optimizer
from .....configs.common.train import train

optimizer.lr = 1e-3

train.update(
    max_iter=300,
    eval_period=0,  # once, at the end
    log_period=20,
    checkpointer=dict(period=100, max_to_keep=1),
    vis_num_images=0,
)
lr_multiplier = L(warmup_multistep)(steps=[260], max_iter="${train.max_iter}", warmup_iters=50, warmup_factor=0.01)
