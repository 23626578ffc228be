"""Publishers' names (torchvision/..., detectron2/..., detectron2://) resolve to a download, a
conversion and a cache. Nothing leaves this machine: the "publisher" is a folder served on 127.0.0.1."""
from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from zoo_helpers import serve_folder

from maskrcnn_ext.engine.checkpoint import Checkpointer
from maskrcnn_ext.model_zoo import ZooError, resolve_checkpoint, upstream
from maskrcnn_ext.model_zoo.storage import sha256_of
from maskrcnn_ext.modeling.backbone import ResNetBottomUp

MSRA_FIXTURE = Path(__file__).resolve().parents[2].parent / "shared/fixtures/detectron2/msra_R_50_narrow/R-50-narrow.pkl"


@pytest.fixture
def publisher(tmp_path, monkeypatch):
    """A served folder standing in for both publishers' download sites; yields the folder."""
    folder = tmp_path / "publisher"
    folder.mkdir()
    with serve_folder(folder) as url:
        monkeypatch.setattr(upstream, "TORCHVISION_URL_PREFIX", f"{url}/")
        monkeypatch.setattr(upstream, "DETECTRON2_URL_PREFIX", f"{url}/detectron2/")
        yield folder


def publish_resnet18(folder: Path, monkeypatch) -> str:
    """A random ResNet-18 under a hash-carrying name, registered as ``torchvision/resnet18``."""
    torch.manual_seed(0)
    path = folder / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    named = path.rename(folder / f"resnet18-{sha256_of(path)[:8]}.pth")
    monkeypatch.setattr(upstream, "_torchvision_names", lambda: {"torchvision/resnet18": named.name})
    return named.name


def test_a_torchvision_name_downloads_converts_and_caches(publisher, tmp_path, monkeypatch):
    file_name = publish_resnet18(publisher, monkeypatch)
    cache = tmp_path / "cache"
    path = Path(resolve_checkpoint("torchvision/resnet18", cache_dir=cache))
    assert path == cache / "upstream" / "torchvision" / f"{Path(file_name).stem}.converted.pth"
    assert (cache / "upstream" / "torchvision" / file_name).is_file()  # the download, kept
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["format"] == "torchvision" and sidecar["overrides"] == {"backbone.arch": "resnet18"}
    assert set(sidecar["dropped"]) == {"fc.weight", "fc.bias"}

    (publisher / file_name).unlink()  # the second use needs no publisher
    backbone = ResNetBottomUp(arch="resnet18")
    resolve = functools.partial(resolve_checkpoint, cache_dir=cache)
    report = Checkpointer(backbone, str(tmp_path), resolve_weights=resolve).load_weights("torchvision/resnet18")
    assert not (report.missing or report.unexpected or report.shape_mismatch)
    assert len(report.loaded) == len(backbone.state_dict())


def test_a_file_that_is_not_the_publishers_is_refused_and_not_cached(publisher, tmp_path):
    expected = upstream.upstream_file("torchvision/resnet18")
    torch.save({"conv1.weight": torch.zeros(1)}, publisher / expected.file_name)  # right name, other bytes
    cache = tmp_path / "cache"
    with pytest.raises(ZooError, match=f"sha256 mismatch.*expected {expected.sha256}"):
        resolve_checkpoint("torchvision/resnet18", cache_dir=cache)
    assert not list((cache / "upstream" / "torchvision").glob("*"))


def test_offline_the_error_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(upstream, "DETECTRON2_URL_PREFIX", "http://127.0.0.1:9/detectron2/")
    cache = tmp_path / "cache"
    with pytest.raises(ZooError) as error:
        resolve_checkpoint("detectron2/ImageNetPretrained/MSRA/R-50", cache_dir=cache)
    message = str(error.value)
    assert "http://127.0.0.1:9/detectron2/ImageNetPretrained/MSRA/R-50.pkl" in message
    assert str(cache / "upstream" / "detectron2" / "R-50.pkl") in message


@pytest.mark.skipif(not MSRA_FIXTURE.is_file(), reason="no Detectron2 fixtures")
def test_a_detectron2_url_or_a_file_put_in_the_cache_by_hand(publisher, tmp_path):
    """The MSRA caffe2 ResNet (the fixture's narrow one) by detectron2:// URL, then offline by hand."""
    (publisher / "detectron2/ImageNetPretrained/MSRA").mkdir(parents=True)
    shutil.copy(MSRA_FIXTURE, publisher / "detectron2/ImageNetPretrained/MSRA/R-50.pkl")
    path = Path(resolve_checkpoint("detectron2://ImageNetPretrained/MSRA/R-50.pkl", cache_dir=tmp_path / "a"))
    overrides = json.loads(path.with_suffix(".json").read_text())["overrides"]
    assert overrides == {"backbone.arch": "resnet50", "backbone.width": 16, "backbone.stride_in_1x1": True,
                         "input_format": "BGR", "pixel_mean": [103.53, 116.28, 123.675], "pixel_std": [1.0, 1.0, 1.0]}
    backbone = ResNetBottomUp(arch="resnet50", width=16, stride_in_1x1=True)
    report = Checkpointer(backbone, str(tmp_path), resolve_weights=str).load_weights(str(path))
    assert not (report.missing or report.unexpected or report.shape_mismatch)

    by_hand = tmp_path / "b" / "upstream" / "detectron2"
    by_hand.mkdir(parents=True)
    shutil.copy(MSRA_FIXTURE, by_hand / "R-50.pkl")
    offline = resolve_checkpoint("detectron2/ImageNetPretrained/MSRA/R-50", cache_dir=tmp_path / "b")
    assert torch.load(offline, weights_only=True).keys() == torch.load(path, weights_only=True).keys()


def test_names_resolve_to_the_publishers_urls():
    v1 = upstream.upstream_file("torchvision/maskrcnn_resnet50_fpn_coco")
    assert v1.url == "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
    assert v1.sha256 == "bf2d0c1e"
    assert upstream.upstream_file("torchvision/maskrcnn_resnet50_fpn") == v1  # the builder's default
    assert upstream.upstream_file("torchvision/resnet50.IMAGENET1K_V1").url.endswith("/resnet50-0676ba61.pth")
    d2 = upstream.upstream_file("detectron2/COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x")
    assert d2.url == ("https://dl.fbaipublicfiles.com/detectron2/COCO-InstanceSegmentation/"
                      "mask_rcnn_R_50_FPN_3x/137849600/model_final_f10217.pkl") and d2.sha256 is None
    assert upstream.upstream_file("detectron2://ImageNetPretrained/MSRA/R-50.pkl") == \
        upstream.upstream_file("detectron2/ImageNetPretrained/MSRA/R-50")
    with pytest.raises(ZooError, match="did you mean torchvision/maskrcnn_resnet50_fpn"):
        upstream.upstream_file("torchvision/maskrcnn_resnet50")
