# Mask R-CNN R-50-C4 as Detectron2 builds it (COCO-InstanceSegmentation/mask_rcnn_R_50_C4_{1x,3x}.yaml),
# for evaluating or fine-tuning Detectron2 model-zoo weights in this toolkit:
#   python train_net.py --config-file configs/Pretrained/mask_rcnn_R_50_C4_detectron2.py --eval-only \
#       train.init_checkpoint=model_final_9243eb.pkl
# The .pkl is converted on load (tests/checkpoint/test_detectron2_zoo.py checks a narrow variant on
# Detectron2-made fixtures). COCO's 80 classes; test resize: shorter side 800, longer <= 1333.
from ..common.data.coco import dataloader
from ..common.models.mask_rcnn_c4 import model
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train
from .common.detectron2 import detectron2_compatible

detectron2_compatible(model, anchor_strides=[16])
# Detectron2's C4 backbone pads a batch only to its largest image (size divisibility 0), and its C4
# RPN keeps 1000 proposals per image at test time (RPN.POST_NMS_TOPK_TEST), not the common config's 300.
model.size_divisibility = 1
model.proposal_generator.post_nms_topk_test = 1000
train.update(output_dir="./output/pretrained_mask_rcnn_R_50_C4_detectron2", max_iter=90000, eval_period=10000)
