"""Fixtures shared by the engine tests."""
from __future__ import annotations

import logging

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than 10 s; deselect with -m 'not slow'")


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """``setup_logger`` turns propagation off; undo it so later tests can use ``caplog``."""
    logger = logging.getLogger("maskrcnn_ext")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.propagate, logger.level = propagate, level
