"""Receptive field: build a stack of conv/pool layers and see what one unit can see."""

import re
from pathlib import Path

import streamlit as st

from core.errors import UserInputError
from core.explain import receptive as rf
from core.figures import receptive as rfig
from pages import _url as U
from pages._router import ensure_router
from pages._shared import chart, controls, table

ensure_router()

ROOT = Path(__file__).resolve().parent.parent
PICTURES = [ROOT / "assets" / "images" / "example.png", ROOT / "assets" / "images" / "cat.png"]
FIELDS = ("kind", "k", "s", "p", "d", "name")
DEFAULTS = {"kind": "conv", "k": 3, "s": 1, "p": 0, "d": 1, "name": ""}
S = st.session_state


# ----------------------------------------------------------------------------- state helpers
def _read_layers() -> list[dict]:
    return [{f: S.get(f"rf_{f}_{i}", DEFAULTS[f]) for f in FIELDS} for i in range(S.rf_n)]


def _write_layers(layers: list[dict]) -> None:
    for i in range(max(S.get("rf_n", 0), len(layers))):
        for f in FIELDS:
            S.pop(f"rf_{f}_{i}", None)
    for i, layer in enumerate(layers):
        for f in FIELDS:
            S[f"rf_{f}_{i}"] = layer[f]
    S.rf_n = len(layers)
    _reset_unit(len(layers))


def _reset_unit(layer_index: int) -> None:
    S.rf_unit_layer = layer_index
    S.rf_unit_row = -1  # -1: the centre unit, resolved once the sizes are known
    S.rf_unit_col = -1


def _load_preset() -> None:
    layers, (h, w) = rf.preset(S.rf_preset)
    S.rf_in_h, S.rf_in_w = h, w
    _write_layers([{"kind": L.kind, "k": L.k, "s": L.s, "p": L.p, "d": L.d, "name": L.name}
                   for L in layers])  # fmt: skip


def _add(kind: str) -> None:
    layers = _read_layers()
    layers.append(
        dict(DEFAULTS, kind=kind, k=3 if kind == "conv" else 2, s=1 if kind == "conv" else 2)
    )
    _write_layers(layers)


def _remove(i: int) -> None:
    layers = _read_layers()
    layers.pop(i)
    _write_layers(layers)


def _move(i: int, step: int) -> None:
    layers = _read_layers()
    j = i + step
    if 0 <= j < len(layers):
        layers[i], layers[j] = layers[j], layers[i]
        _write_layers(layers)


def _unit_clicked() -> None:
    """A click on a unit in the layers' grids chooses it (customdata: layer, row, col; the
    browser sends a numpy row as a list or as {"0": .., "1": .., "2": ..})."""
    points = (S.get("rf_grids") or {}).get("selection", {}).get("points", [])
    data = points[0].get("customdata") if points else None
    if isinstance(data, dict):
        data = [data.get(str(i)) for i in range(3)]
    if isinstance(data, list) and len(data) == 3 and all(isinstance(v, (int, float)) for v in data):
        S.rf_unit_layer, S.rf_unit_row, S.rf_unit_col = (int(v) for v in data)


def _unit_layer_changed() -> None:
    S.rf_unit_row = -1
    S.rf_unit_col = -1


if "rf_n" not in S:
    S.rf_preset = "textbook"
    _load_preset()

MAX_LAYERS = 32  # a stack read from a link
LAYER_WORD = re.compile(r"(c|p)(\d{1,3})s(\d{1,3})p(\d{1,3})d(\d{1,3})")
LIMITS = {"k": (1, 64), "s": (1, 16), "p": (0, 32), "d": (1, 16)}


def _layers_to_url(layers: list[dict]) -> str:
    """The stack as words like c3s1p0d1 (conv) and p2s2p0d1 (pool), joined by commas."""
    return ",".join(f"{L['kind'][0]}{L['k']}s{L['s']}p{L['p']}d{L['d']}" for L in layers)


