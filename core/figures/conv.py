"""Figures for the convolution and pooling pages: grids of numbers with the window drawn on.

Every function takes an :class:`core.conv.OpResult` (or plain arrays) and returns a
plotly Figure; nothing is computed here that the page teaches.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.conv import OpResult, _num, padding_mask
from core.figures import ACCENT, FONT, PAD_FILL, SKIP_FILL, font_size

VALUE_SCALE = [[0.0, "#f8fafc"], [1.0, "#93c5fd"]]
SIGNED_SCALE = [[0.0, "#fca5a5"], [0.5, "#ffffff"], [1.0, "#86efac"]]
OUT_SCALE = [[0.0, "#fde68a"], [1.0, "#fb923c"]]


def _text(z: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda v: "" if np.isnan(v) else _num(float(v)), otypes=[object])(z)


def _add_grid(
    fig, row, col, z, *, scale, mask=None, mask_values=None, signed=False, text_size=None
):
    """A matrix as coloured cells with its numbers written in; ``mask`` cells drawn as padding."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    if text_size is None:  # smaller numbers in larger grids, so they still fit their cells
        text_size = 16 if z.shape[1] <= 8 else 12 if z.shape[1] <= 12 else 9
    shown = z.copy()
    if mask is not None:
        shown[mask] = np.nan
        pad_z = np.where(mask, 1.0, np.nan)
        fig.add_trace(
            go.Heatmap(
                z=pad_z,
                text=_text(np.where(mask, mask_values, np.nan)),
                texttemplate="%{text}",
                textfont={"size": text_size},
                colorscale=[[0, PAD_FILL], [1, PAD_FILL]],
                showscale=False,
                xgap=2,
                ygap=2,
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
    finite = shown[np.isfinite(shown)]
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if signed:
        bound = max(abs(zmin), abs(zmax), 1e-9)
        zmin, zmax = -bound, bound
    if zmin == zmax:
        zmax = zmin + 1.0
    fig.add_trace(
        go.Heatmap(
            z=shown,
            text=_text(shown),
            texttemplate="%{text}",
            colorscale=scale,
            textfont={"size": text_size},
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            xgap=2,
            ygap=2,
            hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
        ),
        row=row,
        col=col,
    )


def _frame_axes(fig, n_panels: int) -> None:
    for i in range(1, n_panels + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"yaxis{suffix}"].update(
            autorange="reversed",
            scaleanchor=f"x{suffix}",
            constrain="domain",
            showgrid=False,
            zeroline=False,
            tickmode="linear",
            dtick=1,
        )
        fig.layout[f"xaxis{suffix}"].update(
            constrain="domain",
            showgrid=False,
            zeroline=False,
            side="bottom",
            tickmode="linear",
            dtick=1,
        )


def _n_axes(fig) -> int:
    return sum(1 for key in fig.layout.to_plotly_json() if key.startswith("xaxis"))


def _rect(fig, row, col, r0, c0, r1, c1, *, color=ACCENT, width=3, fill=None, dash=None):
    fig.add_shape(
        type="rect",
        x0=c0 - 0.5,
        x1=c1 + 0.5,
        y0=r0 - 0.5,
        y1=r1 + 0.5,
        line={"color": color, "width": width, "dash": dash},
        fillcolor=fill,
        layer="above",
        row=row,
        col=col,
    )


def _window(fig, row, col, positions) -> None:
    """Outline the cells a window covers; with dilation, each cell and a dashed hull."""
    rows, cols = positions if len(positions) == 2 else ((0,), positions[0])
    contiguous = all(b - a == 1 for a, b in zip(rows, rows[1:], strict=False)) and all(
        b - a == 1 for a, b in zip(cols, cols[1:], strict=False)
    )
    if contiguous:
        _rect(fig, row, col, rows[0], cols[0], rows[-1], cols[-1])
        return
    _rect(fig, row, col, rows[0], cols[0], rows[-1], cols[-1], width=1.5, dash="dot")
    for r in rows:
        for c in cols:
            _rect(fig, row, col, r, c, r, c, width=2.5)


def _unvisited(fig, row, col, result: OpResult, shape2d) -> None:
    """Grey out padded-input rows/columns that no window position ever covers."""
    from core.conv import axis_size

    spatial = result.padded.shape[1:]
    axes = []
    for n_padded, k, s, (p0, p1), d in zip(
        spatial, result.kernel_size, result.stride, result.pads, result.dilation, strict=True
    ):
        axes.append(
            axis_size(
                "", n_padded - p0 - p1, k, stride=s, pad_before=p0, pad_after=p1, dilation=d
            ).unvisited
        )
    h, w = shape2d
    if len(axes) == 2:
        for r in axes[0]:
            _rect(fig, row, col, r, 0, r, w - 1, color="rgba(0,0,0,0)", width=0, fill=SKIP_FILL)
        for c in axes[1]:
            _rect(fig, row, col, 0, c, h - 1, c, color="rgba(0,0,0,0)", width=0, fill=SKIP_FILL)
    else:
        for c in axes[0]:
            _rect(fig, row, col, 0, c, h - 1, c, color="rgba(0,0,0,0)", width=0, fill=SKIP_FILL)


def _partial(values: np.ndarray, upto: int) -> np.ndarray:
    """``values`` with the cells after step ``upto`` (row-major) blanked out."""
    flat = np.asarray(values, dtype=float).ravel().copy()
    flat[upto + 1 :] = np.nan
    return flat.reshape(np.shape(values))


def _layout(fig, *, presenter: bool, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        font={"family": FONT, "size": font_size(presenter)},
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    fig.update_annotations(font_size=font_size(presenter) + 1)
    return fig


def _as2d(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else a[None, :]


def conv_step_figure(
    result: OpResult, n: int, *, filt: int = 0, presenter: bool = False
) -> go.Figure:
    """Padded input, kernel and output of one filter, with step ``n``'s window drawn on.

    One row per input channel. With several channels a column shows each channel's share
    of the output so far, and the last column the output (the sum of the shares + bias).
    """
    step = result.step(n, filt=filt)
    n_ch = result.padded.shape[0]
    spatial = result.padded.shape[1:]
    mask = padding_mask(
        tuple(s - p0 - p1 for s, (p0, p1) in zip(spatial, result.pads, strict=True)), result.pads
    )
    out_idx = np.unravel_index(n, result.out_shape)
    out_cell = (int(out_idx[0]), int(out_idx[1])) if len(out_idx) == 2 else (0, int(out_idx[0]))
    multi = n_ch > 1
    cols = 4 if multi else 3
    titles = []
    for c in range(n_ch):
        label = f" · channel {c + 1}" if multi else ""
        titles += [
            f"input (padded){label}",
            f"kernel{label}",
            f"channel {c + 1} share" if multi else "output",
        ]
        if multi:
            titles.append("output = Σ shares + bias" if c == 0 else "")
    specs = [
        [{}, {}, {}] + ([{"rowspan": n_ch}] if c == 0 else [None]) if multi else [{}, {}, {}]
        for c in range(n_ch)
    ]
    in_w = spatial[-1]
    k_w = result.kernel_size[-1]
    o_w = result.out_shape[-1]
    widths = [in_w, max(k_w, 2), max(o_w, 2)] + ([max(o_w, 2)] if multi else [])
    fig = make_subplots(
        rows=n_ch,
        cols=cols,
        specs=specs,
        subplot_titles=titles,
        column_widths=widths,
        horizontal_spacing=0.06,
        vertical_spacing=0.12 / max(n_ch, 1),
    )
    for c in range(n_ch):
        row = c + 1
        padded = _as2d(result.padded[c])
        _add_grid(fig, row, 1, padded, scale=VALUE_SCALE, mask=_as2d(mask), mask_values=padded)
        _unvisited(fig, row, 1, result, padded.shape)
        _window(fig, row, 1, step.positions)
        _add_grid(fig, row, 2, _as2d(result.weights[filt, c]), scale=SIGNED_SCALE, signed=True)
        share = result.per_channel[filt, c] if multi else result.output[filt]
        _add_grid(fig, row, 3, _as2d(_partial(share, n)), scale=OUT_SCALE)
        _rect(fig, row, 3, *out_cell, *out_cell)
    if multi:
        _add_grid(fig, 1, 4, _as2d(_partial(result.output[filt], n)), scale=OUT_SCALE)
        _rect(fig, 1, 4, *out_cell, *out_cell)
    if len(spatial) == 2:
        height = int(max(300, 40 * spatial[0] + 120) * (0.75 * n_ch + 0.25))
    else:
        height = 170 * n_ch + 80
    _frame_axes(fig, _n_axes(fig))
    return _layout(fig, presenter=presenter, height=height)


def pool_step_figure(
    result: OpResult, n: int, *, channel: int = 0, presenter: bool = False
) -> go.Figure:
    """Padded input and output of one channel, with step ``n``'s window and its maximum drawn on."""
    step = result.step(n, filt=channel)
    spatial = result.padded.shape[1:]
    mask = padding_mask(
        tuple(s - p0 - p1 for s, (p0, p1) in zip(spatial, result.pads, strict=True)), result.pads
    )
    out_idx = np.unravel_index(n, result.out_shape)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["input (padded)", "output"],
        column_widths=[spatial[-1], max(result.out_shape[-1], 2)],
        horizontal_spacing=0.08,
    )
    padded = result.padded[channel]
    fill = "−∞" if result.kind == "max" else "0"
    pad_text = np.where(np.isneginf(padded), np.nan, padded)
    _add_grid(
        fig,
        1,
        1,
        np.where(np.isneginf(padded), 0.0, padded),
        scale=VALUE_SCALE,
        mask=mask,
        mask_values=np.where(np.isnan(pad_text), 0.0, pad_text),
    )
    if result.kind == "max":
        # padding of a max pool is -inf: write it as such
        fig.data[0].text = np.where(mask, fill, "").astype(object)
    _unvisited(fig, 1, 1, result, padded.shape)
    _window(fig, 1, 1, step.positions)
    if step.argmax is not None:
        r = step.positions[0][step.argmax[0]]
        c = step.positions[1][step.argmax[1]]
        _rect(fig, 1, 1, r, c, r, c, color="#15803d", width=4)
    _add_grid(fig, 1, 2, _partial(result.output[channel], n), scale=OUT_SCALE)
    _rect(fig, 1, 2, int(out_idx[0]), int(out_idx[1]), int(out_idx[0]), int(out_idx[1]))
    _frame_axes(fig, 2)
    return _layout(fig, presenter=presenter, height=max(300, 40 * spatial[0] + 120))


def image_maps_figure(image: np.ndarray, fmap: np.ndarray, *, presenter: bool = False) -> go.Figure:
    """A picture, its feature map and the map after ReLU, side by side in grey levels."""
    relu = np.maximum(fmap, 0.0)
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.03,
        subplot_titles=["input", "feature map", "after ReLU (negatives → 0)"],
    )
    for col, z, scale in ((1, image, "gray"), (2, fmap, "RdBu"), (3, relu, "gray")):
        extra = {"zmid": 0.0} if scale == "RdBu" else {}
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                showscale=False,
                hovertemplate="(%{y}, %{x}): %{z:.3g}<extra></extra>",
                **extra,
            ),
            row=1,
            col=col,
        )
    for i in range(1, 4):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"yaxis{suffix}"].update(
            autorange="reversed", scaleanchor=f"x{suffix}", visible=False, constrain="domain"
        )
        fig.layout[f"xaxis{suffix}"].update(visible=False, constrain="domain")
    return _layout(fig, presenter=presenter, height=380)


