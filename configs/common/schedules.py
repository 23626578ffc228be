# Learning-rate multipliers: linear warm-up, then x0.1 at each step (iterations are absolute).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

# detectron2's 1x: 90k iterations at batch 16, steps at 60k and 80k.
lr_multiplier_1x = L(warmup_multistep)(steps=[60000, 80000], max_iter=90000, warmup_iters=1000,
                                       warmup_factor=0.001)
# The Mask R-CNN paper's COCO schedule: 160k iterations, x0.1 at 120k.
lr_multiplier_paper = L(warmup_multistep)(steps=[120000], max_iter=160000, warmup_iters=1000,
                                          warmup_factor=0.001)
