# Table 2e, MLP mask head (3 fc), at GPU scale; the arm is e_mlp_3fc in ../arms.py.
from ..arms import e_mlp_3fc
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

e_mlp_3fc(model)
train.output_dir = "./output/ablations/coco/e_mlp_3fc"
