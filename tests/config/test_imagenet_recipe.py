"""The paper-recipe (COCO-scale) configs start from the ImageNet file Detectron2 publishes for their backbone's
arch, with the options that file needs; the CPU-scale (shapes) configs train from scratch as before. And the
options are the right ones: the recipe's FPN, C4 and C5 models, narrowed to the MSRA fixture's width, compute
Detectron2's backbone features from its caffe2 R-50 file."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from maskrcnn_ext.checkpoint import load_model_weights, read_model_state
from maskrcnn_ext.config import LazyConfig

REPO = Path(__file__).resolve().parents[2]


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The Detectron2 fixture folder and its narrowing live beside the converter tests, which pytest puts on the
# path only for the tests in that folder.
fixtures = _load_module("detectron2_fixtures", REPO / "tests/checkpoint/detectron2_fixtures.py")


def _experiments(*patterns: str) -> list[Path]:
    """The toolkit's whole-experiment configs matching the patterns (not the shared recipe.py, nor the
    Detectron2Bridge's, which are Detectron2 LazyConfigs: tests/d2 checks them)."""
    return sorted(p for pattern in patterns for p in REPO.glob(pattern)
                  if p.name != "recipe.py" and "Detectron2Bridge" not in p.parts)


COCO_CONFIGS = _experiments("configs/COCO-InstanceSegmentation/*.py", "projects/*/configs/coco/*.py")
SHAPES_CONFIGS = _experiments("configs/Shapes/*.py", "projects/*/configs/shapes/*.py")

# Detectron2's ImageNetPretrained files, with the settings its configs give each: MODEL.RESNETS.STRIDE_IN_1X1,
# INPUT.FORMAT and MODEL.PIXEL_MEAN / PIXEL_STD (Base-RCNN-FPN.yaml; mask_rcnn_X_101_32x8d_FPN_3x.yaml).
_BGR_MEAN = [103.53, 116.28, 123.675]
EXPECTED = {
    "resnet50": dict(init_checkpoint="detectron2://ImageNetPretrained/MSRA/R-50.pkl", stride_in_1x1=True,
                     input_format="BGR", pixel_mean=_BGR_MEAN, pixel_std=[1.0, 1.0, 1.0]),
    "resnet101": dict(init_checkpoint="detectron2://ImageNetPretrained/MSRA/R-101.pkl", stride_in_1x1=True,
                      input_format="BGR", pixel_mean=_BGR_MEAN, pixel_std=[1.0, 1.0, 1.0]),
    "resnext101_32x8d": dict(init_checkpoint="detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl",
                             stride_in_1x1=False, input_format="BGR", pixel_mean=_BGR_MEAN,
                             pixel_std=[57.375, 57.120, 58.395]),
}
FROM_SCRATCH = dict(init_checkpoint="", stride_in_1x1=False, input_format="RGB")


def _resnet(model):
    return model.backbone.get("bottom_up", model.backbone)


def _is_c4(model) -> bool:
    return "arch" in model.roi_heads.box_head  # the res5 head, a stage of the backbone's ResNet


def _weights_settings(cfg) -> dict:
    """What decides whether ImageNet weights compute what they were trained for, resolved (defaults where
    the config leaves an option out). A C4 model's res5 head must subsample as its backbone does."""
    model = cfg.model
    stride_in_1x1 = _resnet(model).get("stride_in_1x1", False)
    if _is_c4(model):
        assert model.roi_heads.box_head.get("stride_in_1x1", False) == stride_in_1x1
    return dict(init_checkpoint=cfg.train.init_checkpoint, stride_in_1x1=stride_in_1x1,
                input_format=model.get("input_format", "RGB"), pixel_mean=list(model.pixel_mean),
                pixel_std=list(model.pixel_std))


