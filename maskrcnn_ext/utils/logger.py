"""Logging setup shared by the launcher, the trainer and the command-line tools."""
from __future__ import annotations

import logging
import os
import sys

__all__ = ["setup_logger"]

_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"
# Handlers added by ``setup_logger`` carry this attribute; its value identifies the destination,
# which is how a second call recognises what is already installed.
_TAG = "_maskrcnn_ext_handler"


def _log_file(output_dir: str) -> str:
    """Path of the run's log file: ``output_dir`` itself when it ends in ``.txt``/``.log``, else ``log.txt`` in it."""
    if output_dir.endswith((".txt", ".log")):
        return os.path.abspath(output_dir)
    return os.path.abspath(os.path.join(output_dir, "log.txt"))


def _has_handler(logger: logging.Logger, tag: str) -> bool:
    return any(getattr(h, _TAG, None) == tag for h in logger.handlers)


def _add_handler(logger: logging.Logger, handler: logging.Handler, tag: str, level: int,
                 fmt: str = _FORMAT) -> None:
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt, datefmt=_DATE_FORMAT))
    setattr(handler, _TAG, tag)
    logger.addHandler(handler)


def setup_logger(
    output_dir: str | None = None,
    *,
    distributed_rank: int = 0,
    name: str = "maskrcnn_ext",
) -> logging.Logger:
    """Configure the package logger: console and an appended log file on the main rank; on other
    ranks warnings and errors to stderr, tagged with the rank, and no file.

    Only rank 0 writes into the run directory; what other ranks have to say that matters (a bad
    image, the exception that stops them) still reaches the job's console.
    Calling it again with the same arguments adds no handler, so scripts and tests may call it freely.

    Args:
        output_dir: a run directory (the file is ``log.txt`` in it) or a path ending in ``.txt``/``.log``.
            ``None`` logs to the console only.
        distributed_rank: rank of this process.
        name: the logger to configure; every ``logging.getLogger(__name__)`` below it inherits it.

    Returns:
        The configured logger.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    # The handlers here are the complete destination; passing records to the root logger as well
    # would print every line twice when the user also configured the root logger.
    logger.propagate = False

    if distributed_rank > 0:
        if not _has_handler(logger, "stderr"):
            _add_handler(logger, logging.StreamHandler(stream=sys.stderr), "stderr", logging.WARNING,
                         fmt=f"[rank {distributed_rank}] {_FORMAT}")
        return logger
    if not _has_handler(logger, "console"):
        _add_handler(logger, logging.StreamHandler(stream=sys.stdout), "console", logging.INFO)
    if output_dir is not None:
        filename = _log_file(output_dir)
        tag = f"file:{filename}"
        if not _has_handler(logger, tag):
            os.makedirs(os.path.dirname(filename), exist_ok=True)
            # Append so that a resumed run keeps the log of the interrupted one.
            _add_handler(logger, logging.FileHandler(filename, mode="a"), tag, logging.DEBUG)
    return logger
