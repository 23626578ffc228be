"""Importing the bridge registers its components into detectron2's registries, once."""
import pytest

pytest.importorskip("detectron2")

from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, ROI_MASK_HEAD_REGISTRY
from fvcore.common.registry import Registry
from test_d2_import_boundary import run_python

import maskrcnn_ext.d2 as d2
from maskrcnn_ext.d2.registration import register_once


def test_components_are_registered_under_their_class_names():
    assert ROI_HEADS_REGISTRY.get("MaskScoringROIHeads") is d2.MaskScoringROIHeads
    for name in ("MaskScoringRes5ROIHeads", "ExtPoolerROIHeads", "ExtPoolerRes5ROIHeads"):
        assert ROI_HEADS_REGISTRY.get(name) is getattr(d2, name)
    assert ROI_MASK_HEAD_REGISTRY.get("MaskRCNNMLPHead") is d2.MaskRCNNMLPHead
    assert ROI_MASK_HEAD_REGISTRY.get("MaskRCNNConvUpsampleSoftmaxHead") is d2.MaskRCNNConvUpsampleSoftmaxHead


def test_importing_again_and_reloading_do_not_raise():
    result = run_python("""
        import importlib
        import maskrcnn_ext.d2 as d2
        import maskrcnn_ext.d2
        importlib.reload(d2)
        from maskrcnn_ext.d2 import mask_heads, mask_scoring, registration
        for module in (mask_heads, mask_scoring, registration):  # new class objects, same names
            importlib.reload(module)
        registration.register_all()
        d2.register_all()
        from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY
        print(ROI_HEADS_REGISTRY.get("MaskScoringROIHeads").__module__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "maskrcnn_ext.d2.mask_scoring"


def test_another_component_under_a_taken_name_is_refused():
    registry = Registry("TEST")
    register_once(registry, d2.MaskRCNNMLPHead)
    register_once(registry, d2.MaskRCNNMLPHead)
    assert registry.get("MaskRCNNMLPHead") is d2.MaskRCNNMLPHead
    impostor = type("MaskRCNNMLPHead", (), {})
    with pytest.raises(ValueError, match="already holds maskrcnn_ext.d2.mask_heads.MaskRCNNMLPHead"):
        register_once(registry, impostor)
