"""Fixtures of the compare tests."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from maskrcnn_ext.analysis import plots


@pytest.fixture(autouse=True)
def _propagate_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another test's logger setup may stop propagation; caplog needs it."""
    monkeypatch.setattr(logging.getLogger("maskrcnn_ext"), "propagate", True)


@pytest.fixture
def no_plots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing in the table tests (the PNG tests of each file draw); keeps them fast."""
    for name in ("plot_loss_curves", "plot_ap_curves", "plot_ap_bars"):
        monkeypatch.setattr(plots, name, lambda arms, path, **kwargs: Path(path).touch())
