# Keypoint R-CNN R-50-FPN, keypoint-only (the paper's Table 4 "keypoint-only" and Table 5 rows): COCO
# person keypoints, 90k iterations of 16 images, LR 0.02 x0.1 at 60k and 80k, shorter side 640-800,
# box NMS 0.5 at test. Starts from detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy:
# train.init_checkpoint=/path/R-50.pkl.
from .....configs.common.data.coco_keypoints import dataloader
from .....configs.common.imagenet import imagenet_pretrained
from .....configs.common.models.keypoint_rcnn_fpn import model
from .....configs.common.optim import SGD as optimizer
from .....configs.common.schedules import lr_multiplier_1x as lr_multiplier
from .....configs.common.train import train

imagenet_pretrained(model, train)

train.update(
    output_dir="./output/keypoints/coco/keypoint_rcnn_R_50_FPN_1x",
    max_iter=90000,
    eval_period=10000,
    checkpointer=dict(period=5000, max_to_keep=3),
)
