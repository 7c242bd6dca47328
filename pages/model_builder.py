"""Model builder: edit a CNN layer by layer, check its shapes, and hand it to the Train page."""

from dataclasses import replace

import streamlit as st

from core.errors import UserInputError
from core.learn import builder
from core.learn.build import to_pytorch_code
from pages import _url as U
from pages._router import ensure_router
from pages._shared import presenter, remember

ensure_router()

S = st.session_state
CHOICES = builder.input_choices()
INPUT_KEYS = [*CHOICES, "custom"]
DEFAULT_INPUT, DEFAULT_PRESET = "digits", "lenet5"


# ----------------------------------------------------------------------------- state helpers
def _key(uid: int, name: str) -> str:
    return f"mb_{uid}_{name}"


def _fields(layer: dict):
    return builder.LAYER_TYPES[layer["type"]]["fields"]


def _read_layers() -> list[dict]:
    """The editor list with every widget's current value."""
    out = []
    for layer in S.mb_layers:
        row = dict(layer)
        for f in _fields(layer):
            row[f.name] = S.get(_key(layer["uid"], f.name), layer[f.name])
        out.append(row)
    return out


def _write_layers(layers: list[dict]) -> None:
    """Store the list (new rows get an id) and give every widget its row's value."""
    for layer in layers:
        if "uid" not in layer:
            layer["uid"] = S.mb_next_uid
            S.mb_next_uid += 1
        for f in _fields(layer):
            S[_key(layer["uid"], f.name)] = layer[f.name]
    S.mb_layers = layers


def _choice() -> builder.InputChoice:
    """The chosen input; a custom shape that does not parse raises UserInputError."""
    if S.mb_input == "custom":
        return builder.custom_input(S.mb_custom_shape, int(S.mb_custom_classes))
    return CHOICES[S.mb_input]


def _head(choice: builder.InputChoice) -> str:
    return S.mb_head if choice.n_classes == 2 else "softmax"


def _fit_output() -> None:
    """After the input or the head changed: resize the last Linear layer to the outputs."""
    S.mb_preset_msg = None
    try:
        choice = _choice()
        units = builder.output_units(choice.n_classes, _head(choice))
        _write_layers(builder.set_output_units(_read_layers(), units))
    except UserInputError:
        pass  # shown next to the input widgets


def _load_preset() -> None:
    S.mb_preset_msg = None
    name = S.mb_preset
    if S.mb_input != "custom":
        match = builder.matching_input(S.mb_input, name)
        if match and match != S.mb_input:
            S.mb_input = match
    try:
        choice = _choice()
        layers, notes = builder.load_preset(
            name, input_shape=choice.shape, n_classes=choice.n_classes, head=_head(choice)
        )
    except UserInputError as err:
        S.mb_preset_msg = str(err)
        return
    _write_layers(layers)
    S.mb_notes = notes
    S.mb_name = builder.preset_short_title(name)


def _add() -> None:
    layers = _read_layers()
    at = S.mb_add_at
    _write_layers(builder.add_layer(layers, S.mb_add_type, index=None if at == "end" else at - 1))


def _remove(i: int) -> None:
    _write_layers(builder.delete_layer(_read_layers(), i))


def _move(i: int, step: int) -> None:
    _write_layers(builder.move_layer(_read_layers(), i, step))


def _use() -> None:
    S.mb_use_msg = None
    try:
        choice = _choice()
        spec = builder.builder_spec(_read_layers(), choice, _head(choice), S.mb_name)
    except UserInputError as err:
        S.mb_use_msg = ("error", str(err))
        return
    S["builder_spec"] = spec
    S.mb_use_msg = (
        "success",
        f"**{spec['name']}** is ready for the Train page: input {spec['input_shape']} "
        f"({spec['representation']} of the {spec['dataset']} dataset), "
        f"{len(spec['spec'])} layers, {spec['head']} head.",
    )


if "mb_layers" not in S:
    S.mb_next_uid = 0
    S.mb_layers = []
    S.mb_input, S.mb_preset, S.mb_head = DEFAULT_INPUT, DEFAULT_PRESET, "softmax"
    S.mb_custom_shape, S.mb_custom_classes = "1, 128, 128", 11
    S.mb_preset_msg, S.mb_use_msg, S.mb_notes = None, None, []
    _load_preset()
else:
    _write_layers(_read_layers())  # keep the values even when the widgets are gone


def _layers_setting() -> U.Setting:
    """The layer list in the link, always written: it is the model."""

    def read(text: str) -> list[dict]:
        try:
            return builder.layers_from_text(text)
        except UserInputError as err:
            raise ValueError(str(err).rstrip(".")) from None

    return U.Setting(
        "mb_layers",
        read,
        str,
        None,
        get=lambda: builder.layers_to_text(_read_layers()),
        put=lambda layers: _write_layers([dict(layer) for layer in layers]),
    )