def _layers_from_url(text: str) -> list[dict]:
    words = text.split(",")
    if not 1 <= len(words) <= MAX_LAYERS:
        raise ValueError(f"not 1 to {MAX_LAYERS} layers like c3s1p0d1,p2s2p0d1")
    layers = []
    for word in words:
        m = LAYER_WORD.fullmatch(word.strip())
        if m is None:
            raise ValueError(f"'{word[:12]}' is not a layer like c3s1p0d1 or p2s2p0d1")
        kind, *nums = m.groups()
        layer = dict(DEFAULTS, kind="conv" if kind == "c" else "pool")
        for f, v in zip(("k", "s", "p", "d"), nums, strict=True):
            lo, hi = LIMITS[f]
            if not lo <= int(v) <= hi:
                raise ValueError(f"{f} = {v} in '{word}' is outside {lo} to {hi}")
            layer[f] = int(v)
        layers.append(layer)
    return layers


def url_settings() -> list[U.Setting]:
    """What this page's link carries: the stack, the input size, the unit, the spectrogram."""
    first, size = rf.preset("textbook")
    default_stack = [dict(DEFAULTS, kind=L.kind, k=L.k, s=L.s, p=L.p, d=L.d) for L in first]
    return [
        U.choice("rf_preset", list(rf.PRESETS), "textbook"),
        U.integer("rf_in_h", 1, 512, size[0]),
        U.integer("rf_in_w", 1, 512, size[1]),
        U.Setting(
            "rf_layers", _layers_from_url, str, _layers_to_url(default_stack),
            get=lambda: _layers_to_url(_read_layers()),
            put=lambda layers: _write_layers([{**L, "name": ""} for L in layers])
            if _layers_to_url(layers) != _layers_to_url(_read_layers()) else None,
        ),
        U.integer("rf_unit_layer", 0, MAX_LAYERS, -1),
        U.integer("rf_unit_row", 0, 4096, -1),
        U.integer("rf_unit_col", 0, 4096, -1),
        U.choice("rf_sr", [16000, 22050, 44100], 16000),
        U.integer("rf_hop", 1, 4096, 160),
        U.choice("rf_n_fft", [256, 512, 1024, 2048], 512),
    ]  # fmt: skip


U.sync(url_settings)


@st.cache_data(max_entries=8)
def _picture(h: int, w: int):
    path = next((p for p in PICTURES if p.is_file()), None)
    return rf.example_picture(height=h, width=w, path=path)


@st.cache_data(max_entries=8)
def _logmel(n_mels: int, n_frames: int, sr: int, hop: int, n_fft: int):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # many bands on a short FFT leave some filters empty
        return rf.chirp_logmel(n_mels=n_mels, n_frames=n_frames, sr=sr, hop_length=hop, n_fft=n_fft)


# ----------------------------------------------------------------------------- page
st.title("Receptive field")
st.markdown(
    "A unit of a convolutional layer only *sees* part of the input: its **receptive field**. "
    "One 3×3 convolution sees 3×3 pixels; a second 3×3 convolution on top sees 3×3 units of the "
    "first, which together cover 5×5 pixels. Strides and pooling multiply the step between "
    "neighbouring units (the **jump**), so every later layer grows the field faster. Per layer:\n\n"
    "- output size $n_{out} = \\lfloor (n_{in} + 2p - d(k-1) - 1)/s \\rfloor + 1$\n"
    "- field $r_{out} = r_{in} + d(k-1)\\,j_{in}$, jump $j_{out} = j_{in}\\,s$\n"
    "- centre of unit 0 $\\mathrm{start}_{out} = \\mathrm{start}_{in} + (d(k-1)/2 - p)\\,j_{in}$"
)

