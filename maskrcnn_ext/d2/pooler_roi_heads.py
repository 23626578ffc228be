"""detectron2 ROI heads whose yacs ``POOLER_TYPE`` keys may also name :class:`ExtROIPooler`'s types.

detectron2's ROI heads build their ``ROIPooler`` themselves, in the ``_init_*_head`` classmethods of
``StandardROIHeads`` and in ``Res5ROIHeads.from_config``, and ``ROIPooler`` knows only detectron2's
types. The heads here let detectron2 build everything as usual, with ``ROIAlignV2`` standing in for
a type of ours, and then replace that one pooler with an :class:`ExtROIPooler` of the requested
type over the same levels. Detectron2's own types (and ``""``, no pooler) pass through untouched, so
these heads build exactly detectron2's modules for a config that names none of ours.

Registered in ``ROI_HEADS_REGISTRY``: ``ExtPoolerROIHeads`` (``StandardROIHeads``; the box, mask
and keypoint poolers, ``MODEL.ROI_{BOX,MASK,KEYPOINT}_HEAD.POOLER_TYPE``) and
``ExtPoolerRes5ROIHeads`` (``Res5ROIHeads``; its one pooler, ``MODEL.ROI_BOX_HEAD.POOLER_TYPE``).
The mask-scoring heads build on them.
"""
from __future__ import annotations

from typing import Callable

from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.mask_head import build_mask_head
from detectron2.modeling.roi_heads.roi_heads import Res5ROIHeads, StandardROIHeads
from torch import nn

from .poolers import POOLER_TYPES, ext_pooler_like, needs_fixed_sampling

__all__ = ["D2_POOLER_TYPES", "ExtPoolerROIHeads", "ExtPoolerRes5ROIHeads", "build_with_ext_pooler",
           "res5_output_shape"]

# What detectron2's ROIPooler builds itself ("" is a mask or keypoint branch without a pooler).
D2_POOLER_TYPES = ("", "ROIPool", "ROIAlign", "ROIAlignV2", "ROIAlignRotated")
_STAND_IN = "ROIAlignV2"


def build_with_ext_pooler(build: Callable[[CfgNode, dict], dict], cfg: CfgNode, input_shape: dict[str, ShapeSpec],
                          *, head: str, pooler_key: str) -> dict:
    """Run detectron2's builder ``build(cfg, input_shape)``, with ``ret[pooler_key]`` an
    :class:`ExtROIPooler` when ``MODEL.<head>.POOLER_TYPE`` is one of its types.

    Args:
        build: a bound ``_init_*_head`` or ``from_config`` of detectron2's ROI heads.
        head: the config node of the pooler's keys, e.g. ``"ROI_BOX_HEAD"``.
        pooler_key: the key of the pooler in what ``build`` returns, e.g. ``"box_pooler"``.

    Raises:
        ValueError: a type neither detectron2's nor ours, or a type of ours that needs a fixed
            ``POOLER_SAMPLING_RATIO`` with 0 (adaptive). A branch that is off (no pooler built)
            is not checked, as detectron2 does not check it either.
    """
    node = cfg.MODEL[head]
    pooler_type, sampling_ratio = node.POOLER_TYPE, node.POOLER_SAMPLING_RATIO
    if pooler_type in D2_POOLER_TYPES:
        return build(cfg, input_shape)
    stand_in = cfg.clone()
    stand_in.defrost()
    stand_in.MODEL[head].POOLER_TYPE = _STAND_IN
    ret = build(stand_in, input_shape)
    if ret.get(pooler_key) is None:
        return ret
    key = f"MODEL.{head}.POOLER_TYPE"
    if pooler_type not in POOLER_TYPES:
        ours = sorted(set(POOLER_TYPES) - set(D2_POOLER_TYPES))
        raise ValueError(f"Unknown {key} {pooler_type!r}: detectron2's are {list(D2_POOLER_TYPES[1:])}, "
                         f"maskrcnn_ext.d2's {ours}")
    if sampling_ratio <= 0 and needs_fixed_sampling(pooler_type):
        raise ValueError(f"{key} {pooler_type!r} aggregates a fixed grid of samples per bin and needs "
                         f"MODEL.{head}.POOLER_SAMPLING_RATIO > 0 (e.g. 2), got {sampling_ratio}")
    ret[pooler_key] = ext_pooler_like(ret[pooler_key], pooler_type, sampling_ratio)
    return ret


class ExtPoolerROIHeads(StandardROIHeads):
    """detectron2's ``StandardROIHeads``; its yacs ``POOLER_TYPE`` keys may also name
    ``ROIWarp``, ``ROIWarpAvg``, ``ROIAlignMax`` or ``ROIAlignV2Max`` (with a sampling ratio > 0).

    Constructed from a LazyConfig it is ``StandardROIHeads`` itself: pass an ``ExtROIPooler`` there.
    """

    @classmethod
    def _init_box_head(cls, cfg, input_shape) -> dict:
        return build_with_ext_pooler(super()._init_box_head, cfg, input_shape, head="ROI_BOX_HEAD",
                                     pooler_key="box_pooler")

    @classmethod
    def _init_mask_head(cls, cfg, input_shape) -> dict:
        return build_with_ext_pooler(super()._init_mask_head, cfg, input_shape, head="ROI_MASK_HEAD",
                                     pooler_key="mask_pooler")

    @classmethod
    def _init_keypoint_head(cls, cfg, input_shape) -> dict:
        return build_with_ext_pooler(super()._init_keypoint_head, cfg, input_shape, head="ROI_KEYPOINT_HEAD",
                                     pooler_key="keypoint_pooler")


class ExtPoolerRes5ROIHeads(Res5ROIHeads):
    """detectron2's ``Res5ROIHeads``; its yacs ``MODEL.ROI_BOX_HEAD.POOLER_TYPE`` (the one res4
    pooler of both branches) may also name this bridge's types, as :class:`ExtPoolerROIHeads`.

    From yacs, the mask head is also told the size of the features it really receives, res5's
    output (half the pooler's side), where detectron2 passes the pooler's side: detectron2's FCN
    head ignores it, but an MLP mask head sizes its first layer by it.
    """

    @classmethod
    def from_config(cls, cfg, input_shape) -> dict:
        ret = build_with_ext_pooler(super().from_config, cfg, input_shape, head="ROI_BOX_HEAD", pooler_key="pooler")
        if ret.get("mask_head") is not None:
            ret["mask_head"] = build_mask_head(cfg, res5_output_shape(ret["res5"],
                                                                      cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION))
        return ret


def res5_output_shape(res5: nn.Module, pooler_resolution: int) -> ShapeSpec:
    """The shape of res5's output for pooled features of side ``pooler_resolution``: detectron2's
    res5 stage (``nn.Sequential`` of ``CNNBlockBase``) halves the side (its first block has stride 2)
    and ends with the last block's ``out_channels``."""
    side = (pooler_resolution + 1) // 2
    return ShapeSpec(channels=res5[-1].out_channels, height=side, width=side)
