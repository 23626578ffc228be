# Mask R-CNN, ResNet-50-C4, COCO scale (He et al. 2017, Figure 4 left): the RPN and the RoI pooler
# read res4 (stride 16); res5 runs on every 14x14 RoI and feeds both the box predictor (averaged) and
# the mask deconv (7x7 -> 14x14 masks). 64 RoIs per image, 300 test proposals (detectron2's C4 values).
# A child that changes the backbone's arch or width sets its two channel counts, each in one place:
# res4's in model.proposal_generator.in_channels, res5's (the res5 head's output, read by both the box
# predictor and the mask head) in model.roi_heads.box_predictor.input_dim.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.backbone import ResNetBottomUp, build_res5_head
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN
from maskrcnn_ext.modeling.proposal_generator import RPN
from maskrcnn_ext.modeling.roi_heads import (
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    Res5ROIHeads,
    SigmoidMaskLoss,
)

model = L(GeneralizedRCNN)(
    backbone=L(ResNetBottomUp)(arch="resnet50", norm="FrozenBN", freeze_at=2, out_features=["res4"], width=64),
    proposal_generator=L(RPN)(
        in_features=["res4"],
        in_channels=1024,  # res4 channels: 16 x the stem width for bottleneck ResNets
        anchor_sizes=[[32, 64, 128, 256, 512]],
        aspect_ratios=[0.5, 1.0, 2.0],
        pre_nms_topk_train=12000,
        pre_nms_topk_test=6000,
        post_nms_topk_train=2000,
        post_nms_topk_test=300,
        nms_thresh=0.7,
        batch_size_per_image=256,
    ),
    roi_heads=L(Res5ROIHeads)(
        num_classes=80,
        batch_size_per_image=64,
        positive_fraction=0.25,
        iou_threshold=0.5,
        box_in_features=["res4"],
        box_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[16], sampling_ratio=2, aligned=True),
        box_head=L(build_res5_head)(arch="${...backbone.arch}", norm="${...backbone.norm}",
                                    width="${...backbone.width}"),
        box_predictor=L(FastRCNNOutputLayers)(input_dim=2048, num_classes="${..num_classes}",  # res5 channels
                                              test_score_thresh=0.05, test_nms_thresh=0.5,
                                              test_topk_per_image=100),
        mask_in_features=["res4"],
        mask_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[16], sampling_ratio=2, aligned=True),
        mask_head=L(MaskRCNNConvUpsampleHead)(in_channels="${..box_predictor.input_dim}",  # res5 channels too
                                              num_classes="${..num_classes}", conv_dims=[], deconv_dim=256),
        # The paper's per-class sigmoid; L(SoftmaxMaskLoss)() for Table 2b's multinomial masks. Inference
        # decodes the masks with the decoder the loss names.
        mask_loss=L(SigmoidMaskLoss)(),
        # As detectron2's C4 heads: in training the mask head reads the box pass's res5 output for its
        # positive RoIs (the two poolers must then be the same; False pools the mask RoIs separately).
        mask_from_box_features=True,
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    size_divisibility=16,
    # "bfloat16" (CPU) / "float16" or "bfloat16" (CUDA): inference under autocast, outputs in float32
    inference_dtype="float32",
    # torch.compile the backbone at inference; pays with bfloat16 (1.3x on R-50-FPN, benchmarks/README.md)
    compile_inference=False,
)
