"""CopyPasteDatasetMapper: copy-paste after detectron2's augmentations, boxes/masks/classes consistent,
crowd regions never pasted over."""
import pytest

pytest.importorskip("detectron2")

import numpy as np
import torch
from d2_helpers import annotation, write_record
from detectron2.config import get_cfg
from detectron2.data import transforms as T
from detectron2.structures import BitMasks
from PIL import Image

from maskrcnn_ext.d2 import CopyPasteDatasetMapper, CrossImagePaste, SmallObjectPaste, add_maskrcnn_ext_config

CROWD = np.zeros((40, 60), dtype=bool)
CROWD[:20, :20] = True


@pytest.fixture
def record(tmp_path) -> dict:
    """A 40x60 image: a small 5x4 object (class 1), a large 30x20 one (class 2), a 20x20 crowd region."""
    pixels = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    return write_record(tmp_path / "image.png", pixels, [annotation([2, 30, 7, 34], 1), annotation([25, 5, 55, 25], 2),
                                                        annotation([0, 0, 20, 20], 0, iscrowd=1)])


@pytest.fixture
def source_record(tmp_path) -> dict:
    """Another 40x60 image holding one green 10x8 object of class 3."""
    pixels = np.zeros((40, 60, 3), dtype=np.uint8)
    pixels[10:18, 20:30] = (0, 255, 0)
    return write_record(tmp_path / "source.png", pixels, [annotation([20, 10, 30, 18], 3)], image_id=2)


def mapper(*pastes, **kwargs) -> CopyPasteDatasetMapper:
    options = dict(is_train=True, augmentations=[], image_format="RGB", use_instance_mask=True)
    return CopyPasteDatasetMapper(**{**options, **kwargs}, pastes=list(pastes))


def small_paste(**kwargs) -> SmallObjectPaste:
    return SmallObjectPaste(area_threshold=100, scale_range=(1.0, 1.0), max_rotation=0.0, **kwargs)


def extent(mask: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_small_objects_are_copied_where_no_instance_and_no_crowd_lies(record):
    np.random.seed(0)
    out = mapper(small_paste(copies=3))(record)
    inst = out["instances"]
    assert isinstance(inst.gt_masks, BitMasks)
    assert inst.gt_classes.tolist() == [1, 2, 1, 1, 1]  # the crowd region never reaches the model
    assert inst.gt_boxes.tensor[:2].tolist() == [[2.0, 30.0, 7.0, 34.0], [25.0, 5.0, 55.0, 25.0]]
    masks, image = inst.gt_masks.tensor, out["image"].permute(1, 2, 0).numpy()
    original = np.asarray(Image.open(record["file_name"]))
    assert (masks.sum(dim=0) <= 1).all()
    for box, mask in zip(inst.gt_boxes.tensor[2:], masks[2:]):
        assert mask.sum() == 20 and not (mask.numpy() & CROWD).any()
        assert box.tolist() == extent(mask)
        x0, y0, x1, y1 = (int(v) for v in box)
        np.testing.assert_array_equal(image[y0:y1, x0:x1], original[30:34, 2:7])


def test_pasting_follows_the_augmentations(record):
    np.random.seed(0)
    flipped = mapper(small_paste(copies=1), augmentations=[T.RandomFlip(prob=1.0)])(record)["instances"]
    assert flipped.gt_boxes.tensor[:2].tolist() == [[53.0, 30.0, 58.0, 34.0], [5.0, 5.0, 35.0, 25.0]]
    mirrored_crowd = CROWD[:, ::-1]
    assert len(flipped) == 3 and not (flipped.gt_masks.tensor[2].numpy() & mirrored_crowd).any()


def test_cross_image_paste_brings_the_other_images_instance_and_avoids_crowd(record, source_record):
    paste = CrossImagePaste(dataset=[source_record], image_format="RGB", scale_range=(1.0, 1.0), blend_sigma=0.0,
                            p=1.0)
    for seed in range(5):
        np.random.seed(seed)
        out = mapper(paste)(record)
        inst, image = out["instances"], out["image"].permute(1, 2, 0).numpy()
        pasted = inst.gt_masks.tensor[-1]
        assert inst.gt_classes[-1].item() == 3 and pasted.sum() == 80 and not (pasted.numpy() & CROWD).any()
        assert inst.gt_boxes.tensor[-1].tolist() == extent(pasted)
        assert (image[pasted.numpy()] == (0, 255, 0)).all()
        for box, mask in zip(inst.gt_boxes.tensor[:-1], inst.gt_masks.tensor[:-1]):  # covered ones shrink
            x0, y0, x1, y1 = extent(mask)
            assert box[0] <= x0 and box[1] <= y0 and box[2] >= x1 and box[3] >= y1


def test_probability_zero_and_inference_change_nothing(record):
    plain = mapper()(record)
    untouched = mapper(small_paste(copies=2, p=0.0))(record)
    assert torch.equal(untouched["image"], plain["image"])
    assert untouched["instances"].gt_classes.tolist() == plain["instances"].gt_classes.tolist() == [1, 2]
    test = mapper(small_paste(copies=2), is_train=False)(record)
    assert "instances" not in test and torch.equal(test["image"], plain["image"])


def test_settings_that_cannot_paste_consistently_are_refused(source_record):
    with pytest.raises(ValueError, match="instance_mask_format='bitmask'"):
        mapper(small_paste(), instance_mask_format="polygon")
    with pytest.raises(ValueError, match="use_instance_mask=True"):
        mapper(small_paste(), use_instance_mask=False)
    with pytest.raises(ValueError, match="channels swapped"):
        mapper(CrossImagePaste(dataset=[source_record], image_format="RGB"), image_format="BGR")


def test_yacs_config_enables_the_pastes():
    cfg = add_maskrcnn_ext_config(get_cfg())
    cfg.MODEL.MASK_ON = True
    cfg.INPUT.SMALL_OBJECT_PASTE.ENABLED = True
    cfg.INPUT.SMALL_OBJECT_PASTE.COPIES = 2
    train = CopyPasteDatasetMapper(cfg, True)
    assert [type(p) for p in train.pastes] == [SmallObjectPaste] and train.pastes[0].options["copies"] == 2
    assert train.instance_mask_format == "bitmask"
    assert CopyPasteDatasetMapper(cfg, False).pastes == []
    cfg.INPUT.CROSS_IMAGE_PASTE.ENABLED = True
    cfg.DATASETS.TRAIN = ("my_train",)
    cross = CopyPasteDatasetMapper(cfg, True).pastes[1]
    assert isinstance(cross, CrossImagePaste) and cross.dataset == ["my_train"] and cross.image_format == "BGR"
