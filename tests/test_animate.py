"""Steps as pictures for slides: the GIF has every step, each frame shows its window."""

import io

import numpy as np
import pytest
from PIL import Image

from core.errors import UserInputError
from core.explain import conv
from core.explain.frames import step_frames
from core.figures.animate import COLOURS, MAX_FRAMES, _Layout, cell_box, step_png, steps_gif


def _frames(padding=1):
    x = np.arange(1.0, 10.0).reshape(1, 3, 3)
    return step_frames(conv.conv2d(x, np.array([[[[1.0, 0], [0, 1]]]]), padding=padding))


def _at(img, origin, r, c):
    """The colour of cell (r, c) near its corner, away from the number written in it."""
    x0, y0, _, _ = cell_box(origin, r, c)
    return img.getpixel((x0 + 6, y0 + 6))


def test_the_gif_has_one_frame_per_step_at_the_given_pace():
    f = _frames()
    gif = Image.open(io.BytesIO(steps_gif(f, ms_per_step=450)))
    assert gif.n_frames == len(f["steps"]) == 16
    gif.seek(3)
    assert gif.info["duration"] == 450 and gif.info.get("loop") == 0


@pytest.mark.parametrize("i", [0, 5, 15])
def test_a_frame_lights_the_window_of_its_step_and_nothing_else(i):
    f = _frames()
    lay = _Layout(f)
    img = Image.open(io.BytesIO(step_png(f, i))).convert("RGB")
    s = f["steps"][i]
    window = {(r, c) for r in s["rows"] for c in s["cols"]}
    for r in range(5):
        for c in range(5):
            colour = _at(img, lay.inputs[0], r, c)
            if (r, c) in window:
                assert colour == COLOURS["win"], (r, c)
            else:
                pad = f["inputs"][0]["pad"][r][c]
                assert colour == COLOURS["pad" if pad else "cell"], (r, c)
    assert _at(img, lay.output, *s["out"]) == COLOURS["now"]


def test_the_png_of_a_step_is_the_gif_frame_of_that_step():
    f = _frames(padding=0)
    gif = Image.open(io.BytesIO(steps_gif(f)))
    for i in range(len(f["steps"])):
        gif.seek(i)
        frame = np.asarray(gif.convert("RGB"), dtype=float)
        png = np.asarray(Image.open(io.BytesIO(step_png(f, i))).convert("RGB"), dtype=float)
        assert frame.shape == png.shape
        assert np.abs(frame - png).mean() < 2.0  # the GIF's palette rounds a few colours


def test_max_pooling_marks_its_winner_and_too_many_steps_is_a_sentence():
    f = step_frames(conv.max_pool2d(np.arange(16.0).reshape(1, 4, 4), 2))
    img = Image.open(io.BytesIO(step_png(f, 3))).convert("RGB")
    x0, y0, x1, y1 = cell_box(_Layout(f).inputs[0], 3, 3)  # 15, the last window's maximum
    assert img.getpixel((x0 + 1, (y0 + y1) // 2)) == COLOURS["best"]
    big = step_frames(conv.conv2d(np.zeros((1, 25, 25)), np.ones((1, 1, 2, 2))))
    assert len(big["steps"]) > MAX_FRAMES
    with pytest.raises(UserInputError, match="at most"):
        steps_gif(big)
    with pytest.raises(UserInputError, match="does not exist"):
        step_png(f, 4)
