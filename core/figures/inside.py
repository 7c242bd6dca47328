"""Figures of a network's insides: the input, a layer's feature maps, a vector layer, the
first layer's kernels, and an attribution laid over the input (plotly, data in, figure out)."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures import FONT, font_size


def _layout(fig: go.Figure, height: int, presenter: bool, title: str = "") -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 20, b=10),
                      title=title or None, font=dict(family=FONT, size=font_size(presenter)))  # fmt: skip
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    return fig


def _as_2d(a: np.ndarray) -> np.ndarray:
    """A map to draw: (H, W) as it is, a 1-D signal (T,) as one row."""
    a = np.asarray(a, dtype=float)
    return a[None] if a.ndim == 1 else a


def input_figure(x: np.ndarray, *, title: str = "", audio: bool = False,
                 presenter: bool = False) -> go.Figure:  # fmt: skip
    """The input as the network reads it: a picture (C, H, W) or a log-mel (1, mels, frames)
    drawn with low frequencies at the bottom."""
    a = np.asarray(x, dtype=float)
    img = a[0] if a.ndim == 3 and a.shape[0] == 1 else a.mean(0) if a.ndim == 3 else _as_2d(a)
    fig = go.Figure(go.Heatmap(z=img, colorscale="Viridis" if audio else "Greys_r",
                               showscale=False, hovertemplate="row %{y}, col %{x}: %{z:.3g}"
                               "<extra></extra>"))  # fmt: skip
    _layout(fig, 300, presenter, title)
    if audio:
        fig.update_yaxes(autorange=True)  # mel band 0 at the bottom
    else:
        fig.update_yaxes(scaleanchor="x")  # square pixels
    return fig


def wave_figure(wave: np.ndarray, *, sample_rate: int, attr: np.ndarray | None = None,
                field: tuple[int, int] | None = None, title: str = "",
                presenter: bool = False) -> go.Figure:  # fmt: skip
    """A waveform the network reads (T,) or (1, T), against time in seconds; with ``attr``
    (one value per sample), the evidence as a red-blue band under it on the same time axis;
    with ``field`` (first, last sample), that stretch shaded."""
    w = np.asarray(wave, dtype=float).ravel()
    t = np.arange(len(w)) / float(sample_rate)
    step = max(1, len(w) // 4000)  # a line of at most a few thousand points per trace
    rows = 1 if attr is None else 2
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[0.7, 0.3] if rows == 2 else None)  # fmt: skip
    fig.add_trace(go.Scatter(x=t[::step], y=w[::step], mode="lines", showlegend=False,
                             line=dict(color="#495057", width=1),
                             hovertemplate="%{x:.3f} s: %{y:.3g}<extra></extra>"),
                  row=1, col=1)  # fmt: skip
    if attr is not None:
        a = np.asarray(attr, dtype=float).ravel()
        top = float(np.abs(a).max()) or 1.0
        fig.add_trace(go.Heatmap(z=a[None, ::step], x=t[::step], zmin=-top, zmax=top,
                                 colorscale="RdBu_r", colorbar=dict(title="evidence",
                                                                    thickness=10),
                                 hovertemplate="%{x:.3f} s: %{z:.3g}<extra></extra>"),
                      row=2, col=1)  # fmt: skip
        fig.update_yaxes(showticklabels=False, row=2, col=1)
    fig.update_layout(height=320 if rows == 2 else 260,
                      margin=dict(l=10, r=10, t=40 if title else 20, b=10), title=title or None,
                      font=dict(family=FONT, size=font_size(presenter)))  # fmt: skip
    fig.update_xaxes(title_text="time (s)", row=rows, col=1)
    if field is not None:
        fig.add_vrect(x0=field[0] / sample_rate, x1=(field[1] + 1) / sample_rate,
                      fillcolor="#ffa94d", opacity=0.35, line_width=0, row=1, col=1)  # fmt: skip
    return fig


def layer_1d_figure(maps: np.ndarray, *, order: str = "channel", title: str = "",
                    presenter: bool = False) -> go.Figure:  # fmt: skip
    """Every channel of a 1-D layer (C, T) at once: one row per channel, positions across;
    red where a filter found its pattern, blue where the opposite. ``order`` "strength" puts
    the most active channel at the top (rows keep their channel numbers)."""
    maps = np.asarray(maps, dtype=float)
    strength = np.abs(maps).mean(1)
    channels = np.argsort(-strength, kind="stable") if order == "strength" else np.arange(len(maps))
    lim = float(np.abs(maps).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=maps[channels], y=[str(c) for c in channels], zmin=-lim,
                               zmax=lim, colorscale="RdBu_r", showscale=False,
                               hovertemplate="channel %{y}, position %{x}: %{z:.3g}"
                               "<extra></extra>"))  # fmt: skip
    fig.update_layout(height=int(min(320, max(140, 60 + 4 * len(maps)))),
                      margin=dict(l=10, r=10, t=40 if title else 20, b=10), title=title or None,
                      font=dict(family=FONT, size=font_size(presenter)))  # fmt: skip
    n = maps.shape[1]
    ticks = dict(tickvals=list(range(n))) if n <= 12 else dict(tickformat="d")
    fig.update_xaxes(title_text="position", showgrid=False, zeroline=False, **ticks)
    fig.update_yaxes(title_text="channel", type="category", autorange="reversed",
                     showgrid=False, zeroline=False, nticks=8)  # fmt: skip
    return fig


def maps_figure(maps: np.ndarray, *, n: int = 8, order: str = "channel", title: str = "",
                presenter: bool = False) -> tuple[go.Figure, list[int]]:  # fmt: skip
    """Up to ``n`` feature maps of one layer, (C, H, W) or (C, T), in one row of heatmaps;
    ``order`` "strength" puts the most active first. Returns the figure and the channels shown."""
    maps = np.asarray(maps, dtype=float)
    strength = np.abs(maps.reshape(len(maps), -1)).mean(1)
    channels = np.argsort(-strength)[:n] if order == "strength" else np.arange(min(n, len(maps)))
    cols = max(1, len(channels))
    fig = make_subplots(rows=1, cols=cols, horizontal_spacing=0.01,
                        subplot_titles=[f"{c}" for c in channels])  # fmt: skip
    lim = float(np.abs(maps[channels]).max()) or 1.0
    for i, c in enumerate(channels):
        fig.add_trace(go.Heatmap(z=_as_2d(maps[c]), zmin=-lim, zmax=lim, colorscale="RdBu_r",
                                 showscale=False, hovertemplate=f"map {c}, row %{{y}}, col %{{x}}:"
                                 " %{z:.3g}<extra></extra>"), row=1, col=i + 1)  # fmt: skip
    _layout(fig, 150 if maps.ndim == 2 else 170, presenter, title)
    # the channel numbers sit above the maps, in the top margin: room for a line of them
    size = font_size(presenter)
    fig.update_layout(margin=dict(t=int(1.8 * size) + (int(1.8 * size) if title else 0)))
    if maps.ndim == 3 and maps.shape[1] == maps.shape[2]:  # a picture's maps: square pixels
        for i in range(cols):
            fig.update_yaxes(scaleanchor="x" if i == 0 else f"x{i + 1}", scaleratio=1,
                             constrain="domain", row=1, col=i + 1)  # fmt: skip
    return fig, [int(c) for c in channels]


def vector_figure(v: np.ndarray, *, labels=None, title: str = "", presenter: bool = False):
    """A vector layer (flattened features, dense outputs, class scores) as bars."""
    v = np.asarray(v, dtype=float).ravel()
    x = list(labels) if labels is not None and len(labels) == len(v) else list(range(len(v)))
    fig = go.Figure(go.Bar(x=x, y=v, marker_color="#1c7ed6"))
    fig.update_layout(height=220, margin=dict(l=40, r=10, t=40 if title else 20, b=40),
                      title=title or None, font=dict(family=FONT, size=font_size(presenter)))  # fmt: skip
    return fig


def filters_figure(w: np.ndarray, *, n: int = 16, presenter: bool = False) -> go.Figure:
    """The first layer's kernels (F, C, kH, kW) or (F, C, k): input channel 0 of up to ``n``;
    a 1-D kernel drawn as the curve of its taps."""
    w = np.asarray(w, dtype=float)[:n, 0]
    cols = min(8, len(w))
    rows = math.ceil(len(w) / cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.01, vertical_spacing=0.08,
                        subplot_titles=[f"filter {i}" for i in range(len(w))])  # fmt: skip
    lim = float(np.abs(w).max()) or 1.0
    if w.ndim == 2:  # (F, k): each kernel's taps as a curve, on one scale
        for i, k in enumerate(w):
            fig.add_trace(go.Scatter(y=k, mode="lines", line=dict(color="#c92a2a", width=1.5),
                                     showlegend=False,
                                     hovertemplate="tap %{x}: %{y:.3f}<extra></extra>"),
                          row=i // cols + 1, col=i % cols + 1)  # fmt: skip
        _layout(fig, 110 * rows + 30, presenter)
        fig.update_yaxes(range=[-lim * 1.05, lim * 1.05], autorange=False)
        return fig
    for i, k in enumerate(w):
        fig.add_trace(go.Heatmap(z=_as_2d(k), zmin=-lim, zmax=lim, colorscale="RdBu_r",
                                 showscale=False, texttemplate="%{z:.2f}" if k.size <= 25 else None,
                                 hovertemplate="%{z:.3f}<extra></extra>"),
                      row=i // cols + 1, col=i % cols + 1)  # fmt: skip
    return _layout(fig, 130 * rows + 30, presenter)


def overlay_figure(x: np.ndarray, attr: np.ndarray, *, title: str = "", audio: bool = False,
                   presenter: bool = False) -> go.Figure:  # fmt: skip
    """An attribution (H, W) over the input it explains: the input in grey, the evidence in
    warm colours on top (transparent where there is none)."""
    a = np.asarray(x, dtype=float)
    img = a[0] if a.ndim == 3 else _as_2d(a)
    heat = _as_2d(attr)
    top = float(np.abs(heat).max()) or 1.0
    fig = go.Figure()
    fig.add_trace(go.Heatmap(z=img, colorscale="Greys_r" if not audio else "Greys",
                             showscale=False, hoverinfo="skip"))  # fmt: skip
    fig.add_trace(go.Heatmap(z=heat, zmin=-top, zmax=top, opacity=0.55, colorscale="RdBu_r",
                             colorbar=dict(title="evidence", thickness=10),
                             hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"))  # fmt: skip
    _layout(fig, 320, presenter, title)
    if audio:
        fig.update_yaxes(autorange=True)
    else:
        fig.update_yaxes(scaleanchor="x", constrain="domain")  # square pixels, as the input
    return fig


MAX_CLICKABLE = 4096  # feature-map cells that get an invisible marker to click


def field_figure(x: np.ndarray, fmap: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                 unit: tuple[int, int], *, audio: bool = False, title_map: str = "",
                 presenter: bool = False) -> go.Figure:  # fmt: skip
    """A unit's receptive field lit on the input, beside the feature map it belongs to.

    Parameters
    ----------
    x : (C, H, W) the input as the network reads it
    fmap : (h, w) the feature map of the unit's filter; each cell carries an invisible marker
        with ``customdata`` [row, col], so a click on it chooses that unit
    rows, cols : the input rows and columns the unit reads (dilation holes left out)
    unit : (row, col) of the unit in ``fmap``
    """
    a = np.asarray(x, dtype=float)
    img = a[0] if a.shape[0] == 1 else a.mean(0)
    fm = np.asarray(fmap, dtype=float)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06,
                        subplot_titles=("its receptive field on the input",
                                        title_map or "the feature map: click a unit"))  # fmt: skip
    fig.add_trace(go.Heatmap(z=img, colorscale="Viridis" if audio else "Greys_r", showscale=False,
                             hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"), 1, 1)  # fmt: skip
    lit = np.full(img.shape, np.nan)
    lit[np.ix_(np.asarray(rows, dtype=int), np.asarray(cols, dtype=int))] = 1.0
    fig.add_trace(go.Heatmap(z=lit, colorscale=[[0, "#f59f00"], [1, "#f59f00"]], opacity=0.45,
                             showscale=False, hoverinfo="skip"), 1, 1)  # fmt: skip
    if len(rows) and len(cols):
        fig.add_shape(type="rect", x0=min(cols) - 0.5, x1=max(cols) + 0.5, y0=min(rows) - 0.5,
                      y1=max(rows) + 0.5, line=dict(color="#d9480f", width=3), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Heatmap(z=fm, colorscale="RdBu_r", zmid=0, showscale=False,
                             hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>"), 1, 2)  # fmt: skip
    r, c = unit
    fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                  line=dict(color="#d9480f", width=3), row=1, col=2)  # fmt: skip
    h, w = fm.shape
    if h * w <= MAX_CLICKABLE:
        rr, cc = np.divmod(np.arange(h * w), w)
        fig.add_trace(go.Scatter(x=cc, y=rr, mode="markers", showlegend=False, name="units",
                                 marker=dict(size=max(4, 240 // max(h, w)), opacity=0,
                                             color="#000"),
                                 customdata=np.stack([rr, cc], axis=1),
                                 hovertemplate="unit row %{y}, col %{x}: click to choose"
                                 "<extra></extra>"), 1, 2)  # fmt: skip
    _layout(fig, 340, presenter)
    if audio:
        fig.update_yaxes(autorange=True)  # mel band 0 at the bottom
    else:  # square pixels, on both sides
        fig.update_yaxes(scaleanchor="x", row=1, col=1)
        fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    fig.update_layout(clickmode="event+select", dragmode=False)
    return fig
