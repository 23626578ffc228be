"""Mask losses of the paper's Table 2b, and the inference decodings that match them.

Training and inference are separate jobs, done by separate callables:

- a **mask loss**, ``loss(mask_logits, classes, targets) -> scalar``, trains the positive RoIs;
- a **mask decoder**, ``decode(mask_logits, classes) -> (R, M, M)`` probabilities, turns the
  detections' logits into the masks that are pasted and thresholded at 0.5.

Both take ``(R, K, M, M)`` logits (``K = 1`` for a class-agnostic head) and the ``(R,)`` class of
each RoI. A loss fixes what its logits mean, so only one decoding is right for it (a multinomial
mask read through a sigmoid loses the competition between classes it was trained with). Each loss
class therefore names its decoder in ``decoder``, and the ROI heads take only the loss and decode
with :func:`mask_decoder_for` of it: there is no second setting that could disagree with the first,
and an object that names no decoder is refused with an error that says so.

Configs choose the loss by import path, e.g. ``mask_loss=L(SoftmaxMaskLoss)()``; the classes stay in
``MASK_LOSS_REGISTRY`` for ``maskrcnn-ext list`` and for the detectron2 bridge's yacs names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import MASK_LOSS_REGISTRY

__all__ = ["MaskDecoder", "MaskLoss", "SigmoidMaskLoss", "SoftmaxMaskLoss", "mask_decoder_for", "select_class_masks",
           "sigmoid_mask_loss", "sigmoid_mask_probs", "softmax_mask_loss", "softmax_mask_probs"]

MaskDecoder = Callable[[Tensor, Tensor], Tensor]
"""``(mask_logits (R, K, M, M), classes (R,)) -> (R, M, M)`` foreground probabilities."""


class MaskLoss(Protocol):
    """What the ROI heads need of a mask loss: the loss itself and the decoder that matches it.

    ``decoder`` is a class attribute (a ``staticmethod``), a property of the loss's definition, not
    of one instance's settings.
    """

    decoder: ClassVar[MaskDecoder]

    def __call__(self, mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """``(R, K, M, M)`` logits, ``(R,)`` classes, ``(R, M, M)`` targets in {0, 1} -> scalar."""
        ...


def select_class_masks(mask_logits: Tensor, classes: Tensor) -> Tensor:
    """``(R, K, M, M)`` logits and ``(R,)`` classes -> ``(R, M, M)``: each RoI's class channel."""
    if mask_logits.shape[1] == 1:
        return mask_logits[:, 0]
    # classes.shape[0], not len(classes): a size torch.export can keep symbolic.
    return mask_logits[torch.arange(classes.shape[0], device=classes.device), classes]


# --- sigmoid (the paper's default) ----------------------------------------------------------------
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


def sigmoid_mask_probs(mask_logits: Tensor, classes: Tensor) -> Tensor:
    """Decoder of :func:`sigmoid_mask_loss`: the sigmoid of each RoI's class channel.

    Args:
        mask_logits: ``(R, K, M, M)`` (or ``(R, 1, M, M)`` class-agnostic).
        classes: ``(R,)`` predicted classes of the detections.

    Returns:
        ``(R, M, M)`` foreground probabilities.
    """
    return select_class_masks(mask_logits, classes).sigmoid()


