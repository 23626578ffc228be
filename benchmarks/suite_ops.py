"""Operation-level measurements for ``bench_suite.py``: mask pasting, COCO evaluation, data loading,
the machine's matmul throughput and the model's FLOPs."""
from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import math
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from torchvision.models.detection.roi_heads import paste_masks_in_image as stock_paste

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.data import MetadataCatalog, get_dataset_records
from maskrcnn_ext.evaluation.coco_backend import CocoBackend, coco_backend
from maskrcnn_ext.layers.mask_ops import paste_masks_in_image
from maskrcnn_ext.model_zoo.flops import count_flops


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def detections_like_coco(n: int, size: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 1, 28, 28)`` smooth mask probabilities and ``(N, 4)`` boxes, sides log-uniform in 16-600 px."""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    masks = torch.sigmoid(F.interpolate(torch.randn(n, 1, 7, 7, generator=g) * 4, size=28, mode="bilinear"))
    log_side = torch.rand(n, 2, generator=g) * (math.log(600) - math.log(16)) + math.log(16)
    sides = log_side.exp()
    corner = torch.rand(n, 2, generator=g) * (torch.tensor([width, height]) - sides)
    return masks, torch.cat([corner, corner + sides], dim=1)


def bench_paste(repeats: int, n: int = 100, size: tuple[int, int] = (800, 1333)) -> dict:
    """Ours vs torchvision's ``paste_masks_in_image`` (thresholded at 0.5), with their agreement."""
    masks, boxes = detections_like_coco(n, size)
    ours = paste_masks_in_image(masks, boxes, size)
    stock = stock_paste(masks, boxes, size, padding=1)[:, 0] > 0.5
    differ = (ours != stock).sum().item()
    return {
        "ours": median_time(lambda: paste_masks_in_image(masks, boxes, size), repeats),
        "torchvision": median_time(lambda: stock_paste(masks, boxes, size, padding=1) > 0.5, repeats),
        "agreement": 1 - differ / ours.numel(),
        "agreement_foreground": 1 - differ / (ours | stock).sum().item(),
    }


def _predictions_from_ground_truth(coco: COCO, copies: int, seed: int = 0) -> list[dict]:
    """``copies`` jittered detections per ground-truth instance, with boxes and RLE masks."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for ann in coco.loadAnns(coco.getAnnIds()):
        img = coco.imgs[ann["image_id"]]
        rle = coco.annToRLE(ann)
        x, y, w, h = ann["bbox"]
        for _ in range(copies):
            jitter = (torch.rand(4, generator=g) - 0.5) * 0.2 * torch.tensor([w, h, w, h])
            box = [x + jitter[0].item(), y + jitter[1].item(), w + jitter[2].item(), h + jitter[3].item()]
            segm = rle if torch.rand(1, generator=g).item() < 0.5 else mask_utils.frPyObjects(
                [[box[0], box[1], box[0] + box[2], box[1], box[0] + box[2], box[1] + box[3], box[0], box[1] + box[3]]],
                img["height"], img["width"])[0]
            out.append({"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": box,
                        "segmentation": segm, "score": torch.rand(1, generator=g).item()})
    return out


def _evaluate(backend: CocoBackend, gt, predictions: list[dict], task: str) -> list[float]:
    with contextlib.redirect_stdout(io.StringIO()):
        ev = backend.cocoeval(gt, gt.loadRes(copy.deepcopy(predictions)), task)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats[:12]]


def bench_coco_eval(dataset: str, copies: int, repeats: int) -> dict:
    """Seconds to evaluate bbox + segm for ``copies`` jittered detections per instance of ``dataset``,
    with pycocotools and (when installed) faster-coco-eval, and the largest difference of their stats."""
    get_dataset_records(dataset)  # generates the split on first use
    json_file = MetadataCatalog.get(dataset).json_file
    with contextlib.redirect_stdout(io.StringIO()):
        predictions = _predictions_from_ground_truth(COCO(json_file), copies)
    result: dict = {"predictions": len(predictions), "images": None, "seconds": {}, "stats": {}}
    # pycocotools, and faster-coco-eval when it is installed ("auto" resolves to pycocotools otherwise).
    for backend in {b.name: b for b in (coco_backend("pycocotools"), coco_backend("auto"))}.values():
        with contextlib.redirect_stdout(io.StringIO()):
            gt = backend.coco(json_file)
        result["images"] = len(gt.getImgIds())
        result["seconds"][backend.name] = median_time(
            lambda b=backend, g=gt: [_evaluate(b, g, predictions, t) for t in ("bbox", "segm")], repeats, warmup=0)
        result["stats"][backend.name] = {t: _evaluate(backend, gt, predictions, t) for t in ("bbox", "segm")}
    if len(result["stats"]) == 2:  # nothing to compare with a single backend
        first, second = result["stats"].values()
        result["max_stat_difference"] = max(abs(a - b) for t in ("bbox", "segm") for a, b in zip(first[t], second[t]))
    return result


def bench_loader(config: str, workers: int, batches: int) -> float:
    """Images per second of ``config``'s training loader (default augmentations) after one batch."""
    cfg = LazyConfig.load(config)
    cfg.dataloader.train.num_workers = workers
    loader = iter(instantiate(cfg.dataloader.train))
    next(loader)  # not timed: starts the workers and fills their queues
    start = time.perf_counter()
    count = sum(len(b) for b in itertools.islice(loader, batches))
    return count / (time.perf_counter() - start)


def matmul_flops_per_second(n: int = 2048, seconds: float = 6.0) -> float:
    """Sustained dense fp32 matmul throughput of this process: 2 n^3 FLOPs per product, averaged over
    back-to-back products for ``seconds`` (about one R-50-FPN inference). Single short products ran
    30-60% faster than that in bursts, which would understate what a seconds-long model gets."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)


def model_flops(model: torch.nn.Module, image: torch.Tensor) -> float:
    """FLOPs of one inference, a multiply-add counted as 2 (fvcore counts it as 1)."""
    return 2e9 * count_flops(model, image)["gflops"]


def module_flops(module: torch.nn.Module, image: torch.Tensor) -> float:
    """FLOPs (multiply-add = 2) of ``module`` on the float version of a uint8 ``(3, H, W)`` image, padded to 32."""
    from fvcore.nn import FlopCountAnalysis

    height, width = (-(-s // 32) * 32 for s in image.shape[-2:])
    x = torch.zeros(1, 3, height, width)
    x[0, :, : image.shape[-2], : image.shape[-1]] = image.float()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(module.eval(), (x,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return 2.0 * analysis.total()


def write_json(path: str, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
