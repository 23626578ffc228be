"""Keypoints of the synthetic shapes: hand-computed corners, occlusion, flip map, unchanged pictures."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from maskrcnn_ext.data.keypoints import flip_indices
from maskrcnn_ext.data.shapes import generate_shapes
from maskrcnn_ext.data.shapes_draw import shape_vertices
from maskrcnn_ext.data.shapes_keypoints import (
    SHAPES_KEYPOINT_NAMES,
    SHAPES_OKS_SIGMAS,
    _named_corners,
    shape_keypoints,
    shapes_keypoint_metadata,
)
from maskrcnn_ext.data.validate import validate_coco_json

NAMES = SHAPES_KEYPOINT_NAMES
FLIP = flip_indices(NAMES, shapes_keypoint_metadata()["keypoint_flip_map"])


def _labelled(flat):
    return {NAMES[i]: flat[3 * i : 3 * i + 3] for i in range(len(NAMES)) if flat[3 * i + 2] > 0}


def test_an_upright_square_and_l_shape_have_hand_computed_corners():
    square = _labelled(shape_keypoints("square", center=(50, 50), extent=40, angle=0.0, height=100, width=100))
    assert square == {"square_top_left": [30, 30, 2], "square_top_right": [70, 30, 2],
                      "square_bottom_right": [70, 70, 2], "square_bottom_left": [30, 70, 2]}
    # The L's cut-out quarter is top-right: the elbow is bottom-left, and seen from it looking at
    # the inner corner (up and right) the upper arm's tip is on the left.
    lshape = _labelled(shape_keypoints("lshape", center=(50, 50), extent=40, angle=0.0, height=100, width=100))
    assert lshape == {"lshape_elbow": [30, 70, 2], "lshape_inner": [50, 50, 2], "lshape_left_tip": [30, 30, 2],
                      "lshape_right_tip": [70, 70, 2]}
    circle = _labelled(shape_keypoints("circle", center=(20.5, 30.0), extent=5, angle=0.0, height=100, width=100))
    assert circle == {"circle_center": [20.5, 30.0, 2]}


def test_names_follow_the_image_not_the_rotation():
    # Rotated by 30 degrees clockwise on screen, the square's former top-left corner (direction
    # -135 degrees) points to -105 degrees: still top-left; its former top-right (-45) points to -15.
    kp = _labelled(shape_keypoints("square", center=(50, 50), extent=40, angle=math.radians(30), height=100,
                                   width=100))
    r = 20 * math.sqrt(2)
    assert kp["square_top_left"][:2] == pytest.approx([50 + r * math.cos(math.radians(-105)),
                                                      50 + r * math.sin(math.radians(-105))], abs=0.01)
    assert kp["square_top_right"][:2] == pytest.approx([50 + r * math.cos(math.radians(-15)),
                                                       50 + r * math.sin(math.radians(-15))], abs=0.01)


def test_a_corner_under_a_later_shape_is_occluded():
    occluder = np.zeros((100, 100), bool)
    occluder[25:35, 65:75] = True  # over the top-right corner (70, 30)
    kp = _labelled(shape_keypoints("square", center=(50, 50), extent=40, angle=0.0, height=100, width=100,
                                   occluders=occluder))
    assert kp["square_top_right"] == [70, 30, 1] and kp["square_top_left"][2] == 2


@pytest.mark.parametrize("name", ["square", "triangle", "lshape", "circle"])
def test_the_flip_map_names_the_mirrored_shape_s_keypoints(name):
    """Mirror a shape (x -> W - 1 - x in pixel indices); its keypoints, named from the mirrored
    picture, are the original ones mirrored and renamed by the flip map."""
    width = 100
    for angle in np.linspace(0.05, 2 * math.pi, 13):
        original = shape_keypoints(name, center=(40, 55), extent=30, angle=float(angle), height=100, width=width)
        expected = np.array(original).reshape(-1, 3)[FLIP]
        expected[expected[:, 2] > 0, 0] = width - 1 - expected[expected[:, 2] > 0, 0]
        if name == "lshape":  # a mirrored L is no rotated L: name the mirrored outline directly
            vertices = shape_vertices(name, center=(40, 55), extent=30, angle=float(angle)) * [-1, 1] + [width - 1, 0]
            corners = _named_corners(name, vertices, (width - 1 - 40, 55))
            mirrored = {f"lshape_{s}": corners[i] for i, s in enumerate(("elbow", "inner", "left_tip", "right_tip"))}
            for n, point in mirrored.items():
                np.testing.assert_allclose(expected[NAMES.index(n), :2], point, atol=0.02, err_msg=n)
        else:  # the base square, triangle and circle are symmetric: the mirror is a rotation by -angle
            mirrored = shape_keypoints(name, center=(width - 1 - 40, 55), extent=30, angle=-float(angle), height=100,
                                       width=width)
            np.testing.assert_allclose(np.array(mirrored).reshape(-1, 3), expected, atol=0.02)


def test_sigmas_and_flip_map_are_stated():
    meta = shapes_keypoint_metadata()
    assert len(NAMES) == len(SHAPES_OKS_SIGMAS) == 12
    assert dict(zip(NAMES, SHAPES_OKS_SIGMAS))["circle_center"] == 0.07 and SHAPES_OKS_SIGMAS[1] == 0.05
    assert ("lshape_left_tip", "lshape_right_tip") in meta["keypoint_flip_map"] and len(meta["keypoint_flip_map"]) == 4


def test_generated_keypoint_split_draws_the_same_pictures_and_validates(tmp_path):
    options = dict(num_images=24, seed=21, min_size=128, max_size=160, max_instances=3, small_fraction=0.0)
    plain = json.loads(Path(generate_shapes(str(tmp_path / "a"), split="s", **options)).read_text())
    kp_json = generate_shapes(str(tmp_path / "b"), split="s", keypoints=True, **options)
    with_kp = json.loads(Path(kp_json).read_text())
    for a, b in zip(plain["annotations"], with_kp["annotations"], strict=True):
        assert a == {k: v for k, v in b.items() if k not in ("keypoints", "num_keypoints")}
        own = [n for n in NAMES if n.startswith(plain["categories"][a["category_id"] - 1]["name"])]
        labelled = _labelled(b["keypoints"])
        assert set(labelled) == set(own) and b["num_keypoints"] == len(own)
    for image in plain["images"]:
        name = image["file_name"]
        plain_image, kp_image = (tmp_path / root / "shapes/s/images" / name for root in ("a", "b"))
        assert plain_image.read_bytes() == kp_image.read_bytes()
    visibilities = [v for a in with_kp["annotations"] for v in a["keypoints"][2::3] if v > 0]
    assert 1 in visibilities and visibilities.count(2) > visibilities.count(1)  # some occluded, most visible
    assert with_kp["categories"][0]["keypoints"] == list(NAMES)
    assert validate_coco_json(kp_json, str(Path(kp_json).parent / "images")).problems == []
