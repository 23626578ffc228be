"""Shared fixtures for the data tests: a small shapes split generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskrcnn_ext.data.coco import load_coco_json
from maskrcnn_ext.data.shapes import generate_shapes


# pycocotools (2.0.x) triggers a numpy 2 DeprecationWarning inside mask.decode; it is not ours to fix.
_PYCOCOTOOLS_NUMPY2 = "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings(_PYCOCOTOOLS_NUMPY2))


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="session")
def shapes200(shapes_root: Path) -> tuple[str, list[dict]]:
    """200 images with the default generation parameters: (json path, records)."""
    json_path = generate_shapes(str(shapes_root), split="s200", num_images=200, seed=11)
    records = load_coco_json(json_path, str(Path(json_path).parent / "images"))
    return json_path, records
