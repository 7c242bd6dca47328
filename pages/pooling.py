"""Pooling, step by step: max and average pooling on numbers you type."""

import numpy as np
import streamlit as st

from core.errors import UserInputError
from core.explain import conv, presets
from core.explain.frames import step_frames
from core.explain.torch_ref import check_pool
from pages import _url as U
from pages._instant import export_buttons, instant_stepper
from pages._router import ensure_router
from pages._shared import (
    controls,
    end_page,
    init_state,
    matrix_input,
    remember,
    set_matrix,
    show_check,
)

ensure_router()

st.title("Pooling")
st.markdown(
    "A pooling layer shrinks each feature map on its own, channel by channel. A window slides "
    "over the map exactly as a convolution's would, but instead of weights it applies a fixed "
    "rule: **max pooling** keeps the largest value in the window, **average pooling** their "
    "mean. It has no parameters to learn. With a 2×2 window and stride 2 each map loses three "
    "quarters of its cells, and every unit after it sees a larger part of the input."
)


def load_preset() -> None:
    p = presets.POOL_PRESETS[st.session_state.pool_preset]
    set_matrix("pool_x_0", p["input"])
    for c in range(1, st.session_state.pool_channels):
        set_matrix(f"pool_x_{c}", np.rot90(p["input"], c))
    st.session_state.update(
        pool_mode="max" if p["mode"] == "max" else "average",
        pool_size=p["size"],
        pool_stride=p["stride"],
        pool_pad=p["padding"],
        pool_dil=1,
        pool_step=1,
        pool_playing=False,
    )


def channels_changed() -> None:
    for c in range(st.session_state.pool_channels):
        if not st.session_state.get(f"pool_x_{c}", "").strip():
            try:
                m = conv.parse_matrix(
                    st.session_state.get("pool_x_0", "0"), max_rows=99, max_cols=99
                )
            except UserInputError:
                m = np.zeros((4, 4))
            set_matrix(f"pool_x_{c}", np.rot90(m, c))


init_state(
    {
        "pool_preset": next(iter(presets.POOL_PRESETS)),
        "pool_channels": 1,
        "pool_include_pad": True,
        "pool_channel_shown": 1,
    }
)
if "pool_x_0" not in st.session_state:
    load_preset()

FIRST = presets.POOL_PRESETS[next(iter(presets.POOL_PRESETS))]


def url_settings() -> list[U.Setting]:
    """What this page's link carries."""
    n = st.session_state.get("pool_channels", 1)
    return [
        U.choice("pool_preset", list(presets.POOL_PRESETS), next(iter(presets.POOL_PRESETS))),
        U.integer("pool_channels", 1, 3, 1),
        *[U.matrix(f"pool_x_{c}", None) for c in range(n)],
        U.choice("pool_mode", ["max", "average"], "max" if FIRST["mode"] == "max" else "average"),
        U.integer("pool_size", 0, 8, FIRST["size"]),
        U.integer("pool_stride", 0, 8, FIRST["stride"]),
        U.integer("pool_pad", 0, 4, FIRST["padding"]),
        U.integer("pool_dil", 0, 4, 1),
        U.flag("pool_include_pad", True),
        U.integer("pool_channel_shown", 1, 3, 1),
        U.integer("pool_step", 1, 10_000, 1),
    ]


U.sync(url_settings)
if any(f"pool_x_{c}" not in st.session_state for c in range(st.session_state.pool_channels)):
    channels_changed()  # a link with more channels than matrices: fill them as the page does

