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
