# The synthetic shapes dataset (generated on first use) at CPU scale: short side 256 px.
from omegaconf import OmegaConf
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.build import build_test_loader, build_train_loader
from maskrcnn_ext.data.mapper import DatasetMapper
from maskrcnn_ext.evaluation.coco_evaluation import COCOEvaluator

dataloader = OmegaConf.create()

# What an unreadable image (missing, truncated, or decoded at another size than annotated) does, in
# training and evaluation alike (the loaders below read these two keys): "error" ends the run naming
# the file; "skip" leaves it out (training draws another image, evaluation computes its metrics over
# the rest and says how many it skipped), warns once per file and logs a summary, and still stops once
# more than max_bad_fraction of a dataset's images (and more than one) prove bad. Check a new dataset
# with `maskrcnn-ext validate-data`.
dataloader.on_bad_image = "error"
dataloader.max_bad_fraction = 0.05

dataloader.train = L(build_train_loader)(
    dataset="shapes_train",
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[
            L(v2.RandomShortestSize)(min_size=[224, 240, 256, 272, 288], max_size=480),
            L(v2.RandomHorizontalFlip)(),
        ],
    ),
    total_batch_size=4,
    num_workers=1,
    seed=0,
    on_bad_image="${..on_bad_image}",
    max_bad_fraction="${..max_bad_fraction}",
)

dataloader.test = L(build_test_loader)(
    dataset="shapes_val",
    mapper=L(DatasetMapper)(is_train=False, augmentations=[L(v2.Resize)(size=256, max_size=480)]),
    num_workers=1,
    on_bad_image="${..on_bad_image}",
    max_bad_fraction="${..max_bad_fraction}",
)

# maxDets follows the model's detections per image (the config that imports this defines `model`).
dataloader.evaluator = L(COCOEvaluator)(
    dataset_name="${..test.dataset}",
    max_dets_per_image="${...model.roi_heads.box_predictor.test_topk_per_image}",
)
