"""Where --eval-only writes: a new directory per evaluation, named after the weights, never the run's."""
from __future__ import annotations

import json

import pytest
import torch

from maskrcnn_ext.engine.eval_dir import checkpoint_iteration, evaluation_dir, evaluation_weights, write_eval_row


def test_weights_are_the_last_checkpoint_with_resume_else_init_checkpoint(tmp_path):
    (tmp_path / "model_0000009.pth").write_bytes(b"x")
    (tmp_path / "last_checkpoint").write_text("model_0000009.pth")
    assert evaluation_weights(str(tmp_path), "zoo/model", resume=True) == str(tmp_path / "model_0000009.pth")
    assert evaluation_weights(str(tmp_path), "zoo/model", resume=False) == "zoo/model"
    assert evaluation_weights(str(tmp_path / "empty"), "zoo/model", resume=True) == "zoo/model"
    with pytest.raises(ValueError, match="--eval-only needs weights"):
        evaluation_weights(str(tmp_path / "empty"), "", resume=True)


def test_default_directory_is_named_after_the_weights_and_never_reused(tmp_path):
    run = str(tmp_path)
    first = evaluation_dir(run, str(tmp_path / "model_final.pth"))
    assert first == str(tmp_path / "eval" / "model_final")
    (tmp_path / "eval" / "model_final").mkdir(parents=True)
    assert evaluation_dir(run, "model_final.pth") == str(tmp_path / "eval" / "model_final-2")
    (tmp_path / "eval" / "model_final-2").mkdir()
    assert evaluation_dir(run, "model_final.pth") == str(tmp_path / "eval" / "model_final-3")
    # URLs and zoo names give a safe name too.
    assert evaluation_dir(run, "https://host/zoo/R-50 FPN.pkl?x=1") == str(tmp_path / "eval" / "R-50_FPN")


def test_an_explicit_directory_is_used_unless_it_holds_a_training_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert evaluation_dir(str(run), "w.pth", explicit=str(tmp_path / "mine")) == str(tmp_path / "mine")
    with pytest.raises(ValueError, match="is a training run's directory"):
        evaluation_dir(str(run), "w.pth", explicit=str(run))
    other = tmp_path / "other_run"
    other.mkdir()
    (other / "last_checkpoint").write_text("model_final.pth")
    with pytest.raises(ValueError, match="is a training run's directory"):
        evaluation_dir(str(run), "w.pth", explicit=str(other))


def test_eval_row_names_the_weights_and_their_iteration(tmp_path):
    weights = tmp_path / "model_0000019.pth"
    torch.save({"model": {"w": torch.zeros(2)}, "iteration": 19}, weights)
    assert checkpoint_iteration(str(weights)) == 19
    assert checkpoint_iteration("zoo/name") is None
    write_eval_row(str(tmp_path / "ev"), {"bbox/AP": 0.25}, weights=str(weights), run_dir=str(tmp_path))
    (row,) = [json.loads(line) for line in (tmp_path / "ev" / "metrics.jsonl").read_text().splitlines()]
    assert row == {"type": "eval", "iteration": 19, "weights": str(weights), "run_dir": str(tmp_path),
                   "bbox/AP": 0.25}
    write_eval_row(str(tmp_path / "ev"), {"bbox/AP": 0.5}, weights="zoo/name", run_dir=str(tmp_path))
    (row,) = [json.loads(line) for line in (tmp_path / "ev" / "metrics.jsonl").read_text().splitlines()]
    assert row["iteration"] == -1 and row["bbox/AP"] == 0.5
