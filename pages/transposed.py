"""Transposed convolution, stamp by stamp: the up-sampling layer of decoders and generators."""

import numpy as np
import streamlit as st

from core.errors import UserInputError
from core.explain import conv
from core.explain import transposed as T
from core.explain.frames import step_frames
from core.explain.torch_ref import check_conv_transpose
from pages import _url as U
from pages._instant import instant_stepper
from pages._router import ensure_router
from pages._scatter import scatter_stepper
from pages._shared import (
    controls,
    count,
    end_page,
    init_state,
    matrix_input,
    remember,
    set_matrix,
    show_check,
)

ensure_router()

st.title("Transposed convolution")
st.markdown(
    "A convolution with stride 2 halves a map; decoders, segmentation networks and generators "
    "need the way back up. A **transposed convolution** runs a convolution's arithmetic in "
    "reverse: instead of gathering a window into one output cell, every **input** cell "
    "**stamps** a copy of the kernel, scaled by its own value, onto the output, `stride` cells "
    "further on for each step along the input. Where stamps overlap they add up. **Padding** "
    "then crops cells from the edges (it undoes the padding of the convolution this one "
    "reverses), and **output padding** gives cells back at the end, because a strided "
    "convolution maps several input sizes to one output size and this layer must be told "
    "which to return. It is `nn.ConvTranspose2d` in PyTorch, sometimes (wrongly) called "
    "deconvolution: it undoes the shape of a convolution, not its values."
)

PRESETS = {
    "Double the size: 3×3 kernel, stride 2, padding 1, output padding 1": dict(
        x=np.array([[1, 2, 0], [0, 1, 3], [2, 0, 1]]), k=np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]),
        stride=2, padding=1, output_padding=1, dilation=1),
    "Up-sample 2×2 → 4×4: 2×2 kernel, stride 2 (no overlap)": dict(
        x=np.array([[1, 2], [3, 4]]), k=np.array([[1, 1], [1, 1]]), stride=2, padding=0,
        output_padding=0, dilation=1),
    "Stride 1: overlapping stamps (a 'full' convolution)": dict(
        x=np.array([[1, 0], [0, 2]]), k=np.array([[1, 2], [3, 4]]), stride=1, padding=0,
        output_padding=0, dilation=1),
    "Checkerboard: 3×3 kernel, stride 2 (uneven overlap)": dict(
        x=np.ones((3, 3)), k=np.ones((3, 3)), stride=2, padding=0, output_padding=0, dilation=1),
}  # fmt: skip
FIRST = next(iter(PRESETS))


def load_preset() -> None:
    p = PRESETS[st.session_state.tconv_preset]
    set_matrix("tconv_x", p["x"])
    set_matrix("tconv_k", p["k"])
    st.session_state.update(
        tconv_stride=p["stride"],
        tconv_pad=p["padding"],
        tconv_outpad=p["output_padding"],
        tconv_dil=p["dilation"],
        tconv_bias=0.0,
        tconv_step=1,
        tconv_eq_step=1,
    )


init_state({"tconv_preset": FIRST})
if "tconv_x" not in st.session_state:
    load_preset()


def url_settings() -> list[U.Setting]:
    """What this page's link carries."""
    p = PRESETS[FIRST]
    return [
        U.choice("tconv_preset", list(PRESETS), FIRST),
        U.matrix("tconv_x", conv.format_matrix(p["x"]), max_rows=T.MAX_INPUT, max_cols=T.MAX_INPUT),
        U.matrix(
            "tconv_k", conv.format_matrix(p["k"]), max_rows=T.MAX_KERNEL, max_cols=T.MAX_KERNEL
        ),  # fmt: skip
        U.integer("tconv_stride", 1, T.MAX_STRIDE, p["stride"]),
        U.integer("tconv_pad", 0, T.MAX_PADDING, p["padding"]),
        U.integer("tconv_outpad", 0, T.MAX_STRIDE, p["output_padding"]),
        U.integer("tconv_dil", 1, T.MAX_DILATION, p["dilation"]),
        U.number("tconv_bias", -conv.MAX_ABS, conv.MAX_ABS, 0.0),
        U.integer("tconv_step", 1, T.MAX_INPUT**2, 1),
        U.integer("tconv_eq_step", 1, 4096, 1),
    ]


