"""SimpleTrainer: learning, the finiteness check, clipping, AMP fallback, hook order."""
from __future__ import annotations

import logging

import pytest
import torch
from engine_toys import TRUE_WEIGHT, ToyModel, toy_loader

from maskrcnn_ext.engine import HookBase, SimpleTrainer


def _trainer(model: ToyModel, lr: float = 0.05, **kwargs) -> SimpleTrainer:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return SimpleTrainer(model=model, data_loader=toy_loader(), optimizer=optimizer, **kwargs)


def test_loss_decreases_and_scalars_are_recorded():
    model = ToyModel()
    trainer = _trainer(model)
    trainer.train(0, 50)

    history = trainer.storage.history("loss_x").values()
    assert [it for _, it in history] == list(range(50))
    first, last = history[0][0], history[-1][0]
    # Zero init: the first loss is E[(x.w*)^2] = |w*|^2 = 14 in expectation; it must fall well below.
    assert first > 2.0
    assert last < 0.05 * first
    assert torch.allclose(model.weight.detach(), TRUE_WEIGHT, atol=0.1)

    storage = trainer.storage
    total, _ = storage.latest()["total_loss"]
    assert total == pytest.approx(storage.latest()["loss_x"][0] + storage.latest()["loss_reg"][0])
    assert storage.latest()["lr"] == (0.05, 49)
    assert storage.history("data_time").latest() >= 0.0
    assert trainer.iter == 50
    state = trainer.state_dict()
    assert state["iteration"] == 50 and [i for _, i in state["history"]["total_loss"]["values"]] == list(range(50))


def test_nan_loss_raises_with_iteration_and_lr(caplog):
    trainer = _trainer(ToyModel(nan_at_call=3), lr=0.02)
    with caplog.at_level(logging.ERROR, logger="maskrcnn_ext"):
        with pytest.raises(FloatingPointError) as excinfo:
            trainer.train(0, 10)
    message = str(excinfo.value)
    assert "iteration=3" in message
    assert "lr=[0.02]" in message
    assert "'loss_x': nan" in message
    assert "Exception during training at iter 3" in caplog.text
    # The non-finite step must not have touched the weights.
    assert torch.isfinite(trainer.model.weight).all()


def test_grad_clip_limits_the_update_norm():
    model = ToyModel()
    trainer = _trainer(model, lr=1.0, grad_clip=0.01)
    trainer.train(0, 1)
    # Plain SGD with lr 1: the update is the clipped gradient, whose norm is exactly the clip value.
    assert model.weight.detach().norm().item() == pytest.approx(0.01, rel=1e-4)


def test_amp_on_cpu_is_bfloat16_autocast_without_loss_scaling():
    trainer = _trainer(ToyModel(), amp=True)
    assert (trainer.amp, trainer.amp_dtype, trainer.grad_scaler) == (True, torch.bfloat16, None)
    with pytest.raises(ValueError, match="float16 mixed precision on CPU"):
        _trainer(ToyModel(), amp=True, amp_dtype="float16")


def test_a_resumed_run_keeps_the_precision_its_checkpoint_records():
    state = _trainer(ToyModel(), amp=True).state_dict()
    assert state["precision"] == "bfloat16"
    _trainer(ToyModel(), amp=True).load_state_dict(state)
    with pytest.raises(ValueError, match="trained with precision bfloat16, this run is set to float32"):
        _trainer(ToyModel()).load_state_dict(state)
    assert _trainer(ToyModel()).state_dict()["precision"] == "float32"


def test_exhausted_loader_and_bad_loss_keys_are_clear_errors():
    model = ToyModel()
    trainer = SimpleTrainer(model=model, data_loader=[[{"x": torch.ones(3), "y": torch.ones(())}]],
                            optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match="ran out of batches at iteration 1"):
        trainer.train(0, 3)

    class BadKeys(ToyModel):
        def forward(self, batch):
            return {"mse": super().forward(batch)["loss_x"]}

    with pytest.raises(KeyError, match="must start with 'loss_'.*mse"):
        _trainer(BadKeys()).train(0, 1)


class _Recorder(HookBase):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def before_train(self):
        self.events.append("before_train")

    def before_step(self):
        self.events.append(f"before_step {self.trainer.iter} storage {self.trainer.storage.iter}")

    def after_step(self):
        self.events.append(f"after_step {self.trainer.iter}")

    def after_train(self):
        self.events.append(f"after_train {self.trainer.iter} completed={self.trainer.completed}")


def test_hooks_are_called_in_order_and_after_train_however_training_ends():
    events: list[str] = []
    trainer = _trainer(ToyModel(), hooks=[_Recorder(events)])
    trainer.train(3, 5)
    assert events == [
        "before_train",
        "before_step 3 storage 3",
        "after_step 3",
        "before_step 4 storage 4",
        "after_step 4",
        "after_train 5 completed=True",
    ]
    events.clear()
    failing = _trainer(ToyModel(nan_at_call=1), hooks=[_Recorder(events)])
    with pytest.raises(FloatingPointError):
        failing.train(0, 5)
    assert events == ["before_train", "before_step 0 storage 0", "after_step 0", "before_step 1 storage 1",
                      "after_train 1 completed=False"]
