"""The tiny shapes keypoint config trains and evaluates end to end through train_net.py."""
import json
import math

import pytest
from e2e_helpers import REPO, eval_rows, run_train_net, train_rows

pytestmark = pytest.mark.slow

TINY_KEYPOINTS = str(REPO / "projects" / "Keypoints" / "configs" / "shapes" / "keypoint_rcnn_R_18_FPN_tiny.py")


def test_tiny_keypoint_config_trains_and_evaluates_keypoint_ap(tmp_path, datasets_root, train_net):
    results = run_train_net(train_net, "--config-file", TINY_KEYPOINTS, f"train.output_dir={tmp_path}",
                            "train.vis_num_images=2")
    rows = train_rows(tmp_path)
    assert [r["iteration"] for r in rows] == [4, 9, 14, 19]
    # 56x56 heatmaps start near the uniform log(3136) = 8.05 and move down
    assert 7.0 < rows[0]["loss_keypoint"] < 9.0 and rows[-1]["loss_keypoint"] < rows[0]["loss_keypoint"]
    keypoints = results["keypoints"]
    assert set(keypoints) >= {"AP", "AP50", "AP75", "APm", "APl"} and "APs" not in keypoints
    assert 0.0 <= keypoints["AP"] <= 1.0 and not math.isnan(keypoints["AP"])
    assert "keypoints/AP" in eval_rows(tmp_path)[-1]
    predictions = json.loads((tmp_path / "inference" / "coco_instances_results.json").read_text())
    assert predictions and all(len(p["keypoints"]) == 36 for p in predictions)
    assert len(list((tmp_path / "vis").glob("*.png"))) == 2  # ground truth | predictions, keypoints drawn


COCO_KEYPOINTS = str(REPO / "projects" / "Keypoints" / "configs" / "coco" / "keypoint_rcnn_R_50_FPN_1x.py")
SMALL = [  # the COCO recipe at a size a CPU test affords: 128 px images, few RoIs and detections
    "dataloader.train.mapper.augmentations.0.min_size=[128]", "dataloader.train.mapper.augmentations.0.max_size=192",
    "dataloader.test.mapper.augmentations.0.size=128", "dataloader.test.mapper.augmentations.0.max_size=192",
    "dataloader.train.total_batch_size=2", "dataloader.train.num_workers=0", "dataloader.test.num_workers=0",
    "model.proposal_generator.post_nms_topk_train=100", "model.proposal_generator.pre_nms_topk_test=100",
    "model.proposal_generator.post_nms_topk_test=20", "model.roi_heads.batch_size_per_image=32",
    "model.roi_heads.box_predictor.test_topk_per_image=5",
]


def _write_person_keypoints(root, split):
    """COCO person keypoints for 2 images of 128x160 px, each with one bright 'person' box whose 17
    keypoints lie on a grid inside it (the last four unlabelled), at the builtin dataset's place."""
    import numpy as np
    from PIL import Image

    from maskrcnn_ext.data.keypoints import COCO_PERSON_KEYPOINT_NAMES

    image_dir = root / "coco" / f"{split}2017"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i, (x0, y0) in enumerate([(20, 16), (70, 40)], start=1):
        pixels = np.full((128, 160, 3), 30, np.uint8)
        pixels[y0 : y0 + 64, x0 : x0 + 48] = 220
        Image.fromarray(pixels).save(image_dir / f"{i}.png")
        keypoints = []
        for k in range(17):
            keypoints += [x0 + 4 + 10 * (k % 4), y0 + 4 + 14 * (k // 4), 2] if k < 13 else [0, 0, 0]
        images.append({"id": i, "file_name": f"{i}.png", "height": 128, "width": 160})
        annotations.append({"id": i, "image_id": i, "category_id": 1, "bbox": [x0, y0, 48, 64], "area": 48.0 * 64,
                            "iscrowd": 0, "num_keypoints": 13, "keypoints": keypoints,
                            "segmentation": [[x0, y0, x0 + 48, y0, x0 + 48, y0 + 64, x0, y0 + 64]]})
    categories = [{"id": 1, "name": "person", "keypoints": list(COCO_PERSON_KEYPOINT_NAMES), "skeleton": [[1, 2]]}]
    path = root / "coco" / "annotations" / f"person_keypoints_{split}2017.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def test_coco_scale_keypoint_config_trains_a_few_iterations_on_a_person_keypoint_file(tmp_path, datasets_root,
                                                                                      train_net):
    for split in ("train", "val"):
        _write_person_keypoints(datasets_root, split)
    results = run_train_net(train_net, "--config-file", COCO_KEYPOINTS, f"train.output_dir={tmp_path}",
                            "train.init_checkpoint=''", "train.max_iter=2", "train.log_period=1",
                            "train.vis_num_images=0", "lr_multiplier.warmup_iters=1", *SMALL)
    rows = train_rows(tmp_path)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert all(math.isfinite(r["loss_keypoint"]) for r in rows) and "loss_mask" not in rows[0]
    assert set(results["keypoints"]) >= {"AP", "AP50", "APm", "APl"} and set(results["bbox"]) >= {"AP", "APs"}
    assert sum(results["gt_counts"].values()) == 2
