"""torchvision files as ``train.init_checkpoint``: the checkpointer converts them on load (nothing
downloaded: the files are made here from torchvision models with random weights)."""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from test_torchvision_resnet import randomize_batchnorm

from maskrcnn_ext.checkpoint import read_model_state
from maskrcnn_ext.checkpoint.convert import place_backbone_state
from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.engine.checkpoint import Checkpointer
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

REPO = Path(__file__).resolve().parents[2]
STAGES = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}


def test_an_imagenet_file_initialises_a_bare_backbone_with_torchvisions_features(tmp_path):
    torch.manual_seed(0)
    reference = randomize_batchnorm(torchvision.models.resnet18()).eval()
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(reference.state_dict(), path)
    backbone = ResNetBottomUp(arch="resnet18", freeze_at=0).eval()
    report = Checkpointer(backbone, str(tmp_path)).load_weights(str(path))
    assert not report.missing and not report.unexpected and not report.shape_mismatch

    x = torch.randn(1, 3, 64, 96)
    ours = backbone(x)
    y = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
    for stage, layer in STAGES.items():
        y = getattr(reference, layer)(y)
        torch.testing.assert_close(ours[stage], y, rtol=1e-4, atol=1e-4)


def test_imagenet_stages_go_where_each_model_family_keeps_them():
    bare = {"stem.0.weight": None, "res4.0.conv1.weight": None, "res5.2.conv3.weight": None}
    expected = {"fpn": ["backbone.bottom_up.stem.0.weight", "backbone.bottom_up.res4.0.conv1.weight",
                        "backbone.bottom_up.res5.2.conv3.weight"],
                "c4": ["backbone.stem.0.weight", "backbone.res4.0.conv1.weight", "roi_heads.box_head.2.conv3.weight"],
                "c5": ["backbone.stem.0.weight", "backbone.res4.0.conv1.weight", "backbone.res5.2.conv3.weight"]}
    for family, names in expected.items():
        with torch.device("meta"):
            model = instantiate(LazyConfig.load(str(REPO / "configs" / "common" / "models" / f"mask_rcnn_{family}.py")).model)
        assert list(place_backbone_state(bare, model.state_dict())) == names
    assert list(place_backbone_state(bare, ResNetBottomUp(arch="resnet18").state_dict())) == list(bare)


def test_a_torchvision_mask_rcnn_file_fills_the_whole_v1_model(tmp_path):
    source = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)
    path = tmp_path / "maskrcnn_resnet50_fpn_coco.pth"
    torch.save(source.state_dict(), path)
    model = instantiate(LazyConfig.load(str(REPO / "configs" / "Pretrained" / "mask_rcnn_R_50_FPN_torchvision_v1.py")).model)
    state = read_model_state(path, model=model)
    expected = model.state_dict()
    assert set(state) <= set(expected) and all(state[k].shape == expected[k].shape for k in state)
    Checkpointer(model, str(tmp_path)).load_weights(str(path)).require_complete("a converted torchvision file")
