# The CPU-scale recipe of sub-table (a), the backbones: the shapes recipe (../shapes/recipe.py: the
# shapes_ablation data, 4 images per batch at 128-160 px, AdamW from scratch) trained long enough to
# compare converged models, with an evaluation every EVAL_PERIOD iterations for the AP-vs-iteration
# curves. Deeper backbones learn more slowly from scratch, so the arms are compared at the end of a
# schedule on which the R-50 arms have plateaued (README, "Table 2a"): 12000 iterations with the 10x
# LR drop at 3/4, as in the paper's 160k schedule (drop at 120k). A 4000-iteration schedule (drop at
# 3500) left every arm still rising (results/shapes_2a_4k).
from ..shapes.recipe import dataloader, lr_multiplier, optimizer, train

EVAL_PERIOD = 500

train.update(max_iter=12000, eval_period=EVAL_PERIOD, checkpointer=dict(period=EVAL_PERIOD, max_to_keep=1))
lr_multiplier.steps = [9000]
