"""torchvision's COCO Mask R-CNN (v1 and v2) converted into the toolkit's configs computes what
torchvision computes: stage by stage on the same normalized tensor, and end to end.

torchvision's models are built with random weights (nothing is downloaded), random BN statistics,
a classifier scaled so that detections are confident, and the ten unused COCO slots pushed far
down as training on COCO does. The stage checks run in float64, so any mapping error stands far
above rounding; the end-to-end check runs both full models on the same uint8 image.
"""
from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import box_iou

from maskrcnn_ext.checkpoint import load_model_weights
from maskrcnn_ext.checkpoint.torchvision_detection import (
    COCO_CATEGORY_IDS,
    convert_torchvision_mask_rcnn,
    modernize_legacy_keys,
)
from maskrcnn_ext.config import LazyConfig, instantiate
from test_torchvision_resnet import randomize_batchnorm, relative_error

BUILDERS = {"v1": torchvision.models.detection.maskrcnn_resnet50_fpn,
            "v2": torchvision.models.detection.maskrcnn_resnet50_fpn_v2}
HEIGHT, WIDTH = 256, 320
LEVELS = {"0": "p2", "1": "p3", "2": "p4", "3": "p5", "pool": "p6"}
IDS = list(COCO_CATEGORY_IDS)


def make_confident(model: torch.nn.Module, image: torch.Tensor, seed: int = 0) -> None:
    """Set the classifier so that the box-head features of ``image``'s proposals give confident,
    distinct classes with unsaturated (untied) scores, push the unused COCO slots far down (as COCO
    training does), and keep the box deltas small.

    Random box-head features share a large common part; centring the logits on its mean keeps one
    class from winning everywhere, and the scale puts the spread of the logits at about 5.
    """
    x = model.transform.normalize(image.to(torch.float32) / 255)[None]
    sizes = [tuple(image.shape[-2:])]
    with torch.no_grad():
        maps = model.backbone(x)
        proposals, _ = model.rpn(ImageList(x, sizes), maps)
        features = model.roi_heads.box_head(model.roi_heads.box_roi_pool(maps, proposals, sizes))
    mean, spread = features.mean(0), (features - features.mean(0)).norm(dim=1).mean()
    predictor = model.roi_heads.box_predictor
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight = torch.randn(predictor.cls_score.weight.shape, generator=generator) * (5.0 / spread)
        predictor.cls_score.weight.copy_(weight)
        predictor.cls_score.bias.copy_(-weight @ mean)
        holes = [i for i in range(1, 91) if i not in COCO_CATEGORY_IDS]
        predictor.cls_score.weight[holes] = 0.0
        predictor.cls_score.bias[holes] = -100.0
        predictor.bbox_pred.weight.mul_(0.1)
        # Confident masks: pasted masks then differ only where the two pasting methods do.
        model.roi_heads.mask_predictor.mask_fcn_logits.weight.mul_(10.0)


