"""Convolution, step by step: 2-D on numbers you type, on a picture, and 1-D on a signal."""

import contextlib

import numpy as np
import streamlit as st

from core.data.images import EXAMPLES, load_example, load_picture
from core.errors import UserInputError
from core.explain import conv, presets, signals
from core.explain.frames import step_frames
from core.explain.torch_ref import check_conv
from core.figures import conv as figs
from pages import _url as U
from pages._instant import export_buttons, instant_stepper
from pages._router import ensure_router
from pages._shared import (
    chart,
    controls,
    end_page,
    init_state,
    matrix_input,
    presenter,
    remember,
    set_matrix,
    show_check,
    stepper,
)

ensure_router()

st.title("Convolution")
st.markdown(
    "A convolutional layer slides a small **kernel** over its input. At every position it "
    "multiplies each kernel weight by the input value under it, adds the products up (plus a "
    "bias), and writes that one number into the output, the **feature map**. Then the window "
    "moves on by the **stride**. **Padding** adds a border around the input first; **dilation** "
    "spreads the kernel's cells apart. PyTorch, like most libraries, does not flip the kernel "
    "(strictly this is cross-correlation), and neither does this page."
)

# the tab on screen travels in the link: read before the tabs are drawn (a widget's value
# cannot be set once it is), named by U.sync if refused
TABS = {"2-D convolution": "2d", "On a picture": "picture", "1-D convolution": "1d"}
TAB = U.choice("conv_tab", list(TABS), next(iter(TABS)), names=TABS)
if st.session_state.get(U.EXTERNAL, True) and "conv_tab" in st.query_params:
    with contextlib.suppress(ValueError):
        st.session_state.conv_tab = TAB.read(st.query_params["conv_tab"])
tab2d, tabpic, tab1d = st.tabs(list(TABS), key="conv_tab", on_change="rerun")

