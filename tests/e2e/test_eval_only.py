"""``--eval-only`` writes into a directory of its own and leaves the training run's record as it was;
the bad-image policy in evaluation (skip: reported and counted; error: the file named) and in
training on the demo config (the README's example)."""
import re
import subprocess
import sys

import pytest
from e2e_helpers import DEMO, REPO, TINY, file_hashes, read_metrics, register_broken_copy, run_train_net

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.data import DatasetCatalog, ImageReadError, MetadataCatalog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def broken_val(tmp_path_factory, datasets_root):
    """The tiny validation split registered as ``tiny_val_truncated``, its second image truncated."""
    (victim,) = register_broken_copy("tiny_val_truncated", "shapes_tiny_val", tmp_path_factory.mktemp("val"),
                                     num_images=16, truncate=[1])
    yield victim
    DatasetCatalog.remove("tiny_val_truncated")
    MetadataCatalog.remove("tiny_val_truncated")


def test_eval_only_leaves_the_run_directory_byte_for_byte_unchanged(trained_run, tmp_path):
    out, results = trained_run
    before = file_hashes(out, skip="eval")
    # A process of its own, as a user runs it (this one still logs into the run's log.txt).
    done = subprocess.run([sys.executable, str(REPO / "train_net.py"), "--config-file", TINY, "--eval-only",
                           "--resume", f"train.output_dir={out}"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert file_hashes(out, skip="eval") == before
    eval_dir = out / "eval" / "model_final"
    assert set(file_hashes(eval_dir)) == {
        "config.yaml", "config_source.py", "config_source.txt", "env.txt", "log.txt", "metrics.jsonl",
        "inference/coco_instances_results.json", "inference/coco_eval_metrics.json", "vis/000000.png",
        "vis/000001.png"}
    (row,) = read_metrics(eval_dir)
    assert row["type"] == "eval" and row["iteration"] == 29 and row["weights"] == str(out / "model_final.pth")
    for task in ("bbox", "segm"):
        assert row[f"{task}/AP"] == pytest.approx(results[task]["AP"], abs=1e-9)
    assert row["inference/images"] == 16 and row["inference/skipped_images"] == 0
    recorded = LazyConfig.load(str(eval_dir / "config.yaml"))
    assert recorded.train.output_dir == str(out)
    assert recorded.dataloader.evaluator.output_dir == str(eval_dir / "inference")


def test_eval_only_with_skip_reports_the_truncated_image_and_evaluates_the_rest(
        trained_run, broken_val, tmp_path, train_net):
    out, _ = trained_run
    results = run_train_net(train_net, "--config-file", TINY, "--eval-only", f"train.output_dir={tmp_path}",
                            f"train.init_checkpoint={out / 'model_final.pth'}", "train.vis_num_images=0",
                            "dataloader.test.dataset=tiny_val_truncated", "dataloader.on_bad_image=skip")
    assert results["inference"]["images"] == 15 and results["inference"]["skipped_images"] == 1
    eval_dir = tmp_path / "eval" / "model_final"
    log = (eval_dir / "log.txt").read_text()
    assert log.count("Skipping a bad image in evaluation") == 1
    assert f"evaluation skipped 1 bad image file(s) of 16, drawn 1 time(s) in all: cannot read image {broken_val}" in log
    assert "COCO evaluation results (AP in %) on 15 images" in log
    (row,) = read_metrics(eval_dir)
    assert row["inference/skipped_images"] == 1 and row["inference/images"] == 15


def test_eval_only_with_error_fails_naming_the_file(trained_run, broken_val, tmp_path, train_net):
    out, _ = trained_run
    with pytest.raises(ImageReadError, match=re.escape(broken_val)):
        run_train_net(train_net, "--config-file", TINY, "--eval-only", f"train.output_dir={tmp_path}",
                      f"train.init_checkpoint={out / 'model_final.pth'}", "train.vis_num_images=0",
                      "dataloader.test.dataset=tiny_val_truncated")
    assert not (tmp_path / "eval" / "model_final" / "metrics.jsonl").exists()


def test_readme_skip_example_on_the_demo_config(tmp_path, datasets_root, train_net):
    register_broken_copy("tiny_train_skip", "shapes_tiny_train", tmp_path / "train", num_images=32, truncate=[])
    register_broken_copy("tiny_val_two", "shapes_tiny_val", tmp_path / "val", num_images=2, truncate=[])
    overrides = [f"train.output_dir={tmp_path / 'run'}", "dataloader.train.dataset=tiny_train_skip",
                 "dataloader.test.dataset=tiny_val_two", "dataloader.train.total_batch_size=2", "train.max_iter=3",
                 "lr_multiplier.steps=[2]", "lr_multiplier.warmup_iters=1", "train.log_period=1",
                 "train.vis_num_images=0", "dataloader.on_bad_image=skip"]  # the README's example
    try:
        # The image the first batch draws first, truncated: the run meets it at once.
        cfg = LazyConfig.apply_overrides(LazyConfig.load(DEMO), overrides)
        loader = instantiate(cfg.dataloader.train)
        first_index, _seed = next(iter(loader.batch_sampler))[0]
        victim = loader.dataset.records[first_index]["file_name"]
        with open(victim, "r+b") as f:
            f.truncate(200)
        run_train_net(train_net, "--config-file", DEMO, *overrides)
    finally:
        for name in ("tiny_train_skip", "tiny_val_two"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
    log = (tmp_path / "run" / "log.txt").read_text()
    assert log.count("Skipping a bad image in training") == 1
    assert f"training skipped 1 bad image file(s) of 32, drawn 1 time(s) in all: cannot read image {victim}" in log
    assert "on_bad_image='skip': no bad image met in evaluation" in log  # the policy covers the test loader
    rows = read_metrics(tmp_path / "run")
    assert [r["type"] for r in rows] == ["train", "train", "train", "eval", "data"]
    assert rows[3]["inference/skipped_images"] == 0 and rows[3]["inference/images"] == 2
    assert rows[-1] == {"type": "data", "iteration": 2, "bad_images_skipped": 1, "bad_image_draws": 1,
                        "bad_image_files": [victim]}
