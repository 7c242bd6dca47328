"""Figures for the convolution and pooling pages: grids of numbers with the window drawn on.

Every function takes an :class:`core.explain.conv.OpResult` (or plain arrays) and returns a
plotly Figure; nothing is computed here that the page teaches.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.explain.conv import OpResult, _num, padding_mask
from core.figures import ACCENT, FONT, PAD_FILL, SKIP_FILL, font_size

VALUE_SCALE = [[0.0, "#f8fafc"], [1.0, "#93c5fd"]]
SIGNED_SCALE = [[0.0, "#fca5a5"], [0.5, "#ffffff"], [1.0, "#86efac"]]
OUT_SCALE = [[0.0, "#fde68a"], [1.0, "#fb923c"]]


def _text(z: np.ndarray) -> list:
    return [["" if np.isnan(v) else _num(float(v)) for v in row] for row in z]


class Panels:
    """A row-major grid of matrix panels built as plain dicts and turned into one Figure.

    plotly's make_subplots / add_shape(row=, col=) re-validate the whole figure on every call
    (about 100 ms for a small grid); collecting dicts and validating once is ~10x faster.
    """

    def __init__(self, widths: list[float], rows: int = 1, *, hspace: float = 0.05,
                 vspace: float = 0.1, titles: dict | None = None) -> None:  # fmt: skip
        self.rows, self.cols = rows, len(widths)
        total = sum(widths) + hspace * sum(widths) * (self.cols - 1) / max(self.cols, 1)
        gap = hspace * sum(widths) / max(self.cols, 1) / total
        x, self.xdom = 0.0, []
        for w in widths:
            self.xdom.append((max(0.0, min(x, 1.0)), min(x + w / total, 1.0)))
            x += w / total + gap
        h = (1 - vspace * (rows - 1)) / rows
        self.ydom = [
            (max(0.0, 1 - (r + 1) * h - r * vspace), min(1.0, 1 - r * h - r * vspace))
            for r in range(rows)
        ]
        self.data: list[dict] = []
        self.shapes: list[dict] = []
        self.annotations: list[dict] = []
        self.axes: dict[str, dict] = {}
        self.titles = titles or {}
        self.spans: dict[tuple[int, int], int] = {}

    def ref(self, row: int, col: int) -> str:
        n = (row - 1) * self.cols + col
        return "" if n == 1 else str(n)

    def span(self, row: int, col: int, rows: int) -> None:
        """Let the panel at (row, col) take ``rows`` rows of height."""
        self.spans[(row, col)] = rows

    def _axis(self, row: int, col: int) -> str:
        r = self.ref(row, col)
        if f"xaxis{r}" not in self.axes:
            y0 = self.ydom[row - 1 + self.spans.get((row, col), 1) - 1][0]
            y1 = self.ydom[row - 1][1]
            common = {"showgrid": False, "zeroline": False, "tickmode": "linear", "dtick": 1,
                      "constrain": "domain"}  # fmt: skip
            self.axes[f"xaxis{r}"] = {**common, "domain": list(self.xdom[col - 1]),
                                      "anchor": f"y{r}"}  # fmt: skip
            self.axes[f"yaxis{r}"] = {**common, "domain": [y0, y1], "anchor": f"x{r}",
                                      "autorange": "reversed", "scaleanchor": f"x{r}"}  # fmt: skip
            title = self.titles.get((row, col))
            if title:
                self.annotations.append({"text": title, "showarrow": False, "xref": "paper",
                                         "yref": "paper", "x": sum(self.xdom[col - 1]) / 2,
                                         "y": y1, "yanchor": "bottom", "font": {"size": 14}})  # fmt: skip
        return r

    def grid(self, row, col, z, *, scale, mask=None, mask_values=None, signed=False,
             text_size=None, mask_text=None):  # fmt: skip
        """A matrix as coloured cells with its numbers written in; ``mask`` cells as padding."""
        r = self._axis(row, col)
        z = np.atleast_2d(np.asarray(z, dtype=float))
        if text_size is None:  # smaller numbers in larger grids, so they still fit their cells
            text_size = 16 if z.shape[1] <= 8 else 12 if z.shape[1] <= 12 else 9
        shown = z.copy()
        axes = {"xaxis": f"x{r}", "yaxis": f"y{r}"}
        if mask is not None:
            shown[mask] = np.nan
            text = (
                mask_text if mask_text is not None else _text(np.where(mask, mask_values, np.nan))
            )
            self.data.append({"type": "heatmap", "z": np.where(mask, 1.0, np.nan), "text": text,
                              "texttemplate": "%{text}", "textfont": {"size": text_size},
                              "colorscale": [[0, PAD_FILL], [1, PAD_FILL]], "showscale": False,
                              "xgap": 2, "ygap": 2, "hoverinfo": "skip", **axes})  # fmt: skip
        finite = shown[np.isfinite(shown)]
        zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if signed:
            bound = max(abs(zmin), abs(zmax), 1e-9)
            zmin, zmax = -bound, bound
        if zmin == zmax:
            zmax = zmin + 1.0
        self.data.append({"type": "heatmap", "z": shown, "text": _text(shown),
                          "texttemplate": "%{text}", "textfont": {"size": text_size},
                          "colorscale": scale, "zmin": zmin, "zmax": zmax, "showscale": False,
                          "xgap": 2, "ygap": 2,
                          "hovertemplate": "row %{y}, column %{x}: %{z}<extra></extra>", **axes})  # fmt: skip

    def image(self, row, col, z, *, scale: str, zmid: float | None = None) -> None:
        """A large matrix as a picture: no numbers, no axes."""
        r = self._axis(row, col)
        self.axes[f"xaxis{r}"]["visible"] = False
        self.axes[f"yaxis{r}"]["visible"] = False
        trace = {"type": "heatmap", "z": np.asarray(z, dtype=np.float32), "colorscale": scale,
                 "showscale": False, "xaxis": f"x{r}", "yaxis": f"y{r}",
                 "hovertemplate": "(%{y}, %{x}): %{z:.3g}<extra></extra>"}  # fmt: skip
        if zmid is not None:
            trace["zmid"] = zmid
        self.data.append(trace)

    def rect(self, row, col, r0, c0, r1, c1, *, color=ACCENT, width=3, fill=None, dash=None):
        r = self._axis(row, col)
        shape = {"type": "rect", "x0": c0 - 0.5, "x1": c1 + 0.5, "y0": r0 - 0.5, "y1": r1 + 0.5,
                 "xref": f"x{r}", "yref": f"y{r}", "layer": "above",
                 "line": {"color": color, "width": width, "dash": dash or "solid"}}  # fmt: skip
        if fill:
            shape["fillcolor"] = fill
        self.shapes.append(shape)

    def figure(self, *, presenter: bool, height: int) -> go.Figure:
        size = font_size(presenter)
        for a in self.annotations:
            a["font"] = {"size": size + 1}
        layout = {"height": height, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
                  "font": {"family": FONT, "size": size}, "plot_bgcolor": "white",
                  "paper_bgcolor": "white", "shapes": self.shapes,
                  "annotations": self.annotations, **self.axes}  # fmt: skip
        return go.Figure(data=self.data, layout=layout)


def _window(panels: Panels, row, col, positions) -> None:
    """Outline the cells a window covers; with dilation, each cell and a dotted hull."""
    rows, cols = positions if len(positions) == 2 else ((0,), positions[0])
    contiguous = all(b - a == 1 for a, b in zip(rows, rows[1:], strict=False)) and all(
        b - a == 1 for a, b in zip(cols, cols[1:], strict=False)
    )
    if contiguous:
        panels.rect(row, col, rows[0], cols[0], rows[-1], cols[-1])
        return
    panels.rect(row, col, rows[0], cols[0], rows[-1], cols[-1], width=1.5, dash="dot")
    for r in rows:
        for c in cols:
            panels.rect(row, col, r, c, r, c, width=2.5)


def _unvisited(panels: Panels, row, col, result: OpResult, shape2d) -> None:
    """Grey out padded-input rows/columns that no window position ever covers."""
    axes = [ax.unvisited for ax in result.axes()]
    h, w = shape2d
    clear = "rgba(0,0,0,0)"
    if len(axes) == 2:
        for r in axes[0]:
            panels.rect(row, col, r, 0, r, w - 1, color=clear, width=0, fill=SKIP_FILL)
        for c in axes[1]:
            panels.rect(row, col, 0, c, h - 1, c, color=clear, width=0, fill=SKIP_FILL)
    else:
        for c in axes[0]:
            panels.rect(row, col, 0, c, h - 1, c, color=clear, width=0, fill=SKIP_FILL)


def _partial(values: np.ndarray, upto: int) -> np.ndarray:
    """``values`` with the cells after step ``upto`` (row-major) blanked out."""
    flat = np.asarray(values, dtype=float).ravel().copy()
    flat[upto + 1 :] = np.nan
    return flat.reshape(np.shape(values))


def _as2d(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 2 else a[None, :]


def _mask(result: OpResult) -> np.ndarray:
    spatial = result.padded.shape[1:]
    inner = tuple(s - p0 - p1 for s, (p0, p1) in zip(spatial, result.pads, strict=True))
    return _as2d(padding_mask(inner, result.pads))


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
    mask = _mask(result)
    out_idx = np.unravel_index(n, result.out_shape)
    out_cell = (int(out_idx[0]), int(out_idx[1])) if len(out_idx) == 2 else (0, int(out_idx[0]))
    multi = n_ch > 1
    o_w = max(result.out_shape[-1], 2)
    widths = [spatial[-1], max(result.kernel_size[-1], 2), o_w] + ([o_w] if multi else [])
    titles = {}
    for c in range(n_ch):
        label = f" · channel {c + 1}" if multi else ""
        titles[(c + 1, 1)] = f"input (padded){label}"
        titles[(c + 1, 2)] = f"kernel{label}"
        titles[(c + 1, 3)] = f"channel {c + 1} share" if multi else "output"
    if multi:
        titles[(1, 4)] = "output = Σ shares + bias"
    panels = Panels(widths, rows=n_ch, titles=titles, vspace=0.12 / n_ch)
    if multi:
        panels.span(1, 4, n_ch)
    for c in range(n_ch):
        row = c + 1
        padded = _as2d(result.padded[c])
        panels.grid(row, 1, padded, scale=VALUE_SCALE, mask=mask, mask_values=padded)
        _unvisited(panels, row, 1, result, padded.shape)
        _window(panels, row, 1, step.positions)
        panels.grid(row, 2, _as2d(result.weights[filt, c]), scale=SIGNED_SCALE, signed=True)
        share = result.per_channel[filt, c] if multi else result.output[filt]
        panels.grid(row, 3, _as2d(_partial(share, n)), scale=OUT_SCALE)
        panels.rect(row, 3, *out_cell, *out_cell)
    if multi:
        panels.grid(1, 4, _as2d(_partial(result.output[filt], n)), scale=OUT_SCALE)
        panels.rect(1, 4, *out_cell, *out_cell)
    if len(spatial) == 2:
        height = int(max(300, 40 * spatial[0] + 120) * (0.75 * n_ch + 0.25))
    else:
        height = 150 * n_ch + 70
    return panels.figure(presenter=presenter, height=height)


def pool_step_figure(
    result: OpResult, n: int, *, channel: int = 0, presenter: bool = False
) -> go.Figure:
    """Padded input and output of one channel, with step ``n``'s window and its maximum drawn on."""
    step = result.step(n, filt=channel)
    spatial = result.padded.shape[1:]
    mask = _mask(result)
    out_idx = np.unravel_index(n, result.out_shape)
    panels = Panels([spatial[-1], max(result.out_shape[-1], 2)], hspace=0.08,
                    titles={(1, 1): "input (padded)", (1, 2): "output"})  # fmt: skip
    padded = result.padded[channel]
    finite = np.where(np.isneginf(padded), 0.0, padded)
    mask_text = None
    if result.kind == "max":  # a max pool pads with -inf: write it as such
        mask_text = [["−∞" if m else "" for m in row] for row in mask]
    panels.grid(1, 1, finite, scale=VALUE_SCALE, mask=mask, mask_values=finite, mask_text=mask_text)
    _unvisited(panels, 1, 1, result, padded.shape)
    _window(panels, 1, 1, step.positions)
    if step.argmax is not None:
        r = step.positions[0][step.argmax[0]]
        c = step.positions[1][step.argmax[1]]
        panels.rect(1, 1, r, c, r, c, color="#15803d", width=4)
    panels.grid(1, 2, _partial(result.output[channel], n), scale=OUT_SCALE)
    panels.rect(1, 2, int(out_idx[0]), int(out_idx[1]), int(out_idx[0]), int(out_idx[1]))
    return panels.figure(presenter=presenter, height=max(300, 40 * spatial[0] + 120))


