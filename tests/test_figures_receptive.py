"""The receptive-field grids: every unit of every layer carries [layer, row, col] for a click."""

import numpy as np

from core.explain import receptive as rf
from core.figures import receptive as rfig


def test_each_unit_is_clickable_with_its_layer_row_and_column():
    layers, size = rf.preset("textbook")
    rows = rf.layer_table(layers, input_size=size)
    regions = rf.unit_region(rows, layer=2, row=0, col=0)
    fig = rfig.stack_figure(rows, regions)
    units = [t for t in fig.data if t.type == "scatter"]
    assert [t.name for t in units] == [f"units of layer {r.index}" for r in rows]
    for row, trace in zip(rows, units, strict=True):
        data = np.asarray(trace.customdata)
        h, w = row.n
        assert data.shape == (h * w, 3)
        assert (data[:, 0] == row.index).all()
        assert sorted(map(tuple, data[:, 1:].tolist())) == [
            (r, c) for r in range(h) for c in range(w)
        ]
        np.testing.assert_array_equal(trace.x, data[:, 2])  # drawn where the cell is
        np.testing.assert_array_equal(trace.y, data[:, 1])
    assert fig.layout.clickmode == "event+select"
    assert all(t.hoverinfo == "skip" for t in fig.data if t.type == "heatmap")


def test_a_layer_too_large_to_click_is_left_to_the_number_boxes():
    rows = rf.layer_table([rf.make_layer({"kind": "conv", "k": 3})], input_size=(64, 64))
    fig = rfig.stack_figure(rows, rf.unit_region(rows, layer=1, row=0, col=0))
    names = [t.name for t in fig.data if t.type == "scatter"]
    assert names == [] and rfig.MAX_CLICKABLE < 64 * 64
    plain = rfig.stack_figure(rows[:1], None, clickable=False)
    assert not [t for t in plain.data if t.type == "scatter"]


def test_a_small_stacks_grids_share_one_cell_size():
    """The textbook stack's one output unit was drawn larger than the whole 5x5 input."""
    layers, size = rf.preset("textbook")
    rows = rf.layer_table(layers, input_size=size)
    fig = rfig.stack_figure(rows, rf.unit_region(rows, layer=2, row=0, col=0))
    spans = []
    for i in range(len(rows)):
        axis = "" if i == 0 else str(i + 1)
        x0, x1 = fig.layout[f"xaxis{axis}"].range
        y0, y1 = fig.layout[f"yaxis{axis}"].range
        spans.append((x1 - x0, y0 - y1))
    assert len(set(spans)) == 1  # every panel shows the same number of cells a side
    heat = [t for t in fig.data if t.type == "heatmap"]
    first, last = heat[0], heat[-1]
    assert np.asarray(first.z).shape[0] <= spans[0][0] and np.asarray(last.z).shape == (1, 1)
    x0, x1 = fig.layout[f"xaxis{len(rows)}"].range
    assert x0 < last.x[0] < x1  # the unit sits in the middle of its panel
