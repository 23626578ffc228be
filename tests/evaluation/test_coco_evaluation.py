from __future__ import annotations

import json
import logging
import math

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from coco_fixtures import gt_as_predictions, make_ann, write_coco

from maskrcnn_ext.evaluation import COCOEvaluator, instances_to_coco_json

SUMMARY = ("AP", "AP50", "AP75", "APs", "APm")


def run_eval(evaluator, inputs, outputs):
    evaluator.reset()
    evaluator.process(inputs, outputs)
    return evaluator.evaluate()


def test_ground_truth_as_predictions_gives_perfect_ap(coco_json, tmp_path):
    evaluator = COCOEvaluator(json_file=coco_json, output_dir=str(tmp_path / "out"), distributed=False)
    results = run_eval(evaluator, *gt_as_predictions(coco_json))
    for task in ("bbox", "segm"):
        for metric in SUMMARY:
            assert results[task][metric] == pytest.approx(1.0), (task, metric)
        assert math.isnan(results[task]["APl"])  # no large ground truth at all
        assert results[task]["AP-cat"] == pytest.approx(1.0)
        assert results[task]["AP-dog"] == pytest.approx(1.0)
    assert results["gt_counts"] == {"small": 3, "medium": 2, "large": 0}  # the crowd region is not counted


def test_results_json_keeps_original_category_ids(coco_json, tmp_path):
    out_dir = tmp_path / "out"
    evaluator = COCOEvaluator(json_file=coco_json, output_dir=str(out_dir), distributed=False)
    run_eval(evaluator, *gt_as_predictions(coco_json))
    written = json.loads((out_dir / "coco_instances_results.json").read_text())
    assert len(written) == 5  # 6 annotations, one of them crowd
    assert sorted({r["category_id"] for r in written}) == [3, 7]
    first = next(r for r in written if r["image_id"] == 10 and r["category_id"] == 3)
    assert first["bbox"] == pytest.approx([10, 10, 20, 20])  # XYWH
    assert isinstance(first["segmentation"]["counts"], str)
    assert first["score"] == 1.0 and first["mask_score"] == 1.0


def test_subset_of_images_is_evaluated_alone(coco_json):
    # Only image 20 is processed: ground truth of images 10 and 30 must not count as misses.
    evaluator = COCOEvaluator(json_file=coco_json, distributed=False)
    results = run_eval(evaluator, *gt_as_predictions(coco_json, image_ids=[20]))
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    assert results["segm"]["AP"] == pytest.approx(1.0)
    assert results["gt_counts"] == {"small": 2, "medium": 0, "large": 0}


def test_zero_predictions_give_zero_ap_and_a_warning(coco_json, caplog):
    inputs, outputs = gt_as_predictions(coco_json)
    for out in outputs:
        inst = out["instances"]
        out["instances"] = {k: v[:0] for k, v in inst.items()}
    evaluator = COCOEvaluator(json_file=coco_json, distributed=False)
    with caplog.at_level(logging.WARNING):
        results = run_eval(evaluator, inputs, outputs)
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == 0.0
        assert results[task]["AP50"] == 0.0
        assert results[task]["APs"] == 0.0
        assert math.isnan(results[task]["APl"])
    assert "No bbox predictions" in caplog.text and "No segm predictions" in caplog.text


@pytest.fixture
def one_cat_json(tmp_path) -> str:
    images = [{"id": 1, "file_name": "x.png", "height": 80, "width": 80}]
    return write_coco(tmp_path / "one.json", images, [make_ann(1, 1, 3, 10, 10, 30, 30)])


def _box_vs_mask_predictions(mask_scores):
    """P0: exact box, disjoint mask. P1: disjoint box, exact mask. Box scores rank P0 first."""
    good = torch.zeros((80, 80), dtype=torch.bool)
    good[10:30, 10:30] = True
    bad = torch.zeros((80, 80), dtype=torch.bool)
    bad[50:70, 50:70] = True
    instances = {
        "boxes": torch.tensor([[10.0, 10, 30, 30], [50, 50, 70, 70]]),
        "scores": torch.tensor([0.9, 0.8]),
        "classes": torch.tensor([0, 0]),
        "masks": torch.stack([bad, good]),
    }
    if mask_scores is not None:
        instances["mask_scores"] = torch.tensor(mask_scores)
    return [{"image_id": 1}], [{"instances": instances}]


def test_segm_is_ranked_by_mask_scores_and_bbox_by_scores(one_cat_json):
    evaluator = COCOEvaluator(json_file=one_cat_json, distributed=False)
    # The good mask ranked first: perfect segm AP.
    results = run_eval(evaluator, *_box_vs_mask_predictions([0.3, 0.7]))
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    assert results["segm"]["AP"] == pytest.approx(1.0)
    # Bad mask ranked first: one false positive before the true positive -> precision 0.5 at
    # every recall threshold; the box AP does not move.
    results = run_eval(evaluator, *_box_vs_mask_predictions([0.7, 0.3]))
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    assert results["segm"]["AP"] == pytest.approx(0.5)
    # Without mask_scores the masks follow the box scores, which rank the bad mask first.
    results = run_eval(evaluator, *_box_vs_mask_predictions(None))
    assert results["segm"]["AP"] == pytest.approx(0.5)


