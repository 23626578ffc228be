"""MaskScoringROIHeads in detectron2: MaskIoU targets on the whole instance, losses, mask scores, evaluation."""
import json
import uuid

import pytest

pytest.importorskip("detectron2")

import torch
from d2_helpers import box_masks, ground_truth
from detectron2 import model_zoo
from detectron2.data import DatasetCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.evaluation import COCOEvaluator
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from maskrcnn_ext.d2 import MaskRCNNMLPHead, MaskScoringCOCOEvaluator, MaskScoringROIHeads, add_maskrcnn_ext_config
from maskrcnn_ext.d2.mask_scoring import fraction_inside_proposals

SIZE = (128, 128)
NUM_CLASSES = 3


def build_heads(mask_head: str = "MaskRCNNConvUpsampleHead") -> MaskScoringROIHeads:
    """Narrow FPN mask-scoring heads from detectron2's own yacs config plus the bridge's keys."""
    cfg = add_maskrcnn_ext_config(model_zoo.get_config("COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.yaml"))
    cfg.MODEL.ROI_HEADS.NAME = "MaskScoringROIHeads"
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 32
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 32
    cfg.MODEL.ROI_MASK_HEAD.NAME = mask_head
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 16
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 2
    cfg.MODEL.ROI_MASK_HEAD.MLP_FC_DIMS = [32]
    cfg.MODEL.ROI_MASKIOU_HEAD.CONV_DIMS = [16, 16]
    cfg.MODEL.ROI_MASKIOU_HEAD.FC_DIMS = [32]
    torch.manual_seed(0)
    return build_roi_heads(cfg, {f"p{level}": ShapeSpec(channels=16, stride=2 ** level) for level in range(2, 7)})


def features() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {f"p{level}": torch.randn(1, 16, 128 // 2 ** level, 128 // 2 ** level, generator=generator)
            for level in range(2, 7)}


def proposals(count: int = 40) -> Instances:
    generator = torch.Generator().manual_seed(1)
    xy = torch.rand(count, 2, generator=generator) * 90
    wh = 8 + torch.rand(count, 2, generator=generator) * 40
    return Instances(SIZE, proposal_boxes=Boxes(torch.cat([xy, xy + wh], dim=1)), objectness_logits=torch.zeros(count))


def targets(mask_format: str = "polygon") -> Instances:
    return ground_truth([[10, 10, 50, 40], [60, 70, 110, 120]], [0, 2], SIZE, mask_format)


def test_yacs_config_builds_mask_scoring_heads_around_detectron2s_or_the_bridges_mask_head():
    heads = build_heads()
    assert isinstance(heads, MaskScoringROIHeads)
    assert heads.maskiou_head.predictor.out_features == NUM_CLASSES and heads.maskiou_head.loss_weight == 1.0
    assert isinstance(build_heads("MaskRCNNMLPHead").mask_head, MaskRCNNMLPHead)


@pytest.mark.parametrize("mask_format", ["polygon", "bitmask"])
def test_fraction_inside_measures_the_whole_matched_instance(mask_format):
    # Instance 0 covers x 10..49, y 10..29 (800 px); instance 1 x 60..69, y 60..79.
    masks = box_masks([[10, 10, 50, 30], [60, 60, 70, 80]], SIZE, mask_format)
    gt_index = torch.tensor([0, 0, 1])
    inst = Instances(SIZE, proposal_boxes=Boxes(torch.tensor([[10.0, 10.0, 30.0, 30.0],  # its left half
                                                              [10.0, 10.0, 50.0, 30.0],  # all of it
                                                              [0.0, 0.0, 128.0, 128.0]])),
                     gt_index=gt_index, gt_masks=masks[gt_index])
    empty = Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)))
    torch.testing.assert_close(fraction_inside_proposals([inst, empty], torch.device("cpu")),
                               torch.tensor([0.5, 1.0, 1.0]))


def test_sampled_proposals_carry_their_matched_instance_and_the_targets_stay_untouched():
    heads, gt = build_heads().train(), targets()
    with EventStorage(0):
        (sampled,) = heads.label_and_sample_proposals([proposals()], [gt])
    foreground = sampled[sampled.gt_classes < NUM_CLASSES]
    assert len(foreground) >= 2  # at least the ground-truth boxes, appended as proposals
    assert torch.equal(gt.gt_classes[foreground.gt_index], foreground.gt_classes)
    assert torch.equal(gt.gt_boxes.tensor[foreground.gt_index], foreground.gt_boxes.tensor)
    assert not gt.has("gt_index")


