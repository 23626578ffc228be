"""Files of the model zoo: hashing, atomic writes, and fetching from a directory or a URL into a cache.

Nothing partial is ever left under a final name: every file is written to a temporary name in its
destination folder, checked, and only then renamed, and the temporary file is removed on any error.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..utils.file_io import atomic_file

__all__ = ["ZooError", "default_cache_dir", "download", "fetch", "is_url", "read_text", "sha256_of"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 30.0


class ZooError(RuntimeError):
    """A model-zoo operation failed; the message says which file or URL and why."""


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$MASKRCNN_EXT_CACHE``, else ``~/.cache/maskrcnn_ext``; downloads go to its ``zoo/``."""
    root = os.environ.get("MASKRCNN_EXT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "maskrcnn_ext")
    return Path(root) / "zoo"


def is_url(spec: str) -> bool:
    return urllib.parse.urlparse(str(spec)).scheme in ("http", "https", "file")


def _local_path(url: str) -> Path | None:
    """The path a ``file://`` URL names, or None for other URLs."""
    parsed = urllib.parse.urlparse(url)
    return Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else None


def _open_url(url: str) -> IO[bytes]:
    try:
        return urllib.request.urlopen(url, timeout=_TIMEOUT_S)  # noqa: S310 - schemes are checked by callers
    except urllib.error.HTTPError as e:
        raise ZooError(f"cannot download {url}: HTTP {e.code} {e.reason}; nothing was cached") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ZooError(f"cannot reach {url}: {reason}; nothing was cached") from e


def read_text(location: str) -> str:
    """The text at a URL or a local path (an index or a manifest)."""
    local = _local_path(location) if is_url(location) else Path(location)
    if local is not None:
        if not local.is_file():
            raise ZooError(f"{local} does not exist")
        return local.read_text(encoding="utf-8")
    with _open_url(location) as response:
        return response.read().decode("utf-8")


def _check_hash(actual: str, expected: str, source: str) -> None:
    if not actual.startswith(expected.lower()):
        raise ZooError(f"sha256 mismatch for {source}: expected {expected}, got {actual}; the file is "
                       "corrupt or was replaced, and was not used")


class _DownloadLog:
    """Logs a download's progress (bytes, rate, ETA) at most every ``period_s`` seconds."""

    def __init__(self, url: str, total: int | None, period_s: float = 5.0) -> None:
        self.url, self.total, self.period_s = url, total, period_s
        self.done, self.start = 0, time.monotonic()
        self.last = self.start

    def __call__(self, chunk: int) -> None:
        self.done += chunk
        now = time.monotonic()
        if now - self.last < self.period_s:
            return
        self.last = now
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            eta = (self.total - self.done) / max(rate, 1e-9)
            logger.info("%s: %.1f / %.1f MiB (%.1f MiB/s, ETA %.0f s)", self.url, self.done / 2**20,
                        self.total / 2**20, rate / 2**20, eta)
        else:
            logger.info("%s: %.1f MiB (%.1f MiB/s)", self.url, self.done / 2**20, rate / 2**20)


def download(url: str, target: Path, expected_sha256: str | None,
             progress: Callable[[int], None] | None = None) -> Path:
    """Download ``url`` to ``target`` atomically, checking its sha256 (a prefix is enough) when given.

    Raises:
        ZooError: the URL is unreachable or the hash differs; ``target`` is not created then.
    """
    logger.info("Downloading %s to %s", url, target)
    digest = hashlib.sha256()
    with _open_url(url) as response, atomic_file(target, "wb") as out:
        length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        report = progress or _DownloadLog(url, int(length) if length else None)
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            report(len(chunk))
        if expected_sha256 is not None:
            _check_hash(digest.hexdigest(), expected_sha256, url)  # raising here discards the download
        else:
            logger.info("%s: the publisher gives no hash; its sha256 is %s", url, digest.hexdigest())
    return target


def fetch(url: str, expected_sha256: str, *, cache_dir: str | os.PathLike | None = None,
          progress: Callable[[int], None] | None = None) -> Path:
    """A verified local copy of the file at ``url``.

    Args:
        url: ``http(s)://`` or ``file://`` URL, or a local path.
        expected_sha256: the full hex digest, or a prefix of it (at least 8 characters).
        cache_dir: where downloads are kept (default :func:`default_cache_dir`); local files are
            used in place, after checking their hash.
        progress: called with the byte count of each downloaded chunk (default: progress and ETA
            logged every few seconds).

    Raises:
        ZooError: the URL is unreachable or the hash differs; no file is left in the cache then.
    """
    if len(expected_sha256) < 8:
        raise ZooError(f"refusing to load {url} without a sha256 (got {expected_sha256!r})")
    local = _local_path(url) if is_url(url) else Path(url)
    if local is not None:
        if not local.is_file():
            raise ZooError(f"{local} does not exist")
        _check_hash(sha256_of(local), expected_sha256, str(local))
        return local
    target = Path(cache_dir or default_cache_dir()) / Path(urllib.parse.urlparse(url).path).name
    if target.is_file() and sha256_of(target).startswith(expected_sha256.lower()):
        logger.info("Using the cached %s", target)
        return target
    return download(url, target, expected_sha256, progress)