editor = controls("Edit the layer stack")
with editor:
    st.selectbox(
        "Preset stack",
        list(rf.PRESETS),
        format_func=lambda k: rf.PRESETS[k]["title"],
        persist_state="session",
        key="rf_preset",
        on_change=_load_preset,
    )
    c1, c2, _ = st.columns([1, 1, 2])
    c1.number_input("Input height", min_value=1, max_value=512, step=1, persist_state="session", key="rf_in_h",
                    on_change=_reset_unit, args=(S.rf_n,))  # fmt: skip
    c2.number_input("Input width", min_value=1, max_value=512, step=1, persist_state="session", key="rf_in_w",
                    on_change=_reset_unit, args=(S.rf_n,))  # fmt: skip
    with st.expander(f"Layers ({S.rf_n})", expanded=S.rf_n <= 8):
        for i in range(S.rf_n):
            cols = st.columns([2, 2, 2, 2, 2, 1, 1, 1, 2], vertical_alignment="bottom")
            name = S.get(f"rf_name_{i}") or ""
            cols[0].selectbox(
                f"{i + 1}. {name}".strip(),
                ["conv", "pool"],
                persist_state="session",
                key=f"rf_kind_{i}",
            )
            cols[1].number_input(
                "k", min_value=1, max_value=64, persist_state="session", key=f"rf_k_{i}"
            )
            cols[2].number_input(
                "s", min_value=1, max_value=16, persist_state="session", key=f"rf_s_{i}"
            )
            cols[3].number_input(
                "p", min_value=0, max_value=32, persist_state="session", key=f"rf_p_{i}"
            )
            cols[4].number_input(
                "d", min_value=1, max_value=16, persist_state="session", key=f"rf_d_{i}"
            )
            cols[5].button(
                "",
                icon=":material/arrow_upward:",
                key=f"rf_up_{i}",
                on_click=_move,
                args=(i, -1),
                help="Move up",
            )
            cols[6].button(
                "",
                icon=":material/arrow_downward:",
                key=f"rf_down_{i}",
                on_click=_move,
                args=(i, 1),
                help="Move down",
            )
            cols[7].button(
                "",
                icon=":material/close:",
                key=f"rf_del_{i}",
                on_click=_remove,
                args=(i,),
                help="Remove",
            )
        a1, a2 = st.columns(2)
        a1.button("Add conv layer", key="rf_add_conv", on_click=_add, args=("conv",))
        a2.button("Add pool layer", key="rf_add_pool", on_click=_add, args=("pool",))

left, right = st.columns([2, 3], gap="medium")
layers = _read_layers()
broken_at = None
try:
    rows = rf.layer_table(layers, input_size=(S.rf_in_h, S.rf_in_w))
except rf.BrokenStackError as err:
    rows, broken_at = err.rows, err.layer_index
    with left:
        st.error(str(err))
except UserInputError as err:
    rows = rf.layer_table([], input_size=(1, 1))
    with left:
        st.error(str(err))

top = len(rows) - 1
# A selectbox keeps its value by label; a label that changed (the sizes below) once came back
# as a string, so anything but a layer index in range resets the choice to the top layer.
if not isinstance(S.get("rf_unit_layer", top), int) or not 0 <= S.get("rf_unit_layer", top) <= top:
    _reset_unit(top)
with left:
    st.subheader("Pick a unit")
    st.selectbox(
        "Layer",
        list(range(len(rows))),
        format_func=lambda i: f"{i}: {rows[i].name}",  # stable while sizes change
        persist_state="session",
        key="rf_unit_layer",
        on_change=_unit_layer_changed,
    )
    chosen = rows[S.rf_unit_layer]
    if S.rf_unit_row < 0 or S.rf_unit_row >= chosen.n[0]:
        S.rf_unit_row = chosen.n[0] // 2
    if S.rf_unit_col < 0 or S.rf_unit_col >= chosen.n[1]:
        S.rf_unit_col = chosen.n[1] // 2
    u1, u2 = st.columns(2)
    u1.number_input(
        "Row", min_value=0, max_value=chosen.n[0] - 1, persist_state="session", key="rf_unit_row"
    )
    u2.number_input(
        "Column", min_value=0, max_value=chosen.n[1] - 1, persist_state="session", key="rf_unit_col"
    )

