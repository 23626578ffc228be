# Table 2a, R-50-C4: the C4 root unchanged (also the sigmoid arm of 2b and RoIAlign-avg arm of 2c).
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train
