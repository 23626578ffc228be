# The ImageNet backbones the paper's COCO recipe fine-tunes, as Detectron2 publishes them, and the model
# options each file needs: a network computes what its weights were trained for only when it is fed the
# same input and subsamples in the same conv.
# - MSRA's caffe2 ResNets (R-50, R-101; the paper's): the stride of a stage's first bottleneck in its
#   1x1 conv; BGR images minus the BGR mean, not divided by a std.
# - FAIR's ResNeXt-101 32x8d (Detectron2's mask_rcnn_X_101_32x8d_FPN_3x.yaml): the stride in the 3x3
#   conv; BGR images minus the mean, divided by the std.
# The .pkl files convert on load (maskrcnn_ext/checkpoint/convert.py), placed into the FPN, C4 or C5
# backbone. A local copy of a file is as good as its detectron2:// name: train.init_checkpoint=R-50.pkl.
#
# Only the backbone and input options are set: the RPN and RoI pooler settings remain the recipe's own
# (configs/Pretrained/common/detectron2.py adds Detectron2's, to reproduce its trained models).

_BGR_MEAN = [103.53, 116.28, 123.675]
_MSRA = dict(stride_in_1x1=True, pixel_std=[1.0, 1.0, 1.0])
_FAIR = dict(stride_in_1x1=False, pixel_std=[57.375, 57.12, 58.395])

# backbone arch -> (the ImageNet file, its options)
_WEIGHTS = {
    "resnet50": ("detectron2://ImageNetPretrained/MSRA/R-50.pkl", _MSRA),
    "resnet101": ("detectron2://ImageNetPretrained/MSRA/R-101.pkl", _MSRA),
    "resnext101_32x8d": ("detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl", _FAIR),
}


def imagenet_options(model):
    """Set the input and stride options the ImageNet file of the model's backbone arch needs (in place on
    a lazy GeneralizedRCNN config); returns that file's name. Call it again after changing the arch."""
    backbone = model.backbone.get("bottom_up", model.backbone)
    if backbone.arch not in _WEIGHTS:
        raise ValueError(f"no ImageNet file for a {backbone.arch!r} backbone; known: {sorted(_WEIGHTS)}")
    checkpoint, options = _WEIGHTS[backbone.arch]
    backbone.stride_in_1x1 = options["stride_in_1x1"]
    if "arch" in model.roi_heads.box_head:  # a C4 model's res5 head: the file's res5 lands there
        model.roi_heads.box_head.stride_in_1x1 = "${...backbone.stride_in_1x1}"
    model.input_format = "BGR"
    model.pixel_mean = list(_BGR_MEAN)
    model.pixel_std = list(options["pixel_std"])
    return checkpoint


def imagenet_pretrained(model, train):
    """Start the ResNet of a lazy GeneralizedRCNN config from the ImageNet file of its arch, with the
    options that file needs (in place). It follows the arch: call it again after changing the arch."""
    train.init_checkpoint = imagenet_options(model)
