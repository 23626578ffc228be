# Fine-tune torchvision's COCO Mask R-CNN v1 (R-50-FPN, 80 classes) on a small COCO-format dataset with
# another class count: the fruits_nuts photos (18 images, 3 classes: date, fig, hazelnut), read from
# $MASKRCNN_EXT_DATASETS/fruits_nuts/{trainval.json,images/} (default ./datasets, as for COCO).
#
#   wget https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth
#   MASKRCNN_EXT_DATASETS=path/to/datasets python train_net.py \
#       --config-file configs/Pretrained/finetune_mask_rcnn_R_50_FPN_fruits_nuts.py \
#       train.init_checkpoint=maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth
#
# The .pth is converted on load (the URL itself works too: downloaded once, checked against the hash in
# its name). The load report lists the six class-dependent tensors (box classifier and box regressor,
# mask predictor: weight and bias) as shape mismatches kept at their initialisation; everything else is
# loaded. For Detectron2's model_final_f10217.pkl use finetune_mask_rcnn_R_50_FPN_fruits_nuts_detectron2.py:
# its weights fit this model's tensors but expect Detectron2's input and stride options.
#
# Your own data: copy this file, point JSON_FILE and IMAGE_ROOT at your json and images, register a
# held-out json the same way for dataloader.test.dataset, and set model.roi_heads.num_classes to your
# number of categories (the box predictor and mask head follow).
import os

from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog, register_coco_instances
from maskrcnn_ext.data.shapes import datasets_root
from maskrcnn_ext.engine.lr_scheduler import warmup_multistep

from .mask_rcnn_R_50_FPN_torchvision_v1 import dataloader, model, optimizer, train

DATASET = "fruits_nuts"
JSON_FILE = os.path.join(datasets_root(), "fruits_nuts", "trainval.json")
IMAGE_ROOT = os.path.join(datasets_root(), "fruits_nuts", "images")


def _register(name: str, json_file: str, image_root: str) -> None:
    """Register a COCO-format dataset unless this exact one is already registered (configs importing
    this file execute it again; re-registering identical paths would only log a warning)."""
    if name not in DatasetCatalog or MetadataCatalog.get(name).get("json_file") != json_file:
        register_coco_instances(name, json_file=json_file, image_root=image_root)


# Registration reads nothing: the json is parsed when a loader first asks for the dataset.
_register(DATASET, JSON_FILE, IMAGE_ROOT)

model.roi_heads.num_classes = 3  # the box predictor and the mask head follow by interpolation
# CPU cost: 128 sampled RoIs per image instead of the COCO recipe's 512 is a quarter of the box head's
# cost and still up to 32 positives for ~9 objects per photo; the mask head, which costs far more per
# RoI, trains on 16 of the positives (about 2 per object) instead of all.
model.roi_heads.update(batch_size_per_image=128, mask_rois_per_image=16)

# 18 images are too few to hold some out: the demo trains and evaluates on the same ones, so its AP
# shows that fine-tuning works, not how well the model generalises. Split your own data.
dataloader.train.dataset = DATASET
dataloader.test.dataset = DATASET
# CPU scale: the 800x600 photos at shorter side 480-576 in training and 512 at test (about a quarter
# fewer pixels than 600). The objects are 55-250 px wide at full size, well within the anchors' 32-512 px.
dataloader.train.mapper.augmentations = [
    L(v2.RandomShortestSize)(min_size=[480, 512, 544, 576], max_size=768),
    L(v2.RandomHorizontalFlip)(),
]
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=512, max_size=683, antialias=False)]
dataloader.train.total_batch_size = 2
dataloader.train.num_workers = 1
dataloader.test.num_workers = 1

# The COCO recipe's lr is 0.02 at batch 16: scaled linearly to batch 2, then halved so that the large
# early gradients of the fresh class-dependent layers disturb the COCO features less.
optimizer.lr = 0.00125
train.update(
    output_dir="./output/finetune_mask_rcnn_R_50_FPN_fruits_nuts",
    max_iter=300,
    eval_period=0,  # evaluate once, at the end
    log_period=20,
    checkpointer=dict(period=100, max_to_keep=2),
    vis_num_images=4,
)
lr_multiplier = L(warmup_multistep)(steps=[240], max_iter="${train.max_iter}", warmup_iters=50,
                                    warmup_factor=0.01)
