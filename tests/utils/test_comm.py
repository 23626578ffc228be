from __future__ import annotations

import torch

from maskrcnn_ext.utils import comm


def test_single_process_answers():
    # The distributed path (two gloo processes) is exercised in tests/evaluation/test_coco_distributed.py.
    assert not comm.is_dist_initialized()
    assert comm.get_world_size() == 1
    assert comm.get_rank() == 0
    assert comm.is_main_process()
    comm.synchronize()  # must not hang or raise without a process group
    payload = {"a": [1, 2]}
    assert comm.all_gather(payload) == [payload]
    assert comm.gather(payload) == [payload]
    assert comm.gather(payload, dst=0)[0] is payload
    module = torch.nn.BatchNorm1d(2)
    assert comm.broadcast_buffers(module) is module
