"""Figure builders: plain data in, plotly Figure out. One module per topic.

Nothing here computes what a page teaches (core.explain.conv, core.audio, ... do that) and nothing
here imports streamlit.
"""

ACCENT = "#d9480f"  # the current window, the current output cell
PAD_FILL = "#dbeafe"  # cells added by padding
SKIP_FILL = "rgba(120,120,120,0.35)"  # rows/columns no window visits
FONT = "DejaVu Sans, Arial, sans-serif"


def font_size(presenter: bool) -> int:
    """Base text size of figures: larger in presenter mode, for a projector."""
    return 20 if presenter else 13


# Magma, with its first stop "#000004" moved to "#010106": Streamlit's chart theme uses colours
# #000001..#000040 as placeholders and swaps them for theme colours in the browser, which
# painted the quietest cells (silence, padding) pink. Every log-mel in the app uses this scale.
MAGMA = [
    [i / 9, c]
    for i, c in enumerate(
        ["#010106", "#180f3d", "#440f76", "#721f81", "#9e2f7f"]
        + ["#cd4071", "#f1605d", "#fd9668", "#feca8d", "#fcfdbf"]
    )
]


PROJECTOR_SCALE = 1.5  # how much larger figure text is drawn for a lecture hall
PROJECTOR_BASE = 22  # px: axis labels, ticks and legends in presenter mode
PROJECTOR_MIN_CELL = 24  # px: the numbers written in matrix cells


def for_projector(fig):
    """The same figure with its text readable from the back of a hall (presenter mode).

    The base font (axis titles, ticks, legends) is at least ``PROJECTOR_BASE`` px; text
    given its own size (annotations, numbers written in cells) grows by ``PROJECTOR_SCALE``,
    cell numbers to at least ``PROJECTOR_MIN_CELL`` px where they were the figure's largest;
    a fixed height grows with the text. The figure passed in is not changed.
    """
    import re

    import plotly.graph_objects as go

    fig = go.Figure(fig)
    fig.update_layout(font_size=max(PROJECTOR_BASE, fig.layout.font.size or 0))
    for a in fig.layout.annotations:
        if a.font.size:
            a.font.size = max(PROJECTOR_BASE - 2, round(a.font.size * PROJECTOR_SCALE))
    sizes = [t.textfont.size for t in fig.data if getattr(t, "textfont", None) and t.textfont.size]
    largest = max(sizes, default=None)
    for t in fig.data:
        tf = getattr(t, "textfont", None)
        if tf is None or not tf.size:
            continue
        size = round(tf.size * PROJECTOR_SCALE)
        tf.size = max(size, PROJECTOR_MIN_CELL) if tf.size == largest else size
    # Streamlit's chart theme sizes tick labels and axis titles itself, over the base font:
    # so every axis, the legend and the colour bars get their sizes written out.
    axes = [k for k in fig.layout.to_plotly_json() if re.fullmatch(r"[xy]axis\d*", k)]
    for name in axes or ["xaxis", "yaxis"]:
        axis = fig.layout[name]
        axis.tickfont.size = max(axis.tickfont.size or 0, PROJECTOR_BASE - 4)
        axis.title.font.size = max(axis.title.font.size or 0, PROJECTOR_BASE)
    fig.layout.legend.font.size = max(fig.layout.legend.font.size or 0, PROJECTOR_BASE - 2)
    for t in fig.data:
        bar = getattr(t, "colorbar", None)
        if bar is not None:
            bar.tickfont.size = max(bar.tickfont.size or 0, PROJECTOR_BASE - 4)
    if fig.layout.height:
        fig.layout.height = round(fig.layout.height * 1.3)
    return fig
