# The fruits_nuts fine-tuning demo (finetune_mask_rcnn_R_50_FPN_fruits_nuts.py: same data, classes and
# schedule) started from Detectron2's COCO Mask R-CNN R-50-FPN 3x instead of torchvision's:
#   MASKRCNN_EXT_DATASETS=path/to/datasets python train_net.py \
#       --config-file configs/Pretrained/finetune_mask_rcnn_R_50_FPN_fruits_nuts_detectron2.py \
#       train.init_checkpoint=model_final_f10217.pkl
# The model is mask_rcnn_R_50_FPN_detectron2.py's: Detectron2's weights have the same tensors as
# torchvision's but were trained to compute differently (MSRA ResNet with the stride in the 1x1 conv,
# BGR input with std 1, aligned RoIAlign, unrounded anchors). In the torchvision model they would load
# without complaint and see wrongly normalised images.
from .finetune_mask_rcnn_R_50_FPN_fruits_nuts import dataloader, lr_multiplier, optimizer, train
from .mask_rcnn_R_50_FPN_detectron2 import model

model.roi_heads.num_classes = 3  # date, fig, hazelnut; the box predictor and the mask head follow
train.output_dir = "./output/finetune_mask_rcnn_R_50_FPN_fruits_nuts_detectron2"
