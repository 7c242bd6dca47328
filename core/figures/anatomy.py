"""Figures for the anatomy of architectures: the ResNet block, side-by-side costs, parameters.

Pure functions: numbers from core.explain.summary in, plotly Figure out.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def resnet_block_figure(*, projection: bool = False, stride: int = 1) -> go.Figure:
    """The ResNet basic block as boxes: the main path along the bottom, the skip path above.

    Parameters
    ----------
    projection : bool
        Draw the skip path as a 1×1 convolution + BatchNorm (used when the block changes the
        channel count or the stride) instead of the identity.
    """
    # two short lines per box: the block is often drawn in half a page's width
    stages = [
        ("x", "#dfe6ee"),
        (f"conv<br>3×3{'<br>stride ' + str(stride) if stride != 1 else ''}", "#9ecae1"),
        ("Batch<br>Norm", "#c7e9c0"),
        ("ReLU", "#fdd0a2"),
        ("conv<br>3×3", "#9ecae1"),
        ("Batch<br>Norm", "#c7e9c0"),
        ("+", "#f2a541"),
        ("ReLU", "#fdd0a2"),
        ("out", "#dfe6ee"),
    ]
    fig = go.Figure()
    w = 0.8
    for i, (label, color) in enumerate(stages):
        fig.add_shape(type="rect", x0=i - w / 2, x1=i + w / 2, y0=-0.36, y1=0.36,
                      fillcolor=color, line=dict(color="#555"))  # fmt: skip
        fig.add_annotation(x=i, y=0, text=f"<b>{label}</b>", showarrow=False, font=dict(size=12))
        if i:
            fig.add_annotation(x=i - w / 2, y=0, ax=i - 1 + w / 2, ay=0, xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=2, text="")  # fmt: skip
    plus = 6
    skip = "1×1 conv + BatchNorm (matches shape)" if projection else "identity: x itself"
    fig.add_shape(type="path", path=f"M 0,0.36 C 0,1.3 {plus},1.3 {plus},0.38",
                  line=dict(color="#c0392b", width=3, dash="dot" if projection else "solid"))  # fmt: skip
    fig.add_annotation(x=plus, y=0.36, ax=plus, ay=0.8, xref="x", yref="y", axref="x",
                       ayref="y", showarrow=True, arrowhead=2, arrowcolor="#c0392b", text="")  # fmt: skip
    fig.add_annotation(x=plus / 2, y=1.15, text=f"skip path: {skip}", showarrow=False,
                       font=dict(color="#c0392b", size=13))  # fmt: skip
    fig.update_xaxes(visible=False, range=[-0.6, len(stages) - 0.4])
    fig.update_yaxes(visible=False, range=[-0.5, 1.4])
    fig.update_layout(height=230, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white")
    return fig


def compare_figure(summaries: dict) -> go.Figure:
    """Parameters and mult-adds of several summaries, side by side (log scale)."""
    names = list(summaries)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("parameters", "mult-adds"))
    colors = ["#1f77b4", "#f2a541", "#2ca02c", "#c0392b"]
    params = [summaries[n].torch_params for n in names]
    macs = [summaries[n].mult_adds for n in names]
    fig.add_trace(go.Bar(x=names, y=params, marker_color=colors[: len(names)],
                         text=[f"{v:,}" for v in params], textposition="auto"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=names, y=macs, marker_color=colors[: len(names)],
                         text=[f"{v:,}" for v in macs], textposition="auto"), row=1, col=2)  # fmt: skip
    fig.update_yaxes(type="log")
    fig.update_layout(showlegend=False, height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def params_per_layer_figure(summary) -> go.Figure:
    """Parameters (PyTorch count) of each layer of a summary as horizontal bars."""
    rows = [r for r in summary.rows if r.torch_params]
    fig = go.Figure(
        go.Bar(
            y=[f"{r.name} ({r.type})" for r in rows],
            x=[r.torch_params for r in rows],
            orientation="h",
            marker_color="#1f77b4",
            hovertemplate="%{y}: %{x:,} parameters<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        xaxis_title="parameters",
        height=max(220, 22 * len(rows) + 80),
        margin=dict(l=10, r=10, t=20, b=10),
    )
    return fig


def fc_vs_conv_figure(result: dict) -> go.Figure:
    """Weights of the dense stack against the one conv layer (log scale)."""
    fig = go.Figure(
        go.Bar(
            x=["dense layers", "one conv layer"],
            y=[result["fc_total"], result["conv_total"]],
            marker_color=["#c0392b", "#2ca02c"],
            text=[f"{result['fc_total']:,}", f"{result['conv_total']:,}"],
            textposition="auto",
        )
    )
    fig.update_yaxes(type="log", title="weights")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=20, b=10))
    return fig
