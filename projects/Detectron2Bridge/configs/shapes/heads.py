# The CPU-sized parts that the FPN and C5 roots share (the C4 root's heads are res5's): the toolkit's
# pixel statistics, proposal counts, 128 RoIs per image, RoIAlign on 2x2 samples per bin, a 256-wide
# box head, a 64-channel 4-conv mask head and 20 detections per image, on features of `channels`.
from detectron2.layers import ShapeSpec


def cpu_sized_heads(model, *, channels: int, anchor_sizes: list[list[int]]) -> None:
    """Set the shared CPU-scale sizes on a LazyConfig `model` (detectron2's GeneralizedRCNN with
    StandardROIHeads) whose RPN and RoI heads read features of `channels` channels."""
    model.update(pixel_mean=[103.53, 116.28, 123.675], pixel_std=[57.375, 57.12, 58.395])  # BGR, as the toolkit's
    model.proposal_generator.update(pre_nms_topk=(1000, 300), post_nms_topk=(500, 50))
    model.proposal_generator.head.in_channels = channels
    model.proposal_generator.anchor_generator.sizes = anchor_sizes
    model.roi_heads.update(num_classes=4, batch_size_per_image=128)
    model.roi_heads.box_pooler.sampling_ratio = 2
    model.roi_heads.mask_pooler.sampling_ratio = 2
    model.roi_heads.box_head.update(input_shape=ShapeSpec(channels=channels, height=7, width=7), fc_dims=[256, 256])
    model.roi_heads.box_predictor.update(input_shape=ShapeSpec(channels=256), test_topk_per_image=20)
    model.roi_heads.mask_head.update(input_shape=ShapeSpec(channels=channels, height=14, width=14),
                                     conv_dims=[64, 64, 64, 64, 64])  # 4 convs, then the deconv's width
