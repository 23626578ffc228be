# COCO 2017 instances (register the json + image folders, see maskrcnn_ext/data/builtin.py), 800 px.
from omegaconf import OmegaConf
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.build import build_test_loader, build_train_loader
from maskrcnn_ext.data.mapper import DatasetMapper
from maskrcnn_ext.evaluation.coco_evaluation import COCOEvaluator

dataloader = OmegaConf.create()

dataloader.train = L(build_train_loader)(
    dataset="coco_2017_train",
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[
            L(v2.RandomShortestSize)(min_size=[640, 672, 704, 736, 768, 800], max_size=1333),
            L(v2.RandomHorizontalFlip)(),
        ],
    ),
    total_batch_size=16,
    num_workers=4,
    seed=0,
    # "skip" logs an unreadable image and trains on another instead of ending the run (up to
    # max_bad_fraction of the images tried); check a new dataset with `maskrcnn-ext validate-data`.
    on_bad_image="error",
)

dataloader.test = L(build_test_loader)(
    dataset="coco_2017_val",
    mapper=L(DatasetMapper)(is_train=False, augmentations=[L(v2.Resize)(size=800, max_size=1333)]),
    num_workers=4,
)

# maxDets follows the model's detections per image (the config that imports this defines `model`).
dataloader.evaluator = L(COCOEvaluator)(
    dataset_name="${..test.dataset}",
    max_dets_per_image="${...model.roi_heads.box_predictor.test_topk_per_image}",
)