def _put_preset(name: str) -> None:
    """A link's preset is loaded as choosing it would (its layers, its name); layers given in
    the link replace its layers next."""
    if name != S.mb_preset:
        S.mb_preset = name
        _load_preset()


def url_settings() -> list[U.Setting]:
    """What this page's link carries: the input, the head, the preset and the layers."""
    return [
        U.choice("mb_input", INPUT_KEYS, DEFAULT_INPUT),
        U.text("mb_custom_shape", "1, 128, 128", max_chars=40),
        U.integer("mb_custom_classes", 2, 1000, 11),
        U.choice("mb_head", list(builder.HEADS), "softmax"),
        replace(
            U.choice("mb_preset", list(builder.PRESET_TITLES), DEFAULT_PRESET), put=_put_preset
        ),  # fmt: skip
        _layers_setting(),
    ]


U.sync(url_settings)


# ----------------------------------------------------------------------------- page
st.title("Model builder")
st.markdown(
    "A convolutional network is a list of layers applied in order. Each layer turns the shape "
    "it receives into a new one: a convolution changes the channels to its number of filters "
    "and shrinks height and width by its kernel, stride and padding; pooling shrinks them "
    "without parameters; Flatten or global average pooling turns the maps into one vector for "
    "the Linear layers at the end. Pick what the model reads, start from a preset, edit the "
    "layers, and every shape and parameter count below follows at once, before anything is "
    "built or trained."
)

# --- input and head
c1, c2, c3 = st.columns([3, 2, 2], vertical_alignment="bottom")
c1.selectbox(
    "Input",
    INPUT_KEYS,
    format_func=lambda k: CHOICES[k].label if k in CHOICES else "Custom input shape",
    persist_state="session",
    key="mb_input",
    on_change=_fit_output,
)
if S.mb_input == "custom":
    c2.text_input(
        "Shape (channels first)",
        persist_state="session",
        key="mb_custom_shape",
        on_change=_fit_output,
        help="(channels, height, width) for an image or spectrogram, (channels, samples) for "
        "a waveform.",
    )
    c3.number_input(
        "Classes",
        min_value=2,
        max_value=1000,
        step=1,
        persist_state="session",
        key="mb_custom_classes",
        on_change=_fit_output,
    )
try:
    choice = remember("mb_last_choice", _choice())
except UserInputError as err:
    st.error(str(err), icon=":material/error:")
    choice = remember("mb_last_choice") or CHOICES[DEFAULT_INPUT]
if choice.trainable:
    st.caption(
        f"Input shape **{choice.shape}** ({choice.representation}), **{choice.n_classes} "
        f"classes**: {', '.join(choice.class_names)}."
    )
else:
    st.caption(
        f"Input shape **{choice.shape}**, **{choice.n_classes} classes**: checked here only; "
        "pick a dataset to train."
    )

if choice.n_classes == 2:
    st.radio(
        "Output and loss",
        list(builder.HEADS),
        format_func=builder.HEADS.get,
        persist_state="session",
        key="mb_head",
        horizontal=True,
        on_change=_fit_output,
    )
head = _head(choice)
st.info(builder.head_note(choice.n_classes, head), icon=":material/info:")

# --- presets
p1, p2 = st.columns([4, 1], vertical_alignment="bottom")
p1.selectbox(
    "Preset",
    builder.PRESET_NAMES,
    format_func=builder.PRESET_TITLES.get,
    persist_state="session",
    key="mb_preset",
    help="Loading a preset replaces the layer list below, adapted to the input and classes.",
)
p2.button("Load preset", key="mb_load", icon=":material/download:", on_click=_load_preset)
if S.mb_preset_msg:
    st.error(S.mb_preset_msg, icon=":material/error:")
for note in S.mb_notes:
    st.caption(note)

# --- the check, before the editor draws its rows (each row shows its output shape)
layers = _read_layers()
result = builder.check(layers, choice.shape)
problem = builder.head_error(result, choice.n_classes, head)

st.subheader(f"Layers ({len(layers)})")
if result.error:
    st.error(result.error, icon=":material/error:")
elif problem:
    st.warning(problem, icon=":material/warning:")

