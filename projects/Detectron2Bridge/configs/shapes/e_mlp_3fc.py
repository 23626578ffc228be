# Table 2e, MLP mask head (fc 1024-1024-1024), at CPU scale; the arm is e_mlp_3fc in ../common/arms.py.
from ..common.arms import e_mlp_3fc
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

e_mlp_3fc(model)
train.output_dir = "./output/d2_bridge/shapes/e_mlp_3fc"
