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
