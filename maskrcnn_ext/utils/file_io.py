"""Writing files so that nothing partial is ever left under a final name.

Every writer of the package (run configs, checkpoints and their pointer, generated datasets, sweep
summaries, zoo files) goes through :func:`atomic_file`: the data goes to a temporary file in the
destination folder, is flushed and fsynced, optionally checked, and only then renamed over the final
name; on any error the temporary file is removed and the old file is left as it was.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_file", "make_readable"]


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "w", *,
                check: Callable[[Path], None] | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it becomes ``path``.

    Args:
        path: the final file name; missing parent folders are created.
        mode: ``"w"`` (text, UTF-8) or ``"wb"`` (binary).
        check: called with the temporary file's path after it is complete and synced, before the
            rename; raise to abandon the write (e.g. a weights file that does not read back equal).

    The fsync before the rename matters: without it a power loss can leave the new name pointing at
    an empty file. The file gets the permissions a plain ``open`` would give it (``mkstemp`` makes
    owner-only files, which would hide run directories and zoo folders from teammates and servers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(Path(tmp))
        make_readable(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def make_readable(path: str | os.PathLike) -> None:
    """Give a file the permissions a new file gets under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
