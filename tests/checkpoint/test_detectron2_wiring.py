"""``train.init_checkpoint=<file>.pkl``: the checkpointer converts Detectron2 zoo and MSRA caffe2 files on
load, and refuses truncated files and files that would run code."""
from __future__ import annotations

import os
import pickle

import pytest

from maskrcnn_ext.checkpoint import read_model_state
from maskrcnn_ext.checkpoint.pickle_io import UnsafePickleError, load_array_pickle
from maskrcnn_ext.engine.checkpoint import Checkpointer

from detectron2_fixtures import C4_DIR, FPN_DIR, MSRA_DIR, build, narrow_c4_config, narrow_fpn_config, requires_fixtures

pytestmark = requires_fixtures


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("folder, config", [(FPN_DIR, narrow_fpn_config), (C4_DIR, narrow_c4_config)], ids=["FPN", "C4"])
def test_checkpointer_converts_detectron2_zoo_pkl(tmp_path, folder, config):
    model = build(config())
    report = Checkpointer(model, str(tmp_path), save_to_disk=False).load_weights(str(folder / "model_final.pkl"))
    report.require_complete("a Detectron2 zoo model")
    assert not report.unexpected and not report.shape_mismatch


@pytest.mark.parametrize("config, res5", [(narrow_fpn_config, "backbone.bottom_up.res5.0.conv1.weight"),
                                          (narrow_c4_config, "roi_heads.box_head.0.conv1.weight")], ids=["FPN", "C4"])
def test_checkpointer_places_msra_caffe2_backbone(tmp_path, config, res5):
    """The caffe2 ResNet fills the backbone (and a C4 model's res5 box head); the FPN and detector heads stay new."""
    model = build(config())
    before = model.state_dict()[res5].clone()
    report = Checkpointer(model, str(tmp_path), save_to_disk=False).load_weights(str(MSRA_DIR / "R-50-narrow.pkl"))
    assert not report.unexpected and not report.shape_mismatch
    assert res5 in report.loaded and not model.state_dict()[res5].equal(before)
    assert all(k.startswith(("backbone.fpn.", "proposal_generator.", "roi_heads.")) for k in report.missing)


def test_truncated_fixture_is_refused(tmp_path):
    data = (FPN_DIR / "model_final.pkl").read_bytes()
    path = tmp_path / "model_final_cut.pkl"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError, match=r"model_final_cut\.pkl.*truncated"):
        read_model_state(path)


def test_fixture_with_foreign_object_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "ran"
    data = load_array_pickle(FPN_DIR / "model_final.pkl")
    data["model"]["backbone.extra"] = _Payload(str(marker))
    path = tmp_path / "model_final_evil.pkl"
    path.write_bytes(pickle.dumps(data, protocol=4))
    model = build(narrow_fpn_config())
    with pytest.raises(UnsafePickleError, match=r"model_final_evil\.pkl.*system"):
        Checkpointer(model, str(tmp_path), save_to_disk=False).load_weights(str(path))
    assert not marker.exists()


def test_pkl_that_is_neither_format_is_refused(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"model": [1, 2]}, protocol=4))
    with pytest.raises(ValueError, match=r"other\.pkl.*neither"):
        read_model_state(path)