# --- softmax (Table 2b's multinomial masks) ---------------------------------------------------------
def softmax_mask_loss(mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
    """Mean per-pixel cross entropy over K + 1 labels: the K class channels and a background channel
    whose logit is fixed at 0.

    A pixel inside the ground-truth mask is labelled with the RoI's class, any other pixel with
    background, so every class channel receives gradient and classes compete for each pixel.

    Args:
        mask_logits: ``(R, K, M, M)`` (or ``(R, 1, M, M)`` class-agnostic, where it equals
            :func:`sigmoid_mask_loss`).
        classes: ``(R,)`` ground-truth classes of the positive RoIs.
        targets: ``(R, M, M)`` in {0, 1}.

    Returns:
        A scalar; zero (keeping the graph) when there are no RoIs.
    """
    if len(mask_logits) == 0:
        return mask_logits.sum() * 0
    num_channels = mask_logits.shape[1]
    fg_label = classes if num_channels > 1 else torch.zeros_like(classes)
    labels = torch.where(targets > 0.5, fg_label.view(-1, 1, 1), num_channels)  # K = background
    return F.cross_entropy(_with_background(mask_logits), labels)


def softmax_mask_probs(mask_logits: Tensor, classes: Tensor) -> Tensor:
    """Decoder of :func:`softmax_mask_loss`: per pixel, ``p_k / (p_k + p_r)`` for the RoI's class
    ``k`` and its strongest rival ``r`` (another class or background), i.e.
    ``sigmoid(z_k - max_{j != k} z_j)``.

    A multinomial mask is decoded by argmax, as in FCNs: the pixel belongs to the object when its
    class wins. This value is above 0.5 exactly there, so the usual 0.5 threshold after pasting
    performs the argmax. The raw softmax probability would not: when K + 1 labels share a pixel,
    the winner's probability can stay below 0.5. With one channel it is the sigmoid.

    Args:
        mask_logits: ``(R, K, M, M)`` (or ``(R, 1, M, M)`` class-agnostic).
        classes: ``(R,)`` predicted classes of the detections.

    Returns:
        ``(R, M, M)`` foreground probabilities.
    """
    logits = _with_background(mask_logits)
    rows = torch.arange(classes.shape[0], device=classes.device)
    own_channel = classes if mask_logits.shape[1] > 1 else torch.zeros_like(classes)
    own = logits[rows, own_channel]
    rivals = logits.index_put((rows, own_channel), own.new_tensor(float("-inf")))
    return (own - rivals.amax(dim=1)).sigmoid()


def _with_background(mask_logits: Tensor) -> Tensor:
    """Append the fixed zero background logit: ``(R, K, M, M) -> (R, K + 1, M, M)``."""
    zeros = mask_logits.new_zeros((mask_logits.shape[0], 1) + tuple(mask_logits.shape[2:]))
    return torch.cat([mask_logits, zeros], dim=1)


# --- the config-facing loss objects --------------------------------------------------------------
@MASK_LOSS_REGISTRY.register()
@dataclass(frozen=True)
class SigmoidMaskLoss:
    """Independent per-class masks (the paper's default): binary cross entropy on the RoI's
    ground-truth class channel only, so classes never compete for a pixel
    (:func:`sigmoid_mask_loss`). Decoded by :func:`sigmoid_mask_probs`.
    """

    decoder: ClassVar[MaskDecoder] = staticmethod(sigmoid_mask_probs)

    def __call__(self, mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """See :func:`sigmoid_mask_loss`."""
        return sigmoid_mask_loss(mask_logits, classes, targets)


@MASK_LOSS_REGISTRY.register()
@dataclass(frozen=True)
class SoftmaxMaskLoss:
    """Multinomial masks (Table 2b's "softmax"): per pixel, a softmax across the K class channels
    and a background channel whose logit is fixed at 0 (:func:`softmax_mask_loss`). Decoded by
    argmax, :func:`softmax_mask_probs`.

    Unlike the sigmoid loss, every class channel receives gradient, so classes compete for each
    pixel, which is the coupling the paper finds harmful. With a single channel (K = 1) the softmax
    over ``[logit, 0]`` is exactly the sigmoid, so the class-agnostic case reduces to
    :class:`SigmoidMaskLoss`.
    """

    decoder: ClassVar[MaskDecoder] = staticmethod(softmax_mask_probs)

    def __call__(self, mask_logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
        """See :func:`softmax_mask_loss`."""
        return softmax_mask_loss(mask_logits, classes, targets)


def mask_decoder_for(mask_loss: MaskLoss) -> MaskDecoder:
    """The decoder that matches ``mask_loss``: the one its class names in ``decoder``.

    Raises:
        TypeError: ``mask_loss`` is not a mask loss object (e.g. a registry name, as configs used to
            pass, or a bare function that names no decoder).
    """
    decoder = getattr(type(mask_loss), "decoder", None)
    if not callable(mask_loss) or not callable(decoder):
        raise TypeError(
            f"A mask loss must be a callable object whose class names its inference decoder in a "
            f"'decoder' class attribute (as SigmoidMaskLoss and SoftmaxMaskLoss do); got {mask_loss!r}. "
            "In a config, pass the object by import path, e.g. mask_loss=L(SoftmaxMaskLoss)()."
        )
    return decoder

