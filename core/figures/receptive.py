"""Figures for receptive fields: layer grids, the field on a picture and on a log-mel.

Pure functions: numbers from core.explain.receptive in, plotly Figure out.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.figures import MAGMA

# cell codes of the layer grids
CELL, PAD, FIELD, PAD_FIELD, UNIT = 0, 1, 2, 3, 4
_COLORS = ["#e9edf3", "#ffffff", "#f2a541", "#c9c9c9", "#c0392b"]
LEGEND = {
    "grey": "a unit of the layer",
    "white": "padding the next layer adds",
    "orange": "in the chosen unit's field",
    "dark grey": "part of the window that lands on padding",
    "red": "the chosen unit",
}


def _scale():
    scale = []
    n = len(_COLORS)
    for i, c in enumerate(_COLORS):
        scale += [[i / n, c], [(i + 1) / n, c]]
    return scale


def layer_grid(
    size: tuple[int, int], pad: int, region=None, *, is_unit: bool = False
) -> np.ndarray:
    """Cell codes of one layer drawn with its padding ring, shape ``(H + 2p, W + 2p)``.

    Parameters
    ----------
    size : (int, int)
        The layer's height and width.
    pad : int
        Width of the padding ring that the next layer adds.
    region : core.explain.receptive.Region or None
        The chosen unit's region in this layer (None: nothing lit).
    is_unit : bool
        The layer holds the chosen unit itself.
    """
    h, w = size
    grid = np.full((h + 2 * pad, w + 2 * pad), PAD, dtype=np.int8)
    grid[pad : pad + h, pad : pad + w] = CELL
    if region is None:
        return grid
    rows_all = np.concatenate([region.rows.positions, region.rows.padding]) + pad
    cols_all = np.concatenate([region.cols.positions, region.cols.padding]) + pad
    window = np.zeros_like(grid, dtype=bool)
    window[np.ix_(rows_all, cols_all)] = True
    grid[window & (grid == PAD)] = PAD_FIELD
    inside = np.zeros_like(window)
    inside[np.ix_(region.rows.positions + pad, region.cols.positions + pad)] = True
    grid[inside] = UNIT if is_unit else FIELD
    return grid


MAX_CLICKABLE = 48 * 48  # a layer with more units than this is chosen with the number boxes


COMMON_SCALE_MAX = 32  # grids up to this many cells a side share one cell size


def stack_figure(
    rows, regions=None, *, columns: int = 4, broken_at: int | None = None, clickable: bool = True
) -> go.Figure:
    """All layers of a stack as grids, the chosen unit's field lit in every layer below it.

    Parameters
    ----------
    rows : list of core.explain.receptive.LayerRow
        The table (input first).
    regions : list of core.explain.receptive.Region or None
        From ``unit_region``; ``regions[l]`` is drawn on layer ``l``.
    columns : int
        Grids per figure row.
    broken_at : int or None
        Index of a layer that breaks the stack, drawn as an empty titled panel.
    clickable : bool
        Lay an invisible marker on every unit of each layer (up to ``MAX_CLICKABLE`` units),
        carrying ``customdata`` [layer, row, col], so a click selects that unit (heatmaps
        themselves raise no selection events).
    """
    n_panels = len(rows) + (1 if broken_at is not None else 0)
    columns = max(1, min(columns, n_panels))
    n_rows = math.ceil(n_panels / columns)
    titles = []
    for row in rows:
        head = "input" if row.index == 0 else f"{row.index}: {row.name}"
        titles.append(f"{head}<br>{row.n[0]}×{row.n[1]}, field {row.r}, jump {row.j}")
    if broken_at is not None:
        titles.append(f"{broken_at}: empty output")
    fig = make_subplots(
        rows=n_rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.04,
        vertical_spacing=0.12 / max(n_rows, 1) + 0.04,
    )
    extents = []  # each drawn grid's (shape, padding)
    for i, row in enumerate(rows):
        nxt = rows[i + 1].layer if i + 1 < len(rows) else None
        pad = nxt.p if nxt is not None else 0
        region = regions[i] if regions is not None and i < len(regions) else None
        if region is not None and i == len(regions) - 1:
            grid = layer_grid(row.n, 0, region, is_unit=True)
            pad = 0
        else:
            grid = layer_grid(row.n, pad, region)
        big = max(grid.shape) > 48
        extents.append((grid.shape, pad))
        fig.add_trace(
            go.Heatmap(
                z=grid,
                x=np.arange(grid.shape[1]) - pad,
                y=np.arange(grid.shape[0]) - pad,
                zmin=-0.5,
                zmax=len(_COLORS) - 0.5,
                colorscale=_scale(),
                showscale=False,
                xgap=0 if big else 1,
                ygap=0 if big else 1,
                hovertemplate="row %{y}, col %{x}<extra></extra>",
                hoverinfo="skip" if clickable else None,
            ),
            row=i // columns + 1,
            col=i % columns + 1,
        )
        h, w = row.n
        if clickable and h * w <= MAX_CLICKABLE:
            rr, cc = np.divmod(np.arange(h * w), w)
            fig.add_trace(
                go.Scatter(
                    x=cc,
                    y=rr,
                    mode="markers",
                    marker=dict(size=max(4, 200 // max(h, w)), opacity=0, color="#000"),
                    customdata=np.stack([np.full(h * w, row.index), rr, cc], axis=1),
                    hovertemplate=f"{'input' if row.index == 0 else f'layer {row.index}'}, "
                    "row %{y}, col %{x}: click to choose<extra></extra>",
                    showlegend=False,
                    name=f"units of layer {row.index}",
                ),
                row=i // columns + 1,
                col=i % columns + 1,
            )
    # small stacks: every panel as wide as the largest grid, so a cell is the same size in all
    # of them and a deep layer's one unit looks as small as it is beside the input
    side = max((max(shape) for shape, _ in extents), default=0)
    common = 0 < side <= COMMON_SCALE_MAX
    for i in range(n_panels):
        axis = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{axis}"].update(autorange="reversed", scaleanchor=f"x{axis}",
                                          showticklabels=False, showgrid=False, zeroline=False)  # fmt: skip
        fig.layout[f"xaxis{axis}"].update(showticklabels=False, showgrid=False, zeroline=False,
                                          constrain="domain")  # fmt: skip
        if common and i < len(extents):
            (h, w), pad = extents[i]
            cy, cx = (h - 1) / 2 - pad, (w - 1) / 2 - pad
            fig.layout[f"xaxis{axis}"].update(range=[cx - side / 2, cx + side / 2])
            fig.layout[f"yaxis{axis}"].update(autorange=False,
                                              range=[cy + side / 2, cy - side / 2])  # fmt: skip
    fig.update_layout(
        height=max(260, 250 * n_rows),
        margin=dict(l=10, r=10, t=60, b=10),
        font=dict(size=11),
    )
    fig.update_annotations(font_size=11)
    if clickable:
        fig.update_layout(clickmode="event+select")  # a click selects a unit
    return fig


def _box_shape(region, *, color="#c0392b", x0=None, x1=None, y0=None, y1=None) -> dict:
    r0, r1, c0, c1 = region.box()
    return dict(
        type="rect",
        x0=c0 - 0.5 if x0 is None else x0,
        x1=c1 + 0.5 if x1 is None else x1,
        y0=r0 - 0.5 if y0 is None else y0,
        y1=r1 + 0.5 if y1 is None else y1,
        line=dict(color=color, width=2),
    )


def picture_figure(image: np.ndarray, region, *, title: str = "") -> go.Figure:
    """The picture ``(H, W, 3)`` with everything outside the unit's field dimmed."""
    mask = region.mask()[..., None]  # (H, W, 1)
    shown = (image.astype(float) * (0.3 + 0.7 * mask)).astype(np.uint8)
    fig = go.Figure(go.Image(z=shown, hovertemplate="row %{y}, col %{x}<extra></extra>"))
    fig.add_shape(**_box_shape(region))
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), height=380)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def spectrogram_figure(logmel, region, info: dict, *, title: str = "") -> go.Figure:
    """The log-mel (bands × frames) with the unit's field outlined; x in ms, y in mel bands."""
    n_mels, n_frames = logmel.db.shape
    hop_ms = info["hop_ms"]
    times = np.arange(n_frames) * hop_ms
    centres = logmel.band_edges_hz[1:-1]
    fig = go.Figure(
        go.Heatmap(
            z=logmel.db,
            x=times,
            y=np.arange(n_mels),
            customdata=np.repeat(centres[:, None], n_frames, axis=1),
            colorscale=MAGMA,
            colorbar=dict(title="dB"),
            hovertemplate="%{x:.0f} ms, band %{y} (%{customdata:.0f} Hz): %{z:.1f} dB<extra></extra>",
        )
    )
    r0, r1, c0, c1 = region.box()
    fig.add_shape(
        type="rect",
        x0=(c0 - 0.5) * hop_ms,
        x1=(c1 + 0.5) * hop_ms,
        y0=r0 - 0.5,
        y1=r1 + 0.5,
        line=dict(color="#7fdbff", width=3),
    )
    fig.update_layout(
        title=title,
        xaxis_title="time (ms, frame centres)",
        yaxis_title="mel band (0 = lowest)",
        margin=dict(l=10, r=10, t=40, b=10),
        height=380,
    )
    return fig


def effective_field_figure(grad: np.ndarray, region, *, title: str = "") -> go.Figure:
    """Gradient magnitude of the unit over the input, with the analytic field outlined."""
    fig = go.Figure(
        go.Heatmap(
            z=grad,
            colorscale="Viridis",
            colorbar=dict(title="|∂unit/∂pixel|"),
            hovertemplate="row %{y}, col %{x}: %{z:.3g}<extra></extra>",
        )
    )
    fig.add_shape(**_box_shape(region, color="#ff4136"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40, b=10), height=380)
    return fig