with controls():
    top = st.columns([3, 1, 1])
    top[0].selectbox(
        "Preset",
        list(presets.POOL_PRESETS),
        persist_state="session",
        key="pool_preset",
        on_change=load_preset,
    )
    top[1].number_input(
        "Channels",
        1,
        3,
        persist_state="session",
        key="pool_channels",
        on_change=channels_changed,
        help="Pooling treats each channel separately: C channels in, C channels out.",
    )
    n_ch = st.session_state.pool_channels
    cols = st.columns(n_ch + 1)
    xs = []
    for c in range(n_ch):
        with cols[c]:
            suffix = f" (channel {c + 1})" if n_ch > 1 else ""
            xs.append(matrix_input(f"Input{suffix}", f"pool_x_{c}", name=f"input{suffix}"))
    with cols[-1]:
        st.radio(
            "Pooling", ["max", "average"], persist_state="session", key="pool_mode", horizontal=True
        )
        hp = st.columns(4)
        hp[0].number_input("Window", 0, 8, persist_state="session", key="pool_size")
        hp[1].number_input("Stride", 0, 8, persist_state="session", key="pool_stride")
        hp[2].number_input("Padding", 0, 4, persist_state="session", key="pool_pad")
        is_max = st.session_state.pool_mode == "max"
        hp[3].number_input(
            "Dilation", 0, 4, persist_state="session", key="pool_dil", disabled=not is_max
        )
        st.checkbox(
            "Average counts padding cells",
            persist_state="session",
            key="pool_include_pad",
            disabled=is_max,
            help="PyTorch's count_include_pad: divide by the whole window, or only by the real cells in it.",
        )

result = None
if all(m is not None for m in xs):
    try:
        x = conv.stack_channels(xs, what="channel")  # (C, H, W)
        size, stride, pad = (
            st.session_state.pool_size,
            st.session_state.pool_stride,
            st.session_state.pool_pad,
        )
        if is_max:
            result = conv.max_pool2d(
                x, size, stride=stride, padding=pad, dilation=st.session_state.pool_dil
            )
        else:
            result = conv.avg_pool2d(
                x,
                size,
                stride=stride,
                padding=pad,
                count_include_pad=st.session_state.pool_include_pad,
            )
        remember("pool_last_good", (x, result))
    except UserInputError as err:
        st.error(str(err), icon=":material/error:")
if result is None:
    if remember("pool_last_good") is None:
        end_page()
    st.info("Showing the last settings that worked until the problem above is fixed.")
x, result = remember("pool_last_good")

st.subheader("Output size")
axes = result.axes()
st.latex(conv.size_formula_latex(axes[0], r"o_{\text{rows}}"))
st.latex(conv.size_formula_latex(axes[1], r"o_{\text{cols}}"))
st.caption(
    "The same formula as for a convolution, with the pooling window as the kernel. "
    + conv.size_note(axes[0])
    + " "
    + conv.size_note(axes[1])
)
if is_max and result.pads[0][0]:
    st.caption("Max pooling pads with −∞, so a padding cell can never win.")

st.subheader("Step by step")
if n_ch > 1:
    st.radio(
        "Channel shown",
        list(range(1, n_ch + 1)),
        persist_state="session",
        key="pool_channel_shown",
        horizontal=True,
    )
channel = min(st.session_state.pool_channel_shown, n_ch) - 1


if is_max:
    st.caption("The winner of each window is outlined in red.")
pool_frames = step_frames(result, filt=channel)
instant_stepper("pool", pool_frames)
export_buttons("pool", pool_frames, name=f"{'max' if is_max else 'average'}-pooling")

st.subheader("Global average pooling")
gap = conv.global_avg_pool(x)
st.markdown(
    "Many modern networks end with **global average pooling**: one window as large as the whole "
    "map, so each channel becomes a single number, its mean. Here: "
    + ", ".join(f"channel {i + 1} → **{conv._num(v)}**" for i, v in enumerate(gap))
    + f" (an output of shape ({len(gap)},) whatever the input size)."
)

if st.button("Check against PyTorch", key="pool_check"):
    with st.spinner("Loading PyTorch…"):
        chk = check_pool(
            x,
            result.output,
            kind=result.kind,
            kernel_size=result.kernel_size,
            stride=result.stride,
            padding=result.pads[0][0]
            if result.pads[0][0] == result.pads[1][0]
            else (result.pads[0][0], result.pads[1][0]),
            dilation=result.dilation,
            count_include_pad=st.session_state.pool_include_pad,
        )
    show_check(chk)
