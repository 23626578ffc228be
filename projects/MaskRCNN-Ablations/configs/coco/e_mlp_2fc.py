# Table 2e, MLP mask head: fc 1024-1024 then fc K x 28 x 28 on the same 14x14 pooled features.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.modeling.roi_heads import MaskRCNNMLPHead

from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.mask_head = L(MaskRCNNMLPHead)(
    in_channels="${...backbone.out_channels}", pooler_resolution=14, num_classes="${..num_classes}",
    fc_dims=[1024, 1024], mask_size=28)

train.output_dir = "./output/ablations/coco/e_mlp_2fc"
