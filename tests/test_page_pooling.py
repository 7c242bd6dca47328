"""The Pooling page, driven through Streamlit's AppTest."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.apptest import codes, errors, go_to_step, open_page, steppers, text_area


@pytest.fixture
def at():
    return open_page("pooling")


def test_textbook_average_pooling_gives_its_four_numbers(at):
    x = torch.arange(1, 17, dtype=torch.float64).reshape(1, 1, 4, 4)
    ref = F.avg_pool2d(x, 2, stride=2).flatten().tolist()
    assert ref == [3.5, 5.5, 11.5, 13.5]
    seen = []
    for i in range(4):
        go_to_step(at, "pool", i + 1)
        seen.append(float(codes(at)[0].rsplit("=", 1)[1]))
    assert seen == ref
    assert codes(at)[0] == "(11 + 12 + 15 + 16) / 4 = 13.5"


def test_max_pooling_marks_the_maximum(at):
    at.radio(key="pool_mode").set_value("max").run()
    assert codes(at)[0] == "max(1, 2, 5, 6) = 6"
    first = steppers(at)["pool"]["steps"][0]
    i, j = first["win"]  # the winner inside the window, marked in the browser
    assert (first["rows"][i], first["cols"][j]) == (1, 1)


def test_padding_not_counted_changes_the_divisor(at):
    at.number_input(key="pool_size").set_value(3).run()
    at.number_input(key="pool_stride").set_value(2).run()
    at.number_input(key="pool_pad").set_value(1).run()
    at.checkbox(key="pool_include_pad").uncheck().run()
    x = torch.arange(1, 17, dtype=torch.float64).reshape(1, 1, 4, 4)
    ref = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)[0, 0, 0, 0].item()
    assert codes(at)[0] == f"(0 + 0 + 0 + 0 + 1 + 2 + 0 + 5 + 6) / 4 = {ref:g}"


def test_check_against_pytorch(at):
    at.radio(key="pool_mode").set_value("max").run()
    at.number_input(key="pool_size").set_value(3).run()
    at.number_input(key="pool_pad").set_value(1).run()
    at.button(key="pool_check").click().run()
    assert not at.exception
    assert float(next(m for m in at.metric).value) == 0.0
    assert any("agree" in s.value for s in at.success)


def test_global_average_pooling(at):
    at.number_input(key="pool_channels").set_value(2).run()
    text_area(at, "pool_x_1").input("1 1 1 1\n1 1 1 1\n1 1 1 1\n1 1 1 5").run()
    x = torch.tensor(
        [np.arange(1, 17).reshape(4, 4), [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 5]]],
        dtype=torch.float64,
    )[None]
    ref = F.adaptive_avg_pool2d(x, 1).flatten().tolist()
    gap = next(m.value for m in at.markdown if "global average pooling" in m.value)
    assert f"channel 1 → **{ref[0]:g}**" in gap and f"channel 2 → **{ref[1]:g}**" in gap


@pytest.mark.parametrize(
    "setting,value,message",
    [
        ("pool_stride", 0, "Stride must be a whole number of at least 1"),
        ("pool_size", 0, "pooling size must be a whole number of at least 1"),
        ("pool_size", 5, "pooling window does not fit a 4x4 input"),
        ("pool_pad", 2, "at most half the window"),
    ],
)
def test_impossible_settings_are_explained(at, setting, value, message):
    at.number_input(key=setting).set_value(value).run()
    assert not at.exception
    assert any(message.lower() in e.lower() for e in errors(at)), errors(at)
    assert any("last settings that worked" in i.value for i in at.info)


def test_letter_in_a_cell(at):
    text_area(at, "pool_x_0").input("1 2\n3 b").run()
    assert any("Row 2, column 2 of the input is 'b'" in e for e in errors(at))
    assert codes(at)[0] == "(1 + 2 + 5 + 6) / 4 = 3.5"


def test_channels_of_different_sizes_name_each_size():
    from tests.apptest import errors, open_page, text_area

    at = open_page("pooling")
    at.number_input(key="pool_channels").set_value(2).run()
    text_area(at, "pool_x_1").set_value("1 2\n3 4").run()
    assert not at.exception
    assert any("Every channel must have the same size: channel 1 is" in e for e in errors(at))
