"""launch(): two CPU processes on gloo, failures propagate; create_ddp_model in a single process."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.distributed as dist
from engine_toys import ToyModel, toy_batch, toy_loader

from maskrcnn_ext.engine import SimpleTrainer, create_ddp_model, launch
from maskrcnn_ext.utils import comm


def _sum_ranks(output_dir: str) -> None:
    """Worker: all_reduce (rank + 1) and record what this rank saw."""
    value = torch.tensor([float(comm.get_rank() + 1)])
    dist.all_reduce(value)
    with open(os.path.join(output_dir, f"rank{comm.get_rank()}.txt"), "w") as f:
        f.write(f"{comm.get_world_size()} {dist.get_backend()} {value.item()} {torch.get_num_threads()}")


def _train_one_step(output_dir: str) -> None:
    """Worker: one DDP training step on rank-specific data."""
    rank = comm.get_rank()
    model = create_ddp_model(ToyModel())
    local_loss = model.module(toy_batch(100 * rank))["loss_x"].item()
    trainer = SimpleTrainer(model=model, data_loader=toy_loader(start=100 * rank),
                            optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    trainer.train(0, 1)
    report = {
        "world_size": comm.get_world_size(),
        "backend": dist.get_backend(),
        "ddp": type(model).__name__,
        "local_loss": local_loss,
        "logged_loss": trainer.storage.latest()["loss_x"][0],
        "weight": model.module.weight.tolist(),
    }
    with open(os.path.join(output_dir, f"rank{rank}.json"), "w") as f:
        json.dump(report, f)


def _fail_on_rank_one() -> None:
    if comm.get_rank() == 1:
        raise ValueError("worker 1 failed on purpose")


def test_two_gloo_processes_all_reduce_and_share_the_cores(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    launch(_sum_ranks, num_processes=2, args=(str(tmp_path),), backend="gloo")
    seen = sorted(p.read_text() for p in tmp_path.glob("rank*.txt"))
    threads = max(1, os.cpu_count() // 2)
    assert seen == [f"2 gloo 3.0 {threads}"] * 2
    assert not dist.is_initialized()


@pytest.mark.slow  # each worker imports torch's compiler stack when building the optimizer
def test_ddp_training_step_logs_the_mean_loss(tmp_path):
    launch(_train_one_step, num_processes=2, args=(str(tmp_path),), backend="gloo")
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for report in reports:
        assert (report["world_size"], report["backend"]) == (2, "gloo")
        assert report["ddp"] == "DistributedDataParallel"
        # Logged losses are the mean over ranks, identical everywhere.
        mean_loss = (reports[0]["local_loss"] + reports[1]["local_loss"]) / 2
        assert report["logged_loss"] == pytest.approx(mean_loss, rel=1e-6)
    assert reports[0]["local_loss"] != pytest.approx(reports[1]["local_loss"])
    # DDP averaged the gradients, so both replicas took the same step.
    assert reports[0]["weight"] == pytest.approx(reports[1]["weight"])


@pytest.mark.slow  # spawning two interpreters and tearing them down takes over 10 s on 2 cores
def test_a_failing_worker_fails_the_launch():
    with pytest.raises(Exception, match="worker 1 failed on purpose"):
        launch(_fail_on_rank_one, num_processes=2, backend="gloo")


def test_single_process_calls_directly_and_keeps_the_model():
    model = torch.nn.Linear(2, 2)
    assert launch(lambda x: x * 2, args=(21,)) == 42
    assert create_ddp_model(model) is model