def _name(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_recipe_configs_use_every_imagenet_file():
    assert len(COCO_CONFIGS) > 20 and len(SHAPES_CONFIGS) > 20
    archs = {_resnet(LazyConfig.load(str(p)).model).arch for p in COCO_CONFIGS}
    assert archs == set(EXPECTED)


@pytest.mark.parametrize("path", COCO_CONFIGS, ids=_name)
def test_coco_config_starts_from_the_imagenet_file_of_its_arch(path):
    cfg = LazyConfig.load(str(path))
    assert _weights_settings(cfg) == EXPECTED[_resnet(cfg.model).arch]


@pytest.mark.parametrize("path", SHAPES_CONFIGS, ids=_name)
def test_shapes_config_trains_from_scratch(path):
    settings = _weights_settings(LazyConfig.load(str(path)))
    assert {k: settings[k] for k in FROM_SCRATCH} == FROM_SCRATCH


def test_an_arch_without_an_imagenet_file_is_refused():
    imagenet = _load_module("imagenet", REPO / "configs/common/imagenet.py")
    cfg = LazyConfig.load(str(REPO / "configs/Shapes/mask_rcnn_R_18_FPN_tiny.py"))
    with pytest.raises(ValueError, match="resnet18.*resnet50"):
        imagenet.imagenet_pretrained(cfg.model, cfg.train)


# The recipe's three model types. Detectron2 computed the fixture's features at float32 rounding.
FEATURE_RTOL = 1e-4
RECIPE_MODELS = ["configs/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py",
                 "projects/MaskRCNN-Ablations/configs/coco/base_R_50_C4.py",
                 "projects/MaskRCNN-Ablations/configs/coco/base_R_50_C5.py"]


def _at_fixture_width(model):
    """The lazy model with the fixture's ResNet width; the sizes an FPN reads from the ResNet, a C4 or C5
    model's heads are told (bottleneck ResNets: res4 16 x the stem width, res5 32 x)."""
    _resnet(model).width = fixtures.STEM
    if "bottom_up" in model.backbone:
        return model
    last = model.backbone.out_features[-1]
    model.proposal_generator.in_channels = fixtures.STEM * {"res4": 16, "res5": 32}[last]
    if _is_c4(model):
        model.roi_heads.box_predictor.input_dim = fixtures.STEM * 32
    return model


def _resnet_features(model, image_bgr: np.ndarray) -> dict[str, torch.Tensor]:
    """The model's ResNet stages for one image, fed as the toolkit feeds it (RGB, the model normalising it);
    a C4 model's res5 is its box head on the whole res4 map."""
    image = torch.from_numpy(image_bgr[::-1].copy())
    height, width = image.shape[-2:]
    resnet = getattr(model.backbone, "bottom_up", model.backbone)
    with torch.no_grad():
        x = model.preprocess_image([{"image": image}]).tensors[..., :height, :width]  # Detectron2's, unpadded
        features = resnet(x)
        if "res5" not in features:
            features["res5"] = model.roi_heads.box_head(features["res4"])
    return features


@fixtures.requires_fixtures
@pytest.mark.parametrize("config", RECIPE_MODELS)
def test_the_recipe_options_make_the_msra_weights_compute_detectron2s_features(config):
    info = json.loads((fixtures.MSRA_DIR / "reference.json").read_text())
    reference = np.load(fixtures.MSRA_DIR / "reference.npz", allow_pickle=False)
    model = fixtures.build(_at_fixture_width(LazyConfig.load(str(REPO / config)).model))
    state = read_model_state(fixtures.MSRA_DIR / info["file"], model=model)  # as train.init_checkpoint loads it
    report = load_model_weights(model, state)
    assert len(report.loaded) == len(state) and not report.unexpected and not report.shape_mismatch
    features = _resnet_features(model, reference["input_chw"])
    assert "res5" in features
    for name, value in features.items():
        ref = reference[f"feature_{name}"]
        assert value[0].shape == ref.shape, name
        error = float(np.abs(value[0].numpy() - ref).max() / np.abs(ref).max())
        assert error < FEATURE_RTOL, (name, error)
