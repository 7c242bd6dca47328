"""Figures of the audio page: pure functions, numbers in, plotly Figure out.

Speed matters here: the page rebuilds a figure on every slider move, and plotly's own
helpers (``make_subplots``, ``add_vline``, a named template) validate and deep-copy far more
than they draw. So each figure is one ``go.Figure(data, layout)`` call with plain dicts:
overlays are layout shapes, subplot grids are axis domains, and the look comes from the
app's theme. Heatmaps receive float32 arrays so plotly sends them to the browser as
binary; the caller thins long spectrograms with ``core.audio.display_rows`` and
``core.audio.display_columns`` to no more cells than the figure has pixels (every value
drawn is still one of the computed values).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.figures import MAGMA

_LINE = "#1f77b4"
_ACCENT = "#d62728"
_MUTED = "#7f7f7f"
_CURSOR = "#00e5ff"


def _figure(
    data: list,
    *,
    height: int,
    shapes: list[dict] | None = None,
    annotations: list[dict] | None = None,
    title: str | None = None,
    **layout,
) -> go.Figure:
    """One validated construction: traces plus a plain layout dict."""
    base = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 40 if title else 20, "b": 45},
        "showlegend": False,
        "shapes": shapes or [],
        "annotations": annotations or [],
    }
    if title:
        base["title"] = {"text": title}
    return go.Figure(data=data, layout={**base, **layout})


def _vband(x0: float, x1: float, color: str, opacity: float) -> dict:
    """A shaded band over the whole height of the plot, from x0 to x1 in data units."""
    return {
        "type": "rect",
        "xref": "x",
        "yref": "paper",
        "x0": x0,
        "x1": x1,
        "y0": 0,
        "y1": 1,
        "fillcolor": color,
        "opacity": opacity,
        "line": {"width": 0},
        "layer": "below",
    }


def _vline(x: float, color: str, *, width: float = 2, dash: str = "solid") -> dict:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": color, "width": width, "dash": dash},
    }


def waveform_figure(
    t: np.ndarray,
    y: np.ndarray,
    *,
    exact: bool,
    region: tuple[float, float] | None = None,
    frame_span: tuple[float, float] | None = None,
    height: int = 260,
) -> go.Figure:
    """The waveform, time in seconds; ``t`` and ``y`` have shape (k,).

    ``exact`` draws each sample (with dots when few); otherwise ``y`` is a min/max envelope.
    ``region`` shades the selected time range, ``frame_span`` the current analysis frame.
    """
    mode = "lines+markers" if exact and t.size <= 400 else "lines"
    trace = go.Scatter(
        x=np.asarray(t, dtype=np.float64),
        y=np.asarray(y, dtype=np.float32),
        mode=mode,
        line={"color": _LINE, "width": 1},
        marker={"size": 4},
        hovertemplate="t = %{x:.5f} s<br>x = %{y:.4f}<extra></extra>",
    )
    shapes = []
    if region is not None:
        shapes.append(_vband(region[0], region[1], "#ffbf00", 0.18))
    if frame_span is not None:
        shapes.append(_vband(frame_span[0], frame_span[1], _ACCENT, 0.15))
    return _figure(
        [trace],
        height=height,
        shapes=shapes,
        xaxis={"title": {"text": "time (s)"}},
        yaxis={"title": {"text": "amplitude"}, "range": [-1.05, 1.05]},
    )


def frame_figure(
    *,
    times: np.ndarray,
    raw: np.ndarray,
    window: np.ndarray,
    windowed: np.ndarray,
    freqs: np.ndarray,
    magnitude: np.ndarray,
    height: int = 320,
) -> go.Figure:
    """Three panels: the frame x(n) with the window w(n), x(n) w(n), and |X(k)| in hertz.

    ``times``, ``raw``, ``window`` and ``windowed`` have shape (n_fft,); ``freqs`` and
    ``magnitude`` have shape (1 + n_fft // 2,).
    """
    gap = 0.08
    width = (1.0 - 2 * gap) / 3
    domains = [[i * (width + gap), i * (width + gap) + width] for i in range(3)]
    titles = ("frame x(n) and window w(n)", "windowed frame x(n)·w(n)", "|X(k)|")
    ms = (np.asarray(times) - times[0]) * 1000.0
    line = {"color": _LINE, "width": 1}
    data = [
        go.Scatter(x=ms, y=raw, line=line, name="x(n)", xaxis="x", yaxis="y"),
        go.Scatter(
            x=ms,
            y=window,
            line={"color": _ACCENT, "width": 1.5, "dash": "dash"},
            name="w(n)",
            xaxis="x",
            yaxis="y",
        ),
        go.Scatter(x=ms, y=windowed, line=line, name="x(n)·w(n)", xaxis="x2", yaxis="y2"),
        go.Scatter(
            x=freqs,
            y=magnitude,
            line=line,
            hovertemplate="%{x:.0f} Hz<br>|X| = %{y:.4g}<extra></extra>",
            xaxis="x3",
            yaxis="y3",
        ),
    ]
    axes = {}
    for i, (dom, xt) in enumerate(
        zip(domains, ("ms into the frame", "ms into the frame", "frequency (Hz)"), strict=True)
    ):
        s = "" if i == 0 else str(i + 1)
        axes[f"xaxis{s}"] = {"domain": dom, "anchor": f"y{s}", "title": {"text": xt}}
        axes[f"yaxis{s}"] = {"anchor": f"x{s}", "automargin": True}
    notes = [
        {
            "text": t,
            "x": (d[0] + d[1]) / 2,
            "y": 1.0,
            "xref": "paper",
            "yref": "paper",
            "xanchor": "center",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": 14},
        }
        for t, d in zip(titles, domains, strict=True)
    ]
    return _figure(
        data,
        height=height,
        annotations=notes,
        margin={"l": 50, "r": 20, "t": 40, "b": 45},
        **axes,
    )


def spectrogram_figure(
    Z: np.ndarray,
    *,
    times: np.ndarray,
    y: np.ndarray,
    y_title: str,
    colorbar_title: str,
    log_y: bool = False,
    highlight_time: float | None = None,
    box: tuple[float, float, float, float] | None = None,
    y_ticks: tuple[list[float], list[str]] | None = None,
    height: int = 360,
) -> go.Figure:
    """A spectrogram-like image: rows ``y`` (Hz or band index), columns ``times`` in seconds.

    ``Z`` has shape (len(y), len(times)). ``highlight_time`` draws the current frame's
    column; ``box`` = (t0, t1, y0, y1) outlines a region (e.g. a filter's window).
    """
    heat = go.Heatmap(
        z=np.asarray(Z, dtype=np.float32),
        x=np.asarray(times, dtype=np.float32),
        y=np.asarray(y, dtype=np.float32),
        colorscale=MAGMA,
        colorbar={"title": {"text": colorbar_title}},
        hovertemplate="t = %{x:.3f} s<br>" + y_title + " = %{y:.4g}<br>%{z:.4g}<extra></extra>",
    )
    shapes = []
    if highlight_time is not None:
        shapes.append(_vline(highlight_time, _CURSOR))
    if box is not None:
        t0, t1, y0, y1 = box
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y",
                "x0": t0,
                "x1": t1,
                "y0": y0,
                "y1": y1,
                "line": {"color": _CURSOR, "width": 2},
            }
        )
    yaxis = {"title": {"text": y_title}, "type": "log" if log_y else "linear"}
    if y_ticks is not None:
        yaxis.update(tickvals=list(y_ticks[0]), ticktext=list(y_ticks[1]))
    return _figure(
        [heat],
        height=height,
        shapes=shapes,
        xaxis={"title": {"text": "time (s)"}},
        yaxis=yaxis,
    )


def mel_scale_figure(
    freqs: np.ndarray, htk: np.ndarray, slaney: np.ndarray, *, height: int = 320
) -> go.Figure:
    """Mel value against frequency for the HTK and the Slaney formulas; arrays shape (k,).

    The two scales use different units (HTK reaches about 2840 mel at 8 kHz, Slaney about
    45), so each has its own vertical axis: HTK on the left, Slaney on the right.
    """
    data = [
        go.Scatter(
            x=freqs, y=htk, name="HTK: 2595·log10(1 + f/700), left axis", line={"color": _LINE}
        ),
        go.Scatter(
            x=freqs,
            y=slaney,
            name="Slaney: linear below 1 kHz, log above, right axis",
            line={"color": _ACCENT},
            yaxis="y2",
        ),
    ]
    return _figure(
        data,
        height=height,
        shapes=[_vline(1000, _MUTED, width=1, dash="dot")],
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        margin={"l": 60, "r": 60, "t": 60, "b": 45},
        xaxis={"title": {"text": "frequency (Hz)"}},
        yaxis={"title": {"text": "HTK mel"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "Slaney mel"},
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )


def filterbank_figure(
    fb: np.ndarray, freqs: np.ndarray, *, highlight: int | None = None, height: int = 320
) -> go.Figure:
    """The mel filters as triangles over hertz; ``fb`` (n_mels, n_bins), ``freqs`` (n_bins,).

    All triangles share one trace (gaps between them), so 256 filters draw as fast as 8;
    ``highlight`` redraws one band thick and red.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    gap = np.array([np.nan])
    for row in fb:
        nz = np.flatnonzero(row)
        if nz.size == 0:
            continue
        lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, row.size)
        xs += [freqs[lo:hi], gap]
        ys += [row[lo:hi], gap]
    data = [
        go.Scatter(
            x=np.concatenate(xs) if xs else [],
            y=np.concatenate(ys) if ys else [],
            mode="lines",
            line={"color": _LINE, "width": 1},
            connectgaps=False,
            hovertemplate="%{x:.0f} Hz<br>weight %{y:.4g}<extra></extra>",
        )
    ]
    if highlight is not None and 0 <= highlight < fb.shape[0]:
        row = fb[highlight]
        nz = np.flatnonzero(row)
        if nz.size:
            lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, row.size)
            data.append(
                go.Scatter(
                    x=freqs[lo:hi],
                    y=row[lo:hi],
                    mode="lines",
                    line={"color": _ACCENT, "width": 3},
                    hovertemplate=f"band {highlight}<br>" + "%{x:.0f} Hz<extra></extra>",
                )
            )
    return _figure(
        data,
        height=height,
        xaxis={"title": {"text": "frequency (Hz)"}},
        yaxis={"title": {"text": "weight"}},
    )
