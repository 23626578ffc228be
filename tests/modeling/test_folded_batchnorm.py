import pytest
import torch
from torch import nn
from torchvision.models import resnet
from torchvision.ops import FrozenBatchNorm2d

from maskrcnn_ext.modeling.backbone import ResNetBottomUp, blocks
from maskrcnn_ext.modeling.backbone.blocks import conv_norm, frozen_affine


def random_frozen_bn(channels, generator):
    norm = FrozenBatchNorm2d(channels)
    for name in ("weight", "bias", "running_mean"):
        getattr(norm, name).copy_(torch.randn(channels, generator=generator))
    norm.running_var.copy_(torch.rand(channels, generator=generator) + 0.1)
    return norm


def test_frozen_affine_hand_computed():
    norm = FrozenBatchNorm2d(1, eps=0.0)
    for name, value in [("weight", 3.0), ("bias", 1.0), ("running_mean", 2.0), ("running_var", 4.0)]:
        getattr(norm, name).fill_(value)
    scale, shift = frozen_affine(norm)  # (x - 2) / 2 * 3 + 1 = 1.5 x - 2
    assert scale.item() == 1.5 and shift.item() == -2.0


@pytest.mark.parametrize("bias", [False, True])
def test_conv_norm_equals_conv_then_norm_with_gradients(bias):
    g = torch.Generator().manual_seed(0)
    conv, norm = nn.Conv2d(4, 6, 3, padding=1, bias=bias), random_frozen_bn(6, g)
    x = torch.randn(2, 4, 9, 11, generator=g)
    out, expected = conv_norm(x, conv, norm), norm(conv(x))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(out.square().sum(), list(conv.parameters()))
    expected_grads = torch.autograd.grad(expected.square().sum(), list(conv.parameters()))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-4, atol=1e-4)


def test_trainable_norms_still_run_as_layers():
    conv, norm = nn.Conv2d(2, 32, 1), nn.GroupNorm(32, 32)
    x = torch.randn(1, 2, 5, 5)
    assert torch.equal(conv_norm(x, conv, norm), norm(conv(x)))


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_folded_backbone_matches_unfolded_torchvision_blocks(arch, monkeypatch):
    g = torch.Generator().manual_seed(0)
    net = ResNetBottomUp(arch=arch, norm="FrozenBN", freeze_at=0, width=16).eval()
    for module in net.modules():
        if isinstance(module, FrozenBatchNorm2d):
            module.load_state_dict(random_frozen_bn(module.weight.numel(), g).state_dict())
    keys = set(net.state_dict())
    assert {"stem.0.weight", "stem.1.running_var", "res3.0.downsample.1.bias"} <= keys  # names unchanged
    x = torch.randn(1, 3, 64, 96, generator=g)
    with torch.no_grad():
        folded = net(x)
        for cls, base in [(blocks.Bottleneck, resnet.Bottleneck), (blocks.BasicBlock, resnet.BasicBlock),
                          (blocks.ConvNorm, nn.Sequential), (blocks.Stem, nn.Sequential)]:
            monkeypatch.setattr(cls, "forward", base.forward)
        unfolded = net(x)
    for name, expected in unfolded.items():
        torch.testing.assert_close(folded[name], expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
