"""Data-parallel training on CPU: torchrun with gloo matches one process, only rank 0 writes,
evaluation gathers every rank's predictions, and a failing rank ends the job."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from e2e_helpers import REPO, TINY, read_metrics, run_train_net, train_in_rank_dir, train_rows

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.data import TrainingSampler, get_dataset_records
from maskrcnn_ext.engine import launch
from maskrcnn_ext.utils.env import seed_all

pytestmark = pytest.mark.slow

# Group norm, one input size, no aspect-ratio grouping, float64: see the config for why N processes
# then train what one process trains, on any CPU.
CHECK = str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny_ddp_check.py")
ITERS = 4
SHORT_RUN = [f"train.max_iter={ITERS}", f"lr_multiplier.max_iter={ITERS}", "lr_multiplier.steps=[]",
             "lr_multiplier.warmup_iters=0", "train.log_period=1", "train.vis_num_images=0"]


def torchrun(tmp_path, *argv, timeout=300):
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # torchrun gives each of its processes one thread
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(REPO / "train_net.py"), *argv],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def float_state(path):
    state = torch.load(path, map_location="cpu", weights_only=True)["model"]
    return {k: v.double() for k, v in state.items() if v.is_floating_point()}


def distance(a, b):
    return sum(((a[k] - b[k]) ** 2).sum() for k in a).sqrt().item()


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, datasets_root, train_net):
    out = tmp_path_factory.mktemp("one_process")
    # One thread, as torchrun gives each of its processes: the same convolution kernels on both sides.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_train_net(train_net, "--config-file", CHECK, f"train.output_dir={out}", *SHORT_RUN)
    finally:
        torch.set_num_threads(threads)
    return out, results


def test_torchrun_trains_what_one_process_trains_with_the_same_global_batch(one_process, tmp_path):
    single, _ = one_process
    done = torchrun(tmp_path, "--config-file", CHECK, f"train.output_dir={tmp_path}", *SHORT_RUN)
    assert done.returncode == 0, done.stderr[-3000:]
    seed_all(0)  # train.seed: the initial weights both runs started from
    initial = {k: v.double() for k, v in instantiate(LazyConfig.load(CHECK).model).state_dict().items()
               if v.is_floating_point()}
    ours, theirs = float_state(tmp_path / "model_final.pth"), float_state(single / "model_final.pth")
    # Same images, augmentations, anchor and RoI samples, and averaged gradient: only the order of
    # float sums differs (per-process convolutions, the all-reduce). In float64 that noise is ~1e-16
    # per operation and flips no top-k, NMS or IoU decision, so after 4 iterations the weights agree to
    # ~1e-13 of the distance they moved on any CPU; a real difference in data, sampling or gradient
    # averaging moves them by more than 1e-3 of it.
    moved = distance(theirs, initial)
    assert distance(ours, theirs) < 1e-9 * moved, distance(ours, theirs) / moved
    rows, rows_single = train_rows(tmp_path), train_rows(single)
    assert [r["iteration"] for r in rows] == [r["iteration"] for r in rows_single] == list(range(ITERS))
    for row, row_single in zip(rows, rows_single):
        for key in ("loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"):
            assert row[key] == pytest.approx(row_single[key], rel=1e-10), (row["iteration"], key)
    # Rank 0 alone writes: one row per iteration, one start line, one final checkpoint.
    log = (tmp_path / "log.txt").read_text()
    assert "world size 2" in log and log.count("Starting training from iteration 0") == 1
    assert len(read_metrics(tmp_path)) == ITERS + 1


def test_torchrun_evaluation_gathers_every_rank_and_matches_one_process(one_process, tmp_path):
    single, results = one_process
    done = torchrun(tmp_path, "--config-file", CHECK, "--eval-only", f"train.output_dir={tmp_path}",
                    f"train.init_checkpoint={single / 'model_final.pth'}", "train.vis_num_images=0")
    assert done.returncode == 0, done.stderr[-3000:]
    eval_dir = tmp_path / "eval" / "model_final"  # the evaluation's own directory, named by rank 0
    assert [p.name for p in tmp_path.iterdir()] == ["eval"] and [p.name for p in eval_dir.parent.iterdir()] == [
        "model_final"]
    assert "on 16 images" in (eval_dir / "log.txt").read_text()  # 8 per rank, gathered on rank 0

    def predictions(run_dir):
        rows = json.loads((run_dir / "inference" / "coco_instances_results.json").read_text())
        return sorted(rows, key=lambda r: (r["image_id"], -r["score"], r["bbox"]))

    ours, theirs = predictions(eval_dir), predictions(single)
    assert len(ours) == len(theirs) and {r["image_id"] for r in ours} == {r["image_id"] for r in theirs}
    assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-5)
    gathered = json.loads((eval_dir / "inference" / "coco_eval_metrics.json").read_text())
    for task in ("bbox", "segm"):
        assert gathered[task] == pytest.approx(results[task], abs=1e-9), task


def test_only_rank_zero_writes_logs_metrics_and_checkpoints(tmp_path, datasets_root):
    # train_net.main under launch(), as `train_net.py --num-processes 2` and `make demo` run it,
    # but with a directory per rank, to see what each rank writes.
    argv = ["--config-file", TINY, "train.max_iter=10", "lr_multiplier.max_iter=10", "lr_multiplier.steps=[8]",
            "train.vis_num_images=1"]
    launch(train_in_rank_dir, num_processes=2, args=(argv, str(tmp_path)), backend="gloo")
    written = {p.relative_to(tmp_path / "rank0").as_posix() for p in (tmp_path / "rank0").rglob("*") if p.is_file()}
    assert {"log.txt", "metrics.jsonl", "config.yaml", "last_checkpoint", "model_final.pth",
            "inference/coco_instances_results.json"} <= written
    assert not [p for p in (tmp_path / "rank1").rglob("*") if p.is_file()]
    assert [r["iteration"] for r in train_rows(tmp_path / "rank0")] == [4, 9]
    assert "on 16 images" in (tmp_path / "rank0" / "log.txt").read_text()


def test_a_failing_rank_fails_the_torchrun_job_with_its_error(tmp_path, datasets_root):
    # A truncated image that rank 1 reads first and rank 0 not in its first epoch: rank 0 then waits in the
    # all-reduce for a rank that is gone, and torchrun must stop it rather than hang.
    records = get_dataset_records("shapes_tiny_train")  # generates the split on first use
    seed = LazyConfig.load(TINY).dataloader.train.seed
    rank1_first = TrainingSampler(len(records), seed=seed, rank=1, world_size=2).epoch_indices(0)[0]
    victim = Path(records[rank1_first]["file_name"]).relative_to(datasets_root)
    data = tmp_path / "datasets"
    shutil.copytree(datasets_root / "shapes" / "tiny_train", data / "shapes" / "tiny_train")
    with open(data / victim, "r+b") as f:
        f.truncate(200)
    os.environ["MASKRCNN_EXT_DATASETS"], saved = str(data), os.environ["MASKRCNN_EXT_DATASETS"]
    try:
        done = torchrun(tmp_path, "--config-file", TINY, f"train.output_dir={tmp_path / 'run'}",
                        "train.max_iter=10", "lr_multiplier.max_iter=10", "lr_multiplier.steps=[8]", timeout=240)
    finally:
        os.environ["MASKRCNN_EXT_DATASETS"] = saved
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "ImageReadError" in output and victim.name in output
    assert "rank: 1" in output  # torchrun's failure report names the rank that failed
