"""Ground truth through the model's inference path in bfloat16 and through the evaluator still gives
AP 1.0: the heads hand back float32, and rescaling to the original image, pasting and evaluation run
outside autocast, so reduced precision cannot move a box or a mask edge."""
from __future__ import annotations

import pytest
import torch
from coco_fixtures import make_ann, write_coco
from torch import Tensor, nn

from maskrcnn_ext.evaluation import COCOEvaluator
from maskrcnn_ext.layers.precision import to_parameter_dtype
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN

# Original images are 1000 x 1400 and the network sees them at half size. Boxes sit where bfloat16
# (8 bits of mantissa) could only say multiples of 2-4 px, and are 40-110 px small: rounding their
# corners to bfloat16 visibly costs AP (the control test), so exact post-processing is what gives 1.0.
SIZE, SCALE = (1000, 1400), 0.5
BOXES = {1: [(812.3, 604.7, 901.9, 688.1, 3), (1203.6, 97.2, 1310.4, 161.9, 7)],
         2: [(517.8, 733.1, 561.4, 842.6, 7), (1002.5, 902.3, 1101.7, 951.8, 3)]}
CONTIGUOUS = {3: 0, 7: 1}


class _Features(nn.Module):
    """A conv, so that autocast really runs something in bfloat16 before the heads."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"p2": self.conv(x)}


class _NoProposals(nn.Module):
    def forward(self, images, features, targets=None):
        return [None] * len(images.image_sizes), {}


class _GroundTruthHeads(nn.Module):
    """ROI heads that return the queued ground truth (input-image pixels), with all-ones RoI masks."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the heads a parameter dtype
        self.queue: list[list[tuple]] = []

    def forward(self, features, proposals, image_sizes, targets=None):
        assert features["p2"].dtype == torch.bfloat16
        detections = []
        for _ in image_sizes:
            rows = torch.tensor(self.queue.pop(0), dtype=torch.float64)
            boxes, scores, mask_probs = to_parameter_dtype(
                self, (rows[:, :4] * SCALE).float(), torch.ones(len(rows)), torch.ones(len(rows), 28, 28))
            classes = torch.tensor([CONTIGUOUS[int(c)] for c in rows[:, 4]])
            detections.append({"boxes": boxes, "scores": scores, "classes": classes, "mask_probs": mask_probs})
        return detections, {}


def _coco(tmp_path) -> str:
    images = [{"id": i, "file_name": f"{i}.png", "height": SIZE[0], "width": SIZE[1]} for i in BOXES]
    anns = [make_ann(10 * i + k, i, c, x0, y0, x1, y1)
            for i, rows in BOXES.items() for k, (x0, y0, x1, y1, c) in enumerate(rows)]
    return write_coco(tmp_path / "gt.json", images, anns)


def _evaluate(tmp_path, boxes: dict[int, list[tuple]]) -> dict:
    heads = _GroundTruthHeads()
    model = GeneralizedRCNN(backbone=_Features(), proposal_generator=_NoProposals(), roi_heads=heads,
                            inference_dtype="bfloat16").eval()
    evaluator = COCOEvaluator(json_file=_coco(tmp_path), output_dir=str(tmp_path / "out"), distributed=False)
    evaluator.reset()
    height, width = int(SIZE[0] * SCALE), int(SIZE[1] * SCALE)
    for image_id, rows in boxes.items():
        heads.queue.append(rows)
        inputs = [{"image": torch.full((3, height, width), 90, dtype=torch.uint8), "height": SIZE[0],
                   "width": SIZE[1], "image_id": image_id}]
        outputs = model(inputs)
        assert outputs[0]["instances"]["boxes"].dtype == torch.float32
        evaluator.process(inputs, outputs)
    return evaluator.evaluate()


def test_ground_truth_through_bfloat16_inference_gives_ap_one(tmp_path):
    results = _evaluate(tmp_path, BOXES)
    for task in ("bbox", "segm"):
        assert results[task]["AP"] == pytest.approx(1.0), task
        assert results[task]["AP75"] == pytest.approx(1.0), task


def test_boxes_rounded_to_bfloat16_would_lose_ap(tmp_path):
    """The control: had post-processing run in bfloat16, the same ground truth would score below 1."""
    rounded = {i: [tuple(torch.tensor(r[:4]).bfloat16().double().tolist()) + (r[4],) for r in rows]
               for i, rows in BOXES.items()}
    results = _evaluate(tmp_path, rounded)
    assert results["bbox"]["AP"] < 0.95
