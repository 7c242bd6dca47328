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
