"""MSRA / Detectron1 caffe2 ImageNet ResNets, converted, give Detectron2's backbone features; and the
model options the Detectron2 weights need are needed: without them the outputs change."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.detectron2 import convert_caffe2_resnet, convert_detectron2_model
from maskrcnn_ext.checkpoint.pickle_io import load_array_pickle
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

from detectron2_fixtures import FPN_DIR, MSRA_DIR, STEM, build, narrow_fpn_config, requires_fixtures, rgb_inputs

FEATURE_RTOL = 1e-4


def msra_features(*, stride_in_1x1: bool) -> tuple[dict[str, float], dict]:
    """Relative max error per stage of the converted narrow MSRA R-50 against Detectron2's features."""
    info = json.loads((MSRA_DIR / "reference.json").read_text())
    reference = np.load(MSRA_DIR / "reference.npz", allow_pickle=False)
    conversion = convert_caffe2_resnet(load_array_pickle(MSRA_DIR / info["file"]), prefix="")
    torch.manual_seed(0)
    backbone = ResNetBottomUp(arch="resnet50", norm="FrozenBN", freeze_at=0, width=STEM,
                              stride_in_1x1=stride_in_1x1).eval()
    report = load_model_weights(backbone, conversion.state)
    report.require_complete("the MSRA comparison")
    image = torch.from_numpy(reference["input_chw"]).float()  # BGR, as the MSRA weights expect
    mean = torch.tensor(info["pixel_mean"]).view(3, 1, 1)
    std = torch.tensor(info["pixel_std"]).view(3, 1, 1)
    with torch.no_grad():
        features = backbone(((image - mean) / std)[None])
    errors = {}
    for name, value in features.items():
        ref = reference[f"feature_{name}"]
        assert value[0].shape == ref.shape, name
        errors[name] = float(np.abs(value[0].numpy() - ref).max() / np.abs(ref).max())
    return errors, {"conversion": conversion}


@requires_fixtures
def test_msra_backbone_features_match():
    errors, extra = msra_features(stride_in_1x1=True)
    assert set(errors) == {"res2", "res3", "res4", "res5"}
    assert max(errors.values()) < FEATURE_RTOL, errors
    assert sorted(extra["conversion"].dropped) == ["fc1000_b", "fc1000_w"]


@requires_fixtures
def test_stride_in_3x3_changes_the_features():
    errors, _ = msra_features(stride_in_1x1=False)
    assert errors["res2"] < FEATURE_RTOL  # res2 has no stride
    assert min(errors[s] for s in ("res3", "res4", "res5")) > 100 * FEATURE_RTOL, errors


@requires_fixtures
def test_rgb_channel_order_changes_the_features():
    """The Detectron2 FPN model fed its images without the BGR flip (input_format RGB)."""
    reference = np.load(FPN_DIR / "reference.npz", allow_pickle=False)
    info = json.loads((FPN_DIR / "reference.json").read_text())
    conversion = convert_detectron2_model(load_array_pickle(FPN_DIR / "model_final.pkl")["model"])
    errors = {}
    for input_format in ("BGR", "RGB"):
        cfg = narrow_fpn_config()
        cfg.input_format = input_format
        model = build(cfg)
        load_model_weights(model, conversion.state).require_complete("the channel-order check")
        with torch.no_grad():  # image 0 alone pads to the 3-image batch's size (352 x 480)
            p2 = model.backbone(model.preprocess_image(rgb_inputs(reference, info)[:1]).tensors)["p2"]
        ref = reference["img0_feature_p2"]
        errors[input_format] = float(np.abs(p2[0].numpy() - ref).max() / np.abs(ref).max())
    assert errors["BGR"] < FEATURE_RTOL and errors["RGB"] > 100 * FEATURE_RTOL, errors


def test_unknown_source_tensor_is_refused():
    model = {"backbone.bottom_up.stem.conv1.weight": np.zeros((4, 3, 7, 7), np.float32),
             "roi_heads.keypoint_head.conv_fcn1.weight": np.zeros((4, 4, 3, 3), np.float32)}
    with pytest.raises(ValueError, match="unconverted.*keypoint_head"):
        convert_detectron2_model(model)
    with pytest.raises(ValueError, match="unconverted.*pred_b"):
        convert_caffe2_resnet({"conv1_w": np.zeros((4, 3, 7, 7), np.float32), "pred_b": np.zeros(3, np.float32)})


@pytest.mark.parametrize("match_detectron2", [True, False])
def test_caffe2_batch_norm_is_unfused(match_detectron2):
    """Exactly ``x * s + b``; or, as Detectron2 loads these files (running var 1), ``x * s / sqrt(1 + eps) + b``."""
    from torchvision.ops import FrozenBatchNorm2d

    scale, bias = np.array([2.0, -0.5], np.float32), np.array([0.25, 1.0], np.float32)
    blobs = {"conv1_w": np.zeros((2, 3, 7, 7), np.float32), "res_conv1_bn_s": scale, "res_conv1_bn_b": bias,
             "conv1_w_momentum": np.zeros((2, 3, 7, 7), np.float32)}
    conversion = convert_caffe2_resnet(blobs, prefix="backbone.bottom_up.", bn_eps=1e-5,
                                       match_detectron2=match_detectron2)
    assert conversion.dropped == ["conv1_w_momentum"]
    frozen = FrozenBatchNorm2d(2, eps=1e-5).double()
    frozen.load_state_dict({k.rsplit(".", 1)[1]: v.double() for k, v in conversion.state.items() if ".stem.1." in k})
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    effective = scale.astype(np.float64) / (np.sqrt(1 + 1e-5) if match_detectron2 else 1.0)
    expected = x * torch.from_numpy(effective).view(1, 2, 1, 1) + torch.from_numpy(bias).double().view(1, 2, 1, 1)
    torch.testing.assert_close(frozen(x), expected, rtol=1e-7, atol=1e-7)  # float32 running_var


def test_rpn_anchor_channels_are_reordered_size_major_to_ratio_major():
    """Detectron2 orders a cell's 5 sizes x 3 ratios as size * 3 + ratio; torchvision ratio * 5 + size."""
    logits = np.arange(15, dtype=np.float32).reshape(15, 1, 1, 1)
    deltas = np.repeat(np.arange(15, dtype=np.float32), 4).reshape(60, 1, 1, 1)
    state = convert_detectron2_model({"proposal_generator.rpn_head.objectness_logits.weight": logits,
                                      "proposal_generator.rpn_head.anchor_deltas.weight": deltas}).state
    order = [s * 3 + r for r in range(3) for s in range(5)]
    assert state["proposal_generator.head.cls_logits.weight"].flatten().tolist() == order
    assert state["proposal_generator.head.bbox_pred.weight"].flatten().tolist() == np.repeat(order, 4).tolist()