MODES = {
    "zeros": "zeros",
    "constant (e.g. the textbook's one-padding)": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def load_preset() -> None:
    p = presets.conv_preset(
        st.session_state.conv_preset,
        rows=st.session_state.conv_rows,
        cols=st.session_state.conv_cols,
        krows=st.session_state.conv_krows,
        kcols=st.session_state.conv_kcols,
        seed=int(np.random.default_rng().integers(1 << 30)),
    )
    for c in range(st.session_state.conv_channels):
        set_matrix(f"conv_x_{c}", p["input"] if c == 0 else np.rot90(p["input"], c))
        kernel = p["kernel"] if c == 0 else np.eye(*p["kernel"].shape)
        st.session_state[f"conv_k_{c}"] = (
            presets.KERNEL_TEXT.get(st.session_state.conv_preset, conv.format_matrix(kernel))
            if c == 0
            else conv.format_matrix(kernel)
        )
    for f in range(1, MAX_FILTERS):  # other filters are made anew from the preset's kernel
        for c in range(3):
            st.session_state.pop(kernel_key(f, c), None)
    st.session_state.update(
        conv_stride_h=1,
        conv_stride_w=1,
        conv_pad_kind="amount",
        conv_pad_h=0,
        conv_pad_w=0,
        conv_pad_mode_label=next(iter(MODES)),
        conv_dil_h=1,
        conv_dil_w=1,
        conv_bias=0.0,
        conv_step=1,
        conv_playing=False,
    )


def resize() -> None:
    """Crop or zero-extend every channel's input and kernel to the chosen sizes."""
    kshape = (st.session_state.conv_krows, st.session_state.conv_kcols)
    for c in range(st.session_state.conv_channels):
        for key, shape in (
            (f"conv_x_{c}", (st.session_state.conv_rows, st.session_state.conv_cols)),
            *[(kernel_key(f, c), kshape) for f in range(st.session_state.get("conv_filters", 1))],
        ):
            try:
                m = conv.parse_matrix(st.session_state.get(key, "0"), max_rows=99, max_cols=99)
            except UserInputError:
                m = np.zeros((1, 1))
            out = np.zeros(shape)
            h, w = min(shape[0], m.shape[0]), min(shape[1], m.shape[1])
            out[:h, :w] = m[:h, :w]
            set_matrix(key, out)


def sizes_from_matrices() -> None:
    """The size boxes show the matrices as typed (channel 1's input and kernel); while one
    does not read, its boxes keep their values."""
    for key, rows, cols, most in (("conv_x_0", "conv_rows", "conv_cols", 16),
                                  ("conv_k_0", "conv_krows", "conv_kcols", 7)):  # fmt: skip
        try:
            m = conv.parse_matrix(st.session_state.get(key, ""), max_rows=most, max_cols=most)
        except UserInputError:
            continue
        st.session_state[rows], st.session_state[cols] = m.shape


def channels_changed() -> None:
    for c in range(st.session_state.conv_channels):
        if f"conv_x_{c}" not in st.session_state or not st.session_state[f"conv_x_{c}"].strip():
            base = st.session_state.get("conv_x_0", "0")
            try:
                m = conv.parse_matrix(base, max_rows=99, max_cols=99)
            except UserInputError:
                m = np.zeros((3, 3))
            set_matrix(f"conv_x_{c}", np.rot90(m, c))
            try:  # a new channel's kernel takes channel 1's shape, or 1x1 while that one is bad
                shape = conv.parse_matrix(
                    st.session_state.get("conv_k_0") or "1", max_rows=99, max_cols=99
                ).shape
            except UserInputError:
                shape = (1, 1)
            set_matrix(f"conv_k_{c}", np.eye(*shape))


MAX_FILTERS = 4


def kernel_key(f: int, c: int) -> str:
    """Filter f's kernel for input channel c: filter 1 keeps the keys it always had."""
    return f"conv_k_{c}" if f == 0 else f"conv_k{f}_{c}"


def fill_filters(n_filters: int, n_channels: int) -> None:
    """Give every filter after the first a kernel per channel, made from filter 1's: its
    transpose, its negative, then it flipped upside down, so each map shows something new."""
    for f in range(1, n_filters):
        for c in range(n_channels):
            key = kernel_key(f, c)
            if st.session_state.get(key, "").strip():
                continue
            try:
                k0 = conv.parse_matrix(
                    st.session_state.get(kernel_key(0, c)) or "1", max_rows=99, max_cols=99
                )
            except UserInputError:
                k0 = np.ones((1, 1))
            made = {1: k0.T if k0.shape[0] == k0.shape[1] else k0[:, ::-1], 2: -k0}
            set_matrix(key, made.get(f, k0[::-1]))
        st.session_state.setdefault(f"conv_bias{f}", 0.0)


init_state(
    {
        "conv_filters": 1,
        "conv_preset": presets.TEXTBOOK_CONV,
        "conv_channels": 1,
        "conv_rows": 6,
        "conv_cols": 6,
        "conv_krows": 3,
        "conv_kcols": 3,
        "conv_pad_value": 1.0,
        "conv_pad_mode_label": next(iter(MODES)),
    }
)
if "conv_x_0" not in st.session_state:
    load_preset()


SIGNAL_1D = conv.format_matrix(presets.textbook_1d()[0][None])
KERNEL_1D = " ".join(["1/9"] * 9)  # a 9-sample moving average


def load_1d() -> None:
    st.session_state.c1_x = SIGNAL_1D
    st.session_state.c1_k = KERNEL_1D
    st.session_state.update(c1_stride=1, c1_pad=0, c1_dil=1, c1_step=1, c1_playing=False)


if "c1_x" not in st.session_state:
    load_1d()

PICTURE_SOURCES = ["Example", "Upload your own"]
SIGNAL_SOURCES = ["Typed numbers", "An audio snippet"]
SNIPPET_LENGTHS = [64, 128, 200, 400, 800]


def url_settings() -> list[U.Setting]:
    """What this page's link carries: every setting of its three tabs, and the steps."""
    n = st.session_state.get("conv_channels", 1)
    return [
        U.choice("conv_preset", presets.CONV_PRESETS, presets.TEXTBOOK_CONV),
        U.integer("conv_channels", 1, 3, 1),
        U.integer("conv_rows", 1, 16, 6),
        U.integer("conv_cols", 1, 16, 6),
        U.integer("conv_krows", 1, 7, 3),
        U.integer("conv_kcols", 1, 7, 3),
        *[U.matrix(f"conv_x_{c}", None) for c in range(n)],
        U.integer("conv_filters", 1, MAX_FILTERS, 1),
        *[
            U.matrix(kernel_key(f, c), None, max_rows=7, max_cols=7)
            for f in range(st.session_state.get("conv_filters", 1))
            for c in range(n)
        ],
        *[
            U.number(f"conv_bias{f}", -conv.MAX_ABS, conv.MAX_ABS, 0.0)
            for f in range(1, st.session_state.get("conv_filters", 1))
        ],
        U.integer("conv_filter_shown", 1, MAX_FILTERS, 1),
        U.integer("conv_stride_h", 0, 8, 1),
        U.integer("conv_stride_w", 0, 8, 1),
        U.choice("conv_pad_kind", ["amount", "same", "valid"], "amount"),
        U.integer("conv_pad_h", 0, 8, 0),
        U.integer("conv_pad_w", 0, 8, 0),
        U.integer("conv_dil_h", 0, 4, 1),
        U.integer("conv_dil_w", 0, 4, 1),
        U.choice("conv_pad_mode_label", list(MODES), next(iter(MODES)), names=MODES),
        U.number("conv_pad_value", -conv.MAX_ABS, conv.MAX_ABS, 1.0),
        U.number("conv_bias", -conv.MAX_ABS, conv.MAX_ABS, 0.0),
        U.integer("conv_step", 1, 10_000, 1),
        U.choice("pic_source", PICTURE_SOURCES, PICTURE_SOURCES[0]),
        U.choice("pic_kernel", list(presets.KERNELS), list(presets.KERNELS)[3]),
        U.choice("c1_source", SIGNAL_SOURCES, SIGNAL_SOURCES[0]),
        U.matrix("c1_x", SIGNAL_1D, max_rows=3, max_cols=64),
        U.matrix("c1_k", KERNEL_1D, max_rows=3, max_cols=16),
        U.integer("c1_stride", 0, 8, 1),
        U.integer("c1_pad", 0, 8, 0),
        U.integer("c1_dil", 0, 4, 1),
        U.integer("c1_step", 1, 10_000, 1),
        U.choice("c1a_clip", list(signals.clip_names()), next(iter(signals.clip_names()))),
        U.number("c1a_start", 0.0, 3600.0, 0.5),
        U.choice("c1a_len", SNIPPET_LENGTHS, 200),
        U.choice("c1a_kernel", list(signals.SIGNAL_KERNELS), next(iter(signals.SIGNAL_KERNELS))),
        U.integer("c1a_stride", 1, 8, 1),
        U.integer("c1a_step", 1, 10_000, 1),
        U.Setting(TAB.key, TAB.read, TAB.write, TAB.default, put=lambda _v: None),
    ]


U.sync(url_settings)
if any(f"conv_x_{c}" not in st.session_state for c in range(st.session_state.conv_channels)):
    channels_changed()  # a link with more channels than matrices: fill them as the page does

with tab2d:
    with controls():
        top = st.columns([3, 1, 1, 1, 1, 1, 1, 1])
        top[0].selectbox(
            "Preset",
            presets.CONV_PRESETS,
            persist_state="session",
            key="conv_preset",
            on_change=load_preset,
            help="Loads an input, a kernel and settings. 'Random integers' uses the sizes beside.",
        )
        top[1].number_input(
            "Channels",
            1,
            3,
            persist_state="session",
            key="conv_channels",
            on_change=channels_changed,
            help="A colour picture has 3 channels. Each channel gets its own kernel; "
            "their results are summed into one output.",
        )
        top[2].number_input(
            "Filters",
            1,
            MAX_FILTERS,
            persist_state="session",
            key="conv_filters",
            help="Output channels: each filter has its own kernel per input channel and its own "
            "bias, and makes one feature map.",
        )
        sizes_from_matrices()
        grow = "Change it to crop the matrix, or extend it with zeros."
        top[3].number_input("Input rows", 1, 16, persist_state="session", key="conv_rows",
                            on_change=resize, help="The input's height. " + grow)  # fmt: skip
        top[4].number_input("Input columns", 1, 16, persist_state="session", key="conv_cols",
                            on_change=resize, help="The input's width. " + grow)  # fmt: skip
        top[5].number_input("Kernel rows", 1, 7, persist_state="session", key="conv_krows",
                            on_change=resize, help="The kernel's height. " + grow)  # fmt: skip
        top[6].number_input("Kernel columns", 1, 7, persist_state="session", key="conv_kcols",
                            on_change=resize, help="The kernel's width. " + grow)  # fmt: skip

        n_ch = st.session_state.conv_channels
        xs, ks = [], []
        cols = st.columns(2 * n_ch)
        for c in range(n_ch):
            suffix = f" (channel {c + 1})" if n_ch > 1 else ""
            with cols[2 * c]:
                xs.append(matrix_input(f"Input{suffix}", f"conv_x_{c}", name=f"input{suffix}"))
            with cols[2 * c + 1]:
                ks.append(
                    matrix_input(
                        f"Kernel{suffix}",
                        f"conv_k_{c}",
                        name=f"kernel{suffix}",
                        max_rows=7,
                        max_cols=7,
                    )
                )

        n_f = st.session_state.conv_filters
        fill_filters(n_f, n_ch)
        bank = [ks]  # bank[f][c]: filter f's kernel for input channel c
        for f in range(1, n_f):
            fcols = st.columns([2] * n_ch + [1])
            kf = []
            for c in range(n_ch):
                suffix = f", channel {c + 1}" if n_ch > 1 else ""
                with fcols[c]:
                    kf.append(
                        matrix_input(
                            f"Filter {f + 1}: kernel{suffix}",
                            kernel_key(f, c),
                            name=f"filter {f + 1}'s kernel{suffix}",
                            max_rows=7,
                            max_cols=7,
                            height=110,
                        )
                    )
            fcols[-1].number_input(
                f"Bias of filter {f + 1}", step=0.5, persist_state="session", key=f"conv_bias{f}"
            )
            bank.append(kf)

        hp = st.columns(7)
        hp[0].number_input("Stride ↓ (rows)", 0, 8, persist_state="session", key="conv_stride_h")
        hp[1].number_input("Stride → (columns)", 0, 8, persist_state="session", key="conv_stride_w")
        hp[2].selectbox(
            "Padding",
            ["amount", "same", "valid"],
            persist_state="session",
            key="conv_pad_kind",
            help="'same' keeps the output as large as the input (stride 1 only); 'valid' means none.",
        )
        amount = st.session_state.conv_pad_kind == "amount"
        hp[3].number_input(
            "Padding ↓", 0, 8, persist_state="session", key="conv_pad_h", disabled=not amount
        )
        hp[4].number_input(
            "Padding →", 0, 8, persist_state="session", key="conv_pad_w", disabled=not amount
        )
        hp[5].number_input("Dilation ↓", 0, 4, persist_state="session", key="conv_dil_h")
        hp[6].number_input("Dilation →", 0, 4, persist_state="session", key="conv_dil_w")
        hp2 = st.columns([2, 1, 1, 3])
        hp2[0].selectbox(
            "Padding mode",
            list(MODES),
            persist_state="session",
            key="conv_pad_mode_label",
            help="What the border is filled with.",
        )
        mode = MODES[st.session_state.conv_pad_mode_label]
        hp2[1].number_input(
            "Constant",
            step=1.0,
            persist_state="session",
            key="conv_pad_value",
            disabled=mode != "constant",
        )
        hp2[2].number_input(
            "Bias" if n_f == 1 else "Bias of filter 1",
            step=0.5,
            persist_state="session",
            key="conv_bias",
        )

    padding = (
        (st.session_state.conv_pad_h, st.session_state.conv_pad_w)
        if amount
        else st.session_state.conv_pad_kind
    )
    settings = {
        "stride": (st.session_state.conv_stride_h, st.session_state.conv_stride_w),
        "padding": padding,
        "padding_mode": mode,
        "pad_value": st.session_state.conv_pad_value,
        "dilation": (st.session_state.conv_dil_h, st.session_state.conv_dil_w),
    }
    result = None
    if all(m is not None for m in xs + [k for kf in bank for k in kf]):
        try:
            x = conv.stack_channels(xs, what="input channel")  # (C, H, W)
            per_filter = [conv.stack_channels(kf, what="channel's kernel") for kf in bank]
            w = conv.stack_channels(per_filter, what="filter's kernels")  # (F, C, kH, kW)
            b = np.array([st.session_state.conv_bias] + [
                st.session_state.get(f"conv_bias{f}", 0.0) for f in range(1, n_f)
            ])  # fmt: skip
            result = conv.conv2d(x, w, b, **settings)
            remember("conv_last_good", (x, w, b, settings, result))
        except UserInputError as err:
            st.error(str(err), icon=":material/error:")
    if result is None:
        kept = remember("conv_last_good")
        if kept is None:
            end_page()
        st.info("Showing the last settings that worked until the problem above is fixed.")
    x, w, b, settings, result = remember("conv_last_good")

    st.subheader("Output size")
    h_ax, w_ax = result.axes()
    st.latex(conv.size_formula_latex(h_ax, r"o_{\text{rows}}"))
    st.latex(conv.size_formula_latex(w_ax, r"o_{\text{cols}}"))
    st.caption(
        "With the same padding p on both sides and no dilation this is the textbook's "
        "(n + 2p − k) / s + 1. " + conv.size_note(h_ax) + " " + conv.size_note(w_ax)
    )
    n_filters, n_in, kh, kw = w.shape
    oh, ow = result.out_shape
    st.markdown(
        f"Output (C_out, H, W) = **({n_filters}, {oh}, {ow})**: {n_filters} feature "
        f"map{'s' if n_filters > 1 else ''} of {oh} × {ow}, {result.n_steps} window positions "
        f"each. Parameters: {n_filters} × {n_in} × {kh} × {kw} weights + {n_filters} "
        f"bias{'es' if n_filters > 1 else ''} = **{w.size + b.size}**."
    )

    st.subheader("Step by step")
    shown = 0
    if n_filters > 1:
        st.radio(
            "Feature map shown",
            list(range(1, n_filters + 1)),
            format_func=lambda f: f"filter {f}",
            horizontal=True,
            persist_state="session",
            key="conv_filter_shown",
        )
        shown = min(st.session_state.get("conv_filter_shown", 1), n_filters) - 1
    if max(settings["dilation"]) > 1:
        st.caption(
            f"Dilation {settings['dilation'][0]} × {settings['dilation'][1]}: the window takes "
            "every d-th row and column, so it covers a wider area with the same weights."
        )
    conv_frames = step_frames(result, filt=shown)
    instant_stepper("conv", conv_frames)
    export_buttons("conv", conv_frames, name=f"convolution-filter-{shown + 1}")

    if st.button("Check against PyTorch", key="conv_check"):
        with st.spinner("Loading PyTorch…"):
            chk = check_conv(x, w, b, result.output, **settings)
        show_check(chk)

with tabpic:
    st.markdown(
        "The same arithmetic on a real picture: every pixel is one input cell (grey level 0 to 1). "
        "A kernel that responds to vertical edges lights up where brightness changes from left to "
        "right; ReLU then keeps only the positive responses, as a CNN layer usually does."
    )
    pc = st.columns([2, 2, 3])
    source = pc[0].radio(
        "Picture",
        PICTURE_SOURCES,
        persist_state="session",
        key="pic_source",
        horizontal=True,
    )
    kernel_name = pc[1].selectbox(
        "Kernel", list(presets.KERNELS), index=3, persist_state="session", key="pic_kernel"
    )
    picture = None
    if source == "Example":
        picture = load_example(next(iter(EXAMPLES)))
    else:
        up = pc[2].file_uploader("PNG or JPEG", type=["png", "jpg", "jpeg"], key="pic_upload")
        if up is not None:
            try:
                picture = load_picture(up.getvalue(), name=up.name)
                remember("pic_last_good", picture)
            except UserInputError as err:
                pc[2].error(str(err), icon=":material/error:")
                picture = remember("pic_last_good")
                if picture is not None:
                    st.info("Showing the last picture that worked.")
        else:
            picture = remember("pic_last_good")
    if picture is None:
        st.info("Upload a PNG or JPEG picture, or choose the example.")
    else:
        for note in picture.notes:
            st.caption(f"Note: {note}.")
        kernel = presets.KERNELS[kernel_name]
        fmap = conv.conv2d(picture.gray[None], kernel[None, None], padding="same").output[0]
        st.latex(
            r"\text{kernel} = "
            + r"\begin{bmatrix}"
            + r"\\".join(
                " & ".join(conv._num(v) if float(v).is_integer() else f"{v:.3f}" for v in row)
                for row in kernel
            )
            + r"\end{bmatrix}"
        )
        chart(st, figs.image_maps_figure(picture.gray, fmap, presenter=presenter()), key="pic_fig")
        st.caption(
            f"Input {picture.gray.shape[0]}×{picture.gray.shape[1]} pixels, 'same' padding, "
            f"so the feature map has the same size."
        )


@st.cache_data(show_spinner=False, max_entries=8)
def clip_samples(filename: str) -> np.ndarray:
    return signals.load_samples(filename)


def audio_snippet_tab() -> None:
    """A few hundred samples of a shipped clip through a 1-D kernel, and the whole clip by ear."""
    names = signals.clip_names()
    a = st.columns([3, 2, 2, 3, 1])
    filename = a[0].selectbox(
        "Clip", list(names), format_func=lambda f: names[f], persist_state="session", key="c1a_clip"
    )
    samples = clip_samples(filename)
    duration = len(samples) / signals.SR
    a[1].slider(
        "Start (s)",
        0.0,
        max(duration - 0.05, 0.0),
        0.5,
        step=0.01,
        persist_state="session",
        key="c1a_start",
    )
    a[2].select_slider(
        "Samples shown", SNIPPET_LENGTHS, value=200, persist_state="session", key="c1a_len"
    )
    a[3].selectbox(
        "Kernel", list(signals.SIGNAL_KERNELS), persist_state="session", key="c1a_kernel"
    )
    a[4].number_input("Stride", 1, 8, persist_state="session", key="c1a_stride")
    x = signals.excerpt(samples, start_s=st.session_state.c1a_start,
                        n_samples=st.session_state.c1a_len)  # fmt: skip
    kernel = signals.SIGNAL_KERNELS[st.session_state.c1a_kernel]
    stride = st.session_state.c1a_stride
    res = conv.conv1d(x[None], kernel[None, None], stride=stride)
    ms = len(x) / signals.SR * 1000
    st.caption(
        f"{len(x)} samples = {ms:.1f} ms of audio at {signals.SR} Hz; a {len(kernel)}-tap kernel "
        f"with stride {stride} gives {res.out_shape[0]} outputs."
    )

    def render(i: int) -> None:
        chart(st, figs.signal_figure(res, i, presenter=presenter()), key="c1a_fig")
        st.code(conv.step_equation(res.step(i)), language=None, wrap_lines=True)

    stepper("c1a", res.n_steps, render)
    st.markdown(
        "**Hear it.** The same kernel slid over the whole clip: a moving average muffles the "
        "sound (it removes fast changes, the high frequencies), a difference keeps only them. "
        "A stride above 1 keeps every s-th output, so the result is played at the sample "
        "rate divided by the stride."
    )
    whole = conv.conv1d(samples[None], kernel[None, None], stride=stride).output[0]
    h1, h2 = st.columns(2)
    h1.caption("Original")
    h1.audio(samples.astype(np.float32), sample_rate=signals.SR)
    h2.caption(f"Through the kernel ({signals.SR // stride} Hz)")
    h2.audio(signals.to_audio(whole), sample_rate=signals.SR // stride)


with tab1d:
    st.markdown(
        "For audio the input is a 1-D signal: the kernel slides along time only. A signal with "
        "several channels (stereo has two) is typed one channel per line; the filter then has one "
        "kernel row per channel and sums over all of them, just as in 2-D."
    )

    st.radio(
        "Signal",
        SIGNAL_SOURCES,
        persist_state="session",
        key="c1_source",
        horizontal=True,
    )
    if st.session_state.c1_source == "An audio snippet":
        audio_snippet_tab()
    else:
        oc = st.columns([3, 3, 1, 1, 1, 1])
        with oc[0]:
            x1 = matrix_input(
                "Signal (one line per channel)",
                "c1_x",
                name="signal",
                max_rows=3,
                max_cols=64,
                height=100,
            )
        with oc[1]:
            k1 = matrix_input(
                "Kernel (one line per channel)",
                "c1_k",
                name="kernel",
                max_rows=3,
                max_cols=16,
                height=100,
            )
        oc[2].number_input("Stride", 0, 8, persist_state="session", key="c1_stride")
        oc[3].number_input("Padding", 0, 8, persist_state="session", key="c1_pad")
        oc[4].number_input("Dilation", 0, 4, persist_state="session", key="c1_dil")
        oc[5].button("Textbook preset", key="c1_preset", on_click=load_1d)
        res1 = None
        if x1 is not None and k1 is not None:
            try:
                res1 = conv.conv1d(
                    x1,
                    k1[None],
                    stride=st.session_state.c1_stride,
                    padding=st.session_state.c1_pad,
                    dilation=st.session_state.c1_dil,
                )
                remember("c1_last_good", (x1, k1, res1))
            except UserInputError as err:
                st.error(str(err), icon=":material/error:")
        if res1 is None and remember("c1_last_good") is not None:
            st.info("Showing the last settings that worked.")
        kept1 = remember("c1_last_good")
        if kept1 is not None:
            x1, k1, res1 = kept1
            (ax,) = res1.axes()
            st.latex(conv.size_formula_latex(ax, "o"))
            st.caption(conv.size_note(ax))
            strides = ", ".join(
                f"stride {s} → {conv.output_size(x1.shape[1], k1.shape[1], stride=s, pad_before=res1.pads[0][0], pad_after=res1.pads[0][1], dilation=res1.dilation[0])}"
                for s in (1, 2, 4)
            )
            st.markdown(
                f"Output length **{res1.out_shape[0]}**. For comparison, {strides} outputs."
            )

            instant_stepper("c1", step_frames(res1))
            if st.button("Check against PyTorch", key="c1_check"):
                with st.spinner("Loading PyTorch…"):
                    chk = check_conv(
                        x1,
                        k1[None],
                        None,
                        res1.output,
                        stride=res1.stride[0],
                        padding=res1.pads[0][0],
                        dilation=res1.dilation[0],
                    )
                show_check(chk)
