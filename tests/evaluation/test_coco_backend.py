"""faster-coco-eval is adopted only because it reproduces pycocotools: every metric the evaluator
reports, to 1e-12, on noisy predictions with false positives, custom size buckets and a low maxDets."""
from __future__ import annotations

import math

import pytest
import torch
from coco_fixtures import gt_as_predictions

from maskrcnn_ext.evaluation import COCOEvaluator
from maskrcnn_ext.evaluation.coco_backend import coco_backend

pytest.importorskip("faster_coco_eval")


def noisy_predictions(coco_json, seed=0):
    """Ground truth jittered, rescored and repeated, plus boxes that match nothing."""
    g = torch.Generator().manual_seed(seed)
    inputs, outputs = gt_as_predictions(coco_json)
    for inp, out in zip(inputs, outputs):
        inst = out["instances"]
        n, h, w = len(inst["boxes"]), inp["height"], inp["width"]
        boxes = torch.cat([inst["boxes"]] * 3) + torch.randn(3 * n, 4, generator=g) * 3
        masks = torch.cat([inst["masks"]] * 3)
        shift = torch.randint(-3, 4, (3 * n, 2), generator=g)
        masks = torch.stack([m.roll((int(dy), int(dx)), dims=(0, 1)) for m, (dy, dx) in zip(masks, shift)])
        stray = torch.tensor([[1.0, 1.0, w / 3, h / 3], [w / 2, h / 2, w - 1.0, h - 1.0]])
        stray_masks = torch.zeros(2, h, w, dtype=torch.bool)
        stray_masks[0, 1 : h // 3, 1 : w // 3] = True
        stray_masks[1, h // 2 :, w // 2 :] = True
        out["instances"] = {
            "boxes": torch.cat([boxes, stray]),
            "scores": torch.rand(3 * n + 2, generator=g),
            "classes": torch.cat([inst["classes"].repeat(3), torch.tensor([0, 1])]),
            "masks": torch.cat([masks, stray_masks]),
        }
    return inputs, outputs


def evaluate(coco_json, backend, **kwargs):
    evaluator = COCOEvaluator(json_file=coco_json, distributed=False, backend=backend, **kwargs)
    evaluator.process(*noisy_predictions(coco_json))
    return evaluator.evaluate()


def same(a, b):
    # Equal up to the order of a float mean's additions (seen: 0.65 vs 0.6499999999999999).
    return math.isclose(a, b, rel_tol=0, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("options", [{}, {"max_dets_per_image": 2},
                                     {"area_ranges": {"tiny": [0, 300], "small": [0, 32**2], "rest": [300, 1e5]}}])
def test_faster_coco_eval_reproduces_pycocotools_exactly(coco_json, options):
    reference = evaluate(coco_json, "pycocotools", **options)
    fast = evaluate(coco_json, "faster_coco_eval", **options)
    assert reference.keys() == fast.keys()
    for task in ("bbox", "segm"):
        assert reference[task].keys() == fast[task].keys()
        assert 0.1 < reference[task]["AP"] < 0.9  # noisy enough that the two could disagree
        differ = {k: (v, fast[task][k]) for k, v in reference[task].items() if not same(v, fast[task][k])}
        assert not differ, (task, differ)


def test_backend_names():
    assert coco_backend("pycocotools").name == "pycocotools"
    assert coco_backend("auto").name == "faster_coco_eval"
    with pytest.raises(ValueError, match="choose one of"):
        coco_backend("fast")
