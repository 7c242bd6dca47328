"""Presenter mode draws figure text for a lecture hall, and leaves the data alone."""

import numpy as np
import plotly.graph_objects as go

from core.explain.conv import conv2d
from core.figures import PROJECTOR_MIN_CELL, for_projector
from core.figures.conv import conv_step_figure


def test_cell_numbers_and_labels_grow_and_the_data_do_not_change():
    x = np.arange(36, dtype=float).reshape(1, 6, 6)
    result = conv2d(x, np.ones((1, 1, 3, 3)), padding=1)
    fig = conv_step_figure(result, 4)
    big = for_projector(fig)
    cells = [t.textfont.size for t in fig.data if t.textfont and t.textfont.size]
    cells_big = [t.textfont.size for t in big.data if t.textfont and t.textfont.size]
    assert max(cells) == 16 and max(cells_big) >= PROJECTOR_MIN_CELL
    assert all(b > a for a, b in zip(cells, cells_big, strict=True))
    assert big.layout.font.size >= 22 > fig.layout.font.size
    assert big.layout.height > fig.layout.height
    for a, b in zip(fig.data, big.data, strict=True):  # same numbers drawn, same text
        np.testing.assert_array_equal(np.asarray(a.z, dtype=float), np.asarray(b.z, dtype=float))
        assert a.text == b.text
    assert max(t.textfont.size for t in fig.data if t.textfont.size) == 16  # input untouched


def test_annotations_grow_and_a_figure_without_sizes_gets_the_base():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2]))
    fig.add_annotation(text="note", x=0, y=1, font={"size": 11})
    big = for_projector(fig)
    assert big.layout.annotations[0].font.size >= 20
    assert big.layout.font.size == 22 and big.layout.height is None
    assert big.layout.xaxis.tickfont.size >= 18 and big.layout.yaxis.title.font.size >= 22
    assert big.layout.legend.font.size >= 20  # over what Streamlit's chart theme sets


def test_every_axis_of_a_many_panel_figure_is_enlarged():
    x = np.arange(16, dtype=float).reshape(1, 4, 4)
    fig = conv_step_figure(conv2d(x, np.ones((1, 1, 2, 2))), 0)
    big = for_projector(fig)
    names = [k for k in big.layout.to_plotly_json() if k[1:5] == "axis"]
    assert len(names) >= 6  # input, kernel and output panels, two axes each
    assert all(big.layout[n].tickfont.size >= 18 for n in names)