regions = rf.unit_region(rows, layer=S.rf_unit_layer, row=S.rf_unit_row, col=S.rf_unit_col)

with right:
    st.markdown(rf.region_sentence(rows, regions))
    chart(st, rfig.stack_figure(rows, regions, broken_at=broken_at), key="rf_grids",
          on_select=_unit_clicked, selection_mode="points")  # fmt: skip
    st.caption("Click a unit in any layer's grid to choose it.")
    st.caption(" · ".join(f"{c}: {t}" for c, t in rfig.LEGEND.items()))

st.subheader("Per-layer table")
table(rf.table_records(rows))

st.subheader("The field on a picture and on a spectrogram")
pic_col, spec_col = st.columns(2, gap="large")
h, w = rows[0].n
with pic_col:
    chart(
        st,
        rfig.picture_figure(
            _picture(h, w), regions[0], title=f"input {h}×{w}: outside the field dimmed"
        ),
        key="rf_picture",
    )
with spec_col:
    s1, s2, s3 = st.columns(3)
    s1.selectbox("Sample rate (Hz)", [16000, 22050, 44100], persist_state="session", key="rf_sr")
    s2.number_input(
        "Hop length", min_value=1, max_value=4096, value=160, persist_state="session", key="rf_hop"
    )
    s3.selectbox(
        "FFT size", [256, 512, 1024, 2048], index=1, persist_state="session", key="rf_n_fft"
    )
    logmel = _logmel(h, w, S.rf_sr, S.rf_hop, S.rf_n_fft)
    info = rf.field_in_time_frequency(regions[0], logmel)
    chart(
        st,
        rfig.spectrogram_figure(
            logmel, regions[0], info, title=f"log-mel of a chirp: {h} bands × {w} frames"
        ),
        key="rf_spectrogram",
    )
    st.markdown(
        f"Read as a log-mel spectrogram ({h} mel bands × {w} frames, hop {S.rf_hop} at "
        f"{S.rf_sr} Hz = {info['hop_ms']:.1f} ms per frame), this unit hears frames "
        f"{info['frames'][0]}–{info['frames'][1]}: **{info['t_ms'][0]:.0f}–{info['t_ms'][1]:.0f} ms "
        f"of audio ({info['span_ms']:.0f} ms)**, and mel bands {info['bands'][0]}–{info['bands'][1]}: "
        f"**{info['hz'][0]:.0f}–{info['hz'][1]:.0f} Hz**."
    )

st.subheader("Check it with autograd")
st.markdown(
    "Build the stack as a real `nn.Sequential` (one channel, positive weights, pooling as "
    "averaging), take the chosen unit and backpropagate to the input: the gradient is non-zero "
    "exactly where the unit can see. Its size also shows the *effective* receptive field: "
    "central pixels reach the unit along many more paths than the pixels at the edge."
)
if S.rf_unit_layer == 0:
    st.info("Pick a unit in a layer above the input to run the check.")
elif st.toggle("Run the autograd check", persist_state="session", key="rf_check"):
    try:
        check = rf.autograd_check(layers, input_size=(h, w), layer=S.rf_unit_layer,
                                  row=S.rf_unit_row, col=S.rf_unit_col)  # fmt: skip
    except UserInputError as err:
        st.error(str(err))
    else:
        if check["match"]:
            st.success(
                f"Match: the gradient is non-zero on exactly the {check['autograd']} input pixels "
                "of the analytic field."
            )
        else:
            st.warning(
                f"Mismatch: analytic field {check['analytic']} pixels, autograd {check['autograd']}."
            )
        chart(
            st,
            rfig.effective_field_figure(
                check["field"].grad, regions[0], title="|gradient| on the input"
            ),
            key="rf_erf",
        )
