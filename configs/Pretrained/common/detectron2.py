# The settings every model converted from Detectron2 (or started from MSRA's caffe2 ImageNet ResNets)
# needs to compute what it computes in Detectron2; `detectron2_compatible(model)` applies them to a
# model config of configs/common/models. Each is an option of the toolkit's modules, off by default:
# - the backbone's stride and input options of its ImageNet file (configs/common/imagenet.py): for
#   MSRA's ResNets the stride in the first 1x1 conv (also in the C4 res5 head), BGR input, std 1;
# - anchors of exact size (torchvision rounds them), strides from the backbone, offset 0;
# - RPN NMS ranked by logits and boxes of any positive size kept (find_top_rpn_proposals);
# - RoIAlignV2 (aligned=True) with adaptive sampling (sampling_ratio=0) in both poolers.
# The checkpoint converters (maskrcnn_ext/checkpoint/detectron2.py) read the .pkl weights themselves:
# set train.init_checkpoint to a model_final_*.pkl or an MSRA R-50.pkl.
from ...common.imagenet import imagenet_options


def detectron2_compatible(model, *, anchor_strides):
    """Set the Detectron2 options on a lazy GeneralizedRCNN config (in place; returns it)."""
    imagenet_options(model)  # the backbone's stride and input as its ImageNet file (MSRA's for R-50)
    rpn = model.proposal_generator
    rpn.round_anchors = False
    rpn.anchor_strides = list(anchor_strides)
    rpn.anchor_offset = 0.0
    rpn.nms_on_logits = True
    for pooler in (model.roi_heads.box_pooler, model.roi_heads.mask_pooler):
        pooler.aligned = True
        pooler.sampling_ratio = 0
    return model
