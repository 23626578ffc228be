# COCO 2017 person keypoints (person_keypoints_*.json, see maskrcnn_ext/data/builtin.py), the paper's
# keypoint recipe: shorter side drawn from 640 to 800 in steps of 32 in training (max 1333), 800 at
# test; horizontal flips that swap left and right keypoints; box and keypoint AP (OKS with COCO's 17
# person sigmas).
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import RandomHorizontalFlip
from maskrcnn_ext.data.keypoints import keypoint_flip_indices

from .coco import dataloader

dataloader.train.dataset = "keypoints_coco_2017_train"
dataloader.train.mapper.num_keypoints = 17
dataloader.train.mapper.augmentations = [
    L(v2.RandomShortestSize)(min_size=[640, 672, 704, 736, 768, 800], max_size=1333),
    L(RandomHorizontalFlip)(p=0.5, flip_indices=L(keypoint_flip_indices)(dataset="keypoints_coco_2017_train")),
]
dataloader.test.dataset = "keypoints_coco_2017_val"
dataloader.evaluator.tasks = ["bbox", "keypoints"]
