"""Architecture anatomy: classic and course models layer by layer, with their PyTorch code."""

import streamlit as st

from core.errors import UserInputError
from core.explain.anatomy import (
    fc_vs_conv,
    head_probabilities,
    parse_numbers,
    separable_vs_standard,
)
from core.explain.summary import summarize
from core.figures import anatomy as afig
from core.learn import zoo
from core.learn.build import to_pytorch_code
from pages import _url as U
from pages._router import ensure_router
from pages._shared import chart, end_page, init_state, presenter, table

ensure_router()

S = st.session_state
BLOCKS = {"resnet_block", "separable_block", "standard_block"}
HEADS = {
    "softmax": "softmax: exactly one class is right (the probabilities sum to 1)",
    "sigmoid": "sigmoid: yes/no per output (two classes, or several labels at once)",
    "none": "none: raw logits (train with a loss that applies the softmax itself)",
}

st.title("Anatomy of CNN architectures")
st.markdown(
    "Every network here is a list of layers. For each layer the table gives its output shape, "
    "its parameters, the multiply-accumulates (mult-adds) of one forward pass on one example, "
    "and the memory its output takes as float32. The code beside it builds the same model in "
    "PyTorch: copy it, run it, and `sum(p.numel() for p in model.parameters())` prints the "
    "same count."
)


def _preset_changed() -> None:
    # a new architecture starts with its own class count
    n = zoo.PRESETS[S.an_preset]["n_classes"]
    if n:
        S.an_classes = n


if "an_classes" not in S:
    S.an_classes = zoo.PRESETS[next(iter(zoo.PRESETS))]["n_classes"]


def _put_preset(name: str) -> None:
    S.an_preset = name
    _preset_changed()  # its own class count, unless the link gives one after it


def url_settings() -> list[U.Setting]:
    """What this page's link carries."""
    first = next(iter(zoo.PRESETS))
    preset = U.choice("an_preset", list(zoo.PRESETS), first)
    return [
        U.Setting(preset.key, preset.read, preset.write, first, put=_put_preset),
        U.integer("an_classes", 1, 10000, zoo.PRESETS[first]["n_classes"]),
        U.choice("an_head", list(HEADS), next(iter(HEADS))),
        U.integer("an_sep_cin", 1, 1024, 32),
        U.integer("an_sep_cout", 1, 1024, 64),
        U.integer("an_sep_size", 1, 512, 112),
        U.choice("an_sep_k", [1, 3, 5, 7], 3),
        U.choice("an_fc_input", ["audio", "image"], "audio"),
        U.integer("an_fc_units", 1, 100000, 1000),
        U.integer("an_fc_layers", 1, 10, 3),
        U.integer("an_fc_filters", 1, 4096, 64),
        U.integer("an_fc_k", 1, 31, 3),
        U.text("an_logits", "2.0, 1.0, 0.1", max_chars=400),
    ]


# first values from the settings' defaults: a widget given both a default and a value from
# a link would be set twice
init_state(
    {
        s.key: s.default
        for s in url_settings()
        if s.key.startswith(("an_sep_", "an_fc_", "an_logits"))
    }
)
U.sync(url_settings)

c1, c2, c3 = st.columns([3, 1, 3])
c1.selectbox("Architecture", list(zoo.PRESETS), format_func=lambda k: zoo.PRESETS[k]["title"],
             persist_state="session", key="an_preset", on_change=_preset_changed)  # fmt: skip
entry = zoo.PRESETS[S.an_preset]
is_block = S.an_preset in BLOCKS
c2.number_input("Classes", min_value=1, max_value=10000, persist_state="session", key="an_classes",
                disabled=is_block, help="Size of the output layer.")  # fmt: skip
c3.radio("Output head", list(HEADS), format_func=lambda h: HEADS[h], persist_state="session", key="an_head",
         disabled=is_block)  # fmt: skip

try:
    spec = zoo.preset_spec(S.an_preset, n_classes=None if is_block else S.an_classes,
                              head=S.an_head)  # fmt: skip
    summary = summarize(spec, entry["input_shape"])
    code = to_pytorch_code(spec, entry["input_shape"])
