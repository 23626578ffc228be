"""The Mask R-CNN meta-architecture: normalize, pad, backbone, proposals, ROI heads, post-process."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList

from ...layers.mask_ops import paste_masks_in_image
from ...layers.precision import autocast
from ...registry import META_ARCH_REGISTRY

__all__ = ["GeneralizedRCNN", "detector_postprocess"]

INFERENCE_DTYPES = ("float32", "float64", "bfloat16", "float16", "auto")


@META_ARCH_REGISTRY.register()
class GeneralizedRCNN(nn.Module):
    """Two-stage detector over the model input/output contracts (see :mod:`maskrcnn_ext.modeling`).

    Args:
        backbone: ``(B, 3, H, W) -> {name: map}`` with a ``strides`` dict.
        proposal_generator: ``(ImageList, maps, targets) -> (proposals, losses)``.
        roi_heads: ``(maps, proposals, image_sizes, targets) -> (detections, losses)``.
        pixel_mean / pixel_std: per-channel statistics in 0..255 used to normalize inputs, in the
            order of ``input_format``.
        input_format: the channel order the network's weights expect. Images always arrive RGB
            (the data contract); "BGR" reverses their channels before normalizing, for weights
            trained on BGR input (MSRA, Detectron and Detectron2 models).
        size_divisibility: pad the batch to a multiple of this; 32 suits ResNet-FPN (the extra p6
            level is max-pooled from p5 and needs no padding of its own).
        mask_threshold: probability at which pasted masks are binarized.
        channels_last_inference: at inference, hand the backbone a channels-last (NHWC) batch, so
            the convolutions run in that layout: oneDNN's CPU forward kernels are faster in it
            (R-50-FPN at 800x1333: about 0.89x the time, benchmarks/README.md), while its backward
            kernels were slower (a training step took 1.2-1.5x as long), so training keeps NCHW.
            Outputs equal the default layout's up to float summation order.
        inference_dtype: ``"float32"`` (the model's own precision), or ``"bfloat16"`` / ``"float16"``
            / ``"auto"`` to run inference under autocast (:mod:`maskrcnn_ext.layers.precision`: the
            convs and matmuls in that dtype, every decision and the outputs in full precision).
            Set it in the config (``model.inference_dtype=...``) and --eval-only, ``predict`` and the
            benchmarks all run in it.
        compile_inference: at inference, run the backbone through ``torch.compile`` (Inductor),
            compiled at the first call (tens of seconds on 2 CPU cores; again for a new input shape
            until it compiles shape-generic code). It pays in bfloat16 at standard widths: R-50-FPN
            at 800x1333 ran 1.27x faster than eager bfloat16 (benchmarks/README.md); float32 and
            the narrow demo model gain nothing. The rest of the model (data-dependent top-k, NMS,
            sampling) stays eager. Training has its own setting, ``train.compile_backbone``.
    """

    def __init__(self, *, backbone: nn.Module, proposal_generator: nn.Module, roi_heads: nn.Module,
                 pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 pixel_std: Sequence[float] = (58.395, 57.12, 57.375), size_divisibility: int = 32,
                 mask_threshold: float = 0.5, channels_last_inference: bool = False,
                 input_format: str = "RGB", inference_dtype: str = "float32",
                 compile_inference: bool = False) -> None:
        super().__init__()
        if input_format not in ("RGB", "BGR"):
            raise ValueError(f"input_format must be 'RGB' or 'BGR', got {input_format!r}")
        self.input_format = input_format
        self.backbone = backbone
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), persistent=False)
        self.size_divisibility = size_divisibility
        self.mask_threshold = mask_threshold
        self.channels_last_inference = channels_last_inference
        self.inference_dtype = inference_dtype
        self.compile_inference = compile_inference
        if inference_dtype not in INFERENCE_DTYPES:
            raise ValueError(f"inference_dtype must be one of {INFERENCE_DTYPES}, got {inference_dtype!r}")

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def forward(self, batched_inputs: list[dict[str, Any]]) -> dict[str, Tensor] | list[dict[str, Any]]:
        """
        Args:
            batched_inputs: per image ``{"image": uint8 (3, H, W), "height", "width", ...}`` plus
                ``"instances"`` (``boxes``, ``classes``, ``masks``, and ``keypoints`` ``(N, K, 3)`` for
                keypoint models) and optionally ``"sample_seed"`` in training.

        Returns:
            training: ``{loss_name: scalar}``; inference: per image ``{"instances": {...}}`` at the
            original ``height x width``.
        """
        if not self.training:
            return self.inference(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        targets = [self._targets_to_device(x, i) for i, x in enumerate(batched_inputs)]
        features = self.backbone(images.tensors)
        proposals, losses = self.proposal_generator(images, features, targets)
        _, detector_losses = self.roi_heads(features, proposals, images.image_sizes, targets)
        losses.update(detector_losses)
        return losses

    @torch.no_grad()
    def inference(self, batched_inputs: list[dict[str, Any]], do_postprocess: bool = True) -> list[dict[str, Any]]:
        """Detections per image; with ``do_postprocess`` mapped back to the original image size."""
        images = self.preprocess_image(batched_inputs)
        with autocast(self.device.type, self.inference_dtype):
            features = self._inference_backbone()(images.tensors)
            proposals, _ = self.proposal_generator(images, features)
            detections, _ = self.roi_heads(features, proposals, images.image_sizes)
        if not do_postprocess:
            return [{"instances": d} for d in detections]
        return [{"instances": detector_postprocess(d, size, (x.get("height", size[0]), x.get("width", size[1])),
                                                   mask_threshold=self.mask_threshold)}
                for d, x, size in zip(detections, batched_inputs, images.image_sizes)]

    def _inference_backbone(self) -> nn.Module:
        if not self.compile_inference:
            return self.backbone
        compiled = self.__dict__.get("_compiled_backbone")
        if compiled is None:
            # Kept out of the module tree, so that state dicts and parameter lists see one backbone.
            compiled = self.__dict__["_compiled_backbone"] = torch.compile(self.backbone)
        return compiled

    def preprocess_image(self, batched_inputs: list[dict[str, Any]]) -> ImageList:
        """Normalize and zero-pad (after normalization) into a ``(B, 3, Hp, Wp)`` batch."""
        images = [self._check_image(x, i) for i, x in enumerate(batched_inputs)]
        sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        stride = self.size_divisibility
        max_h = -(-max(h for h, _ in sizes) // stride) * stride
        max_w = -(-max(w for _, w in sizes) // stride) * stride
        # The batch takes the model's dtype (float32, or float64 for numerical checks).
        batch = images[0].new_zeros((len(images), 3, max_h, max_w), dtype=self.pixel_mean.dtype)
        for i, im in enumerate(images):
            if self.input_format == "BGR":
                im = im.flip(0)
            batch[i, :, : im.shape[-2], : im.shape[-1]] = (im.to(batch.dtype) - self.pixel_mean) / self.pixel_std
        if self.channels_last_inference and not self.training:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return ImageList(batch, sizes)

    def _check_image(self, x: dict[str, Any], index: int) -> Tensor:
        image = x.get("image") if isinstance(x, dict) else None
        if not isinstance(image, Tensor) or image.dim() != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise ValueError(f"Input {index}: 'image' must be a (3, H, W) tensor, got {shape}")
        return image.to(self.device, non_blocking=True)

    def _targets_to_device(self, x: dict[str, Any], index: int) -> dict[str, Tensor]:
        if "instances" not in x:
            raise ValueError(f"Input {index} ({x.get('file_name', 'no file name')}) has no 'instances' "
                             "in training mode")
        inst = x["instances"]
        target = {"boxes": inst["boxes"].to(self.device, self.pixel_mean.dtype),
                  "classes": inst["classes"].to(self.device, torch.int64),
                  "masks": inst["masks"].to(self.device) if "masks" in inst else None}
        if "keypoints" in inst:
            target["keypoints"] = inst["keypoints"].to(self.device, self.pixel_mean.dtype)
        if "sample_seed" in x:
            # The heads draw this image's anchor and RoI samples from it (see roi_heads.sampling).
            target["sample_seed"] = int(x["sample_seed"])
        return target


def detector_postprocess(detections: dict[str, Tensor], input_size: tuple[int, int],
                         output_size: tuple[int, int], *, mask_threshold: float = 0.5) -> dict[str, Tensor]:
    """Rescale one image's detections from the network input size to the original image size.

    Args:
        detections: ``{"boxes": (D, 4), "scores", "classes"}`` and optionally ``"mask_probs"``
            ``(D, M, M)``, ``"mask_scores"`` and ``"keypoints"`` ``(D, K, 3)`` ``(x, y, score)``, in
            input-image pixels.
        input_size: ``(h, w)`` the network saw; output_size: original ``(H, W)``.

    Returns:
        ``{"boxes", "scores", "classes", "mask_scores"}``, ``"masks"`` bool ``(D, H, W)`` when
        the model predicts masks, and ``"keypoints"`` ``(D, K, 3)`` in original-image pixels when it
        predicts keypoints.
    """
    out_h, out_w = int(output_size[0]), int(output_size[1])
    scale = torch.tensor([out_w / input_size[1], out_h / input_size[0]] * 2, device=detections["boxes"].device)
    boxes = detections["boxes"] * scale
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, out_w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, out_h)
    result = {"boxes": boxes, "scores": detections["scores"], "classes": detections["classes"],
              "mask_scores": detections.get("mask_scores", detections["scores"])}
    if "keypoints" in detections:
        # Continuous coordinates scale exactly; the score column is left as it is.
        result["keypoints"] = detections["keypoints"] * scale.new_tensor([scale[0], scale[1], 1.0])
    if "mask_probs" in detections:
        result["masks"] = paste_masks_in_image(detections["mask_probs"], boxes, (out_h, out_w),
                                               threshold=mask_threshold)
    return result


