from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from maskrcnn_ext.data.image_io import ImageReadError, read_image, to_rgb_uint8


def _read_saved(tmp_path, img: Image.Image, name: str) -> np.ndarray:
    path = tmp_path / name
    img.save(path)
    return read_image(path)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    out = _read_saved(tmp_path, Image.new("L", (5, 3), 77), "g.png")
    assert out.shape == (3, 5, 3) and out.dtype == np.uint8
    assert (out == 77).all()


def test_rgba_drops_alpha(tmp_path):
    out = _read_saved(tmp_path, Image.new("RGBA", (2, 2), (10, 20, 30, 0)), "a.png")
    assert out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [10, 20, 30]


def test_palette_uses_palette_colors(tmp_path):
    img = Image.new("P", (4, 2), 0)
    img.putpalette([0, 0, 0, 200, 100, 50] + [0] * (256 * 3 - 6))
    img.putpixel((3, 1), 1)
    out = _read_saved(tmp_path, img, "p.png")
    assert out[1, 3].tolist() == [200, 100, 50]
    assert out[0, 0].tolist() == [0, 0, 0]


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 65535], [257, 32768]], np.uint16)
    out = _read_saved(tmp_path, Image.fromarray(values), "d.png")
    # v * 255 / 65535, rounded: 257 -> 1, 32768 -> 127.5019 -> 128
    assert out[..., 0].tolist() == [[0, 255], [1, 128]]
    assert (out[..., 0] == out[..., 2]).all()


def test_int32_and_float_modes():
    as_int = to_rgb_uint8(Image.fromarray(np.array([[0, 65535, 257]], np.int32), mode="I"))
    assert as_int[0, :, 1].tolist() == [0, 255, 1]
    unit_float = to_rgb_uint8(Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), mode="F"))
    assert unit_float[0, :, 0].tolist() == [0, 128, 255]
    byte_float = to_rgb_uint8(Image.fromarray(np.array([[3.4, 300.0, -2.0]], np.float32), mode="F"))
    assert byte_float[0, :, 0].tolist() == [3, 255, 0]


def test_cmyk_and_bilevel():
    assert to_rgb_uint8(Image.new("CMYK", (1, 1), (0, 0, 0, 0)))[0, 0].tolist() == [255, 255, 255]
    assert to_rgb_uint8(Image.new("CMYK", (1, 1), (255, 0, 0, 0)))[0, 0].tolist() == [0, 255, 255]
    assert to_rgb_uint8(Image.new("1", (1, 1), 1))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((16, 32, 3), np.uint8)  # h=16, w=32: left half red, right half blue
    stored[:, :16, 0] = 255
    stored[:, 16:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = tmp_path / "rot.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    out = read_image(path)
    assert out.shape == (32, 16, 3)
    # rotating clockwise brings the stored left (red) half to the top
    assert out[:12, :, 0].mean() > 200 and out[:12, :, 2].mean() < 50
    assert out[-12:, :, 2].mean() > 200 and out[-12:, :, 0].mean() < 50


def test_missing_file_error_names_path(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageReadError, match=r"nope\.png: file does not exist") as info:
        read_image(path)
    assert isinstance(info.value, OSError)


def test_truncated_and_non_image_files(tmp_path):
    rng = np.random.default_rng(0)
    full = tmp_path / "full.png"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageReadError, match=r"cut\.png: .*truncated"):
        read_image(cut)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageReadError, match=r"notes\.png: UnidentifiedImageError"):
        read_image(text)