except UserInputError as err:
    st.error(str(err))
    end_page()

shape = "×".join(str(v) for v in entry["input_shape"])
st.subheader(f"{entry['title']} — input {shape} (channels first)")
m = st.columns(6)
m[0].metric("Keras total", f"{summary.total_params:,}", help="Total params, as Keras counts them")
m[1].metric("Trainable", f"{summary.trainable:,}")
m[2].metric("Non-trainable", f"{summary.non_trainable:,}")
m[3].metric("PyTorch total", f"{summary.torch_params:,}",
            help="sum(p.numel() for p in model.parameters())")  # fmt: skip
m[4].metric("Mult-adds", f"{summary.mult_adds:,}")
m[5].metric("Activations", f"{summary.activation_bytes / 2**20:,.2f} MiB")

if presenter():  # a hall reads the table across the screen; the code is one click away
    table_col, code_col = st.container(), st.expander("The PyTorch code of this model")
else:
    table_col, code_col = st.columns([3, 2], gap="large")
with table_col:
    table(summary.records())
    st.text("\n".join(summary.totals_text()))
with code_col:
    st.code(code, language="python", wrap_lines=presenter())

st.markdown(
    f"**Two ways of counting.** Keras counts BatchNorm's moving mean and variance as "
    f"*non-trainable parameters*: {summary.total_params:,} in total, {summary.trainable:,} "
    f"trainable, {summary.non_trainable:,} non-trainable. PyTorch keeps those statistics as "
    f"*buffers*, not parameters: `model.parameters()` counts {summary.torch_params:,} and "
    f"`model.buffers()` {summary.torch_buffers:,} numbers (running means and variances plus one "
    "`num_batches_tracked` counter per BatchNorm layer)."
)
if S.an_preset == "spectrogram_cnn":
    st.info(
        "Keras's summary of this model reports Total params 66,123, Trainable 65,803 and "
        f"Non-trainable 320. This table: {summary.total_params:,} / {summary.trainable:,} / "
        f"{summary.non_trainable:,}, with the same output shape on every layer."
    )
with st.expander("Parameters per layer"):
    chart(st, afig.params_per_layer_figure(summary), key="an_params_fig")

# ----------------------------------------------------------------------------- ResNet block
st.header("The ResNet basic block")
st.markdown(
    "A residual block adds its input back to what its two convolutions compute: the block only "
    "has to learn the *difference* from its input, and the gradient flows straight back along "
    "the skip path, which is what lets ResNets go deep. When the block halves the size or "
    "changes the channel count, the skip path needs a 1×1 convolution (with stride) to match."
)


@st.cache_data(show_spinner=False)
def block_figure(projection: bool, stride: int):
    """The block diagrams never change: draw each once per server."""
    return afig.resnet_block_figure(projection=projection, stride=stride)


b1, b2 = st.columns(2)
with b1:
    st.caption("64 → 64 channels, stride 1: identity skip")
    chart(st, block_figure(False, 1), key="an_block_identity")
with b2:
    st.caption("64 → 128 channels, stride 2: projection skip")
    chart(st, block_figure(True, 2), key="an_block_proj")
blocks = summarize(zoo.preset_spec("resnet_block"), zoo.PRESETS["resnet_block"]["input_shape"])
table(blocks.records())

# ----------------------------------------------------------------------------- separable
st.header("Depthwise-separable vs standard convolution")
st.markdown(
    "MobileNet splits a convolution in two: a **depthwise** k×k filter per input channel "
    "(no mixing between channels), then a **pointwise** 1×1 convolution that mixes the channels. "
    "Same input and output shape, a fraction of the weights and mult-adds."
)
s = st.columns(4)
s[0].number_input("Input channels", 1, 1024, persist_state="session", key="an_sep_cin")
s[1].number_input("Output channels", 1, 1024, persist_state="session", key="an_sep_cout")
s[2].number_input("Height = width", 1, 512, persist_state="session", key="an_sep_size")
s[3].selectbox("Kernel", [1, 3, 5, 7], persist_state="session", key="an_sep_k")
try:
    cmp = separable_vs_standard(in_channels=S.an_sep_cin, out_channels=S.an_sep_cout,
                                       size=S.an_sep_size, kernel_size=S.an_sep_k)  # fmt: skip
