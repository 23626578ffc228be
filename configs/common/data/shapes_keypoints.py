# The shapes keypoint data (generated on first use): the shapes_ablation sizes (1-3 medium or large
# shapes on 128-160 px images) with 12 keypoints, the centre of circles and the corners of squares,
# triangles and L-shapes (maskrcnn_ext/data/shapes_keypoints.py). Trained at short side 128-160 px with
# flips that swap left and right keypoints, tested at 144 px; evaluated for boxes and keypoints (OKS,
# with the per-keypoint sigmas the dataset states).
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import RandomHorizontalFlip
from maskrcnn_ext.data.keypoints import keypoint_flip_indices

from .shapes import dataloader

dataloader.train.dataset = "shapes_kp_train"
dataloader.train.mapper.num_keypoints = 12
dataloader.train.mapper.augmentations = [
    L(v2.RandomShortestSize)(min_size=[128, 144, 160], max_size=256),
    L(RandomHorizontalFlip)(p=0.5, flip_indices=L(keypoint_flip_indices)(dataset="shapes_kp_train")),
]
dataloader.test.dataset = "shapes_kp_val"
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=144, max_size=256)]
dataloader.evaluator.tasks = ["bbox", "keypoints"]
# On 2 cores a loader process only competes with training.
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0