def make_image(seed: int = 0) -> torch.Tensor:
    """A uint8 ``(3, H, W)`` image with some structure (blocks of colour plus noise)."""
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 256, (3, HEIGHT // 32, WIDTH // 32), generator=generator).float()
    image = torch.nn.functional.interpolate(blocks[None], size=(HEIGHT, WIDTH), mode="nearest")[0]
    return (image + torch.randn(image.shape, generator=generator) * 20).clamp(0, 255).to(torch.uint8)


def set_trunk_eps(model: torch.nn.Module, eps: float) -> None:
    """What torchvision's loader does to a model given the v1 COCO weights (``overwrite_eps``)."""
    for module in model.backbone.body.modules():
        if hasattr(module, "eps"):
            module.eps = eps


def reference_model(version: str) -> torch.nn.Module:
    """torchvision's model with random weights, in float64 eval mode, computing as it does with the
    real weights of ``version`` (v1: trunk eps 0)."""
    torch.manual_seed(0)
    reference = BUILDERS[version](weights=None, weights_backbone=None)
    randomize_batchnorm(reference).eval()
    if version == "v1":
        set_trunk_eps(reference, 0.0)
    make_confident(reference, make_image())
    reference = reference.double()
    reference.transform.min_size, reference.transform.max_size = (HEIGHT,), WIDTH  # no resize
    return reference


def toolkit_model(version: str, state_dict: dict[str, torch.Tensor], **backbone_overrides) -> torch.nn.Module:
    """The toolkit's config for ``version`` loaded with the converted torchvision weights (float64, eval)."""
    cfg = LazyConfig.load(f"configs/Pretrained/mask_rcnn_R_50_FPN_torchvision_{version}.py")
    cfg.model.backbone.bottom_up.update(backbone_overrides)
    model = instantiate(cfg.model)
    report = load_model_weights(model, convert_torchvision_mask_rcnn(state_dict).state_dict)
    report.require_complete("the comparison")
    assert not report.unexpected
    return model.eval().double()


@pytest.fixture(scope="module", params=["v1", "v2"])
def models(request):
    """``(version, torchvision model, toolkit model)`` in float64 eval mode, the toolkit's loaded from
    the converted torchvision weights."""
    reference = reference_model(request.param)
    return request.param, reference, toolkit_model(request.param, reference.state_dict())


@pytest.fixture(scope="module")
def stages(models):
    """Both models' intermediate outputs on one normalized tensor; the heads on torchvision's proposals."""
    _, reference, model = models
    image = make_image().double()
    x = reference.transform.normalize(image / 255)[None]
    sizes = [(HEIGHT, WIDTH)]
    out = {}
    with torch.no_grad():
        tv_maps, maps = reference.backbone(x), model.backbone(x)
        out["features"] = {LEVELS[k]: (maps[LEVELS[k]], v) for k, v in tv_maps.items()}
        tv_list, our_list = list(tv_maps.values()), [maps[f"p{i}"] for i in range(2, 7)]
        out["rpn"] = (model.proposal_generator.head(our_list), reference.rpn.head(tv_list))
        proposals, _ = reference.rpn(ImageList(x, sizes), tv_maps)
        ours, _ = model.proposal_generator(ImageList(x, sizes), maps)
        out["proposals"] = (ours, proposals)
        pooled = reference.roi_heads.box_roi_pool(tv_maps, proposals, sizes)
        tv_logits, tv_deltas = reference.roi_heads.box_predictor(reference.roi_heads.box_head(pooled))
        logits, deltas = model.roi_heads.box_predictor(model.roi_heads.box_features(maps, proposals))
        out["box"] = (logits, deltas, tv_logits, tv_deltas)
        boxes = [proposals[0][:50]]
        tv_masks = reference.roi_heads.mask_roi_pool(tv_maps, boxes, sizes)
        tv_masks = reference.roi_heads.mask_predictor(reference.roi_heads.mask_head(tv_masks))
        out["mask"] = (model.roi_heads.mask_head(model.roi_heads.mask_features(maps, boxes)), tv_masks)
    return out


def test_backbone_and_fpn_maps(stages):
    errors = {name: relative_error(ours, theirs) for name, (ours, theirs) in stages["features"].items()}
    assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize(("version", "wrong_eps"), [("v1", 1e-5), ("v2", 0.0)])
def test_the_wrong_batchnorm_eps_is_caught(version, wrong_eps):
    """Each config's trunk eps matters: the other value moves the features far beyond the tolerance."""
    reference = reference_model(version)
    model = toolkit_model(version, reference.state_dict(), norm_eps=wrong_eps)
    x = reference.transform.normalize(make_image().double() / 255)[None]
    with torch.no_grad():
        assert relative_error(model.backbone(x)["p2"], reference.backbone(x)["0"]) > 1e-7


def test_rpn_objectness_deltas_and_proposals(stages):
    (objectness, deltas), (tv_objectness, tv_deltas) = stages["rpn"]
    errors = [relative_error(a, b) for a, b in zip(objectness + deltas, tv_objectness + tv_deltas)]
    assert max(errors) < 1e-10, errors
    (ours,), (theirs,) = stages["proposals"]
    assert ours.shape == theirs.shape and relative_error(ours, theirs) < 1e-10


def test_box_logits_and_deltas_on_fixed_proposals(stages):
    logits, deltas, tv_logits, tv_deltas = stages["box"]
    # Toolkit class k is torchvision slot IDS[k]; background is last here, slot 0 there.
    assert relative_error(logits[:, :-1], tv_logits[:, IDS]) < 1e-10
    assert relative_error(logits[:, -1], tv_logits[:, 0]) < 1e-10
    tv_deltas = tv_deltas.view(len(tv_deltas), -1, 4)[:, IDS].flatten(1)
    assert relative_error(deltas, tv_deltas) < 1e-10


def test_mask_logits_on_fixed_boxes(stages):
    ours, theirs = stages["mask"]
    assert relative_error(ours, theirs[:, IDS]) < 1e-10


def test_end_to_end_detections_match(models):
    """Full forwards on one uint8 image: the same detections (boxes, scores, classes, masks)."""
    _, reference, model = models
    image = make_image()
    # torchvision's per-RoI mask probabilities: copied, since its transform then pastes them in place.
    captured = []
    hook = reference.roi_heads.register_forward_hook(lambda module, args, output: captured.append(dict(output[0][0])))
    try:
        with torch.no_grad():
            (theirs,) = reference([image.double() / 255])
            batch = [{"image": image, "height": HEIGHT, "width": WIDTH}]
            (ours,), (unpasted,) = model.inference(batch), model.inference(batch, do_postprocess=False)
    finally:
        hook.remove()
    ours = ours["instances"]
    assert len(theirs["boxes"]) >= 20, "the test model should detect many objects"
    assert len(ours["boxes"]) == len(theirs["boxes"])
    classes = torch.tensor(IDS)[ours["classes"]]
    iou = box_iou(ours["boxes"], theirs["boxes"])
    iou[classes[:, None] != theirs["labels"][None, :]] = 0  # a match must have the same class
    best, match = iou.max(dim=1)
    # Not float64-exact: the toolkit's pixel mean/std are float32 buffers (123.675 -> 123.675003...).
    assert best.min() > 1 - 1e-5 and len(set(match.tolist())) == len(match)
    assert relative_error(ours["scores"], theirs["scores"][match]) < 1e-5
    assert relative_error(unpasted["instances"]["mask_probs"], captured[0]["masks"][match, 0]) < 1e-3
    # Pasting differs (torchvision resizes a 1-px padded mask; the toolkit samples pixel centres), which
    # on these random, speckled 28x28 masks moves many pixels; on smooth masks see the test below.
    assert mask_iou(ours["masks"], theirs["masks"][match, 0] > 0.5).mean() > 0.5


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(N,)`` IoU of paired bool masks ``(N, H, W)``."""
    inter = (a & b).flatten(1).sum(1)
    return (inter / (a | b).flatten(1).sum(1).clamp(min=1)).float()


def test_pasting_smooth_masks_agrees_with_torchvision():
    """The one post-processing step done differently: on smooth (disk) masks both pastings agree
    up to boundary pixels."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image as tv_paste

    from maskrcnn_ext.layers.mask_ops import paste_masks_in_image

    grid = (torch.arange(28) + 0.5) / 28 - 0.5
    disk = torch.sigmoid(20 * (0.4 - (grid[:, None] ** 2 + grid[None, :] ** 2).sqrt()))
    masks = disk.expand(3, 28, 28)
    boxes = torch.tensor([[10.0, 20.0, 110.0, 90.0], [50.5, 5.25, 90.75, 200.0], [0.0, 0.0, 320.0, 256.0]])
    ours = paste_masks_in_image(masks, boxes, (HEIGHT, WIDTH))
    theirs = tv_paste(masks[:, None], boxes, (HEIGHT, WIDTH))[:, 0] > 0.5
    assert mask_iou(ours, theirs).min() > 0.95


def test_legacy_key_names_are_read():
    legacy = {"rpn.head.conv.weight": torch.zeros(1), "backbone.fpn.inner_blocks.2.bias": torch.zeros(1),
              "roi_heads.mask_head.mask_fcn3.weight": torch.zeros(1), "backbone.body.conv1.weight": torch.zeros(1)}
    modern, renamed = modernize_legacy_keys(legacy)
    assert set(modern) == {"rpn.head.conv.0.0.weight", "backbone.fpn.inner_blocks.2.0.bias",
                           "roi_heads.mask_head.2.0.weight", "backbone.body.conv1.weight"}
    assert len(renamed) == 3


def test_wrong_inputs_are_refused():
    with torch.device("meta"):
        classification = torchvision.models.resnet50().state_dict()
        r101 = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
        r101.update({k.replace("layer3.5", "layer3.22"): v for k, v in r101.items() if "layer3.5." in k})
        keypoints = torchvision.models.detection.keypointrcnn_resnet50_fpn(weights=None,
                                                                           weights_backbone=None).state_dict()
    with pytest.raises(ValueError, match="classification"):
        convert_torchvision_mask_rcnn(classification)
    with pytest.raises(ValueError, match="but the model is resnet50"):
        convert_torchvision_mask_rcnn(r101)
    with pytest.raises(ValueError, match="another detector"):
        convert_torchvision_mask_rcnn(keypoints)
