"""COCO keypoint AP (OKS) through COCOEvaluator, with pycocotools and faster-coco-eval."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from maskrcnn_ext.data.catalog import MetadataCatalog
from maskrcnn_ext.data.coco import register_coco_instances
from maskrcnn_ext.data.keypoints import COCO_PERSON_KEYPOINT_NAMES
from maskrcnn_ext.evaluation import COCOEvaluator

BACKENDS = ["pycocotools", pytest.param("faster_coco_eval", marks=pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("faster_coco_eval") is None, reason="faster-coco-eval absent"))]


def _person(ann_id, image_id, x0, y0, w, h, rng, labelled=17):
    """A person box with ``labelled`` keypoints at random pixels inside it (the rest v = 0)."""
    keypoints = []
    for k in range(17):
        if k < labelled:
            keypoints += [int(x0 + rng.integers(0, w)), int(y0 + rng.integers(0, h)), int(rng.integers(1, 3))]
        else:
            keypoints += [0, 0, 0]
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x0, y0, w, h], "area": float(w * h),
            "iscrowd": 0, "keypoints": keypoints, "num_keypoints": min(labelled, 17),
            "segmentation": [[x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]]}


@pytest.fixture(scope="module")
def person_json(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = [{"id": i, "file_name": f"{i}.png", "height": 240, "width": 320} for i in (1, 2)]
    anns = [_person(1, 1, 10, 20, 80, 160, rng), _person(2, 1, 150, 30, 60, 120, rng, labelled=5),
            _person(3, 2, 40, 40, 100, 150, rng), _person(4, 2, 200, 10, 60, 90, rng, labelled=0)]
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_PERSON_KEYPOINT_NAMES),
                            "skeleton": [[16, 14], [14, 12]]}]}
    path = tmp_path_factory.mktemp("kp_eval") / "person_keypoints.json"
    path.write_text(json.dumps(data))
    return str(path)


def gt_as_keypoint_predictions(json_file, jitter=0.0, seed=0):
    """Model (inputs, outputs) holding the ground truth, keypoints in the model's continuous
    coordinates (json pixel index + 0.5), optionally jittered by ``jitter`` pixels."""
    g = torch.Generator().manual_seed(seed)
    data = json.loads(open(json_file).read())
    inputs, outputs = [], []
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], dtype=torch.float32)
        keypoints = torch.tensor([a["keypoints"] for a in anns], dtype=torch.float32).view(len(anns), 17, 3)
        keypoints[..., :2] += 0.5 + jitter * torch.randn(len(anns), 17, 2, generator=g)
        inputs.append({"image_id": image["id"], "height": image["height"], "width": image["width"]})
        outputs.append({"instances": {"boxes": boxes, "scores": torch.linspace(0.9, 0.5, len(anns)),
                                      "classes": torch.zeros(len(anns), dtype=torch.long), "keypoints": keypoints}})
    return inputs, outputs


def _evaluate(json_file, backend, jitter=0.0, **kwargs):
    evaluator = COCOEvaluator(json_file=json_file, tasks=("bbox", "keypoints"), distributed=False, backend=backend,
                              **kwargs)
    evaluator.process(*gt_as_keypoint_predictions(json_file, jitter))
    return evaluator.evaluate()


@pytest.mark.parametrize("backend", BACKENDS)
def test_ground_truth_as_predictions_gives_keypoint_ap_1(person_json, backend):
    results = _evaluate(person_json, backend)
    kp = results["keypoints"]
    # equal to 1 up to the float mean over pycocotools' precision array
    assert [kp[k] for k in ("AP", "AP50", "AP75", "APm", "APl")] == pytest.approx([1.0] * 5, abs=1e-12)
    assert "APs" not in kp  # COCO's keypoint metric has no small bucket
    assert results["bbox"]["AP"] == pytest.approx(1.0, abs=1e-12)


def test_backends_agree_on_noisy_keypoints(person_json):
    pytest.importorskip("faster_coco_eval")
    reference = _evaluate(person_json, "pycocotools", jitter=4.0)["keypoints"]
    fast = _evaluate(person_json, "faster_coco_eval", jitter=4.0)["keypoints"]
    assert 0.1 < reference["AP"] < 0.95, reference
    assert reference.keys() == fast.keys()
    for key, value in reference.items():
        assert math.isclose(value, fast[key], abs_tol=1e-12) or (math.isnan(value) and math.isnan(fast[key])), key


def test_sigmas_come_from_the_metadata_and_change_the_metric(person_json):
    default = _evaluate(person_json, "pycocotools", jitter=4.0)["keypoints"]["AP"]
    register_coco_instances("kp_eval_wide", json_file=person_json, image_root=".",
                            metadata={"keypoint_oks_sigmas": [1.0] * 17})
    evaluator = COCOEvaluator(dataset_name="kp_eval_wide", tasks=("keypoints",), distributed=False,
                              backend="pycocotools")
    evaluator.process(*gt_as_keypoint_predictions(person_json, 4.0))
    wide = evaluator.evaluate()["keypoints"]["AP"]
    assert MetadataCatalog.get("kp_eval_wide").keypoint_oks_sigmas == [1.0] * 17
    assert wide == pytest.approx(1.0, abs=1e-12) and default < 0.95  # 4 px of noise is nothing for sigmas of 1


def test_keypoints_task_refuses_unknown_sigmas(tmp_path, person_json):
    data = json.loads(open(person_json).read())
    data["categories"][0]["keypoints"] = [f"p{i}" for i in range(17)]  # not COCO's names: no default sigmas
    path = tmp_path / "other.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="needs 17 OKS sigmas"):
        COCOEvaluator(json_file=str(path), tasks=("keypoints",), distributed=False)
    assert COCOEvaluator(json_file=str(path), tasks=("keypoints",), distributed=False, kpt_oks_sigmas=[0.05] * 17)


def test_an_image_without_detections_counts_its_people_as_missed(person_json):
    inputs, outputs = gt_as_keypoint_predictions(person_json)
    outputs[1]["instances"] = {"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
                               "classes": torch.zeros(0, dtype=torch.long), "keypoints": torch.zeros(0, 17, 3)}
    evaluator = COCOEvaluator(json_file=person_json, tasks=("keypoints",), distributed=False, backend="pycocotools")
    evaluator.process(inputs, outputs)
    kp = evaluator.evaluate()["keypoints"]
    # image 1's two people found exactly (scores 0.9 and 0.5), image 2's one person with keypoints
    # missed: recall tops at 2/3, with precision 1 up to it, so AP = 67/101 of the recall points
    assert kp["AP"] == pytest.approx(67 / 101, abs=1e-12)
