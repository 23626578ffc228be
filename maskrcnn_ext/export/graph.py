"""The export-safe inference graph of a :class:`~maskrcnn_ext.modeling.meta_arch.GeneralizedRCNN`.

:class:`ExportableRCNN` wraps a trained model (sharing its modules and weights) and maps a padded
batch of images to flat detections of the whole batch:

inputs
    ``images``: float32 ``(B, 3, H, W)`` RGB pixels in 0..255, each image in the top-left corner of a
    zero-padded batch whose ``H`` and ``W`` are multiples of the model's ``size_divisibility``;
    ``image_sizes``: int64 ``(B, 2)`` the unpadded ``(h, w)`` of each image.
outputs (D detections of all images, grouped by image, best score first within each)
    ``boxes`` ``(D, 4)`` XYXY in input pixels, ``scores`` ``(D,)``, ``classes`` ``(D,)`` int64,
    ``batch_index`` ``(D,)`` int64; with a mask branch ``mask_probs`` ``(D, M, M)``; with a MaskIoU head
    ``mask_scores`` ``(D,)``; with ``paste_masks`` ``masks`` ``(D, H, W)`` probabilities in input pixels.

Normalisation (and the BGR channel flip of BGR-trained weights) happens inside the graph, so a
consumer hands it plain RGB pixels. Resizing and padding stay outside (see :mod:`.preprocess`).
The wrapped model is not changed: eager inference keeps its own, faster, per-image path.
"""
from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from ..modeling.meta_arch import GeneralizedRCNN
from .heads import detect_boxes, predict_masks
from .paste import paste_mask_probs
from .proposals import propose

__all__ = ["ExportableRCNN", "output_names"]

logger = logging.getLogger(__name__)


def output_names(model: GeneralizedRCNN, *, paste_masks: bool = False) -> tuple[str, ...]:
    """The names of :class:`ExportableRCNN`'s outputs for ``model``, in order."""
    names = ["boxes", "scores", "classes", "batch_index"]
    if model.roi_heads.mask_on:
        names.append("mask_probs")
        if getattr(model.roi_heads, "maskiou_head", None) is not None:
            names.append("mask_scores")
        if paste_masks:
            names.append("masks")
    return tuple(names)


class ExportableRCNN(nn.Module):
    """``(images, image_sizes) -> tuple of output tensors`` (names: :func:`output_names`).

    Args:
        model: the detector; put in eval mode. It runs in its parameters' dtype: an
            ``inference_dtype`` other than float32 (autocast) is not part of the graph.
        paste_masks: also output masks pasted into the padded input image, ``(D, H, W)``.
    """

    def __init__(self, *, model: GeneralizedRCNN, paste_masks: bool = False) -> None:
        super().__init__()
        if getattr(model.roi_heads, "keypoint_head", None) is not None:
            raise NotImplementedError("exporting a keypoint branch is not supported yet; export a box/mask model")
        if model.inference_dtype != "float32":
            logger.warning("The model's inference_dtype=%r is not exported: the graph runs in the "
                           "parameters' dtype", model.inference_dtype)
        self.model = model.eval()
        self.paste_masks = paste_masks and model.roi_heads.mask_on
        self.names = output_names(model, paste_masks=paste_masks)

    def normalize(self, images: Tensor, image_sizes: Tensor) -> Tensor:
        """``(B, 3, H, W)`` RGB 0..255 -> normalised, zero outside each image (as eager pads after
        normalising)."""
        model = self.model
        x = images.to(model.pixel_mean.dtype)
        if model.input_format == "BGR":
            x = x.flip(1)
        x = (x - model.pixel_mean) / model.pixel_std
        rows = torch.arange(x.shape[2], device=x.device)[None, :, None] < image_sizes[:, 0, None, None]
        cols = torch.arange(x.shape[3], device=x.device)[None, None, :] < image_sizes[:, 1, None, None]
        return torch.where((rows & cols)[:, None], x, torch.zeros_like(x))

    def forward(self, images: Tensor, image_sizes: Tensor) -> tuple[Tensor, ...]:
        """
        Args:
            images: float32 ``(B, 3, H, W)`` padded RGB batch in 0..255.
            image_sizes: int64 ``(B, 2)`` unpadded sizes.

        Returns:
            the tensors named by :attr:`names`, in that order.
        """
        model = self.model
        x = self.normalize(images, image_sizes)
        features = model.backbone(x)
        proposals, image_index = propose(model.proposal_generator, x, features, image_sizes)
        out = detect_boxes(model.roi_heads, features, proposals, image_index, image_sizes, x.shape[0])
        if model.roi_heads.mask_on:
            out = predict_masks(model.roi_heads, features, out)
            if self.paste_masks:
                out["masks"] = paste_mask_probs(out["mask_probs"], out["boxes"], x.shape[2], x.shape[3])
        return tuple(out[name] for name in self.names)