@pytest.mark.parametrize("mask_format", ["polygon", "bitmask"])
def test_training_adds_the_maskiou_loss(mask_format):
    heads = build_heads().train()
    with EventStorage(0):
        _, losses = heads(None, features(), [proposals()], [targets(mask_format)])
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_mask", "loss_maskiou"}
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_maskiou"] > 0
    sum(losses.values()).backward()
    assert heads.maskiou_head.predictor.weight.grad.abs().sum() > 0


def test_an_image_without_ground_truth_gives_zero_mask_losses():
    heads = build_heads().train()
    empty = ground_truth([], [], SIZE, "bitmask")
    with EventStorage(0):
        _, losses = heads(None, features(), [proposals()], [empty])
    assert losses["loss_mask"].item() == 0.0 and losses["loss_maskiou"].item() == 0.0
    sum(losses.values()).backward()


def test_inference_keeps_box_scores_and_adds_mask_scores_from_the_maskiou_head():
    heads = build_heads().eval()
    torch.nn.init.constant_(heads.maskiou_head.predictor.bias, 0.5)  # a predicted IoU of about one half
    feats = features()
    with torch.no_grad():
        (inst,), _ = heads(None, feats, [proposals()])
        assert len(inst) > 0 and inst.pred_masks.shape == (len(inst), 1, 28, 28)
        pooled = heads.mask_pooler([feats[f] for f in heads.mask_in_features], [inst.pred_boxes])
        predicted = heads.maskiou_head(pooled, inst.pred_masks[:, 0])
    expected = inst.scores * predicted[torch.arange(len(inst)), inst.pred_classes].clamp(0, 1)
    torch.testing.assert_close(inst.mask_scores, expected)
    assert (inst.mask_scores < inst.scores).all() and (inst.mask_scores > 0.3 * inst.scores).all()


def test_no_detections_give_empty_mask_scores():
    heads = build_heads().eval()
    with torch.no_grad():
        (inst,), _ = heads(None, features(), [Instances(SIZE, proposal_boxes=Boxes(torch.zeros(0, 4)),
                                                         objectness_logits=torch.zeros(0))])
    assert len(inst) == 0 and inst.mask_scores.shape == (0,) and inst.pred_masks.shape == (0, 1, 28, 28)


def test_evaluator_ranks_masks_by_mask_scores_and_boxes_by_scores(tmp_path):
    # One 20x20 object. Two detections with its exact box: the higher box score has a wrong mask.
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": 64, "width": 64}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
                         "iscrowd": 0, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}],
    }))
    name = f"d2_bridge_eval_{uuid.uuid4().hex[:8]}"
    register_coco_instances(name, {}, str(path), str(tmp_path))
    DatasetCatalog.get(name)  # loading records the category-id mapping the evaluators use
    right, wrong = box_masks([[10, 10, 30, 30], [40, 40, 60, 60]], (64, 64), "bitmask").tensor
    instances = Instances((64, 64), pred_boxes=Boxes(torch.tensor([[10.0, 10.0, 30.0, 30.0]] * 2)),
                          pred_classes=torch.tensor([0, 0]), scores=torch.tensor([0.9, 0.5]),
                          mask_scores=torch.tensor([0.1, 0.9]), pred_masks=torch.stack([wrong, right]))

    def evaluate(evaluator):
        evaluator.reset()
        evaluator.process([{"image_id": 1, "height": 64, "width": 64}], [{"instances": instances}])
        return evaluator.evaluate()

    ours = evaluate(MaskScoringCOCOEvaluator(name, distributed=False, use_fast_impl=False))
    plain = evaluate(COCOEvaluator(name, distributed=False, use_fast_impl=False))
    assert ours["segm"]["AP"] == pytest.approx(100.0) and plain["segm"]["AP"] == pytest.approx(50.0)
    assert ours["bbox"]["AP"] == pytest.approx(100.0) and plain["bbox"]["AP"] == pytest.approx(100.0)
