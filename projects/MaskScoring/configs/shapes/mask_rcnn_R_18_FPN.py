# Baseline of the mask-scoring study at CPU scale: the CPU demo's model (ResNet-18 at half width,
# 32-channel FPN, 64-channel mask head; trainable BN, from scratch) on the shapes_ablation data
# (1-3 medium or large shapes per 128-160 px image), 400 iterations of 4 images with one 10x LR drop,
# evaluated once at the end on 200 validation images. About 5 minutes a run on one CPU core.
from .....configs.common.data.shapes_ablation import dataloader
from .....configs.Shapes.mask_rcnn_R_18_FPN_demo import lr_multiplier, model, optimizer, train

model.proposal_generator.update(pre_nms_topk_test=300, post_nms_topk_test=50)
model.roi_heads.box_predictor.test_topk_per_image = 20

train.update(
    output_dir="./output/mask_scoring/shapes/mask_rcnn_R_18_FPN",
    max_iter=400,
    checkpointer=dict(period=200, max_to_keep=1),
    vis_num_images=0,
)
lr_multiplier.steps = [350]
