"""Figures of the audio page: pure functions, numbers in, plotly Figure out.

Heatmaps receive float32 arrays so plotly sends them to the browser as binary, and the
caller thins very long spectrograms to a subset of their columns (every value drawn is
still one of the computed values).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

_LINE = "#1f77b4"
_ACCENT = "#d62728"
_MUTED = "#7f7f7f"


def _layout(fig: go.Figure, *, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 40 if title else 20, "b": 45},
        title=title,
        showlegend=False,
        template="plotly_white",
    )
    return fig


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
    fig = go.Figure(
        go.Scatter(
            x=t.astype(np.float64),
            y=y.astype(np.float32),
            mode=mode,
            line={"color": _LINE, "width": 1},
            marker={"size": 4},
            hovertemplate="t = %{x:.5f} s<br>x = %{y:.4f}<extra></extra>",
        )
    )
    if region is not None:
        fig.add_vrect(x0=region[0], x1=region[1], fillcolor="#ffbf00", opacity=0.18, line_width=0)
    if frame_span is not None:
        fig.add_vrect(
            x0=frame_span[0], x1=frame_span[1], fillcolor=_ACCENT, opacity=0.15, line_width=0
        )
    fig.update_xaxes(title="time (s)")
    fig.update_yaxes(title="amplitude", range=[-1.05, 1.05])
    return _layout(fig, height=height)


def frame_figure(
    *,
    times: np.ndarray,
    raw: np.ndarray,
    window: np.ndarray,
    windowed: np.ndarray,
    freqs: np.ndarray,
    magnitude: np.ndarray,
    height: int = 300,
) -> go.Figure:
    """Three panels: the frame x(n) with the window w(n), x(n) w(n), and |X(k)| in hertz.

    ``times``, ``raw``, ``window`` and ``windowed`` have shape (n_fft,); ``freqs`` and
    ``magnitude`` have shape (1 + n_fft // 2,).
    """
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("frame x(n) and window w(n)", "windowed frame x(n)·w(n)", "|X(k)|"),
        horizontal_spacing=0.07,
    )
    ms = (times - times[0]) * 1000.0
    fig.add_trace(go.Scatter(x=ms, y=raw, line={"color": _LINE, "width": 1}), 1, 1)
    fig.add_trace(
        go.Scatter(x=ms, y=window, line={"color": _ACCENT, "width": 1.5, "dash": "dash"}), 1, 1
    )
    fig.add_trace(go.Scatter(x=ms, y=windowed, line={"color": _LINE, "width": 1}), 1, 2)
    fig.add_trace(
        go.Scatter(
            x=freqs,
            y=magnitude,
            line={"color": _LINE, "width": 1},
            hovertemplate="%{x:.0f} Hz<br>|X| = %{y:.4g}<extra></extra>",
        ),
        1,
        3,
    )
    fig.update_xaxes(title_text="ms into the frame", row=1, col=1)
    fig.update_xaxes(title_text="ms into the frame", row=1, col=2)
    fig.update_xaxes(title_text="frequency (Hz)", row=1, col=3)
    return _layout(fig, height=height)


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
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(Z, dtype=np.float32),
            x=np.asarray(times, dtype=np.float32),
            y=np.asarray(y, dtype=np.float32),
            colorscale="Magma",
            colorbar={"title": {"text": colorbar_title}},
            hovertemplate="t = %{x:.3f} s<br>" + y_title + " = %{y:.4g}<br>%{z:.4g}<extra></extra>",
        )
    )
    if highlight_time is not None:
        fig.add_vline(x=highlight_time, line={"color": "#00e5ff", "width": 2})
    if box is not None:
        t0, t1, y0, y1 = box
        fig.add_shape(
            type="rect", x0=t0, x1=t1, y0=y0, y1=y1, line={"color": "#00e5ff", "width": 2}
        )
    fig.update_xaxes(title="time (s)")
    fig.update_yaxes(title=y_title, type="log" if log_y else "linear")
    if y_ticks is not None:
        fig.update_yaxes(tickvals=y_ticks[0], ticktext=y_ticks[1])
    return _layout(fig, height=height)


def mel_scale_figure(
    freqs: np.ndarray, htk: np.ndarray, slaney: np.ndarray, *, height: int = 320
) -> go.Figure:
    """Mel value against frequency for the HTK and the Slaney formulas; arrays shape (k,)."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=freqs, y=htk, name="HTK: 2595·log10(1 + f/700)", line={"color": _LINE})
    )
    fig.add_trace(
        go.Scatter(
            x=freqs, y=slaney, name="Slaney: linear below 1 kHz, log above", line={"color": _ACCENT}
        )
    )
    fig.add_vline(x=1000, line={"color": _MUTED, "dash": "dot"})
    fig.update_xaxes(title="frequency (Hz)")
    fig.update_yaxes(title="mel")
    _layout(fig, height=height)
    fig.update_layout(showlegend=True, legend={"x": 0.02, "y": 0.98})
    return fig


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
    fig = go.Figure(
        go.Scatter(
            x=np.concatenate(xs) if xs else [],
            y=np.concatenate(ys) if ys else [],
            mode="lines",
            line={"color": _LINE, "width": 1},
            connectgaps=False,
            hovertemplate="%{x:.0f} Hz<br>weight %{y:.4g}<extra></extra>",
        )
    )
    if highlight is not None and 0 <= highlight < fb.shape[0]:
        row = fb[highlight]
        nz = np.flatnonzero(row)
        if nz.size:
            lo, hi = max(nz[0] - 1, 0), min(nz[-1] + 2, row.size)
            fig.add_trace(
                go.Scatter(
                    x=freqs[lo:hi],
                    y=row[lo:hi],
                    mode="lines",
                    line={"color": _ACCENT, "width": 3},
                    hovertemplate=f"band {highlight}<br>" + "%{x:.0f} Hz<extra></extra>",
                )
            )
    fig.update_xaxes(title="frequency (Hz)")
    fig.update_yaxes(title="weight")
    return _layout(fig, height=height)
