# Mask R-CNN R-50-FPN on COCO 2017 with the paper's recipe: 16 images per batch, LR 0.02 with
# momentum 0.9 and weight decay 1e-4, 512 RoIs per image at 1:3 positive:negative, shorter side
# 800 px, 1000 test proposals, masks on the top 100 detections. The 1x schedule (90k iterations,
# x0.1 at 60k and 80k) is the shorter equivalent of the paper's 160k; `lr_multiplier_paper` in
# configs/common/schedules.py is the paper's own.
#
# The recipe fine-tunes an ImageNet-pretrained backbone (FrozenBN, stem and res2 frozen): it starts from
# detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy: train.init_checkpoint=/path/R-50.pkl
# (configs/common/imagenet.py sets the input and stride options that file needs).
from ..common.data.coco import dataloader
from ..common.imagenet import imagenet_pretrained
from ..common.models.mask_rcnn_fpn import model
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train

imagenet_pretrained(model, train)

train.update(
    output_dir="./output/coco_mask_rcnn_R_50_FPN_1x",
    max_iter=90000,
    eval_period=10000,
    checkpointer=dict(period=5000, max_to_keep=3),
)
