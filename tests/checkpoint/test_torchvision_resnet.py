"""torchvision ImageNet ResNet/ResNeXt weights -> the toolkit's ResNetBottomUp: same names, same features.

torchvision's models are built with random weights (nothing is downloaded) and random BN statistics,
so a wrong mapping of any tensor or a different BN formula shows in the features.
"""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.torchvision import (
    TORCHVISION_RESNETS,
    check_resnet_arch,
    convert_torchvision_resnet,
)
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

STAGES = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN layer random affine parameters and running statistics (ImageNet files have
    real ones; the defaults 0/1 would hide a swapped mean/var or a wrong eps)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm2d, FrozenBatchNorm2d)):
            n = module.num_features if isinstance(module, nn.BatchNorm2d) else len(module.weight)
            with torch.no_grad():
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
    return model


def torchvision_stages(model: torchvision.models.ResNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """torchvision's trunk run stage by stage, named as the toolkit names its outputs."""
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    out = {}
    for name, layer in STAGES.items():
        x = out[name] = getattr(model, layer)(x)
    return out


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over max |b|: comparable across stages whose magnitudes differ a lot."""
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


@pytest.mark.parametrize("arch", list(TORCHVISION_RESNETS))
def test_every_torchvision_resnet_is_recognised_from_its_shapes(arch):
    with torch.device("meta"):
        state = getattr(torchvision.models, arch)().state_dict()
    assert check_resnet_arch(state, arch) == arch


@pytest.mark.parametrize("arch", list(TORCHVISION_RESNETS))
def test_every_torchvision_resnet_fills_the_toolkit_backbone_of_that_arch(arch):
    """Names and shapes only (meta tensors): each file's every trunk tensor has its place."""
    with torch.device("meta"):
        state = getattr(torchvision.models, arch)().state_dict()
        model = ResNetBottomUp(arch=arch, norm="FrozenBN")
    converted = convert_torchvision_resnet(state, arch=arch, target="backbone").state_dict
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    assert {name: tuple(t.shape) for name, t in converted.items()} == expected


@pytest.mark.parametrize("arch, size, tolerance", [("resnet18", 128, 1e-5), ("resnet50", 256, 1e-5),
                                                   ("resnext101_32x8d", 128, 1e-4)])
def test_converted_backbone_computes_torchvision_features(arch, size, tolerance):
    torch.manual_seed(0)
    reference = randomize_batchnorm(getattr(torchvision.models, arch)()).eval()
    conversion = convert_torchvision_resnet(reference.state_dict(), arch=arch)
    assert set(conversion.dropped) >= {"fc.weight", "fc.bias"}
    model = ResNetBottomUp(arch=arch, norm="FrozenBN", freeze_at=2).eval()
    report = load_model_weights(model, conversion.state_dict)
    assert not (report.missing or report.unexpected or report.shape_mismatch)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = torchvision_stages(reference, x), model(x)
    errors = {name: relative_error(got[name], expected[name]) for name in STAGES}
    assert max(errors.values()) < tolerance, errors


def test_full_model_prefixes_fpn_and_c4():
    with torch.device("meta"):
        state = torchvision.models.resnet50().state_dict()
    for config, target in (("mask_rcnn_fpn", "fpn"), ("mask_rcnn_c4", "c4")):
        with torch.device("meta"):
            model = instantiate(LazyConfig.load(f"configs/common/models/{config}.py").model)
        model_keys = set(model.state_dict())
        converted = convert_torchvision_resnet(state, arch="resnet50", target=target).state_dict
        assert set(converted) <= model_keys, sorted(set(converted) - model_keys)[:5]
        # Every backbone tensor comes from the file (C4: res5 too, as the ROI heads' box head).
        trunk = {k for k in model_keys if k.startswith("backbone.") and not k.startswith("backbone.fpn.")}
        if target == "c4":
            trunk |= {k for k in model_keys if k.startswith("roi_heads.box_head.")}
        assert trunk <= set(converted), sorted(trunk - set(converted))[:5]


def test_another_architecture_is_refused():
    with torch.device("meta"):
        resnet18 = torchvision.models.resnet18().state_dict()
        detection = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None,
                                                                        weights_backbone=None).state_dict()
    with pytest.raises(ValueError, match="holds resnet18 weights, but the model is resnet50"):
        convert_torchvision_resnet(resnet18, arch="resnet50")
    with pytest.raises(ValueError, match="detection checkpoint"):
        convert_torchvision_resnet(detection, arch="resnet50")
    with pytest.raises(ValueError, match="Not a torchvision ResNet"):
        convert_torchvision_resnet({"features.0.weight": torch.zeros(1)})
