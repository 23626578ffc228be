# ResNet stages for detectron2's ResNet at any width, named by torchvision arch as the toolkit's
# ResNetBottomUp names them: stage i (res2 + i) has 2^i times the stem's width of "planes"; a basic block
# outputs the planes, a bottleneck block 4x the planes from a 3x3 conv of planes x width_per_group / 64 x
# groups channels (ResNeXt), with the stride on the 3x3 unless stride_in_1x1 (MSRA's ImageNet files).
# detectron2's ResNet.make_default_stages covers only the standard-width ResNets without groups; this
# covers the CPU-scale stand-ins (half or quarter width) and ResNeXt as well, with detectron2's blocks.
from detectron2.config import LazyCall as L
from detectron2.modeling.backbone import BasicStem, ResNet
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock

# arch -> (bottleneck blocks?, blocks per stage res2..res5, groups, width_per_group)
ARCHS = {
    "resnet18": (False, (2, 2, 2, 2), 1, 64),
    "resnet34": (False, (3, 4, 6, 3), 1, 64),
    "resnet50": (True, (3, 4, 6, 3), 1, 64),
    "resnet101": (True, (3, 4, 23, 3), 1, 64),
    "resnext50_32x4d": (True, (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": (True, (3, 4, 23, 3), 32, 8),
}


def stage_channels(arch, width, index):
    """Output channels of stage ``index`` (0 = res2) of ``arch`` with a stem of ``width`` channels."""
    bottleneck = ARCHS[arch][0]
    return width * 2**index * (4 if bottleneck else 1)


def stage(arch, *, width, index, norm, stride_in_1x1=False):
    """The lazy ``ResNet.make_stage`` call of stage ``index`` (0 = res2 ... 3 = res5); its first block
    downsamples by 2 except in res2 (the stem's max-pool already did)."""
    bottleneck, depths, groups, width_per_group = ARCHS[arch]
    in_channels = width if index == 0 else stage_channels(arch, width, index - 1)
    options = dict(block_class=BasicBlock, norm=norm)
    if bottleneck:
        planes = width * 2**index
        options = dict(block_class=BottleneckBlock, norm=norm, num_groups=groups, stride_in_1x1=stride_in_1x1,
                       bottleneck_channels=planes * width_per_group // 64 * groups)
    first_stride = 1 if index == 0 else 2
    return L(ResNet.make_stage)(num_blocks=depths[index], stride_per_block=[first_stride] + [1] * (depths[index] - 1),
                                in_channels=in_channels, out_channels=stage_channels(arch, width, index), **options)


def bottom_up(arch, *, width, norm, out_features, num_stages=4, freeze_at=0, stride_in_1x1=False):
    """A lazy detectron2 ``ResNet``: ``BasicStem`` of ``width`` channels and the first ``num_stages``
    stages (3 for C4 models, whose res5 runs in the ROI heads)."""
    return L(ResNet)(
        stem=L(BasicStem)(in_channels=3, out_channels=width, norm=norm),
        stages=[stage(arch, width=width, index=i, norm=norm, stride_in_1x1=stride_in_1x1) for i in range(num_stages)],
        out_features=out_features,
        freeze_at=freeze_at,
    )
