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
