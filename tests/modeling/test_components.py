import pytest
import torch

from maskrcnn_ext.modeling.backbone import FPN, ResNetBottomUp
from maskrcnn_ext.modeling.roi_heads import FastRCNNOutputLayers, MaskRCNNConvUpsampleHead
from maskrcnn_ext.modeling.roi_heads.mask_losses import sigmoid_mask_loss
from maskrcnn_ext.modeling.roi_heads.sampling import match_and_sample


def test_resnet_stage_shapes_and_freezing():
    net = ResNetBottomUp(arch="resnet18", norm="FrozenBN", freeze_at=2, out_features=("res3", "res4"))
    out = net(torch.zeros(1, 3, 64, 96))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"res3": (1, 128, 8, 12), "res4": (1, 256, 4, 6)}
    assert not hasattr(net, "res5")  # stages after the last requested one are not built
    assert not any(p.requires_grad for p in net.stem.parameters())
    assert not any(p.requires_grad for p in net.res2.parameters())
    assert all(p.requires_grad for p in net.res3.parameters())


def test_frozen_stage_converts_trainable_bn():
    net = ResNetBottomUp(arch="resnet18", norm="BN", freeze_at=1)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.stem.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.res2.modules())


def test_unknown_arch_and_norm_are_named():
    with pytest.raises(ValueError, match="resnet51"):
        ResNetBottomUp(arch="resnet51")
    with pytest.raises(ValueError, match="'LN'"):
        ResNetBottomUp(arch="resnet18", norm="LN")


def test_fpn_levels_and_strides():
    fpn = FPN(bottom_up=ResNetBottomUp(arch="resnet18", norm="BN", freeze_at=0), out_channels=8)
    out = fpn(torch.zeros(1, 3, 128, 64))
    assert list(out) == ["p2", "p3", "p4", "p5", "p6"]
    assert fpn.strides == {"p2": 4, "p3": 8, "p4": 16, "p5": 32, "p6": 64}
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(32, 16), (16, 8), (8, 4), (4, 2), (2, 1)]


def test_match_and_sample_labels():
    torch.manual_seed(0)
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    proposals = torch.tensor([[0.0, 0.0, 10.0, 9.0],    # IoU 0.9 -> foreground
                              [20.0, 20.0, 30.0, 30.0]])  # IoU 0 -> background
    out = match_and_sample(proposals, gt, torch.tensor([2]), num_classes=3, iou_threshold=0.5,
                           batch_size=8, positive_fraction=0.5, append_gt=True)
    # two foreground (the good proposal and the appended gt) first, then the background one.
    assert out["gt_classes"].tolist() == [2, 2, 3]
    assert out["boxes"].shape == (3, 4)
    torch.testing.assert_close(out["gt_boxes"][:2], gt.expand(2, 4))


def test_match_and_sample_without_ground_truth_is_all_background():
    out = match_and_sample(torch.rand(5, 4) * 10 + torch.tensor([0, 0, 10, 10]), torch.zeros(0, 4),
                           torch.zeros(0, dtype=torch.int64), num_classes=3, iou_threshold=0.5,
                           batch_size=4, positive_fraction=0.25)
    assert out["gt_classes"].tolist() == [3, 3, 3, 3]


def test_box_losses_hand_computed():
    layer = FastRCNNOutputLayers(input_dim=2, num_classes=2)
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    deltas = torch.zeros(2, 8)
    proposals = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]]),
                  "gt_classes": torch.tensor([1, 2]),
                  "gt_boxes": torch.tensor([[1.0, 0.0, 11.0, 10.0], [0.0, 0.0, 10.0, 10.0]])}]
    losses = layer.losses((logits, deltas), proposals)
    assert losses["loss_cls"].item() == pytest.approx(torch.log(torch.tensor(3.0)).item())
    # foreground RoI: dx target = 10 * 1 / 10 = 1 -> L1 1, divided by the 2 sampled RoIs.
    assert losses["loss_box_reg"].item() == pytest.approx(0.5)


