"""A convolution or pooling, step by step, as pictures for slides: one PNG per step, or a GIF.

Drawn with Pillow from the same data as the page's step player (core.explain.frames), so a
slide shows exactly what the page shows: the padded input with its padding hatched, the
window and (max pooling) its winner, the kernel, the output filled up to the step, and the
step's arithmetic.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from core.errors import UserInputError

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
MAX_FRAMES = 400  # a GIF of more steps would be too long to watch and too large to share
MAX_GIF_BYTES = 20_000_000

CELL, GAP, MARGIN = 56, 4, 28
COLOURS = {
    "cell": (231, 240, 253), "pad": (251, 243, 220), "pad_line": (176, 137, 0),
    "win": (255, 216, 168), "win_line": (217, 72, 15), "kernel": (211, 249, 216),
    "out": (243, 244, 246), "done": (255, 255, 255), "now": (255, 224, 102),
    "text": (31, 36, 48), "muted": (110, 110, 110), "best": (201, 42, 42),
}  # fmt: skip


def _font(size: int, mono: bool = False):
    name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(FONT_DIR / name), size)
    except OSError:
        return ImageFont.load_default(size=size)


def _grid_size(rows: int, cols: int) -> tuple[int, int]:
    return cols * (CELL + GAP) - GAP, rows * (CELL + GAP) - GAP


def _dashed_rect(draw, box, colour, dash: int = 6) -> None:
    x0, y0, x1, y1 = box
    for x in range(x0, x1, 2 * dash):
        draw.line([(x, y0), (min(x + dash, x1), y0)], fill=colour, width=2)
        draw.line([(x, y1), (min(x + dash, x1), y1)], fill=colour, width=2)
    for y in range(y0, y1, 2 * dash):
        draw.line([(x0, y), (x0, min(y + dash, y1))], fill=colour, width=2)
        draw.line([(x1, y), (x1, min(y + dash, y1))], fill=colour, width=2)


def cell_box(origin: tuple[int, int], r: int, c: int) -> tuple[int, int, int, int]:
    """The pixel box of cell (r, c) of a grid drawn at ``origin``."""
    x, y = origin[0] + c * (CELL + GAP), origin[1] + r * (CELL + GAP)
    return x, y, x + CELL, y + CELL


class _Layout:
    """Where each grid of one operation sits; the same for every step."""

    def __init__(self, frames: dict) -> None:
        self.frames = frames
        title_h = 30
        x, top = MARGIN, MARGIN + title_h
        self.inputs, self.kernels = [], []
        heights = []
        for g in frames["inputs"]:
            w, h = _grid_size(len(g["values"]), len(g["values"][0]))
            self.inputs.append((x, top))
            x += w + 2 * MARGIN
            heights.append(h)
        for k in frames["kernels"]:
            w, h = _grid_size(len(k), len(k[0]))
            self.kernels.append((x, top))
            x += w + 2 * MARGIN
            heights.append(h)
        out = frames["output"]
        w, h = _grid_size(len(out), len(out[0]))
        self.output = (x, top)
        heights.append(h)
        self.width = x + w + MARGIN
        self.eq_top = top + max(heights) + MARGIN
        self.eq_font = _font(26, mono=True)
        longest = max(len(line) for s in frames["steps"] for line in s["eq"].splitlines())
        self.width = max(self.width, MARGIN * 2 + int(longest * 16.5))
        lines = max(len(s["eq"].splitlines()) for s in frames["steps"])
        self.height = self.eq_top + 34 * (lines + 1) + MARGIN


def _draw_grid(draw, origin, values, pad, font, fill, lit=(), best=None, line=None):
    for r, row in enumerate(values):
        for c, v in enumerate(row):
            box = cell_box(origin, r, c)
            is_pad = bool(pad and pad[r][c])
            colour = COLOURS["win"] if (r, c) in lit else COLOURS["pad"] if is_pad else fill
            draw.rectangle(box, fill=colour)
            if is_pad:
                _dashed_rect(
                    draw, box, COLOURS["win_line"] if (r, c) in lit else COLOURS["pad_line"]
                )
            elif (r, c) in lit:
                draw.rectangle(box, outline=COLOURS["win_line"], width=3)
            if line is not None and (r, c) == line[0]:
                draw.rectangle(box, outline=line[1], width=3)
            if best == (r, c):
                draw.rectangle(box, outline=COLOURS["best"], width=4)
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), v, font=font,
                      fill=COLOURS["best"] if best == (r, c) else COLOURS["text"], anchor="mm")  # fmt: skip


def render_step(frames: dict, i: int, layout: _Layout | None = None) -> Image.Image:
    """Step ``i`` (0-based) of ``frames`` (core.explain.frames.step_frames) as an RGB image."""
    steps = frames["steps"]
    if not 0 <= i < len(steps):
        raise UserInputError(f"Step {i + 1} does not exist: this operation has {len(steps)}.")
    lay = layout or _Layout(frames)
    img = Image.new("RGB", (lay.width, lay.height), "white")
    draw = ImageDraw.Draw(img)
    cell_font, title_font = _font(20), _font(20)
    s = steps[i]
    lit = {(r, c) for r in s["rows"] for c in s["cols"]}
    best = (s["rows"][s["win"][0]], s["cols"][s["win"][1]]) if s["win"] else None
    many = len(frames["inputs"]) > 1
    for k, (g, origin) in enumerate(zip(frames["inputs"], lay.inputs, strict=True)):
        title = f"input, channel {k + 1}" if many else "input (padded)"
        draw.text((origin[0], origin[1] - 28), title, font=title_font, fill=COLOURS["muted"])
        _draw_grid(draw, origin, g["values"], g["pad"], cell_font, COLOURS["cell"], lit, best)
    for k, (kern, origin) in enumerate(zip(frames["kernels"], lay.kernels, strict=True)):
        title = f"kernel, channel {k + 1}" if len(frames["kernels"]) > 1 else "kernel"
        draw.text((origin[0], origin[1] - 28), title, font=title_font, fill=COLOURS["muted"])
        _draw_grid(draw, origin, kern, None, cell_font, COLOURS["kernel"])
    done = {tuple(t["out"]) for t in steps[:i]}
    shown = [[v if (r, c) in done or (r, c) == tuple(s["out"]) else ""
              for c, v in enumerate(row)] for r, row in enumerate(frames["output"])]  # fmt: skip
    draw.text((lay.output[0], lay.output[1] - 28), "output", font=title_font,
              fill=COLOURS["muted"])  # fmt: skip
    for r, row in enumerate(shown):
        for c, _ in enumerate(row):
            colour = (COLOURS["now"] if (r, c) == tuple(s["out"])
                      else COLOURS["done"] if (r, c) in done else COLOURS["out"])  # fmt: skip
            draw.rectangle(
                cell_box(lay.output, r, c), fill=colour, outline=(173, 181, 189), width=2
            )
    _draw_grid(draw, lay.output, shown, None, cell_font, None,
               line=(tuple(s["out"]), COLOURS["win_line"]))  # fmt: skip
    draw.text((MARGIN, lay.eq_top), f"Step {i + 1} of {len(steps)}", font=title_font,
              fill=COLOURS["muted"])  # fmt: skip
    for n, text in enumerate(s["eq"].splitlines()):
        draw.text((MARGIN, lay.eq_top + 34 * (n + 1)), text, font=lay.eq_font, fill=COLOURS["text"])
    return img


def step_png(frames: dict, i: int) -> bytes:
    """Step ``i`` (0-based) as PNG bytes."""
    buf = io.BytesIO()
    render_step(frames, i).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def steps_gif(frames: dict, *, ms_per_step: int = 700) -> bytes:
    """Every step as an animated GIF (looping), ``ms_per_step`` per frame."""
    n = len(frames["steps"])
    if n > MAX_FRAMES:
        raise UserInputError(
            f"This operation has {n} steps; an animation holds at most {MAX_FRAMES}. Use a "
            "smaller input or a larger stride, or download single steps as PNG."
        )
    lay = _Layout(frames)
    images = [render_step(frames, i, lay) for i in range(n)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=ms_per_step, loop=0, optimize=True)  # fmt: skip
    data = buf.getvalue()
    if len(data) > MAX_GIF_BYTES:
        raise UserInputError("The animation came out too large to download; use fewer steps.")
    return data
