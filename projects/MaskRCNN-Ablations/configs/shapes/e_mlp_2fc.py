# Table 2e, MLP mask head (2 fc), at CPU scale; the arm is e_mlp_2fc in ../arms.py.
from ..arms import e_mlp_2fc
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

e_mlp_2fc(model)
train.output_dir = "./output/ablations/shapes/e_mlp_2fc"
