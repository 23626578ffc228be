"""Copy-paste on numpy arrays: what is pasted where, mask/box bookkeeping, determinism, bad input."""
import numpy as np
import pytest

from maskrcnn_ext.data.copy_paste import (
    Patch,
    boxes_from_masks,
    cross_image_copy_paste,
    jitter_patch,
    paste_patches,
    small_object_copy_paste,
)

H, W = 64, 80


def scene():
    """A grey image with a small red 5x5 square (class 1) and a large blue 40x40 square (class 2)."""
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    masks = np.zeros((2, H, W), dtype=bool)
    masks[0, 10:15, 10:15] = True
    masks[1, 20:60, 40:80] = True
    image[masks[0]] = (255, 0, 0)
    image[masks[1]] = (0, 0, 255)
    return image, masks, np.array([1, 2])


def no_jitter(**kwargs):
    return dict(scale_range=(1.0, 1.0), max_rotation=0.0, **kwargs)


def test_boxes_from_masks_use_pixel_edges():
    masks = np.zeros((3, 8, 8), dtype=bool)
    masks[0, 2, 3] = True
    masks[1, 1:4, 5:8] = True
    np.testing.assert_array_equal(boxes_from_masks(masks), [[3, 2, 4, 3], [5, 1, 8, 4], [0, 0, 0, 0]])


def test_small_instances_are_pasted_where_nothing_is():
    image, masks, classes = scene()
    out_image, out_masks, out_classes, origin, out_boxes = small_object_copy_paste(
        image, masks, classes, np.random.default_rng(0), copies=3, area_threshold=32 ** 2, **no_jitter())
    assert out_classes.tolist() == [1, 2, 1, 1, 1]  # only the small square is copied
    assert origin.tolist() == [0, 1, -1, -1, -1]
    np.testing.assert_array_equal(out_masks[:2], masks)  # nothing pasted over the originals
    assert (out_masks.sum(axis=0) <= 1).all()  # no two instances share a pixel
    for mask in out_masks[2:]:
        assert mask.sum() == 25 and (out_image[mask] == (255, 0, 0)).all()
        x0, y0, x1, y1 = boxes_from_masks(mask[None])[0]
        assert (x1 - x0, y1 - y0) == (5, 5)


