"""The detectron2 bridge: this toolkit's components inside detectron2 models, configs and data.

Importing this package imports detectron2 and registers (once; importing again or reloading is
harmless) ``MaskScoringROIHeads``, ``MaskScoringRes5ROIHeads``, ``ExtPoolerROIHeads`` and
``ExtPoolerRes5ROIHeads`` (yacs ``POOLER_TYPE`` may name :class:`ExtROIPooler`'s types) into
detectron2's ``ROI_HEADS_REGISTRY`` and ``MaskRCNNMLPHead`` and ``MaskRCNNConvUpsampleSoftmaxHead``
into its ``ROI_MASK_HEAD_REGISTRY``. The other components
are used by import path, as detectron2 keeps no registry for them: :class:`ExtROIPooler` (RoIWarp,
max-aggregated RoIAlign and detectron2's own types, as ``box_pooler`` / ``mask_pooler``),
:class:`CopyPasteDatasetMapper` with :class:`SmallObjectPaste` / :class:`CrossImagePaste`, and
:class:`MaskScoringCOCOEvaluator`. yacs users add the bridge's keys with
:func:`add_maskrcnn_ext_config`.

The bridge is written against detectron2's public API on its main branch (v0.6). Nothing else in
``maskrcnn_ext`` imports detectron2; the components themselves live in ``maskrcnn_ext.layers``,
``maskrcnn_ext.modeling`` and ``maskrcnn_ext.data`` and are only adapted here.
"""
from . import _requirements  # noqa: F401  (first: a clear ImportError when detectron2 is missing)
from .config import add_maskrcnn_ext_config
from .data import CopyPasteDatasetMapper, CrossImagePaste, SmallObjectPaste, register_toolkit_dataset
from .mask_heads import MaskRCNNConvUpsampleSoftmaxHead, MaskRCNNMLPHead
from .mask_scoring import MaskScoringCOCOEvaluator, MaskScoringROIHeads
from .mask_scoring_c4 import MaskScoringRes5ROIHeads
from .pooler_roi_heads import ExtPoolerRes5ROIHeads, ExtPoolerROIHeads
from .poolers import ExtROIPooler
from .registration import register_all

register_all()

__all__ = ["CopyPasteDatasetMapper", "CrossImagePaste", "ExtROIPooler", "MaskRCNNConvUpsampleSoftmaxHead",
           "MaskRCNNMLPHead", "MaskScoringCOCOEvaluator", "MaskScoringROIHeads", "SmallObjectPaste",
           "ExtPoolerROIHeads", "ExtPoolerRes5ROIHeads", "MaskScoringRes5ROIHeads",
           "add_maskrcnn_ext_config", "register_all", "register_toolkit_dataset"]
