# The CPU-scale recipe of every shapes arm, as the toolkit's projects/MaskRCNN-Ablations/configs/shapes/
# recipe.py with detectron2's parts: the shapes_ablation data (4 classes, 1-3 medium or large shapes on
# 128-160 px images; registered into detectron2's catalogs by train_net.py), 4 images per batch at short
# side 128/144/160 px (max 256) with horizontal flips, tested at 144 px; AdamW LR 1e-3 from scratch,
# 300 iterations with a 10x drop at 260 after 50 linear warm-up iterations from 1%; one COCO evaluation
# (detectron2's COCOEvaluator, 20 detections per image as the toolkit's) at the end on 200 images.
import detectron2.data.transforms as T
import torch
from detectron2.config import LazyCall as L
from detectron2.data import DatasetMapper, build_detection_test_loader, build_detection_train_loader
from detectron2.data import get_detection_dataset_dicts
from detectron2.evaluation import COCOEvaluator
from detectron2.model_zoo import get_config
from detectron2.solver import WarmupParamScheduler
from detectron2.solver.build import get_default_optimizer_params
from fvcore.common.param_scheduler import MultiStepParamScheduler
from omegaconf import OmegaConf


def schedule(max_iter, step, warmup_iters=50):
    """One 10x drop at ``step`` of ``max_iter`` iterations after a linear warm-up from 1% (detectron2's
    scheduler runs on the fraction of training done, so milestones end at ``max_iter``)."""
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1], milestones=[step, max_iter]),
        warmup_length=warmup_iters / max_iter, warmup_method="linear", warmup_factor=0.01)


dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_ablation_train"),
    mapper=L(DatasetMapper)(
        is_train=True,
        augmentations=[
            L(T.ResizeShortestEdge)(short_edge_length=(128, 144, 160), sample_style="choice", max_size=256),
            L(T.RandomFlip)(horizontal=True),
        ],
        image_format="BGR",
        use_instance_mask=True,
        instance_mask_format="bitmask",  # the shapes masks are RLE, which detectron2's polygon format refuses
    ),
    total_batch_size=4,
    num_workers=0,  # on 2 cores a loader process only competes with training
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_ablation_val", filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=False,
        augmentations=[L(T.ResizeShortestEdge)(short_edge_length=144, max_size=256)],
        image_format="${...train.mapper.image_format}",
    ),
    num_workers=0,
)
dataloader.evaluator = L(COCOEvaluator)(
    dataset_name="${..test.dataset.names}",
    max_dets_per_image="${...model.roi_heads.box_predictor.test_topk_per_image}",
)

optimizer = L(torch.optim.AdamW)(
    params=L(get_default_optimizer_params)(base_lr="${..lr}", weight_decay_norm=0.0),
    lr=1e-3,
    betas=(0.9, 0.999),
    weight_decay=1e-4,
    fused=True,  # one pass over each parameter: several times faster on CPU than the per-tensor loop
)

train = get_config("common/train.py").train
train.update(
    max_iter=300,
    eval_period=0,  # once, after the last iteration
    log_period=20,
    checkpointer=dict(period=100, max_to_keep=1),
    device="cpu",
    seed=0,  # train_net.py seeds every generator with it (plus the process rank)
)
lr_multiplier = schedule(300, 260)
