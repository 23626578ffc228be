import pytest
import torch
from torch import nn
from torchvision.models import resnet
from torchvision.ops import FrozenBatchNorm2d

from maskrcnn_ext.modeling.backbone import ResNetBottomUp, blocks
from maskrcnn_ext.modeling.backbone.blocks import conv_norm, fixed_affine


def random_frozen_bn(channels, generator):
    norm = FrozenBatchNorm2d(channels)
    for name in ("weight", "bias", "running_mean"):
        getattr(norm, name).copy_(torch.randn(channels, generator=generator))
    norm.running_var.copy_(torch.rand(channels, generator=generator) + 0.1)
    return norm


@pytest.mark.parametrize("make_norm", [lambda: FrozenBatchNorm2d(1, eps=0.0),
                                       lambda: nn.BatchNorm2d(1, eps=0.0).eval()])
def test_fixed_affine_hand_computed(make_norm):
    norm = make_norm()
    with torch.no_grad():
        for name, value in [("weight", 3.0), ("bias", 1.0), ("running_mean", 2.0), ("running_var", 4.0)]:
            getattr(norm, name).fill_(value)
    scale, shift = fixed_affine(norm)  # (x - 2) / 2 * 3 + 1 = 1.5 x - 2
    assert scale.item() == 1.5 and shift.item() == -2.0


def test_fixed_affine_only_for_fixed_norms():
    bn = nn.BatchNorm2d(4)
    assert fixed_affine(bn) is None  # training mode normalizes with the batch's statistics
    assert fixed_affine(nn.GroupNorm(2, 4)) is None
    plain = nn.BatchNorm2d(1, eps=0.0, affine=False).eval()
    plain.running_mean.fill_(2.0)
    plain.running_var.fill_(4.0)
    scale, shift = fixed_affine(plain)
    assert scale.item() == 0.5 and shift.item() == -1.0


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


def test_batch_norm_folds_in_eval_mode_only():
    conv, norm = nn.Conv2d(2, 8, 1), nn.BatchNorm2d(8)
    x = torch.randn(4, 2, 5, 5)
    out = conv_norm(x, conv, norm)  # training mode: batch statistics, running ones updated
    assert torch.equal(norm.num_batches_tracked, torch.tensor(1))
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(8), atol=1e-6, rtol=0)
    norm.eval()
    torch.testing.assert_close(conv_norm(x, conv, norm), norm(conv(x)), rtol=1e-5, atol=1e-6)
    assert torch.equal(norm.num_batches_tracked, torch.tensor(1))


def test_group_norm_still_runs_as_a_layer():
    conv, norm = nn.Conv2d(2, 32, 1), nn.GroupNorm(32, 32)
    x = torch.randn(1, 2, 5, 5)
    assert torch.equal(conv_norm(x, conv, norm), norm(conv(x)))


@pytest.mark.parametrize("arch, norm", [("resnet18", "FrozenBN"), ("resnet50", "FrozenBN"), ("resnet18", "BN")])
def test_folded_backbone_matches_unfolded_torchvision_blocks(arch, norm, monkeypatch):
    g = torch.Generator().manual_seed(0)
    net = ResNetBottomUp(arch=arch, norm=norm, freeze_at=0, width=16).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (FrozenBatchNorm2d, nn.BatchNorm2d)):
                random = random_frozen_bn(module.weight.numel(), g)
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(module, name).copy_(getattr(random, name))
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


def test_half_precision_conv_after_float32_norm_stays_half_precision():
    g = torch.Generator().manual_seed(0)
    conv, norm = nn.Conv2d(4, 6, 3, padding=1, bias=False).bfloat16(), random_frozen_bn(6, g)
    x = torch.randn(1, 4, 8, 8, generator=g).bfloat16()
    out = conv_norm(x, conv, norm)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), norm(conv(x)).float(), rtol=0.05, atol=0.05)
