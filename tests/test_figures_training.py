"""The training curves figure draws the numbers of the epochs it is given, nothing else."""

import numpy as np

from core.figures.training import curves_figure
from core.learn.train import EpochEvent


def _epoch(i, val=True):
    return EpochEvent(
        epoch=i, epochs=3, train_loss=1.0 / i, train_acc=0.3 * i,
        val_loss=1.5 / i if val else None, val_acc=0.25 * i if val else None,
        lr=0.01, elapsed=float(i), is_best=i == 2, best_epoch=2,
    )  # fmt: skip


def test_curves_carry_each_epoch_value_on_its_panel():
    epochs = [_epoch(1), _epoch(2, val=False)]
    fig = curves_figure(
        epochs, batch_steps=np.array([1, 2, 3, 4]), batch_losses=np.array([2.0, 1.5, 1.2, 0.9]),
        steps_per_epoch=2, n_epochs=3, best_epoch=2,
    )  # fmt: skip
    by_name = {(t.name, t.yaxis): t for t in fig.data}
    batch = by_name[("train loss (single batches)", "y")]
    np.testing.assert_allclose(batch.x, [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(by_name[("train (per epoch)", "y")].y, [1.0, 0.5])
    np.testing.assert_allclose(by_name[("validation (per epoch)", "y")].y, [1.5, np.nan])
    np.testing.assert_allclose(by_name[("train (per epoch)", "y2")].y, [0.3, 0.6])
    assert list(fig.layout.xaxis.range) == [0, 3.2]  # the planned epochs fix the x range
    lines = [s for s in fig.layout.shapes if s.line.dash == "dash"]
    assert [(s.xref, s.x0) for s in lines] == [("x", 2), ("x2", 2)]
    assert any("best: epoch 2" in a.text for a in fig.layout.annotations)


def test_curves_without_batches_or_a_best_epoch_draw_only_the_epochs():
    fig = curves_figure([_epoch(1)], batch_steps=np.array([]), batch_losses=np.array([]))
    assert len(fig.data) == 4 and not fig.layout.shapes
    assert [a.text for a in fig.layout.annotations] == ["<b>Loss</b>", "<b>Accuracy</b>"]


def test_a_short_comparison_has_a_tick_at_each_epoch_and_none_between():
    from core.figures.training import compare_figure
    from core.learn.transfer import Side

    def side(name, n):
        return Side(name, [_epoch(i) for i in range(1, n + 1)], 0.9, np.eye(2), 10, 10, 1.0)

    short = compare_figure([side("from scratch", 2), side("pretrained", 2)])
    assert short.layout.xaxis.dtick == 1 and list(short.data[0].x) == [1, 2]
    long = compare_figure([side("from scratch", 40), side("pretrained", 40)])
    assert long.layout.xaxis.dtick is None and long.layout.xaxis.tickformat == "d"


def test_the_legend_sits_below_the_epoch_titles_with_room_for_it():
    """It was drawn over the loss panel's "epoch" title; the plots keep their height."""
    fig = curves_figure([_epoch(1)], height=380)
    assert fig.layout.legend.yanchor == "top" and fig.layout.legend.y <= -0.3
    plot_height = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert fig.layout.margin.b >= 90 and plot_height == 380 - 50 - 50
