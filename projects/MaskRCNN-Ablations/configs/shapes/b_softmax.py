# Table 2b, multinomial masks: a per-pixel softmax across classes instead of independent sigmoids.
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.mask_loss_type = "SoftmaxMaskLoss"
