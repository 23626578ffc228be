"""``convert_weights`` and ``maskrcnn-ext convert``: every source's format told from its contents,
converted, and the config values it needs stated."""
from __future__ import annotations

import json

import pytest
import torch
import torchvision

from maskrcnn_ext.checkpoint.convert import convert_state, convert_weights, is_bare_backbone
from maskrcnn_ext.cli.main import main
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

from detectron2_fixtures import C4_DIR, FPN_DIR, MSRA_DIR, requires_fixtures

MSRA = {"input_format": "BGR", "pixel_mean": [103.53, 116.28, 123.675], "pixel_std": [1.0, 1.0, 1.0]}


def meta_state(builder, **kwargs) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return builder(**kwargs).state_dict()


@pytest.mark.parametrize("arch", ["resnet18", "resnet152", "resnext101_32x8d", "wide_resnet50_2"])
def test_torchvision_imagenet_files_convert_to_a_bare_backbone_of_their_arch(arch):
    converted = convert_state(meta_state(getattr(torchvision.models, arch)))
    assert (converted.source_format, converted.placement) == ("torchvision", "backbone")
    assert converted.overrides == {"backbone.arch": arch}
    assert is_bare_backbone(converted.state_dict) and {"fc.weight", "fc.bias"} <= set(converted.dropped)
    with torch.device("meta"):
        expected = set(ResNetBottomUp(arch=arch, norm="BN", freeze_at=0).state_dict())
    assert set(converted.state_dict) == expected


@pytest.mark.parametrize("builder, config", [
    (torchvision.models.detection.maskrcnn_resnet50_fpn, "configs/Pretrained/mask_rcnn_R_50_FPN_torchvision_v1.py"),
    (torchvision.models.detection.maskrcnn_resnet50_fpn_v2, "configs/Pretrained/mask_rcnn_R_50_FPN_torchvision_v2.py"),
], ids=["v1", "v2"])
def test_torchvision_mask_rcnn_files_name_their_config(builder, config):
    converted = convert_state(meta_state(builder, weights=None, weights_backbone=None))
    assert (converted.placement, converted.overrides) == ("model", {"config": config})
    # COCO's 80 classes, named, each with its (gapped) COCO id.
    names, ids = converted.classes["class_names"], converted.classes["contiguous_id_to_dataset_id"]
    assert (len(names), names[11], ids["11"], names[79], ids["79"]) == (80, "stop sign", 13, "toothbrush", 90)
    with torch.device("meta"):
        model_keys = set(instantiate(LazyConfig.load(config).model).state_dict())
    counters = {k for k in converted.state_dict if k.endswith("num_batches_tracked")}
    assert set(converted.state_dict) - counters == model_keys - counters


@requires_fixtures
def test_detectron2_and_msra_files_name_their_config_and_options():
    fpn = convert_weights(FPN_DIR / "model_final.pkl")
    assert fpn.source_format == "detectron2" and fpn.placement == "model"
    narrow = {"backbone.arch": "resnet50", "backbone.width": 16}
    assert fpn.overrides == {"config": "configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py", **narrow}
    c4 = convert_weights(C4_DIR / "model_final.pkl")
    assert c4.overrides == {"config": "configs/Pretrained/mask_rcnn_R_50_C4_detectron2.py", **narrow}
    msra = convert_weights(MSRA_DIR / "R-50-narrow.pkl")
    assert (msra.source_format, msra.placement) == ("caffe2", "backbone")
    assert msra.overrides == {**narrow, "backbone.stride_in_1x1": True, **MSRA}
    assert msra.command_line()[:3] == ["model.backbone.bottom_up.arch='resnet50'", "model.backbone.bottom_up.width=16",
                                      "model.backbone.bottom_up.stride_in_1x1=True"]
    assert "model.input_format='BGR'" in msra.command_line()


def test_toolkit_files_pass_through_and_a_named_format_is_checked(tmp_path):
    backbone = ResNetBottomUp(arch="resnet18")
    path = tmp_path / "backbone.pth"
    torch.save({"model": backbone.state_dict(), "iteration": 3}, path)
    converted = convert_weights(path)
    assert (converted.source_format, converted.placement, converted.overrides) == ("toolkit", "backbone", {})
    assert all(torch.equal(converted.state_dict[k], v) for k, v in backbone.state_dict().items())
    with pytest.raises(ValueError, match=r"backbone\.pth holds toolkit weights, not detectron2"):
        convert_weights(path, source_format="detectron2")
    torch.save({"model": [1, 2]}, path)
    with pytest.raises(ValueError, match=r"backbone\.pth: neither a state dict"):
        convert_weights(path)


def test_a_resnet_of_no_known_arch_is_refused():
    state = meta_state(torchvision.models.resnet50)
    state.update({k.replace("layer3.5.", "layer3.6."): v for k, v in state.items() if k.startswith("layer3.5.")})
    with pytest.raises(ValueError, match=r"no known arch.*depths=\(3, 4, 7, 3\)"):
        convert_state(state)


def test_convert_command_writes_weights_and_what_they_need(tmp_path, capsys):
    torch.manual_seed(0)
    source = tmp_path / "resnet18-0123abcd.pth"
    torch.save(torchvision.models.resnet18().state_dict(), source)
    output = tmp_path / "out" / "R-18.pth"
    assert main(["convert", str(source), "-o", str(output)]) == 0
    weights = torch.load(output, weights_only=True)
    assert weights["res5.1.conv2.weight"].equal(torch.load(source, weights_only=True)["layer4.1.conv2.weight"])
    sidecar = json.loads(output.with_suffix(".json").read_text())
    assert sidecar == {"source": str(source), "format": "torchvision", "placement": "backbone",
                       "overrides": {"backbone.arch": "resnet18"}, "dropped": ["fc.weight", "fc.bias"]}
    assert main(["convert", str(source), "-o", str(output), "--format", "caffe2"]) == 1
    assert main(["convert", "--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"torchvision/maskrcnn_resnet50_fpn_coco", "detectron2/ImageNetPretrained/MSRA/R-50"} <= set(listed)
