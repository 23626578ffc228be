import pytest
from export_helpers import mask_scoring_config, spread_random_model

# The traced size; the tests run the exports at other sizes and batch sizes.
EXPORT_SIZE = (224, 288)


@pytest.fixture(scope="session")
def ms_config():
    return mask_scoring_config()


@pytest.fixture(scope="session")
def ms_model(ms_config):
    """The demo architecture with a MaskIoU head (tiny config), random weights, spread scores."""
    return spread_random_model(ms_config)


@pytest.fixture(scope="session")
def exported(ms_model, ms_config, tmp_path_factory):
    """``{format: path}``: the model exported once per format (the slow part of these tests)."""
    from maskrcnn_ext.export import export_model

    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    root = tmp_path_factory.mktemp("exports")
    return export_model(ms_model, root, formats=("torch-export", "onnx"), cfg=ms_config, example_size=EXPORT_SIZE)


@pytest.fixture(scope="session")
def runners(exported):
    """``{format: ExportedModel}``, loaded once (loading a .pt2 takes seconds)."""
    from maskrcnn_ext.export import load_exported

    return {fmt: load_exported(path) for fmt, path in exported.items()}