def signal_figure(result: OpResult, n: int, *, filt: int = 0, presenter: bool = False) -> go.Figure:
    """A long 1-D signal and its convolution output as lines, with step ``n``'s window shaded."""
    step = result.step(n, filt=filt)
    n_ch = result.padded.shape[0]
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=False,
        vertical_spacing=0.18,
        subplot_titles=["input (padded)", "output"],
    )
    for c in range(n_ch):
        fig.add_trace(
            go.Scatter(y=result.padded[c], mode="lines", name=f"input channel {c + 1}"),
            row=1,
            col=1,
        )
    pos = step.positions[0]
    fig.add_vrect(
        x0=pos[0] - 0.5,
        x1=pos[-1] + 0.5,
        fillcolor=ACCENT,
        opacity=0.25,
        line_width=0,
        row=1,
        col=1,
    )
    out = result.output[filt]
    fig.add_trace(
        go.Scatter(y=_partial(out, n), mode="lines", name="output", line={"color": ACCENT}),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[n],
            y=[out[n]],
            mode="markers",
            marker={"size": 10, "color": ACCENT},
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(title_text="sample (padded input)", row=1, col=1)
    fig.update_xaxes(title_text="output index", range=[-0.5, len(out) - 0.5], row=2, col=1)
    return _layout(fig, presenter=presenter, height=460)
