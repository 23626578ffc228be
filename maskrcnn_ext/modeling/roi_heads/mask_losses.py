"""Mask losses of the paper's Table 2b, each paired with the inference that matches its training.

A mask loss object has two jobs: ``loss(logits, classes, targets)`` for the positive RoIs and
``probs(logits, classes)`` for the detections. Both take ``(R, K, M, M)`` logits (``K = 1`` for a
class-agnostic head) and the ``(R,)`` class of each RoI.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import MASK_LOSS_REGISTRY

__all__ = ["SigmoidMaskLoss", "SoftmaxMaskLoss", "select_class_masks", "sigmoid_mask_loss"]


def select_class_masks(mask_logits: Tensor, classes: Tensor) -> Tensor:
    """``(R, K, M, M)`` logits and ``(R,)`` classes -> ``(R, M, M)``: each RoI's class channel."""
    if mask_logits.shape[1] == 1:
        return mask_logits[:, 0]
    return mask_logits[torch.arange(len(classes), device=classes.device), classes]


def sigmoid_mask_loss(mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
    """Mean per-pixel binary cross entropy on the ground-truth class's mask only (the paper's L_mask).

    Args:
        mask_logits: ``(R, K, M, M)`` (or ``(R, 1, M, M)`` class-agnostic).
        classes: ``(R,)`` ground-truth classes of the positive RoIs.
        targets: ``(R, M, M)`` binary targets.

    Returns:
        A scalar; zero (keeping the graph) when there are no RoIs.
    """
    if len(mask_logits) == 0:
        return mask_logits.sum() * 0
    selected = select_class_masks(mask_logits, classes)
    return F.binary_cross_entropy_with_logits(selected, targets.to(selected.dtype))


@MASK_LOSS_REGISTRY.register()
class SigmoidMaskLoss:
    """Independent per-class masks (the paper's default): binary cross entropy on the RoI's
    ground-truth class channel only, so classes never compete for a pixel.
    """

    def loss(self, mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """See :func:`sigmoid_mask_loss`."""
        return sigmoid_mask_loss(mask_logits, classes, targets)

    def probs(self, mask_logits: Tensor, classes: Tensor) -> Tensor:
        """``(R, M, M)`` foreground probability of each RoI's class."""
        return select_class_masks(mask_logits, classes).sigmoid()


@MASK_LOSS_REGISTRY.register()
class SoftmaxMaskLoss:
    """Multinomial masks (Table 2b's "softmax"): per pixel, a softmax across the K class channels
    and a background channel whose logit is fixed at 0.

    A pixel inside the ground-truth mask is labelled with the RoI's class, any other pixel with
    background. Unlike the sigmoid loss, every class channel receives gradient, so classes compete
    for each pixel, which is the coupling the paper finds harmful. With a single channel (K = 1) the
    softmax over ``[logit, 0]`` is exactly the sigmoid, so the class-agnostic case reduces to
    :class:`SigmoidMaskLoss`.
    """

    def loss(self, mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """Mean per-pixel cross entropy over K + 1 labels. ``targets``: ``(R, M, M)`` in {0, 1}."""
        if len(mask_logits) == 0:
            return mask_logits.sum() * 0
        num_channels = mask_logits.shape[1]
        fg_label = classes if num_channels > 1 else torch.zeros_like(classes)
        labels = torch.where(targets > 0.5, fg_label.view(-1, 1, 1), num_channels)  # K = background
        return F.cross_entropy(_with_background(mask_logits), labels)

    def probs(self, mask_logits: Tensor, classes: Tensor) -> Tensor:
        """``(R, M, M)``: per pixel, ``p_k / (p_k + p_r)`` for the RoI's class ``k`` and its strongest
        rival ``r`` (another class or background), i.e. ``sigmoid(z_k - max_{j != k} z_j)``.

        A multinomial mask is decoded by argmax, as in FCNs: the pixel belongs to the object when
        its class wins. This value is above 0.5 exactly there, so the usual 0.5 threshold after
        pasting performs the argmax. The raw softmax probability would not: when K + 1 labels share
        a pixel, the winner's probability can stay below 0.5. With one channel it is the sigmoid.
        """
        logits = _with_background(mask_logits)
        rows = torch.arange(len(classes), device=classes.device)
        own_channel = classes if mask_logits.shape[1] > 1 else torch.zeros_like(classes)
        own = logits[rows, own_channel]
        rivals = logits.index_put((rows, own_channel), own.new_tensor(float("-inf")))
        return (own - rivals.amax(dim=1)).sigmoid()


def _with_background(mask_logits: Tensor) -> Tensor:
    """Append the fixed zero background logit: ``(R, K, M, M) -> (R, K + 1, M, M)``."""
    zeros = mask_logits.new_zeros((mask_logits.shape[0], 1) + tuple(mask_logits.shape[2:]))
    return torch.cat([mask_logits, zeros], dim=1)