def test_mask_head_shape_and_class_selection_in_loss():
    head = MaskRCNNConvUpsampleHead(in_channels=4, num_classes=3, conv_dims=(8, 8))
    assert head(torch.zeros(2, 4, 14, 14)).shape == (2, 3, 28, 28)
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 1] = 10.0  # class 1 confidently foreground, others at p=0.5
    target = torch.ones(1, 2, 2)
    assert sigmoid_mask_loss(logits, torch.tensor([1]), target).item() == pytest.approx(4.54e-5, rel=1e-2)
    assert sigmoid_mask_loss(logits, torch.tensor([0]), target).item() == pytest.approx(0.6931, rel=1e-3)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_backbone_matches_torchvision_parameter_count(arch):
    import torchvision

    ours = ResNetBottomUp(arch=arch, norm="BN", freeze_at=0)
    stock = getattr(torchvision.models, arch)()
    stock_count = sum(p.numel() for n, p in stock.named_parameters() if not n.startswith("fc."))
    assert sum(p.numel() for p in ours.parameters()) == stock_count


def test_narrow_backbone_scales_every_stage():
    net = ResNetBottomUp(arch="resnet18", norm="BN", freeze_at=0, width=32)
    assert net.out_channels == {"res2": 32, "res3": 64, "res4": 128, "res5": 256}
    assert net(torch.zeros(1, 3, 64, 64))["res5"].shape == (1, 256, 2, 2)


def test_narrow_resnext_keeps_channels_per_group_when_groups_scale_with_width():
    net = ResNetBottomUp(arch="resnext101_32x8d", norm="BN", freeze_at=0, width=16, groups=8, width_per_group=32)
    conv = net.res2[0].conv2  # the grouped 3x3: int(16 * 32 / 64) * 8 = 64 channels in 8 groups
    assert (conv.in_channels, conv.groups) == (64, 8)
    assert net.res5[0].conv2.in_channels // net.res5[0].conv2.groups == 64  # res5: 512 in 8 groups
    assert len(net.res4) == 23 and net.out_channels["res5"] == 512  # depth and outputs as the arch says
    default = ResNetBottomUp(arch="resnext101_32x8d", norm="BN", freeze_at=0, width=16)
    assert default.res2[0].conv2.in_channels // default.res2[0].conv2.groups == 2
    with pytest.raises(ValueError, match="bottleneck"):
        ResNetBottomUp(arch="resnet18", groups=4)


def test_res5_head_halves_resolution_and_doubles_width():
    from maskrcnn_ext.modeling.backbone import build_res5_head

    head = build_res5_head(arch="resnet18", norm="BN", width=32)
    assert head(torch.zeros(1, 128, 8, 8)).shape == (1, 256, 4, 4)


def test_seeded_anchor_sampling_of_an_image_does_not_depend_on_its_batch():
    from maskrcnn_ext.modeling.proposal_generator.rpn import _SeededAnchorSampler
    from maskrcnn_ext.modeling.roi_heads.sampling import RPN_STREAM, sampling_generator

    torch.manual_seed(0)
    sampler = _SeededAnchorSampler(8, 0.25)
    labels = [torch.randint(-1, 2, (50,)).float() for _ in range(2)]
    sampler.generators = [sampling_generator(s, RPN_STREAM) for s in (3, 4)]
    pos, neg = sampler(labels)
    sampler.generators = [sampling_generator(4, RPN_STREAM)]
    pos_alone, neg_alone = sampler(labels[1:])
    assert torch.equal(pos[1], pos_alone[0]) and torch.equal(neg[1], neg_alone[0])
    assert int(pos[1].sum()) == min(2, int((labels[1] == 1).sum()))
    assert int(pos[1].sum() + neg[1].sum()) == 8
    assert not (pos[1].bool() & (labels[1] != 1)).any() and not (neg[1].bool() & (labels[1] != 0)).any()
