"""Two gloo processes on CPU: each rank evaluates half of the images, rank 0 reports for all."""
from __future__ import annotations

import contextlib
import io
import json
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from coco_fixtures import gt_as_predictions

from maskrcnn_ext.evaluation import COCOEvaluator
from maskrcnn_ext.utils import comm

WORLD_SIZE = 2


def _worker(rank: int, init_file: str, json_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    try:
        report = {
            "world_size": comm.get_world_size(),
            "all_gather": comm.all_gather(rank * 10),
            "gather": comm.gather(f"r{rank}", dst=0),
        }
        norm = torch.nn.BatchNorm1d(2)
        norm.running_mean.fill_(rank + 1.0)
        norm.weight.data.fill_(rank + 1.0)
        comm.broadcast_buffers(norm)
        report["buffers"] = [norm.running_mean.tolist(), norm.num_batches_tracked.item(), norm.weight.tolist()]
        image_ids = [10, 30] if rank == 0 else [20]
        with contextlib.redirect_stdout(io.StringIO()):
            inputs, outputs = gt_as_predictions(json_file, image_ids=image_ids)
        evaluator = COCOEvaluator(json_file=json_file, output_dir=out_dir, distributed=True)
        evaluator.process(inputs, outputs)
        results = evaluator.evaluate()
        report["results"] = {task: {"AP": m["AP"]} for task, m in results.items() if task != "gt_counts"}
        report["gt_counts"] = results.get("gt_counts")
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(report, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_evaluation_gathers_predictions_from_all_ranks(coco_json, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(_worker, args=(str(tmp_path / "init"), coco_json, str(out_dir)), nprocs=WORLD_SIZE, join=True)
    rank0 = json.loads((out_dir / "rank0.json").read_text())
    rank1 = json.loads((out_dir / "rank1.json").read_text())
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["all_gather"] == rank1["all_gather"] == [0, 10]
    assert rank0["gather"] == ["r0", "r1"] and rank1["gather"] == []
    # Buffers come from rank 0; parameters stay each rank's own.
    assert rank0["buffers"][:2] == rank1["buffers"][:2] == [[1.0, 1.0], 0]
    assert rank1["buffers"][2] == [2.0, 2.0]
    # Rank 0 evaluates all three images: perfect AP and every non-crowd gt counted.
    assert rank0["results"]["bbox"]["AP"] == pytest.approx(1.0)
    assert rank0["results"]["segm"]["AP"] == pytest.approx(1.0)
    assert rank0["gt_counts"] == {"small": 3, "medium": 2, "large": 0}
    assert rank1["results"] == {} and rank1["gt_counts"] is None
    written = json.loads((out_dir / "coco_instances_results.json").read_text())
    assert sorted({r["image_id"] for r in written}) == [10, 20, 30]
