from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util

from maskrcnn_ext.data import DatasetCatalog, MetadataCatalog, register_shapes
from maskrcnn_ext.data.shapes import _occludes_too_much, generate_shapes


def _files(json_path: str) -> dict[str, bytes]:
    image_dir = Path(json_path).parent / "images"
    return {p.name: p.read_bytes() for p in sorted(image_dir.iterdir())}


def test_same_seed_same_bytes_different_seed_differs(tmp_path):
    a = generate_shapes(str(tmp_path / "a"), split="s", num_images=4, seed=5)
    b = generate_shapes(str(tmp_path / "b"), split="s", num_images=4, seed=5)
    c = generate_shapes(str(tmp_path / "c"), split="s", num_images=4, seed=6)
    assert Path(a).read_bytes() == Path(b).read_bytes()
    assert _files(a) == _files(b) and len(_files(a)) == 4
    assert json.loads(Path(a).read_text())["annotations"] != json.loads(Path(c).read_text())["annotations"]
    assert _files(a) != _files(c)


def test_reuses_matching_files_and_regenerates_on_new_params(tmp_path):
    path = Path(generate_shapes(str(tmp_path), split="s", num_images=2, seed=0))
    assert path == tmp_path / "shapes" / "s" / "annotations.json"
    mtime = path.stat().st_mtime_ns
    generate_shapes(str(tmp_path), split="s", num_images=2, seed=0)
    assert path.stat().st_mtime_ns == mtime  # untouched
    generate_shapes(str(tmp_path), split="s", num_images=3, seed=0)
    data = json.loads(path.read_text())
    assert len(data["images"]) == 3 and data["info"]["params"]["num_images"] == 3
    path.write_text("{truncated")  # an interrupted write is regenerated, not trusted
    generate_shapes(str(tmp_path), split="s", num_images=3, seed=0)
    assert len(json.loads(path.read_text())["images"]) == 3


def test_masks_match_recorded_area_and_tight_boxes(shapes200):
    json_path, _ = shapes200
    data = json.loads(Path(json_path).read_text())
    sizes = {img["id"]: (img["height"], img["width"]) for img in data["images"]}
    for ann in data["annotations"][:150]:
        mask = mask_util.decode(ann["segmentation"])
        assert mask.shape == sizes[ann["image_id"]]
        assert int(mask.sum()) == ann["area"] >= 16
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann["bbox"]
        assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_classes_sizes_and_aspect_ratios_vary(shapes200):
    json_path, records = shapes200
    data = json.loads(Path(json_path).read_text())
    assert [c["name"] for c in data["categories"]] == ["circle", "square", "triangle", "lshape"]
    assert set(Counter(a["category_id"] for a in data["annotations"])) == {1, 2, 3, 4}
    areas = np.array([a["area"] for a in data["annotations"]])
    assert (areas < 32**2).sum() > 20
    assert ((areas >= 32**2) & (areas < 96**2)).sum() > 20
    assert (areas >= 96**2).sum() > 5
    assert all(1 <= len(r["annotations"]) <= 6 for r in records)
    ratios = [r["width"] / r["height"] for r in records]
    assert min(ratios) < 0.9 and max(ratios) > 1.1
    assert all(224 <= r["height"] <= 320 and 224 <= r["width"] <= 320 for r in records)


def test_occlusion_rule_rejects_hiding_more_than_half():
    existing = np.zeros((20, 20), bool)
    existing[0:10, 0:10] = True  # full area 100
    hides_60 = np.zeros((20, 20), bool)
    hides_60[0:6, 0:10] = True
    hides_40 = np.zeros((20, 20), bool)
    hides_40[0:4, 0:10] = True
    assert _occludes_too_much(hides_60, [existing], [100])
    assert not _occludes_too_much(hides_40, [existing], [100])
    # judged against the full shape: 30 already hidden + 30 more leaves 40 < 50
    partly_hidden = existing.copy()
    partly_hidden[7:10, :] = False
    hides_30 = np.zeros((20, 20), bool)
    hides_30[0:3, 0:10] = True
    assert _occludes_too_much(hides_30, [partly_hidden], [100])


def test_register_shapes_uses_env_root_lazily(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKRCNN_EXT_DATASETS", str(tmp_path))
    try:
        register_shapes(names=["shapes_tiny_val"])
        assert not (tmp_path / "shapes").exists()  # nothing generated before get
        records = DatasetCatalog.get("shapes_tiny_val")
        assert len(records) == 16
        meta = MetadataCatalog.get("shapes_tiny_val")
        assert meta.thing_classes == ["circle", "square", "triangle", "lshape"]
        assert meta.json_file == str(tmp_path / "shapes" / "tiny_val" / "annotations.json")
        assert records[0]["file_name"] == str(tmp_path / "shapes" / "tiny_val" / "images" / "000000.png")
    finally:
        monkeypatch.undo()
        register_shapes(names=["shapes_tiny_val"])  # drop the cache pointing into tmp_path