except UserInputError as err:
    st.error(str(err))
else:
    st.markdown(
        f"{cmp['text']}: **{cmp['param_ratio']:.1f}× fewer parameters** and "
        f"**{cmp['macs_ratio']:.1f}× fewer mult-adds** (BatchNorm included in the parameters)."
    )
    std_col, sep_col = st.columns(2)
    std_col.caption("standard conv + BatchNorm + ReLU")
    std_col.dataframe(cmp["standard"].records(), hide_index=True)
    sep_col.caption("depthwise-separable block")
    sep_col.dataframe(cmp["separable"].records(), hide_index=True)
    chart(
        st,
        afig.compare_figure({"standard": cmp["standard"], "separable": cmp["separable"]}),
        key="an_sep_fig",
    )

# ----------------------------------------------------------------------------- FC vs conv
st.header("Fully connected vs convolution")
st.markdown(
    "A dense layer gives every input value its own weight for every unit, so its size grows with "
    "the input. A convolution reuses one small kernel at every position: its size does not depend "
    "on the input at all. Weights only, biases left out."
)
f = st.columns(5)
f[0].radio("Input", ["audio", "image"], persist_state="session", key="an_fc_input",
           format_func=lambda v: "1 s of 44.1 kHz audio" if v == "audio" else "224×224 RGB image")  # fmt: skip
f[1].number_input("Units per dense layer", 1, 100000, persist_state="session", key="an_fc_units")
f[2].number_input("Dense layers", 1, 10, persist_state="session", key="an_fc_layers")
f[3].number_input("Conv filters", 1, 4096, persist_state="session", key="an_fc_filters")
f[4].number_input("Conv kernel", 1, 31, persist_state="session", key="an_fc_k")
try:
    fc = fc_vs_conv(input_kind=S.an_fc_input, units=S.an_fc_units, n_layers=S.an_fc_layers,
                           filters=S.an_fc_filters, kernel_size=S.an_fc_k)  # fmt: skip
except UserInputError as err:
    st.error(str(err))
else:
    st.markdown(f"**Dense:** {fc['fc_text']} weights")
    st.markdown(f"**Convolution:** {fc['conv_text']} weights, about {fc['ratio']:,.0f}× fewer.")
    if S.an_fc_input == "audio" and S.an_fc_layers == 3 and S.an_fc_units == 1000:
        st.caption(
            "The chapter prints 45.1 M for this example; the three products add up to 46.1 M "
            "(45.1 M is the count for two dense layers, 44,100×1,000 + 1,000×1,000)."
        )
    chart(st, afig.fc_vs_conv_figure(fc), key="an_fc_fig")

# ----------------------------------------------------------------------------- heads
st.header("Sigmoid or softmax head")
st.markdown(
    "- **Softmax** turns the last layer's scores into one probability per class that sum to 1: "
    "use it when each example belongs to exactly one of several classes (11 spoken commands, "
    "30 instruments).\n"
    "- **Sigmoid** squashes each score into 0–1 on its own: use it for a yes/no decision "
    "(one output unit for two classes) or when several labels can be true at once."
)
st.text_input("Scores (logits) of the last layer", persist_state="session", key="an_logits")
try:
    probs = head_probabilities(parse_numbers(S.an_logits))
except UserInputError as err:
    st.error(str(err))
else:
    st.dataframe(
        [
            {"output": i, "logit": z, "softmax": round(p, 4), "sigmoid": round(q, 4)}
            for i, (z, p, q) in enumerate(
                zip(
                    parse_numbers(S.an_logits),
                    probs["softmax"],
                    probs["sigmoid"],
                    strict=True,
                )
            )
        ],
        hide_index=True,
    )
    st.caption(
        f"softmax sums to {sum(probs['softmax']):.3f}; sigmoid sums to {sum(probs['sigmoid']):.3f}."
    )