U.sync(url_settings)

with controls():
    st.selectbox(
        "Preset", list(PRESETS), key="tconv_preset", persist_state="session", on_change=load_preset
    )
    c = st.columns([2, 2, 3])
    with c[0]:
        x = matrix_input("Input", "tconv_x", name="input", max_rows=T.MAX_INPUT,
                         max_cols=T.MAX_INPUT, height=130)  # fmt: skip
    with c[1]:
        k = matrix_input("Kernel", "tconv_k", name="kernel", max_rows=T.MAX_KERNEL,
                         max_cols=T.MAX_KERNEL, height=130)  # fmt: skip
    with c[2]:
        hp = st.columns(2)
        hp[0].number_input("Stride", 1, T.MAX_STRIDE, key="tconv_stride", persist_state="session")
        hp[1].number_input("Padding", 0, T.MAX_PADDING, key="tconv_pad", persist_state="session",
                           help="Cells cropped from each edge of the stamps.")  # fmt: skip
        hp[0].number_input(
            "Output padding",
            0,
            T.MAX_STRIDE,
            key="tconv_outpad",
            persist_state="session",
            help="Cells given back at the bottom and right; smaller than the stride or the "
            "dilation.",
        )
        hp[1].number_input("Dilation", 1, T.MAX_DILATION, key="tconv_dil", persist_state="session")
        st.number_input(
            "Bias", -conv.MAX_ABS, conv.MAX_ABS, step=0.5, key="tconv_bias", persist_state="session"
        )

S = st.session_state
result = None
if x is not None and k is not None:
    try:
        result = T.conv_transpose2d(x, k, S.tconv_bias, stride=S.tconv_stride, padding=S.tconv_pad,
                                    output_padding=S.tconv_outpad, dilation=S.tconv_dil)  # fmt: skip
        remember("tconv_last_good", result)
    except UserInputError as err:
        st.error(str(err), icon=":material/error:")
if result is None:
    if remember("tconv_last_good") is None:
        end_page()
    st.info("Showing the last settings that worked until the problem above is fixed.")
result = remember("tconv_last_good")

st.subheader("Output size")
st.latex(result.rows.formula_latex(r"o_{\text{rows}}"))
st.latex(result.cols.formula_latex(r"o_{\text{cols}}"))
st.caption(
    f"{result.rows.note()} {result.cols.note()} With padding p, stride s and the same kernel, "
    "a convolution of this output gives back the input's size: the transposed convolution "
    "reverses the shape."
)

st.subheader("Stamp by stamp")
scatter_stepper("tconv", T.step_frames(result))

st.subheader("The same numbers from an ordinary convolution")
eq = T.as_convolution(result)
st.markdown(
    f"Put **{count(result.rows.stride - 1, 'zero')}** between the input's rows and "
    f"**{result.cols.stride - 1}** between its columns, pad by d·(k − 1) − p "
    f"(= {eq.pads[0][0]} above and {eq.pads[1][0]} left, plus the output padding below and "
    "right), turn the kernel by 180 degrees, and slide it with stride 1: every output cell is "
    "the same. This is how libraries often compute it, and why the layer has its name (its "
    "matrix is the transpose of the convolution's)."
    + (
        " Here the padding is larger than d·(k − 1), so the zero-inserted input is cropped instead."
        if any(a or b for a, b in eq.crop)
        else ""
    )  # fmt: skip
)
try:
    same = conv.conv2d(eq.zero_inserted[None], eq.flipped[None, None], np.array([result.bias]),
                       padding=eq.pads, dilation=eq.dilation)  # fmt: skip
    instant_stepper("tconv_eq", step_frames(same))
except UserInputError as err:
    st.info(str(err))

if st.button("Check against PyTorch", key="tconv_check"):
    with st.spinner("Loading PyTorch…"):
        chk = check_conv_transpose(result.x, result.kernel, result.bias, result.output,
                                   stride=S.tconv_stride, padding=S.tconv_pad,
                                   output_padding=S.tconv_outpad, dilation=S.tconv_dil)  # fmt: skip
    show_check(chk)
