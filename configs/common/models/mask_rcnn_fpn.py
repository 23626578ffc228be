# Mask R-CNN, ResNet-50-FPN, COCO scale (He et al. 2017, with FPN as in its section 3.1).
# Sizes that must agree are linked by relative interpolations, so a child config changes them in one
# place: model.backbone.out_channels, model.roi_heads.num_classes and the box head's fc width
# (model.roi_heads.box_head.fc_dims, which the box predictor reads).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.backbone import FPN, ResNetBottomUp
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN
from maskrcnn_ext.modeling.proposal_generator import RPN
from maskrcnn_ext.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead,
    SigmoidMaskLoss,
    StandardROIHeads,
)

model = L(GeneralizedRCNN)(
    backbone=L(FPN)(
        bottom_up=L(ResNetBottomUp)(arch="resnet50", norm="FrozenBN", freeze_at=2,
                                    out_features=["res2", "res3", "res4", "res5"]),
        in_features=["res2", "res3", "res4", "res5"],
        out_channels=256,
        norm="",
    ),
    proposal_generator=L(RPN)(
        in_features=["p2", "p3", "p4", "p5", "p6"],
        in_channels="${..backbone.out_channels}",
        anchor_sizes=[[32], [64], [128], [256], [512]],
        aspect_ratios=[0.5, 1.0, 2.0],
        pre_nms_topk_train=2000,
        pre_nms_topk_test=1000,
        post_nms_topk_train=1000,
        post_nms_topk_test=1000,
        nms_thresh=0.7,
        batch_size_per_image=256,
    ),
    roi_heads=L(StandardROIHeads)(
        num_classes=80,
        batch_size_per_image=512,
        positive_fraction=0.25,
        iou_threshold=0.5,
        box_in_features=["p2", "p3", "p4", "p5"],
        box_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=7, strides=[4, 8, 16, 32],
                                   sampling_ratio=2, aligned=True),
        box_head=L(FastRCNNConvFCHead)(in_channels="${...backbone.out_channels}", pooler_resolution=7,
                                       conv_dims=[], fc_dims=[1024, 1024], norm=""),
        # input_dim: the box head's output width, that of its last (second) fc; [1] rather than [-1],
        # which omegaconf < 2.4 cannot resolve.
        box_predictor=L(FastRCNNOutputLayers)(input_dim="${..box_head.fc_dims[1]}", num_classes="${..num_classes}",
                                              test_score_thresh=0.05, test_nms_thresh=0.5,
                                              test_topk_per_image=100),
        mask_in_features=["p2", "p3", "p4", "p5"],
        mask_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[4, 8, 16, 32],
                                    sampling_ratio=2, aligned=True),
        mask_head=L(MaskRCNNConvUpsampleHead)(in_channels="${...backbone.out_channels}",
                                              num_classes="${..num_classes}", conv_dims=[256, 256, 256, 256],
                                              norm=""),
        # The paper's per-class sigmoid; L(SoftmaxMaskLoss)() for Table 2b's multinomial masks. Inference
        # decodes the masks with the decoder the loss names.
        mask_loss=L(SigmoidMaskLoss)(),
    ),
    pixel_mean=[123.675, 116.28, 103.53],
    pixel_std=[58.395, 57.12, 57.375],
    size_divisibility=32,
    channels_last_inference=True,  # faster CPU convolutions at inference (benchmarks/README.md)
    # "bfloat16" (CPU) / "float16" or "bfloat16" (CUDA): inference under autocast, outputs in float32
    inference_dtype="float32",
    # torch.compile the backbone at inference; pays with bfloat16 (1.3x on R-50-FPN, benchmarks/README.md)
    compile_inference=False,
)
