# Mask R-CNN R-50-C5 (the Mask R-CNN paper's Table 2d), which detectron2 does not ship: everything reads
# res5, the backbone's last map, at stride 32. Assembled from detectron2's own R-50-FPN model
# (common/models/mask_rcnn_fpn.py) without the pyramid: its ResNet outputs res5 only, the RPN (15 anchors
# per position, as C4's) and both poolers read res5, and the heads are the FPN model's (2 fc of 1024 on
# 7x7 RoIs for boxes, the 4-conv FCN on 14x14 RoIs for masks), since C4's res5 head cannot follow res5.
# No new component: every part is detectron2's.
from detectron2.layers import ShapeSpec
from detectron2.model_zoo import get_config

model = get_config("common/models/mask_rcnn_fpn.py").model

model.backbone = model.backbone.bottom_up
model.backbone.out_features = ["res5"]

model.proposal_generator.in_features = ["res5"]
model.proposal_generator.head.update(in_channels=2048, num_anchors=15)  # res5 channels; 5 sizes x 3 ratios
model.proposal_generator.anchor_generator.update(sizes=[[32, 64, 128, 256, 512]], strides=[32])

roi_heads = model.roi_heads
roi_heads.update(box_in_features=["res5"], mask_in_features=["res5"])
roi_heads.box_pooler.scales = (1.0 / 32,)
roi_heads.mask_pooler.scales = (1.0 / 32,)
roi_heads.box_head.input_shape = ShapeSpec(channels=2048, height=7, width=7)
roi_heads.mask_head.input_shape = ShapeSpec(channels=2048, height=14, width=14)
del roi_heads
