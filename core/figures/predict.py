"""Figures for asking a model: class probabilities, a timeline over a long clip, its input."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.figures import ACCENT, FONT, MAGMA, font_size


def _layout(presenter: bool, height: int, **extra) -> dict:
    return {"height": height, "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
            "font": {"family": FONT, "size": font_size(presenter)}, **extra}  # fmt: skip


def probabilities_figure(top: list[tuple[str, float]], *, presenter: bool = False) -> go.Figure:
    """Horizontal bars of the top-k classes, the most likely on top."""
    names = [n for n, _ in top][::-1]
    probs = [p for _, p in top][::-1]
    colours = ["#94a3b8"] * (len(top) - 1) + [ACCENT]
    bar = {"type": "bar", "orientation": "h", "x": probs, "y": names, "marker": {"color": colours},
           "text": [f"{p:.1%}" for p in probs], "textposition": "auto"}  # fmt: skip
    layout = _layout(
        presenter,
        60 + 42 * len(top),
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": {"text": "probability"}},
        yaxis={"type": "category"},
    )  # fmt: skip  (class names like "0".."9" stay labels)
    return go.Figure(data=[bar], layout=layout)


def timeline_figure(starts: np.ndarray, probs: np.ndarray, class_names: list[str], *,
                    window: float, presenter: bool = False) -> go.Figure:  # fmt: skip
    """Each class's probability per window (at the window's centre), over the clip's time.

    A long clip's hundreds of windows are drawn as lines without a marker each (WebGL past
    a thousand windows)."""
    centres = np.asarray(starts) + window / 2
    many = len(centres) > 200
    kind = "scattergl" if len(centres) > 1000 else "scatter"
    data = [{"type": kind, "x": centres, "y": probs[:, k], "mode": "lines" if many else "lines+markers",
             "name": name} for k, name in enumerate(class_names)]  # fmt: skip
    layout = _layout(presenter, 300, xaxis={"title": {"text": "time (s), window centres"}},
                     yaxis={"range": [0, 1], "tickformat": ".0%", "title": {"text": "probability"}},
                     legend={"orientation": "h", "y": 1.15})  # fmt: skip
    return go.Figure(data=data, layout=layout)


def input_figure(x: np.ndarray, *, representation: str, presenter: bool = False) -> go.Figure:
    """What the network reads: a log-mel image, a picture, or a waveform."""
    if representation == "waveform":
        y = np.asarray(x).ravel()
        data = [{"type": "scattergl", "y": y, "mode": "lines", "line": {"width": 1}}]
        return go.Figure(
            data=data, layout=_layout(presenter, 220, xaxis={"title": {"text": "sample"}})
        )
    z = np.asarray(x)[0]  # (H, W) of a (C, H, W) input
    trace = {"type": "heatmap", "z": z, "colorscale": MAGMA if representation == "log-mel" else "gray",
             "showscale": False}  # fmt: skip
    yaxis = {"title": {"text": "mel band"}} if representation == "log-mel" else {"autorange": "reversed", "scaleanchor": "x"}  # fmt: skip
    xaxis = {"title": {"text": "frame"}} if representation == "log-mel" else {}
    return go.Figure(data=[trace], layout=_layout(presenter, 280, xaxis=xaxis, yaxis=yaxis))