def test_cross_image_paste_rescales_the_source_to_the_target_and_keeps_crowd_clear():
    image, masks, classes = scene()
    # The source is half the target's size, so its 4x4 green object arrives as 8x8.
    source = np.zeros((H // 2, W // 2, 3), dtype=np.uint8)
    source_masks = np.zeros((1, H // 2, W // 2), dtype=np.uint8)
    source_masks[0, 4:8, 4:8] = 1
    source[4:8, 4:8] = (0, 255, 0)
    crowd = np.zeros((H, W), dtype=bool)
    crowd[:, :40] = True
    for seed in range(5):
        out = cross_image_copy_paste(image, masks, classes, source, source_masks, np.array([3]),
                                     np.random.default_rng(seed), crowd=crowd, **no_jitter(blend_sigma=0.0))
        assert out.classes.tolist()[-1] == 3 and out.origin.tolist()[-1] == -1
        pasted = out.masks[-1]
        assert pasted.sum() == 64 and not (pasted & crowd).any()
        assert (out.image[pasted] == (0, 255, 0)).all()
        np.testing.assert_array_equal(out.boxes[-1], boxes_from_masks(pasted[None])[0])


@pytest.mark.parametrize("box", [[10, 10, 15, 15], [11, 11, 13, 13]], ids=["exact", "too_small"])
def test_copies_are_whole_even_when_the_given_box_is_too_small(box):
    image, masks, classes = scene()
    boxes = np.array([box, [40, 20, 80, 60]], dtype=np.float32)
    out = small_object_copy_paste(image, masks, classes, np.random.default_rng(0), boxes=boxes, copies=2,
                                  **no_jitter())
    assert [int(m.sum()) for m in out.masks[2:]] == [25, 25]
    np.testing.assert_array_equal(out.boxes[:2], boxes)  # the inputs keep the boxes they came with


def test_same_seed_same_output_other_seed_other_positions():
    image, masks, classes = scene()
    a = small_object_copy_paste(image, masks, classes, np.random.default_rng(7), copies=2)
    b = small_object_copy_paste(image, masks, classes, np.random.default_rng(7), copies=2)
    c = small_object_copy_paste(image, masks, classes, np.random.default_rng(8), copies=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])


def test_crowd_regions_are_never_pasted_over():
    image, masks, classes = scene()
    crowd = np.ones((H, W), dtype=bool)
    crowd[:, :30] = False  # only the left strip is free
    _, out_masks, _, _, _ = small_object_copy_paste(image, masks, classes, np.random.default_rng(0), crowd=crowd, copies=4)
    assert len(out_masks) > 2 and not (out_masks[2:] & crowd).any()


def test_no_free_position_skips_the_paste_and_terminates():
    image, masks, classes = scene()
    crowd = np.ones((H, W), dtype=bool)
    out_image, out_masks, out_classes, _, out_boxes = small_object_copy_paste(image, masks, classes, np.random.default_rng(0),
                                                                  crowd=crowd, copies=5, max_tries=3)
    np.testing.assert_array_equal(out_image, image)
    np.testing.assert_array_equal(out_masks, masks)


def test_pasting_over_instances_updates_their_masks_and_drops_the_hidden():
    image, masks, classes = scene()
    cover = Patch(np.zeros((64, 80, 3), np.uint8), np.zeros((64, 80), bool), cls=3)
    cover.mask[:, :42] = True  # hides the small square entirely and 2 of the big square's 40 columns
    out_image, out_masks, out_classes, origin, out_boxes = paste_patches(image, masks, classes, [cover],
                                                              np.random.default_rng(0), avoid_instances=False)
    assert out_classes.tolist() == [2, 3] and origin.tolist() == [1, -1]  # the small square is gone
    assert out_masks[0].sum() == 40 * 38 and not out_masks[0][:, :42].any()
    np.testing.assert_array_equal(boxes_from_masks(out_masks[:1])[0], [42, 20, 80, 60])
    assert (out_image[:, :42] == 0).all()


def test_partly_hidden_instance_below_the_minimum_is_dropped():
    image, masks, classes = scene()
    cover = Patch(np.zeros((64, 80, 3), np.uint8), np.ones((64, 80), bool), cls=3)
    cover.mask[10:11, 10:13] = False  # 3 pixels of the small square stay visible
    _, _, out_classes, _, _ = paste_patches(image, masks, classes, [cover], np.random.default_rng(0),
                                         avoid_instances=False, min_visible_area=4)
    assert out_classes.tolist() == [3]


@pytest.mark.parametrize("case", ["empty", "single_pixel", "border", "crowd_only"])
def test_bad_input_passes_through(case):
    image = np.full((H, W, 3), 50, dtype=np.uint8)
    masks, classes, crowd = np.zeros((0, H, W), bool), np.zeros(0, np.int64), None
    if case == "single_pixel":
        masks = np.zeros((1, H, W), bool)
        masks[0, 5, 5] = True
        classes = np.array([0])
    elif case == "border":
        masks = np.zeros((1, H, W), bool)
        masks[0, 0:6, W - 4:W] = True
        classes = np.array([0])
    elif case == "crowd_only":
        crowd = np.zeros((H, W), bool)
        crowd[:20] = True
    out_image, out_masks, out_classes, _, out_boxes = small_object_copy_paste(image, masks, classes, np.random.default_rng(0),
                                                                  crowd=crowd, copies=2)
    assert out_image.shape == image.shape and len(out_masks) == len(out_classes) >= len(masks)
    np.testing.assert_array_equal(out_masks[:len(masks)], masks)  # the originals are all kept
    boxes = boxes_from_masks(out_masks)
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()  # no degenerate box
    if crowd is not None:
        assert not (out_masks & crowd).any()


def test_jitter_scales_area_and_keeps_the_class():
    mask = np.ones((10, 10), bool)
    patch = Patch(np.zeros((10, 10, 3), np.uint8), mask, cls=5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = jitter_patch(patch, rng, scale_range=(0.8, 1.2), max_rotation=15)
        assert out.cls == 5 and 0.55 * 100 <= out.mask.sum() <= 1.5 * 100
        assert out.pixels.shape[:2] == out.mask.shape


def test_jittered_copies_have_no_dark_rim():
    patch = Patch(np.full((12, 9, 3), 200, np.uint8), np.ones((12, 9), bool), cls=0)
    rng = np.random.default_rng(3)
    for _ in range(10):
        out = jitter_patch(patch, rng, scale_range=(0.8, 1.2), max_rotation=15)
        assert (out.pixels[out.mask] == 200).all()


def test_blending_feathers_the_edge_outwards_but_never_into_crowd():
    image = np.zeros((40, 40, 3), np.uint8)
    crowd = np.zeros((40, 40), bool)
    crowd[:, :5] = True
    patch = Patch(np.full((10, 10, 3), 200, np.uint8), np.ones((10, 10), bool), cls=0)
    rng = np.random.default_rng(0)
    out, masks, _, _, _ = paste_patches(image, np.zeros((0, 40, 40), bool), np.zeros(0, np.int64), [patch], rng,
                                     crowd=crowd, blend_sigma=2.0)
    ys, xs = np.nonzero(masks[0])
    inside = out[ys.min() + 5, xs.min() + 5, 0]
    assert inside > 150 and 0 < out[ys.min() + 5, xs.min() - 1, 0] < inside  # soft on both sides of the edge
    assert (out[crowd] == 0).all() and masks[0].sum() == 100  # the instance mask stays the hard one
