"""Train the tiny shapes config end to end, resume an interrupted run, and evaluate a checkpoint."""
import math

import pytest
import torch
from e2e_helpers import TINY, eval_rows, read_metrics, run_train_net, train_rows

from maskrcnn_ext.config import LazyConfig
from maskrcnn_ext.engine.trainer import SimpleTrainer

pytestmark = pytest.mark.slow


def test_training_lowers_the_loss_and_evaluates(trained_run):
    out, results = trained_run
    rows = train_rows(out)
    assert [r["iteration"] for r in rows] == [4, 9, 14, 19, 24, 29]
    assert rows[-1]["total_loss"] < 0.8 * rows[0]["total_loss"]
    for task in ("bbox", "segm"):
        assert set(results[task]) >= {"AP", "AP50", "AP75", "APs", "APm", "APl"}
        assert 0.0 <= results[task]["AP"] <= 1.0 and not math.isnan(results[task]["AP"])
    assert eval_rows(out)[-1]["iteration"] == 29


def test_run_directory_contents(trained_run):
    out, _ = trained_run
    for name in ("config.yaml", "config_source.py", "metrics.jsonl", "log.txt", "env.txt", "last_checkpoint",
                 "model_final.pth", "inference/coco_instances_results.json"):
        assert (out / name).is_file(), name
    assert list(out.glob("events.out.tfevents.*"))
    assert len(list((out / "vis").glob("*.png"))) == 2
    reloaded = LazyConfig.load(str(out / "config.yaml"))
    assert reloaded.train.max_iter == 30 and reloaded.model.roi_heads.num_classes == 4
    assert "iter: 30/30" in (out / "log.txt").read_text()


def test_eval_only_reproduces_the_final_evaluation(trained_run, tmp_path, train_net):
    out, results = trained_run
    again = run_train_net(train_net, "--config-file", TINY, "--eval-only", f"train.output_dir={tmp_path}",
                          f"train.init_checkpoint={out / 'model_final.pth'}", "train.vis_num_images=0")
    for task in ("bbox", "segm"):
        assert again[task]["AP"] == pytest.approx(results[task]["AP"], abs=1e-9)
    # Everything it wrote is in its own directory, named after the weights.
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]
    (row,) = read_metrics(tmp_path / "eval" / "model_final")
    assert row["iteration"] == 29 and row["weights"] == str(out / "model_final.pth")
    assert row["bbox/AP"] == pytest.approx(results["bbox"]["AP"], abs=1e-9)


def killed_at(iteration: int, step=SimpleTrainer.run_step):
    """A ``run_step`` that stops the run as a kill would, when it reaches ``iteration``."""

    def run_step(self):
        if self.iter == iteration:
            raise KeyboardInterrupt("simulated kill")
        step(self)

    return run_step


def test_interrupted_run_resumes_where_it_stopped(tmp_path, datasets_root, train_net, monkeypatch):
    original_step = SimpleTrainer.run_step
    monkeypatch.setattr(SimpleTrainer, "run_step", killed_at(13))
    overrides = [f"train.output_dir={tmp_path}", "train.max_iter=20", "lr_multiplier.max_iter=20",
                 "lr_multiplier.steps=[15]", "train.vis_num_images=0"]
    with pytest.raises(KeyboardInterrupt):
        run_train_net(train_net, "--config-file", TINY, *overrides)
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_0000009.pth"
    monkeypatch.setattr(SimpleTrainer, "run_step", original_step)

    results = run_train_net(train_net, "--config-file", TINY, "--resume", *overrides)
    log = (tmp_path / "log.txt").read_text()
    assert "Starting training from iteration 0 to 20" in log       # the first run's lines are kept
    assert "Starting training from iteration 10 to 20" in log      # the resumed run continues at 10
    # 12: the killed run's last iteration, written as the kill stopped it (log_period is 5).
    assert [r["iteration"] for r in train_rows(tmp_path)] == [4, 9, 12, 14, 19]
    assert [r["iteration"] for r in eval_rows(tmp_path)] == [19]   # none after the kill, one at the end
    assert (tmp_path / "last_checkpoint").read_text().strip() == "model_final.pth"

    # Resumed after its last step: nothing to train, the final evaluation once more, of the same weights.
    again = run_train_net(train_net, "--config-file", TINY, "--resume", *overrides)
    assert "Starting training from iteration 20 to 20" in (tmp_path / "log.txt").read_text()
    assert [r["iteration"] for r in train_rows(tmp_path)] == [4, 9, 12, 14, 19]
    assert [r["iteration"] for r in eval_rows(tmp_path)] == [19, 19]
    for task in ("bbox", "segm"):
        assert again[task]["AP"] == pytest.approx(results[task]["AP"], abs=1e-9)


def test_deterministic_run_killed_and_resumed_ends_bit_identical(tmp_path, datasets_root, train_net, monkeypatch):
    overrides = ["train.max_iter=20", "lr_multiplier.max_iter=20", "lr_multiplier.steps=[15]",
                 "train.vis_num_images=0", "train.eval_period=0"]
    try:
        run_train_net(train_net, "--config-file", TINY, "--deterministic",
                      f"train.output_dir={tmp_path / 'whole'}", *overrides)
        original_step = SimpleTrainer.run_step
        monkeypatch.setattr(SimpleTrainer, "run_step", killed_at(13))
        with pytest.raises(KeyboardInterrupt):
            run_train_net(train_net, "--config-file", TINY, "--deterministic",
                          f"train.output_dir={tmp_path / 'killed'}", *overrides)
        monkeypatch.setattr(SimpleTrainer, "run_step", original_step)
        run_train_net(train_net, "--config-file", TINY, "--deterministic", "--resume",
                      f"train.output_dir={tmp_path / 'killed'}", *overrides)
    finally:
        torch.use_deterministic_algorithms(False)

    whole = torch.load(tmp_path / "whole" / "model_final.pth", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "killed" / "model_final.pth", weights_only=True)["model"]
    assert whole.keys() == resumed.keys()
    different = [k for k in whole if not torch.equal(whole[k], resumed[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    timing = ("time", "data_time", "eta_seconds")

    def rows(run):
        return [{k: v for k, v in r.items() if k not in timing} for r in train_rows(tmp_path / run)]

    # The killed run also has the row of iteration 12, written as the kill stopped it.
    killed = rows("killed")
    assert [r["iteration"] for r in killed] == [4, 9, 12, 14, 19]
    assert [r for r in killed if r["iteration"] != 12] == rows("whole")
