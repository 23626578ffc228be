"""Exports give the eager model's detections at sizes and batch sizes other than the traced one."""
import json

import pytest
import torch
from export_helpers import match_instances, random_images

from maskrcnn_ext.export import load_exported
from maskrcnn_ext.export.metadata import read_metadata

FORMATS = ("torch-export", "onnx")
# Neither is the traced 224 x 288; one is taller than wide, one not a multiple of 32.
SIZES = [(192, 320), (300, 200)]


def _eager(model, inputs):
    with torch.no_grad():
        return [o["instances"] for o in model(inputs)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_matches_eager_at_other_sizes_and_batch_2(fmt, runners, ms_model):
    runner = runners[fmt]
    cases = [random_images([size], seed=i) for i, size in enumerate(SIZES)] + [random_images(SIZES, seed=5)]
    for inputs in cases:
        for eager, out in zip(_eager(ms_model, inputs), runner(inputs)):
            assert len(eager["boxes"]) > 0
            assert out["instances"]["masks"].shape == eager["masks"].shape
            worst = match_instances(eager, out["instances"])
            assert worst["unmatched"] <= 2, worst


@pytest.mark.parametrize("fmt", FORMATS)
def test_all_zero_image_runs_and_matches_eager(fmt, runners, ms_model):
    inputs = [{"image": torch.zeros((3, 160, 224), dtype=torch.uint8), "height": 160, "width": 224}]
    out = runners[fmt](inputs)[0]["instances"]
    match_instances(_eager(ms_model, inputs)[0], out)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_candidates_give_empty_outputs_without_error(fmt, runners):
    """Images whose every box is degenerate (unpadded size 0 x 0) or that leave a single candidate on
    some level: the program must not assume a minimum count anywhere."""
    images = torch.rand((2, 3, 128, 160)) * 255
    runner = runners[fmt]
    empty = dict(zip(runner.names, runner.program(images, torch.zeros((2, 2), dtype=torch.int64))))
    assert empty["boxes"].shape == (0, 4) and empty["mask_probs"].shape == (0, 28, 28)
    assert empty["mask_scores"].shape == (0,) and empty["batch_index"].shape == (0,)
    few = dict(zip(runner.names, runner.program(images, torch.tensor([[2, 3], [128, 160]]))))
    assert len(few["boxes"]) > 0 and few["boxes"].shape[1] == 4


def _assert_same_outputs(first, second):
    for a, b in zip(first, second):
        assert a["instances"].keys() == b["instances"].keys()
        for key, value in a["instances"].items():
            assert torch.equal(value, b["instances"][key]), key


def test_pt2_round_trip_equals_the_graph_before_saving(runners, ms_model):
    """Saved and loaded, the .pt2 program gives bit for bit what the traced graph gave in memory."""
    from maskrcnn_ext.export import ExportableRCNN, ExportedModel

    graph = ExportableRCNN(model=ms_model)
    before = ExportedModel(program=torch.no_grad()(graph), metadata=runners["torch-export"].metadata)
    inputs = random_images([(200, 260), (180, 300)], seed=3)
    _assert_same_outputs(before(inputs), runners["torch-export"](inputs))


def test_onnx_round_trip_gives_the_same_outputs(exported, runners):
    inputs = random_images([(256, 256)], seed=7)
    _assert_same_outputs(runners["onnx"](inputs), load_exported(exported["onnx"])(inputs))


@pytest.mark.parametrize("fmt", FORMATS)
def test_metadata_says_what_a_consumer_needs(fmt, exported):
    meta = read_metadata(exported[fmt])
    assert meta["format"] == fmt and meta["file"] == exported[fmt].name
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "classes", "batch_index", "mask_probs",
                                                     "mask_scores"]
    assert meta["outputs"][4]["shape"] == ["detections", 28, 28]
    assert meta["input_format"] == "RGB" and len(meta["pixel_mean"]) == 3 and meta["size_divisibility"] == 32
    assert meta["resize"] == [{"op": "torchvision.transforms.v2.Resize", "size": 352, "max_size": 640}]
    assert meta["classes"]["class_names"] is None or len(meta["classes"]["class_names"]) == 4
    for name in ("config.yaml", "preprocess.py"):
        assert (exported[fmt].parent / name).is_file()
    if fmt == "onnx":
        import onnx

        model = onnx.load(str(exported[fmt]))
        assert meta["opset"] >= 17 and max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
        dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert isinstance(dims[0], str) and isinstance(dims[2], str) and isinstance(dims[3], str), dims
    json.dumps(meta)  # plain JSON


def test_predict_cli_runs_an_exported_file(exported, tmp_path):
    import cv2
    import numpy as np

    from maskrcnn_ext.cli.main import main

    image = (random_images([(180, 240)])[0]["image"].permute(1, 2, 0).numpy()).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image[:, :, ::-1])
    assert main(["predict", str(exported["onnx"]), str(tmp_path / "a.png"), "-o", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    predictions = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert len(predictions["annotations"]) > 0 and (tmp_path / "out" / "a.png").is_file()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_export_runs_on_cuda_and_matches_eager(ms_model, ms_config, tmp_path):
    import copy

    from maskrcnn_ext.export import export_model

    model = copy.deepcopy(ms_model).to("cuda")
    path = export_model(model, tmp_path, formats=("torch-export",), cfg=ms_config, example_size=(224, 288))
    runner = load_exported(path["torch-export"], device="cuda")
    inputs = random_images(SIZES, seed=11)
    for eager, out in zip(_eager(model, inputs), runner(inputs)):
        assert out["instances"]["boxes"].device.type == "cuda"
        match_instances({k: v.cpu() for k, v in eager.items()}, {k: v.cpu() for k, v in out["instances"].items()})


def test_export_cli_refuses_an_exported_file_and_unknown_formats(exported, capsys):
    from maskrcnn_ext.cli.main import main

    assert main(["export", str(exported["onnx"]), "--format", "onnx", "-o", "unused"]) == 1
    with pytest.raises(SystemExit):
        main(["export", "some_run", "--format", "tflite", "-o", "unused"])