def test_max_dets_per_image_is_honoured(tmp_path):
    images = [{"id": 1, "file_name": "x.png", "height": 80, "width": 80}]
    anns = [make_ann(1, 1, 3, 5, 5, 25, 25), make_ann(2, 1, 3, 40, 40, 60, 60)]
    json_file = write_coco(tmp_path / "two.json", images, anns)
    inputs, outputs = gt_as_predictions(json_file)
    outputs[0]["instances"]["scores"] = torch.tensor([0.9, 0.8])
    full = run_eval(COCOEvaluator(json_file=json_file, tasks=("bbox",), distributed=False), inputs, outputs)
    top1 = run_eval(
        COCOEvaluator(json_file=json_file, tasks=("bbox",), max_dets_per_image=1, distributed=False),
        inputs, outputs,
    )
    assert full["bbox"]["AP"] == pytest.approx(1.0)
    # One detection kept: precision 1 up to recall 0.5, 0 beyond -> 51 of the 101 recall thresholds.
    assert top1["bbox"]["AP"] == pytest.approx(51 / 101)
    assert "segm" not in top1


def test_custom_area_ranges(coco_json):
    ranges = {"small": [0, 500], "medium": [500, 1e10]}
    evaluator = COCOEvaluator(json_file=coco_json, area_ranges=ranges, distributed=False)
    results = run_eval(evaluator, *gt_as_predictions(coco_json))
    assert results["gt_counts"] == {"small": 2, "medium": 3}
    assert results["bbox"]["APs"] == pytest.approx(1.0)
    assert "APl" not in results["bbox"]


def test_missing_masks_skip_segm_with_warning(coco_json, caplog):
    inputs, outputs = gt_as_predictions(coco_json)
    for out in outputs:
        del out["instances"]["masks"]
    with caplog.at_level(logging.WARNING):
        results = run_eval(COCOEvaluator(json_file=coco_json, distributed=False), inputs, outputs)
    assert set(results) == {"bbox", "gt_counts"}
    assert results["bbox"]["AP"] == pytest.approx(1.0)
    assert caplog.text.count("have no 'masks'") == 1  # warned once for three images


def test_numpy_outputs_are_accepted(coco_json):
    inputs, outputs = gt_as_predictions(coco_json)
    for out in outputs:
        out["instances"] = {k: v.numpy() for k, v in out["instances"].items()}
    results = run_eval(COCOEvaluator(json_file=coco_json, distributed=False), inputs, outputs)
    assert results["segm"]["AP"] == pytest.approx(1.0)


def test_dataset_name_uses_catalog_metadata(coco_json):
    catalog = pytest.importorskip("maskrcnn_ext.data.catalog")
    name = "eval_test_tiny_coco"
    catalog.MetadataCatalog.get(name).set(
        json_file=coco_json, thing_classes=["kitty", "doggo"], thing_dataset_id_to_contiguous_id={3: 0, 7: 1}
    )
    try:
        evaluator = COCOEvaluator(dataset_name=name, tasks=["bbox"], distributed=False)
        results = run_eval(evaluator, *gt_as_predictions(coco_json))
    finally:
        catalog.MetadataCatalog.remove(name)
    assert results["bbox"]["AP-kitty"] == pytest.approx(1.0)
    assert results["bbox"]["AP-doggo"] == pytest.approx(1.0)


def test_bad_arguments_have_clear_errors(coco_json, tmp_path):
    with pytest.raises(ValueError, match="exactly one of dataset_name= and json_file="):
        COCOEvaluator()
    with pytest.raises(ValueError, match="exactly one"):
        COCOEvaluator(dataset_name="x", json_file=coco_json)
    with pytest.raises(ValueError, match="Unknown COCOEvaluator tasks"):
        COCOEvaluator(json_file=coco_json, tasks=("panoptic",))
    with pytest.raises(ValueError, match="needs keypoint annotations"):
        COCOEvaluator(json_file=coco_json, tasks=("keypoints",))
    with pytest.raises(FileNotFoundError, match="missing.json"):
        COCOEvaluator(json_file=str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"area_ranges\['small'\]"):
        COCOEvaluator(json_file=coco_json, area_ranges={"small": [10, 1]})


def test_unknown_class_and_image_are_reported(coco_json):
    inputs, outputs = gt_as_predictions(coco_json, image_ids=[10])
    evaluator = COCOEvaluator(json_file=coco_json, distributed=False)
    outputs[0]["instances"]["classes"] = torch.tensor([0, 5])
    with pytest.raises(ValueError, match="Predicted class 5 for image 10"):
        evaluator.process(inputs, outputs)
    inputs, outputs = gt_as_predictions(coco_json, image_ids=[10])
    inputs[0]["image_id"] = 99
    evaluator.process(inputs, outputs)
    with pytest.raises(ValueError, match=r"Image ids \[99\] are not in the ground-truth file .*gt.json"):
        evaluator.evaluate()


def test_no_images_processed_returns_empty(coco_json, caplog):
    with caplog.at_level(logging.WARNING):
        assert COCOEvaluator(json_file=coco_json, distributed=False).evaluate() == {}
    assert "no images" in caplog.text


def test_pycocotools_prints_are_silenced(coco_json, capsys, caplog):
    inputs, outputs = gt_as_predictions(coco_json)
    capsys.readouterr()  # the helper itself loads the json with pycocotools
    with caplog.at_level(logging.DEBUG, logger="maskrcnn_ext.evaluation"):
        run_eval(COCOEvaluator(json_file=coco_json, distributed=False, backend="pycocotools"), inputs, outputs)
    assert capsys.readouterr().out == ""
    assert "Accumulating evaluation results" in caplog.text  # forwarded to the log at DEBUG


def test_masks_are_rle_encoded_exactly():
    _, outputs = _box_vs_mask_predictions(None)
    results = instances_to_coco_json(outputs[0]["instances"], 1, {0: 3})
    decoded = mask_util.decode(results[1]["segmentation"])
    assert decoded.shape == (80, 80)
    assert decoded.sum() == 400 and decoded[10:30, 10:30].all()
    assert np.array_equal(results[1]["bbox"], [50.0, 50.0, 20.0, 20.0])
