# Root of the FPN arms at CPU scale: the CPU demo's model (ResNet-18 at half width standing in for
# R-50, trainable BN, a 32-channel FPN, a 256-wide box head, a 64-channel mask head, 128 RoIs per
# image, masks trained on 4 positive RoIs per image), tested with fewer proposals and detections
# because the ablation images hold at most three objects.
from .....configs.Shapes.mask_rcnn_R_18_FPN_demo import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.proposal_generator.update(pre_nms_topk_test=300, post_nms_topk_test=50)
model.roi_heads.box_predictor.test_topk_per_image = 20

train.output_dir = "./output/ablations/shapes/R_50_FPN"