N_NUMBERS = 5  # number slots; then one for the activation, one for bias, one for the shape
SHAPE = N_NUMBERS + 3
WIDTHS = [1.9] + [1] * N_NUMBERS + [1.5, 0.9, 1.9, 0.45, 0.45, 0.45]
editor = st.container(height=640 if len(layers) > 12 else "content", border=True)
with editor:
    st.caption(f"Input → {choice.shape}")
    for i, layer in enumerate(layers):
        uid = layer["uid"]
        cols = st.columns(WIDTHS, vertical_alignment="bottom")
        failing = result.error_index == i
        mark = ":red[**✗**] " if failing else ""
        cols[0].markdown(f"{mark}**{i + 1}.** {builder.type_label(layer['type'])}")
        slot = 1
        for f in _fields(layer):
            k = _key(uid, f.name)
            if f.kind == "int":
                cols[slot].number_input(
                    f.label,
                    min_value=int(f.minimum),
                    max_value=int(f.maximum),
                    step=1,
                    persist_state="session",
                    key=k,
                )
                slot += 1
            elif f.kind == "float":
                cols[slot].number_input(
                    f.label, min_value=float(f.minimum), max_value=float(f.maximum), step=0.05,
                    format="%.3g", persist_state="session", key=k,
                )  # fmt: skip
                slot += 1
            elif f.kind == "choice":
                cols[N_NUMBERS + 1].selectbox(
                    f.label, f.options, persist_state="session", key=k, help=f.help
                )
            else:
                cols[N_NUMBERS + 2].checkbox(f.label, persist_state="session", key=k)
        if failing:
            cols[SHAPE].markdown(f":red[fails on {result.error_input_shape}]")
        elif i < len(result.rows):
            cols[SHAPE].markdown(f"→ `{tuple(result.rows[i].output_shape)}`")
        else:
            cols[SHAPE].markdown("→ ?")
        cols[SHAPE + 1].button(
            "", icon=":material/arrow_upward:", key=f"mb_up_{uid}", on_click=_move, args=(i, -1),
            help="Move up", disabled=i == 0,
        )  # fmt: skip
        cols[SHAPE + 2].button(
            "", icon=":material/arrow_downward:", key=f"mb_down_{uid}", on_click=_move,
            args=(i, 1), help="Move down", disabled=i == len(layers) - 1,
        )  # fmt: skip
        cols[SHAPE + 3].button(
            "", icon=":material/close:", key=f"mb_del_{uid}", on_click=_remove, args=(i,),
            help="Delete this layer",
        )  # fmt: skip

a1, a2, a3, _ = st.columns([2, 2, 1.4, 2.6], vertical_alignment="bottom")
a1.selectbox(
    "Layer type",
    list(builder.LAYER_TYPES),
    format_func=builder.type_label,
    persist_state="session",
    key="mb_add_type",
)
a2.selectbox(
    "Where",
    ["end", *range(1, len(layers) + 1)],
    format_func=lambda v: "at the end" if v == "end" else f"before layer {v}",
    persist_state="session",
    key="mb_add_at",
)
a3.button("Add layer", key="mb_add", icon=":material/add:", on_click=_add)

# --- summary and code
st.subheader("Summary")
if result.summary is not None:
    s = result.summary
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(
        "Total params", f"{s.total_params:,}", help="Keras' count: trainable plus non-trainable."
    )
    m2.metric(
        "Trainable",
        f"{s.trainable:,}",
        help="What PyTorch's model.parameters() counts: the weights and biases training changes.",
    )
    m3.metric(
        "Non-trainable",
        f"{s.non_trainable:,}",
        help="BatchNorm's running mean and variance: updated by averaging, not by gradients "
        "(PyTorch keeps them as buffers).",
    )
    m4.metric(
        "Mult-adds",
        f"{s.mult_adds:,}",
        help="Multiply-accumulates of the convolution and Linear weights for one example.",
    )
    st.caption(
        f"Output {tuple(s.output_shape)}; the activations of one example take "
        f"{s.activation_bytes / 1024:,.0f} KB in float32. Row numbers match the editor."
    )
else:
    st.caption("The rows that work so far, then the failing layer; row numbers match the editor.")

left, right = st.columns([1.7, 1], gap="medium")
with left:
    st.dataframe(builder.table(result, layers), hide_index=True, width="stretch", key="mb_table")

with right:
    if result.ok:
        code = to_pytorch_code(builder.to_spec(layers), choice.shape)
        st.code(
            code + "\n" + builder.loss_code(head) + "\n", language="python", wrap_lines=presenter()
        )  # a projector shows no hidden right edge
    else:
        st.caption("The code appears once every layer fits its input.")

# --- hand-over
st.subheader("Use this model for training")
u1, u2, _ = st.columns([2, 2, 3], vertical_alignment="bottom")
u1.text_input("Model name", persist_state="session", key="mb_name", max_chars=60)
ready = result.ok and not problem and choice.trainable
u2.button(
    "Use this model for training",
    key="mb_use",
    type="primary",
    icon=":material/model_training:",
    on_click=_use,
    disabled=not ready,
)
if not choice.trainable:
    st.caption("A custom input shape is checked here only: pick a dataset to train the model.")
if S.mb_use_msg:
    kind, text = S.mb_use_msg
    (st.success if kind == "success" else st.error)(text)
    if kind == "success":
        st.caption("Open the Train page to train it.")
