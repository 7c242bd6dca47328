"""Pictures of every bit depth decode to grey levels in [0, 1]."""

import io

import numpy as np
import pytest
from PIL import Image

from core.data.images import load_picture


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_16_bit_grey_png_keeps_its_levels():
    levels = np.array([[0, 16384, 32768], [49152, 65535, 1000]], dtype=np.uint16)
    data = _png(Image.fromarray(levels))  # written as a 16-bit greyscale PNG
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    pic = load_picture(data, name="deep.png")
    np.testing.assert_allclose(pic.gray, levels / 65535.0, atol=1e-9)
    assert any("16-bit" in n or "scaled" in n for n in pic.notes)


def test_8_bit_grey_and_colour_are_unchanged():
    grey = np.array([[0, 128], [255, 7]], dtype=np.uint8)
    np.testing.assert_allclose(load_picture(_png(Image.fromarray(grey))).gray, grey / 255.0)
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 255, 255)
    pic = load_picture(_png(Image.fromarray(rgb)))
    assert pic.gray[0, 0] == pytest.approx(1.0) and pic.gray[1, 1] == 0.0
    assert any("converted from RGB" in n for n in pic.notes)


def test_large_16_bit_picture_is_downscaled_without_turning_white():
    ramp = np.tile(np.linspace(0, 65535, 400), (300, 1)).astype(np.uint16)
    pic = load_picture(_png(Image.fromarray(ramp)), max_side=100)
    assert pic.gray.shape == (75, 100)
    assert pic.gray.min() < 0.02 and pic.gray.max() > 0.98
    assert abs(pic.gray.mean() - 0.5) < 0.02  # a ramp stays a ramp


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_a_transparent_background_keeps_its_grey_when_the_picture_is_shrunk(mode):
    """Pillow shrinks pictures with alpha premultiplied: transparent white came back black."""
    rgba = np.zeros((300, 400, 4), np.uint8)
    rgba[..., :3] = 255  # white, fully transparent
    rgba[100:200, 150:170] = (0, 0, 0, 255)  # an opaque black stroke
    img = Image.fromarray(rgba, "RGBA").convert(mode)
    small = load_picture(_png(img), max_side=100).gray
    whole = load_picture(_png(img), max_side=400).gray  # not shrunk: grey levels as read
    assert small.shape == (75, 100) and whole.shape == (300, 400)
    assert whole.mean() == pytest.approx(1 - 100 * 20 / (300 * 400), abs=1e-6)
    assert small.mean() == pytest.approx(whole.mean(), abs=0.01)
    assert small[0, 0] == pytest.approx(1.0) and small[37, 40] < 0.2  # background, stroke


@pytest.mark.parametrize(
    ("size", "min_side", "shape"),
    [((1000, 100), 0, (13, 128)), ((1000, 100), 32, (32, 320)), ((100, 1000), 32, (320, 32)),
     ((4000, 50), 32, (6, 512)), ((60, 20), 32, (20, 60)), ((300, 200), 32, (85, 128))],
)  # fmt: skip
def test_a_long_strip_keeps_rows_when_it_is_shrunk(size, min_side, shape):
    """A 10:1 strip shrunk to 128 columns had 13 rows left; with a shorter side to keep it has
    32, its longer side at most 4 x 128; nothing is enlarged."""
    w, h = size
    stripes = np.zeros((h, w), np.uint8)
    stripes[::2] = 255  # a row pattern that averaging 8 rows into 1 would lose
    pic = load_picture(_png(Image.fromarray(stripes)), max_side=128, min_side=min_side)
    assert pic.gray.shape == shape and pic.source_size == (h, w)
    assert pic.gray.mean() == pytest.approx(0.5, abs=0.03)
