"""Training with the backbone compiled (``train.compile_backbone``) in bfloat16: the losses stay finite
and the checkpoints keep the eager model's parameter names, so they load anywhere."""
import math
import shutil

import pytest
import torch
from e2e_helpers import TINY, run_train_net, train_rows

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile's CPU backend needs a C++ compiler")]


def test_a_compiled_bfloat16_run_trains_and_writes_eager_checkpoints(tmp_path, datasets_root, train_net):
    overrides = [f"train.output_dir={tmp_path}", "train.max_iter=4", "lr_multiplier.max_iter=4", "lr_multiplier.steps=[3]", "lr_multiplier.warmup_iters=1", "train.log_period=1",
                 "train.vis_num_images=0", "train.eval_period=100", "train.compile_backbone=True",
                 "train.amp.enabled=True"]
    run_train_net(train_net, "--config-file", TINY, *overrides)
    losses = [r["total_loss"] for r in train_rows(tmp_path)]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    state = torch.load(tmp_path / "model_final.pth", weights_only=True)
    names = list(state["model"])
    assert not [k for k in names if "_orig_mod" in k]
    assert any(k.startswith("backbone.bottom_up.") for k in names)
