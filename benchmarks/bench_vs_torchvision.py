#!/usr/bin/env python
"""Speed of our Mask R-CNN against the same architecture assembled from torchvision's ``MaskRCNN``.

Both models share the backbone module (ResNet bottom-up + FPN) and torchvision's RPN settings, so the
comparison isolates what this toolkit writes itself: ROI sampling, poolers, heads, losses and
post-processing. Timings alternate between the two models in one run (the machines are shared and
noisy) and report medians after a warm-up; ratios < 1 mean ours is faster.

    python benchmarks/bench_vs_torchvision.py                      # the CPU demo config
    python benchmarks/bench_vs_torchvision.py --config-file CONFIG --rounds 5
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections import OrderedDict

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.config import LazyConfig, instantiate


class _TorchvisionBackbone(nn.Module):
    """Our FPN backbone with the output naming torchvision's detection models expect."""

    def __init__(self, fpn: nn.Module) -> None:
        super().__init__()
        self.fpn = fpn
        self.out_channels = next(iter(fpn.out_channels.values()))

    def forward(self, x: torch.Tensor) -> OrderedDict:
        levels = list(self.fpn(x).values())
        return OrderedDict([(str(i), f) for i, f in enumerate(levels[:-1])] + [("pool", levels[-1])])


def build_stock(cfg, ours: nn.Module, image_size: tuple[int, int], score_thresh: float) -> MaskRCNN:
    """torchvision's MaskRCNN with the config's widths, sampling and inference settings."""
    rpn, heads = cfg.model.proposal_generator, cfg.model.roi_heads
    backbone = _TorchvisionBackbone(instantiate(cfg.model.backbone))
    backbone.fpn.load_state_dict(ours.backbone.state_dict())
    ch, k = backbone.out_channels, heads.num_classes
    names = [str(i) for i in range(len(heads.box_in_features))]
    box_dim = heads.box_head.fc_dims[-1]
    mask_dims = list(heads.mask_head.conv_dims)
    return MaskRCNN(
        backbone, num_classes=None,
        min_size=min(image_size), max_size=max(image_size) + 1,
        image_mean=[v / 255 for v in cfg.model.pixel_mean], image_std=[v / 255 for v in cfg.model.pixel_std],
        rpn_anchor_generator=AnchorGenerator(tuple(tuple(s) for s in rpn.anchor_sizes),
                                             (tuple(rpn.aspect_ratios),) * len(rpn.anchor_sizes)),
        rpn_head=RPNHead(ch, len(rpn.aspect_ratios)),
        rpn_pre_nms_top_n_train=rpn.pre_nms_topk_train, rpn_pre_nms_top_n_test=rpn.pre_nms_topk_test,
        rpn_post_nms_top_n_train=rpn.post_nms_topk_train, rpn_post_nms_top_n_test=rpn.post_nms_topk_test,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2), box_head=TwoMLPHead(ch * 49, box_dim),
        box_predictor=FastRCNNPredictor(box_dim, k + 1), box_batch_size_per_image=heads.batch_size_per_image,
        box_score_thresh=score_thresh, box_detections_per_img=100,
        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2), mask_head=MaskRCNNHeads(ch, mask_dims, 1),
        mask_predictor=MaskRCNNPredictor(mask_dims[-1], mask_dims[-1], k + 1),
    )


def to_stock_batch(batch: list[dict]) -> tuple[list[torch.Tensor], list[dict]]:
    images = [x["image"].float() / 255 for x in batch]
    targets = [{"boxes": x["instances"]["boxes"], "labels": x["instances"]["classes"] + 1,
                "masks": x["instances"]["masks"].to(torch.uint8)} for x in batch]
    return images, targets


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def train_step(optimizer: torch.optim.Optimizer, compute_losses) -> None:
    losses = compute_losses()
    optimizer.zero_grad(set_to_none=True)
    sum(losses.values()).backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", default="configs/Shapes/mask_rcnn_R_18_FPN_demo.py")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    parser.add_argument("--iters", type=int, default=5, help="training iterations per model per round")
    parser.add_argument("--images", type=int, default=10, help="inference images per model per round")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"), help="input size")
    args = parser.parse_args()

    torch.manual_seed(0)
    cfg = LazyConfig.load(args.config_file)
    cfg.dataloader.train.num_workers = 0
    cfg.dataloader.test.num_workers = 0
    # One fixed input size, so torchvision's internal resize is the identity and both see equal pixels.
    for loader in (cfg.dataloader.train, cfg.dataloader.test):
        loader.mapper.augmentations = [L(v2.Resize)(size=list(args.size))]
    cfg.model.roi_heads.box_predictor.test_score_thresh = 0.0  # both models return 100 detections
    # Like for like: stock trains its mask head on every foreground RoI, so ours does too here.
    cfg.model.roi_heads.mask_rois_per_image = None
    ours = instantiate(cfg.model)
    batches = list(itertools.islice(iter(instantiate(cfg.dataloader.train)), args.iters))
    test_inputs = [b[0] for b in itertools.islice(iter(instantiate(cfg.dataloader.test)), args.images)]
    size = tuple(batches[0][0]["image"].shape[-2:])
    stock = build_stock(cfg, ours, size, score_thresh=0.0)

    def optimizer_for(model):
        return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4, momentum=0.9)

    opt_ours, opt_stock = optimizer_for(ours), optimizer_for(stock)
    stock_batches = [to_stock_batch(b) for b in batches]
    stock_tests = [[x["image"].float() / 255] for x in test_inputs]
    # Warm-up (allocator, oneDNN kernel selection) before anything is timed.
    ours.train(), stock.train()
    train_step(opt_ours, lambda: ours(batches[0]))
    train_step(opt_stock, lambda: stock(*stock_batches[0]))

    train = {"ours": [], "torchvision": []}
    infer = {"ours": [], "torchvision": []}
    detections = {"ours": [], "torchvision": []}
    for _ in range(args.rounds):
        ours.train(), stock.train()
        for b, sb in zip(batches, stock_batches):
            train["ours"].append(timed(lambda: train_step(opt_ours, lambda: ours(b))))
            train["torchvision"].append(timed(lambda: train_step(opt_stock, lambda: stock(*sb))))
        ours.eval(), stock.eval()
        with torch.no_grad():
            for x, sx in zip(test_inputs, stock_tests):
                infer["ours"].append(timed(lambda: detections["ours"].append(len(ours([x])[0]["instances"]["boxes"]))))
                infer["torchvision"].append(timed(lambda: detections["torchvision"].append(len(stock(sx)[0]["boxes"]))))

    rows = []
    for name, series in (("train s/iter", train), ("inference s/image", infer)):
        a, b = statistics.median(series["ours"]), statistics.median(series["torchvision"])
        rows.append(f"| {name} | {a:.4f} | {b:.4f} | {a / b:.3f} |")
    print(f"config: {args.config_file}; batch {len(batches[0])} x {size[0]}x{size[1]} px; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"detections per image (median): ours {statistics.median(detections['ours'])}, "
          f"torchvision {statistics.median(detections['torchvision'])}")
    print("| measure | ours | torchvision MaskRCNN | ratio (ours / stock) |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