def image_maps_figure(image: np.ndarray, fmap: np.ndarray, *, presenter: bool = False) -> go.Figure:
    """A picture, its feature map and the map after ReLU, side by side in grey levels."""
    relu = np.maximum(fmap, 0.0)
    w = image.shape[1]
    panels = Panels([w, w, w], hspace=0.03, titles={(1, 1): "input", (1, 2): "feature map",
                                                    (1, 3): "after ReLU (negatives → 0)"})  # fmt: skip
    for col, z, scale in ((1, image, "gray"), (2, fmap, "RdBu"), (3, relu, "gray")):
        panels.image(1, col, z, scale=scale, zmid=0.0 if scale == "RdBu" else None)
    return panels.figure(presenter=presenter, height=380)


def signal_figure(result: OpResult, n: int, *, filt: int = 0, presenter: bool = False) -> go.Figure:
    """A long 1-D signal and its convolution output as lines, with step ``n``'s window shaded."""
    step = result.step(n, filt=filt)
    out = result.output[filt]
    data = [
        {"type": "scatter", "y": result.padded[c], "mode": "lines", "name": f"input channel {c + 1}",
         "xaxis": "x", "yaxis": "y"}
        for c in range(result.padded.shape[0])
    ]  # fmt: skip
    data.append({"type": "scatter", "y": _partial(out, n), "mode": "lines", "name": "output",
                 "line": {"color": ACCENT}, "xaxis": "x2", "yaxis": "y2"})  # fmt: skip
    data.append({"type": "scatter", "x": [n], "y": [out[n]], "mode": "markers", "showlegend": False,
                 "marker": {"size": 10, "color": ACCENT}, "xaxis": "x2", "yaxis": "y2"})  # fmt: skip
    pos = step.positions[0]
    layout = {
        "height": 460, "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "font": {"family": FONT, "size": font_size(presenter)},
        "xaxis": {"domain": [0, 1], "anchor": "y", "title": {"text": "sample (padded input)"}},
        "yaxis": {"domain": [0.58, 1], "anchor": "x", "title": {"text": "input"}},
        "xaxis2": {"domain": [0, 1], "anchor": "y2", "title": {"text": "output index"},
                   "range": [-0.5, len(out) - 0.5]},
        "yaxis2": {"domain": [0, 0.4], "anchor": "x2", "title": {"text": "output"}},
        "shapes": [{"type": "rect", "xref": "x", "yref": "paper", "x0": pos[0] - 0.5,
                    "x1": pos[-1] + 0.5, "y0": 0.58, "y1": 1, "fillcolor": ACCENT,
                    "opacity": 0.25, "line": {"width": 0}}],
    }  # fmt: skip
    return go.Figure(data=data, layout=layout)
