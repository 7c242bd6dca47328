"""Figures of the Train and Evaluate pages: learning curves, confusion matrix, ROC, examples.

Pure functions: numbers from core.learn.runs / core.learn.metrics in, plotly Figure out. They are redrawn
every second while a run trains, so each is one ``go.Figure(data, layout)`` call with plain
dicts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.figures import FONT, font_size

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d9480f"
BATCH_COLOR = "rgba(31,119,180,0.30)"
BEST_COLOR = "#2b8a3e"


def _layout(presenter: bool, height: int, **extra) -> dict:
    base = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "font": {"family": FONT, "size": font_size(presenter)},
    }
    base.update(extra)
    return base


def _batch_trace(steps, losses, steps_per_epoch: float) -> go.Scatter:
    """The loss of single batches, faint, at ``step / steps_per_epoch`` epochs."""
    return go.Scatter(
        x=np.asarray(steps, dtype=np.float64) / steps_per_epoch,
        y=np.asarray(losses, dtype=np.float64),
        mode="lines",
        line={"color": BATCH_COLOR, "width": 1},
        name="train loss (single batches)",
        legendgroup="batch",
        hovertemplate="epoch %{x:.2f}<br>batch loss %{y:.4f}<extra></extra>",
        xaxis="x",
        yaxis="y",
    )


def _epoch_traces(epochs: Sequence, ep: np.ndarray) -> list[go.Scatter]:
    """Train and validation loss (left panel) and accuracy (right panel), one point an epoch."""

    def col(name):
        return np.array(
            [np.nan if getattr(e, name) is None else getattr(e, name) for e in epochs],
            dtype=np.float64,
        )

    traces = []
    for name, key, color, axis, show in (
        ("train", "train_loss", TRAIN_COLOR, ("x", "y"), True),
        ("validation", "val_loss", VAL_COLOR, ("x", "y"), True),
        ("train", "train_acc", TRAIN_COLOR, ("x2", "y2"), False),
        ("validation", "val_acc", VAL_COLOR, ("x2", "y2"), False),
    ):
        what = "loss" if "loss" in key else "accuracy"
        traces.append(
            go.Scatter(
                x=ep,
                y=col(key),
                mode="lines+markers",
                line={"color": color, "width": 2.5},
                marker={"size": 7},
                name=f"{name} (per epoch)",
                legendgroup=name,
                showlegend=show,
                hovertemplate=f"epoch %{{x}}<br>{name} {what} %{{y:.4f}}<extra></extra>",
                xaxis=axis[0],
                yaxis=axis[1],
            )
        )
    return traces


def _best_marks(best_epoch: int | None, right: float) -> tuple[list[dict], list[dict]]:
    """Panel titles, and a dashed line with a label at the epoch whose weights are kept."""
    shapes = []
    annotations = [
        {"text": "<b>Loss</b>", "x": 0.22, "y": 1.0, "xref": "paper", "yref": "paper",
         "yanchor": "bottom", "showarrow": False},
        {"text": "<b>Accuracy</b>", "x": 0.78, "y": 1.0, "xref": "paper", "yref": "paper",
         "yanchor": "bottom", "showarrow": False},
    ]  # fmt: skip
    if best_epoch is None:
        return shapes, annotations
    for xref in ("x", "x2"):
        shapes.append(
            {
                "type": "line",
                "xref": xref,
                "yref": "paper",
                "x0": best_epoch,
                "x1": best_epoch,
                "y0": 0,
                "y1": 1,
                "line": {"color": BEST_COLOR, "width": 1.5, "dash": "dash"},
            }
        )
    annotations.append(
        {"text": f" best: epoch {best_epoch} ", "x": best_epoch, "xref": "x2", "y": 0.02,
         "yref": "paper", "showarrow": False,
         "xanchor": "left" if best_epoch <= right / 2 else "right",
         "font": {"color": BEST_COLOR}}
    )  # fmt: skip
    return shapes, annotations


def curves_figure(
    epochs: Sequence,
    *,
    batch_steps: np.ndarray | None = None,
    batch_losses: np.ndarray | None = None,
    steps_per_epoch: float | None = None,
    n_epochs: int | None = None,
    best_epoch: int | None = None,
    presenter: bool = False,
    height: int = 380,
) -> go.Figure:
    """Loss (left) and accuracy (right) against the epoch, for training and validation.

    Parameters
    ----------
    epochs : sequence of objects with ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``,
        ``val_acc`` (core.learn.train.EpochEvent); validation values may be None.
    batch_steps, batch_losses : (M,) global step and loss of single batches (drawn faintly
        on the loss panel, at ``step / steps_per_epoch`` epochs).
    n_epochs : planned epochs, fixes the x range so the curves grow from left to right.
    best_epoch : marked with a dashed line (its weights are the ones kept).
    """
    ep = np.array([e.epoch for e in epochs], dtype=np.float64)
    data = _epoch_traces(epochs, ep)
    has_batches = batch_steps is not None and batch_losses is not None and len(batch_steps) > 0
    if has_batches and steps_per_epoch:
        data.insert(0, _batch_trace(batch_steps, batch_losses, steps_per_epoch))
    right = max(float(n_epochs or 0), float(ep.max()) if len(ep) else 1.0, 1.0)
    xr = [0, right + 0.2]
    shapes, annotations = _best_marks(best_epoch, right)
    layout = _layout(
        presenter,
        height,
        xaxis={"domain": [0, 0.45], "range": xr, "title": {"text": "epoch"}},
        yaxis={"title": {"text": "cross-entropy loss"}, "rangemode": "tozero"},
        xaxis2={"domain": [0.55, 1], "range": xr, "title": {"text": "epoch"}, "anchor": "y2"},
        yaxis2={"title": {"text": "accuracy"}, "range": [0, 1.02], "anchor": "x2",
                "tickformat": ".0%"},
        # below the axis titles ("epoch" was drawn over the legend), with room kept for it
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "x": 0},
        shapes=shapes,
        annotations=annotations,
    )  # fmt: skip
    layout["margin"] = {**layout["margin"], "b": 110 if presenter else 95}
    layout["height"] = height + 45  # the plots keep their size
    return go.Figure(data=data, layout=layout)


def confusion_figure(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    normalised: bool = False,
    title: str = "",
    selected: tuple[int, int] | None = None,
    presenter: bool = False,
) -> go.Figure:
    """The confusion matrix as a heat map: rows are true classes, columns predictions.

    Parameters
    ----------
    cm : (C, C) counts, or row fractions when ``normalised``
    selected : (true, predicted) cell to outline
    """
    z = np.asarray(cm, dtype=np.float64)  # (C, C)
    c = z.shape[0]
    names = [str(n) for n in class_names]
    text = [[f"{v:.0%}" if normalised else f"{int(v)}" for v in row] for row in z]
    zmax = 1.0 if normalised else max(float(z.max()), 1.0)
    heat = go.Heatmap(
        z=z,
        x=names,
        y=names,
        text=text,
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=zmax,
        colorbar={"title": {"text": "fraction" if normalised else "count"}},
        hoverinfo="skip",  # the markers above carry the tooltip (and the click)
    )
    # invisible markers on the cell centres: a click on one selects the cell (heat maps
    # themselves do not report clicks as selections)
    gx, gy = np.meshgrid(np.arange(c), np.arange(c))
    side = min(max(320, 60 * c + 140), 720)
    cells = go.Scatter(
        x=[names[j] for j in gx.ravel()],
        y=[names[i] for i in gy.ravel()],
        mode="markers",
        marker={"size": max(8, int(0.6 * (side - 140) / c)), "symbol": "square", "opacity": 0,
                "color": "#000"},
        text=[text[i][j] for i, j in zip(gy.ravel(), gx.ravel(), strict=True)],
        hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        showlegend=False,
    )  # fmt: skip
    shapes = []
    if selected is not None:
        i, j = selected
        shapes.append(
            {"type": "rect", "x0": j - 0.5, "x1": j + 0.5, "y0": i - 0.5, "y1": i + 0.5,
             "xref": "x", "yref": "y", "line": {"color": VAL_COLOR, "width": 3}}
        )  # fmt: skip
    layout = _layout(
        presenter,
        side,
        title={"text": title} if title else None,
        xaxis={"title": {"text": "predicted class"}, "side": "bottom", "type": "category",
               "tickangle": -45 if max((len(n) for n in names), default=0) > 6 else 0},
        yaxis={"title": {"text": "true class"}, "autorange": "reversed", "type": "category"},
        shapes=shapes,
    )  # fmt: skip
    if not title:
        layout.pop("title")
        layout["margin"]["t"] = 20
    return go.Figure(data=[heat, cells], layout=layout)


def roc_figure(
    fpr: np.ndarray,
    tpr: np.ndarray,
    *,
    auc: float,
    point: tuple[float, float] | None = None,
    presenter: bool = False,
) -> go.Figure:
    """The ROC curve (true-positive rate against false-positive rate), chance line, and the
    operating point of the chosen threshold. fpr, tpr: (K,)."""
    data = [
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance (AUC 0.5)",
                   line={"color": "#999", "dash": "dot"}, hoverinfo="skip"),
        go.Scatter(x=np.asarray(fpr, dtype=np.float64), y=np.asarray(tpr, dtype=np.float64),
                   mode="lines", name=f"model (AUC {auc:.3f})", line={"color": TRAIN_COLOR,
                   "width": 3}, hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"),
    ]  # fmt: skip
    if point is not None:
        data.append(
            go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                       marker={"color": VAL_COLOR, "size": 14, "symbol": "circle"})
        )  # fmt: skip
    layout = _layout(
        presenter,
        420,
        xaxis={"title": {"text": "false-positive rate"}, "range": [-0.02, 1.02]},
        yaxis={"title": {"text": "true-positive rate (recall)"}, "range": [-0.02, 1.02]},
        legend={"x": 0.45, "y": 0.08},
    )
    return go.Figure(data=data, layout=layout)


def clip_figure(wave: np.ndarray, *, sample_rate: int, height: int = 140) -> go.Figure:
    """A small waveform of one clip, (T,) samples, shown as a min/max envelope of 400 bins."""
    y = np.asarray(wave, dtype=np.float32)
    n = len(y)
    bins = min(400, max(n, 1))
    edges = np.linspace(0, n, bins + 1).astype(int)
    lo = np.array(
        [y[a:b].min() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    hi = np.array(
        [y[a:b].max() if b > a else 0.0 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    t = edges[:-1] / sample_rate
    data = [
        go.Scatter(x=t, y=hi, mode="lines", line={"color": TRAIN_COLOR, "width": 1},
                   hoverinfo="skip"),
        go.Scatter(x=t, y=lo, mode="lines", line={"color": TRAIN_COLOR, "width": 1},
                   fill="tonexty", hoverinfo="skip"),
    ]  # fmt: skip
    peak = max(float(np.abs(y).max()) if n else 1.0, 1e-3)
    layout = {
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
        "showlegend": False,
        "xaxis": {"title": {"text": "time (s)"}},
        "yaxis": {"range": [-peak * 1.05, peak * 1.05]},
    }
    return go.Figure(data=data, layout=layout)


def compare_figure(sides: Sequence, *, presenter: bool = False) -> go.Figure:
    """Validation accuracy per epoch of several runs on one chart (e.g. from scratch against a
    pretrained backbone), each named with its test accuracy and the parameters it trained.

    sides : objects with ``name``, ``history`` (EpochEvent list), ``test_accuracy`` and
        ``trained_parameters`` (core.learn.transfer.Side)
    """
    fig = go.Figure()
    colors = ("#868e96", "#d9480f", "#1c7ed6")
    most = max((len(side.history) for side in sides), default=0)
    for i, side in enumerate(sides):
        ep = [e.epoch for e in side.history if e.val_acc is not None]
        acc = [e.val_acc for e in side.history if e.val_acc is not None]
        fig.add_trace(
            go.Scatter(
                x=ep,
                y=acc,
                mode="lines+markers",
                name=f"{side.name}: test {side.test_accuracy:.1%}, "
                f"{side.trained_parameters:,} parameters trained",
                line=dict(color=colors[i % len(colors)], width=3),
                hovertemplate="epoch %{x}: validation accuracy %{y:.1%}<extra></extra>",
            )
        )
    fig.update_layout(
        **_layout(presenter, 380),
        # epochs are whole: a tick at each for a short run, never one at 1.2
        xaxis=dict(title="epoch", dtick=1 if most <= 20 else None, tickformat="d"),
        yaxis=dict(title="validation accuracy", tickformat=".0%", range=[0, 1.02]),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    return fig
