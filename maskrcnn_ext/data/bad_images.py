"""The ``on_bad_image`` policy shared by the training and test loaders, and what it met.

An image is bad when it cannot be used as annotated: missing, truncated or undecodable, or decoded at
another size than the dataset records (:class:`~maskrcnn_ext.data.image_io.ImageReadError`).

- ``"error"`` (the default) ends the run, the exception naming the file.
- ``"skip"`` leaves the image out: a training loader maps another image in its place, a test loader
  drops it, so the metrics are computed over the other images. The main process of each rank warns
  once per bad file, keeps the list for a summary (at the end of training; after each evaluation,
  whose results then count the skipped images), and fails once more than ``max_bad_fraction`` of the
  dataset's images, and more than one, have proven bad: a dataset that broken needs
  ``maskrcnn-ext validate-data``, not a run on whatever is left of it.

The dataset (which may run in worker processes) only marks what it skipped; the counting and logging
happen in the loader's own process, so each file is warned about once however many workers met it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader

from maskrcnn_ext.utils import comm

logger = logging.getLogger(__name__)

__all__ = ["BadImageLoader", "BadImageReport", "SKIPPED_KEY", "SkippedImage", "check_bad_image_policy"]

POLICIES = ("error", "skip")
# Key of a training sample listing the bad images it was drawn in place of; removed before the model.
SKIPPED_KEY = "skipped_bad_images"
# Files named in a summary log line; the metrics row lists them all.
_LOGGED_FILES = 20


def check_bad_image_policy(on_bad_image: str, max_bad_fraction: float = 0.0) -> None:
    """Refuse an unknown policy or a ``max_bad_fraction`` outside [0, 1], naming the argument."""
    if on_bad_image not in POLICIES:
        raise ValueError(f"on_bad_image must be one of {POLICIES}, got {on_bad_image!r}")
    if not 0.0 <= float(max_bad_fraction) <= 1.0:
        raise ValueError(f"max_bad_fraction must lie in [0, 1], got {max_bad_fraction!r}")


@dataclass(frozen=True)
class SkippedImage:
    """A bad image the dataset left out (picklable, to cross from loader workers).

    Args:
        file_name: the image's path.
        reason: the error message (it names the path too).
    """

    file_name: str
    reason: str


class BadImageReport:
    """The bad images one loader met in this process, with the ``max_bad_fraction`` limit.

    Args:
        on_bad_image: the loader's policy, see the module docstring.
        max_bad_fraction: with ``"skip"``, fail once more than this fraction of the dataset's images
            (and more than one image) have proven bad; counted in distinct files, not in draws.
        num_images: the number of images of the loader's dataset.
        purpose: ``"training"`` or ``"evaluation"``, for the messages.
    """

    def __init__(self, *, on_bad_image: str, max_bad_fraction: float, num_images: int, purpose: str) -> None:
        check_bad_image_policy(on_bad_image, max_bad_fraction)
        self.on_bad_image = on_bad_image
        self.max_bad_fraction = float(max_bad_fraction)
        self.num_images = num_images
        self.purpose = purpose
        self.files: dict[str, str] = {}  # path -> reason, in the order first met
        self.draws = 0

    def add(self, skipped: SkippedImage) -> None:
        """Count one draw of a bad image; warn the first time its file is met, and stop past the limit.

        Raises:
            RuntimeError: more than ``max_bad_fraction`` of the dataset's images have proven bad.
        """
        self.draws += 1
        if skipped.file_name in self.files:
            return
        self.files[skipped.file_name] = skipped.reason
        logger.warning("Skipping a bad image in %s (on_bad_image='skip'; warned once per file): %s",
                       self.purpose, skipped.reason)
        limit = max(1.0, self.max_bad_fraction * self.num_images)
        if len(self.files) > limit:
            raise RuntimeError(
                f"{len(self.files)} of the {self.num_images} images of the {self.purpose} dataset are bad, more "
                f"than max_bad_fraction={self.max_bad_fraction} of them; run `maskrcnn-ext validate-data` on the "
                "dataset and fix it (or raise max_bad_fraction)")

    def keep_good(self, batch: list[Any]) -> list[dict]:
        """The batch without the test loader's skipped images and the training samples' skip lists,
        each of which is counted."""
        kept = []
        for item in batch:
            if isinstance(item, SkippedImage):
                self.add(item)
                continue
            for skipped in item.pop(SKIPPED_KEY, ()):
                self.add(skipped)
            kept.append(item)
        return kept

    def gathered(self) -> BadImageReport:
        """The union of every rank's report (a collective: every rank must call it)."""
        merged = BadImageReport(on_bad_image=self.on_bad_image, max_bad_fraction=self.max_bad_fraction,
                                num_images=self.num_images, purpose=self.purpose)
        for files, draws in comm.all_gather((self.files, self.draws)):
            for name, reason in files.items():
                merged.files.setdefault(name, reason)
            merged.draws += draws
        return merged

    def summary(self) -> dict[str, Any]:
        """``bad_images_skipped`` (files), ``bad_image_draws`` and ``bad_image_files`` (every path)."""
        return {"bad_images_skipped": len(self.files), "bad_image_draws": self.draws,
                "bad_image_files": list(self.files)}

    def log_summary(self) -> None:
        """One line: how many files were skipped, how often, and which (the first few with reasons)."""
        if not self.files:
            logger.info("on_bad_image='skip': no bad image met in %s", self.purpose)
            return
        shown = "; ".join(self.files[name] for name in list(self.files)[:_LOGGED_FILES])
        more = f"; and {len(self.files) - _LOGGED_FILES} more" if len(self.files) > _LOGGED_FILES else ""
        logger.warning("on_bad_image='skip': %s skipped %d bad image file(s) of %d, drawn %d time(s) in all: %s%s",
                       self.purpose, len(self.files), self.num_images, self.draws, shown, more)


class BadImageLoader(DataLoader):
    """A ``DataLoader`` whose batches come without the bad images its dataset skipped.

    Args:
        *args, **kwargs: those of ``DataLoader``; its dataset marks skipped images as
            :class:`~maskrcnn_ext.data.build.MapDataset` does.
        bad_images: the report the skipped images are counted in.

    Attributes:
        bad_images: that report; a test loader's batch made only of bad images is not yielded.
    """

    def __init__(self, *args: Any, bad_images: BadImageReport, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bad_images = bad_images

    def __iter__(self):
        for batch in super().__iter__():
            kept = self.bad_images.keep_good(batch)
            if kept:
                yield kept
