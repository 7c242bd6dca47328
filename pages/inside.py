"""Inside the network: one input through a trained model, layer by layer, and the evidence."""

import numpy as np
import streamlit as st

from core.errors import UserInputError
from core.figures import inside as fig
from core.learn import inside as I
from pages import _url as U
from pages._router import ensure_router
from pages._shared import chart, controls, end_page, newest_input, presenter

ensure_router()
S = st.session_state

st.title("Inside the network")
st.markdown(
    "The explainer pages show one layer on numbers you type; here is a whole trained network "
    "at work on one real input. Every convolution turns its input into **feature maps**, one "
    "per filter (red where the filter found its pattern, blue where the opposite); pooling "
    "shrinks them; the last layers turn them into one score per class. Below that, two ways "
    "of asking *why*: **Grad-CAM** (where the last convolutions' evidence for a class sits) "
    "and **occlusion** (how much the score drops when a patch is hidden)."
)

TITLES = {"digits": "Handwritten digits", "commands": "Spoken commands",
          "instruments": "Instrument timbres",
          "gm_instruments": "General MIDI instruments"}  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def shipped(name: str):
    return I.load_shipped(name)


@st.cache_resource(max_entries=3, show_spinner="Loading the dataset…")
def dataset(name: str):
    from core.data import shipped as data

    return data.load(name)


@st.cache_resource(max_entries=4, show_spinner="Preparing the test examples…")
def shipped_examples(name: str):
    from core.learn.classify import Preprocess

    b = shipped(name)
    pre = Preprocess.from_dict(b.features or {})
    return I.test_examples(b.model, dataset(name), pre.representation, pre.pad)


def session_choice():
    """The model trained on the Train page in this session, if it can be looked at here."""
    from core.learn import runs

    run = S.get("train_run")
    if run is None or run.status not in (runs.DONE, runs.STOPPED) or run.model is None:
        return None
    if run.task is None:
        return None
    if run.task.binary:
        S.in_not_drawn = (
            f"The {run.info.model_name} trained in this session is not in the list: this page "
            "draws networks with one output per class, and it learned a two-class decision "
            "with one output (the Evaluate page shows its ROC curve)."
        )
        return None
    if run.info.dataset_name not in TITLES and run.info.dataset is None:
        return None
    return run


models = {f"shipped:{k}": f"{TITLES.get(k, k)}: {v['model']} (shipped, test {v['test_accuracy']:.0%})"
          for k, v in I.shipped_models().items()}  # fmt: skip
S.in_not_drawn = None
run = session_choice()
if run is not None:
    models["session"] = f"{run.info.model_name} trained in this session on {run.info.dataset_name}"


def loaded_choice():
    """The model loaded on the Ask your model page, if this page can look inside it."""
    loaded = S.get("cl_loaded")
    if not loaded or loaded.get("head") != "softmax":
        return None
    dims = 2 if loaded["pre"].representation == "waveform" else 3
    if len(loaded.get("input_shape", ())) != dims:
        return None
    return loaded


loaded = loaded_choice()
if loaded is not None:
    models["loaded"] = f"{loaded['title']}, from Ask your model (your own input only)"
if S.in_not_drawn:
    st.info(S.in_not_drawn, icon=":material/info:")
if not models:
    st.info("No trained model yet: train one on the Train page.", icon=":material/info:")
    end_page()


def url_settings() -> list[U.Setting]:
    return [
        U.choice("in_model", list(models), next(iter(models))),
        U.integer("in_example", 0, 100_000, 0),
        U.choice("in_show", ["all", "misclassified", "least confident"], "all"),
        U.choice("in_source", ["a test example", "your own"], "a test example"),
        U.choice("in_order", ["channel", "strength"], "channel"),
    ]


if run is not None and S.get("in_run_seen") != run.id:
    S.in_run_seen = run.id  # a model just trained here: the page opens on it, once
    S.in_model = "session"
if S.get("in_model") not in models:
    S.in_model = next(iter(models))
# a link from the Evaluate page names one test example by its place in the dataset (read
# before the page writes its own settings into the URL)
wanted = st.query_params.get("in_index")
U.sync(url_settings)

with controls("Choose the model"):
    st.selectbox(
        "Model", list(models), format_func=models.get, key="in_model", persist_state="session"
    )
try:
    if S.in_model == "session":
        model, task = run.model, run.task
        ds_name, class_names = run.info.dataset_name, list(task.class_names)
        # the run's own dataset (your own classes too), else the shipped one it names
        examples_of = run.info.dataset if run.info.dataset is not None else dataset(ds_name)
        pre_settings = task.preprocess.settings
        key = ("session", id(run))
        if S.get("in_examples_key") != key:
            S.in_examples = I.test_examples(model, examples_of, task.representation,
                                            task.preprocess.pad)  # fmt: skip
            S.in_examples_key = key
        ex = S.in_examples
    elif S.in_model == "loaded":  # no test set comes with it: the user's own input only
        model, class_names = loaded["model"], list(loaded["class_names"])
        pre_settings = loaded["pre"].settings
        ds_name, ex, examples_of = None, None, None
        S.in_source = "your own"
    else:
        ds_name = S.in_model.split(":", 1)[1]
        bundle = shipped(ds_name)
        model, class_names = bundle.model, list(bundle.class_names)
        pre_settings = (bundle.features or {}).get("settings")
        ex, examples_of = shipped_examples(ds_name), dataset(ds_name)
except UserInputError as err:
    st.error(str(err), icon=":material/error:")
    end_page()
model = model.cpu().eval()
if S.in_model == "loaded":
    reads = loaded["pre"].representation
elif S.in_model == "session":
    reads = run.task.representation
else:
    reads = "image" if ds_name == "digits" else "log-mel"
audio = reads == "log-mel"  # a log-mel: drawn as a picture of bands against frames
sound = reads in ("log-mel", "waveform")  # clips to record, upload and hear
wave_model = reads == "waveform"  # reads the samples themselves: 1-D maps against time

if wanted is not None and ex is not None and S.get("in_index_applied") != (S.in_model, wanted):
    S.in_index_applied = (S.in_model, wanted)
    try:
        at = np.flatnonzero(ex.index == int(str(wanted)[:12]))
    except ValueError:
        at = np.zeros(0, dtype=int)
    if len(at):
        S.in_class, S.in_show, S.in_example = "any", "all", int(at[0])
    else:
        st.warning("The example this link names is not in this model's test set.")

OWN = "your own"
with controls("Choose the input: a test example or your own"):
    st.radio("Input", ["a test example", OWN], key="in_source", persist_state="session", horizontal=True,
             disabled=ex is None,
             format_func=lambda v: v if v != OWN else
             ("your own (record or upload a clip)" if sound else "your own (draw or upload)"))  # fmt: skip


def preprocess():
    """How the chosen model's inputs are made (core.learn.classify.Preprocess)."""
    from core.learn.classify import Preprocess

    if S.in_model == "loaded":
        return loaded["pre"]
    if S.in_model == "session":
        return task.preprocess
    return Preprocess.from_dict(bundle.features or {})


def own_input():
    """The user's picture or clip as the network reads it (None until one is given)."""
    from core.learn.classify import drawing_to_digit

    pre = preprocess()
    if not sound:
        d1, d2 = st.columns(2)
        with d1:
            from streamlit_drawable_canvas import st_canvas

            st.caption("Draw a digit, light on dark like the MNIST digits.")
            drawn = st_canvas(stroke_width=22, stroke_color="#ffffff", background_color="#000000",
                              height=224, width=224, drawing_mode="freedraw",
                              return_image_data=True, key="in_canvas")  # fmt: skip
        up = d2.file_uploader("…or upload a picture (PNG or JPEG)", type=["png", "jpg", "jpeg"],
                              key="in_picture")  # fmt: skip
        gray = drawing_to_digit(drawn.image_data)
        if up is not None:
            from core.data.images import load_picture

            gray = load_picture(up.getvalue(), name=up.name, max_side=512).gray
        return None if gray is None else I.own_picture(gray, pre)
    from core.audio.clips import UPLOAD_TYPES

    a1, a2 = st.columns(2)
    rec = a1.audio_input("Record a clip", key="in_record")
    up = a2.file_uploader("…or upload one", type=UPLOAD_TYPES, key="in_clip")
    source, digest = newest_input({"rec": rec, "up": up}, "in")
    if source is None:
        return None
    kept = S.get("in_own")
    if kept is None or kept[0] != (S.in_model, digest):
        kept = S.in_own = ((S.in_model, digest),
                           I.own_clip(source.getvalue(), pre, name=getattr(source, "name", "recording")))  # fmt: skip
    return kept[1]


if S.in_source == OWN:
    with controls("Record, upload or draw your own input"):
        try:
            own = own_input()
        except UserInputError as err:
            st.error(str(err), icon=":material/error:")
            own = None
    if own is None:
        st.info(
            ("Record or upload a clip" if sound else "Draw a digit or upload a picture")
            + ": the rest of the page follows it through the network.",
            icon=":material/info:",
        )
        end_page()
    for note in own.notes:
        st.caption(note)
    x, wave, truth = own.x, own.wave, None
    pred = I.top_k(model, x, k=1)[0][0]
else:
    with controls("Choose the test example"):
        c1, c2, c3 = st.columns([2, 2, 3])
        cls = c1.selectbox("Class", ["any", *class_names], key="in_class", persist_state="session")
        c2.selectbox(
            "Show",
            ["all", "misclassified", "least confident"],
            key="in_show",
            persist_state="session",
        )
        chosen = ex.choose(cls=None if cls == "any" else class_names.index(cls), show=S.in_show)
        if len(chosen) == 0:
            st.info("No test example fits: every one of this class is classified correctly.")
            end_page()
        S.in_example = min(max(int(S.get("in_example", 0)), 0), len(chosen) - 1)
        c3.number_input(
            f"Example (of {len(chosen)})",
            0,
            len(chosen) - 1,
            key="in_example",
            persist_state="session",
        )
    i = int(chosen[S.in_example])
    x = ex.x[i : i + 1]
    truth, pred = int(ex.y[i]), int(ex.predicted[i])
    wave = examples_of.x[int(ex.index[i])] if sound else None


def sample_rate() -> int:
    return int(preprocess().sample_rate)


left, right = st.columns([2, 3])
with left:
    if wave_model:
        title = "the waveform the network reads"
        f_in = fig.wave_figure(x[0].numpy(), sample_rate=sample_rate(), title=title,
                               presenter=presenter())  # fmt: skip
    else:
        title = "what the network reads" + (": log-mel (bands up, frames across)" if audio else "")
        f_in = fig.input_figure(x[0].numpy(), audio=audio, presenter=presenter(), title=title)
    chart(st, f_in, key="in_input")
with right:
    if truth is None:
        st.markdown(f"The network says **{class_names[pred]}**.")
    else:
        ok = "right" if truth == pred else "wrong"
        st.markdown(f"True class **{class_names[truth]}**; the network says "
                    f"**{class_names[pred]}** ({ok}).")  # fmt: skip
    top = I.top_k(model, x, k=min(3, len(class_names)))
    st.table({"class": [class_names[c] for c, _ in top],
              "probability": [f"{p:.1%}" for _, p in top]})  # fmt: skip

st.header("Every layer")
order = st.radio("Order the maps", ["channel", "strength"], key="in_order", persist_state="session", horizontal=True,
                 help="By channel number, or the most active first.")  # fmt: skip
views = I.walk(model, x)
if any(v.is_map and len(v.shape) == 2 for v in views[1:]):
    st.caption(
        "The network reads a waveform, so each layer's maps are 1-D: every channel is one row "
        "below, its positions across in the order of time (each position of a deeper layer "
        "covers more of the clip)."
    )
for view in views[1:]:
    shape = "×".join(str(s) for s in view.shape)
    if view.is_map and len(view.shape) == 2:  # (C, T): every channel as one row
        st.markdown(f"**{view.name}** ({view.kind}) → {shape}")
        chart(st, fig.layer_1d_figure(view.output, order=order, presenter=presenter()),
              key=f"in_maps_{view.name}")  # fmt: skip
    elif view.is_map:
        f, shown = fig.maps_figure(view.output, n=8, order=order, presenter=presenter())
        st.markdown(f"**{view.name}** ({view.kind}) → {shape}"
                    + (f"; maps {', '.join(map(str, shown))} of {view.shape[0]}"
                       if view.shape[0] > len(shown) else ""))  # fmt: skip
        chart(st, f, key=f"in_maps_{view.name}")
    else:
        labels = class_names if view is views[-1] and len(view.output) == len(class_names) else None
        st.markdown(f"**{view.name}** ({view.kind}) → {shape}")
        if view.output.size <= 256:
            chart(st, fig.vector_figure(view.output, labels=labels, presenter=presenter()),
                  key=f"in_vec_{view.name}")  # fmt: skip
        else:
            st.caption(f"{view.output.size:,} numbers, the maps above laid end to end.")

w = I.first_filters(model)
if w is not None:
    st.header("What the first layer learned")
    st.markdown(
        "The first convolution's kernels are its learned weights, drawn as they are (input "
        "channel 0): each one lights up where the input looks like it. Deeper kernels mix "
        "many channels and are not pictures of anything."
        + (
            " Here each kernel is a short stretch of waveform, one weight per sample: a filter "
            "tuned to a band of frequencies has the wiggle of that band."
            if wave_model
            else ""
        )
    )
    chart(st, fig.filters_figure(w, presenter=presenter()), key="in_filters")
    if len(w) > 16:
        st.caption(f"The first 16 of its {len(w)} kernels.")

deeper = I.conv_layer_names(model)[1:]
if deeper:
    st.subheader("What excites a deeper filter (an approximation)")
    st.markdown(
        "A deeper kernel mixes many channels, so it is no picture. Instead, start from a faint "
        "noise input and change it, step by step, so that one filter's map lights up as much "
        "as it can (gradient ascent on the input): the result is *an* input the filter "
        "likes, one of many, found in 40 steps."
    )
    d1, d2 = st.columns([2, 1], vertical_alignment="bottom")
    deep_layer = d1.selectbox("Layer", deeper, key="in_deep_layer", persist_state="session")
    deep_key = (S.in_model, deep_layer)
    if d2.button("Find inputs for 8 filters", key="in_deep"):
        with st.spinner("Climbing the gradient…"):
            S.in_deep_result = (deep_key, np.stack([
                I.excite(model, deep_layer, c, tuple(x.shape[1:]), steps=40) for c in range(8)
                if c < dict(model.named_children())[deep_layer].out_channels]))  # fmt: skip
    found = S.get("in_deep_result")
    if found is not None and found[0] == deep_key and wave_model:
        liked = found[1][:, :, :: max(1, found[1].shape[-1] // 1000)]  # curves of ~1000 points
        chart(st, fig.filters_figure(liked, presenter=presenter()), key="in_deep_maps")
        st.caption("The waveform each filter (0–7) liked best, across the whole input.")
    elif found is not None and found[0] == deep_key:
        f_deep, _ = fig.maps_figure(found[1][:, 0], n=8, presenter=presenter())
        chart(st, f_deep, key="in_deep_maps")
        st.caption("Input channel 0 of the input each filter (0–7) liked best; red high, blue low.")


def _unit_clicked() -> None:
    """A click on a feature-map cell chooses that unit (customdata [row, col]; the browser
    may send a numpy row as a list or as {"0": .., "1": ..})."""
    points = (S.get("in_field") or {}).get("selection", {}).get("points", [])
    data = points[0].get("customdata") if points else None
    if isinstance(data, dict):
        data = [data.get(str(k)) for k in range(2)]
    if isinstance(data, list) and len(data) == 2 and all(isinstance(v, int | float) for v in data):
        S.in_unit_row, S.in_unit_col = (int(v) for v in data)


def show_field(op, f_idx: int) -> None:
    """The chosen unit's receptive field lit on the input, beside its feature map."""
    st.subheader("Where this unit looks")
    row, col = int(S.in_unit_row), int(S.in_unit_col)
    try:
        rows, cols = I.unit_field(model, x, op.layer, row, col)
    except UserInputError as err:
        st.info(str(err), icon=":material/info:")
        return
    chart(
        st,
        fig.field_figure(
            x[0].numpy(),
            op.torch_output[f_idx],
            rows.positions,
            cols.positions,
            (row, col),
            audio=audio,
            presenter=presenter(),
            title_map=f"{op.layer}, filter {f_idx}: click a unit",
        ),  # fmt: skip
        key="in_field",
        on_select=_unit_clicked,
        selection_mode="points",
    )
    n_r, n_c = rows.hi - rows.lo + 1, cols.hi - cols.lo + 1
    holes = rows.positions.size * cols.positions.size < n_r * n_c
    gaps = " (with gaps: a dilated kernel skips positions)" if holes else ""
    if not audio:
        st.markdown(
            f"Unit (row {row}, column {col}) of filter {f_idx} reads input rows "
            f"**{rows.lo}–{rows.hi}** and columns **{cols.lo}–{cols.hi}**: a {n_r}×{n_c} patch "
            f"of the {rows.size}×{cols.size} picture{gaps}. Nothing outside it can change this "
            "number."
        )
        return
    from core.audio.features import FeatureSettings
    from core.audio.views import wav_bytes

    settings = FeatureSettings(**(pre_settings or {}))
    where = I.field_in_audio(rows, cols, settings)
    (t0, t1), (f0, f1) = where["t_ms"], where["hz"]
    st.markdown(
        f"Unit (row {row}, column {col}) of filter {f_idx} reads mel bands "
        f"**{rows.lo}–{rows.hi}** (**{f0:,.0f}–{f1:,.0f} Hz**) over frames **{cols.lo}–{cols.hi}**"
        f" (**{t0:,.0f}–{t1:,.0f} ms** of the clip){gaps}. Listen to exactly that box:"
    )
    st.audio(wav_bytes(I.box_audio(wave, rows, cols, settings), settings.sample_rate),
             format="audio/wav")  # fmt: skip


def show_field_1d(op, f_idx: int) -> None:
    """The chosen unit's receptive field shaded on the waveform, and the stretch to hear."""
    from core.audio.views import wav_bytes

    st.subheader("Where this unit listens")
    pos = int(S.in_unit_pos)
    try:
        field = I.unit_field_1d(model, x, op.layer, pos)
    except UserInputError as err:
        st.info(str(err), icon=":material/info:")
        return
    sr = sample_rate()
    chart(st, fig.wave_figure(x[0].numpy(), sample_rate=sr, field=(field.lo, field.hi),
                              title=f"{op.layer}, filter {f_idx}, position {pos}: its field",
                              presenter=presenter()), key="in_field_1d")  # fmt: skip
    n = field.hi - field.lo + 1
    gaps = " (with gaps: a dilated kernel skips samples)" if field.positions.size < n else ""
    st.markdown(
        f"Position {pos} of filter {f_idx} reads input samples **{field.lo:,}–{field.hi:,}**: "
        f"{n:,} samples, **{1000 * field.lo / sr:,.0f}–{1000 * (field.hi + 1) / sr:,.0f} ms** "
        f"of the clip{gaps}. Nothing outside it can change this number. Listen to it:"
    )
    st.audio(wav_bytes(x[0, 0].numpy()[field.lo : field.hi + 1], sr), format="audio/wav")


st.header("One unit's arithmetic")
st.markdown(
    "Pick a convolution and one of its filters: the step player below redoes that layer with "
    "the explainer's arithmetic on the real input it received, the learned weights and bias. "
    "Click any output cell to see the sum that made it; the numbers are checked against "
    "what the network itself computed. Below it, the unit's receptive field lights up on the "
    + (
        "waveform, and you can hear it: choose another unit by its position."
        if wave_model
        else "input: click a cell of the feature map there to choose another unit."
    )
)
convs_here = I.conv_layer_names(model)
if not convs_here and I.inside_pretrained(model):
    st.info(I.inside_pretrained(model), icon=":material/info:")
if convs_here:
    u1, u2 = st.columns(2)
    unit_layer = u1.selectbox(
        "Convolution", convs_here, key="in_unit_layer", persist_state="session"
    )
    try:
        op = I.unit_operation(model, x, unit_layer)
    except UserInputError as err:
        st.info(str(err))
        op = None
    if op is not None:
        n_filters = op.result.output.shape[0]
        if not 0 <= int(S.get("in_unit_filter", 0)) < n_filters:
            S.in_unit_filter = 0
        u2.number_input(
            f"Filter (of {n_filters})",
            0,
            n_filters - 1,
            key="in_unit_filter",
            persist_state="session",
        )
        f_idx = min(int(S.in_unit_filter), n_filters - 1)
        scale = max(1.0, float(np.abs(op.torch_output).max()))
        st.caption(
            f"Largest difference from PyTorch's output over the whole layer: "
            f"{op.max_abs_diff:.2g} (the network computes in 32-bit floats, this page in 64)"
            + (" — they agree." if op.max_abs_diff <= 1e-5 * scale else " — they DISAGREE.")
        )
        if op.result.padded.ndim == 3:
            oh, ow = op.result.out_shape
            v1, v2 = st.columns(2)
            # the unit shown first: this filter's strongest answer (the centre of a digit
            # is often empty, and all of its arithmetic read "× 0 = 0")
            strongest = np.unravel_index(int(np.argmax(np.abs(op.result.output[f_idx]))), (oh, ow))
            for key, n, first in (
                ("in_unit_row", oh, strongest[0]),
                ("in_unit_col", ow, strongest[1]),
            ):
                if not 0 <= int(S.get(key, first)) < n:
                    S[key] = int(first)
                S.setdefault(key, int(first))
            v1.number_input(
                f"Output row (of {oh})", 0, oh - 1, key="in_unit_row", persist_state="session"
            )
            v2.number_input(
                f"Output column (of {ow})", 0, ow - 1, key="in_unit_col", persist_state="session"
            )
        else:  # 1-D: one position along time, this filter's strongest answer first
            (ow,) = op.result.out_shape
            strongest = int(np.argmax(np.abs(op.result.output[f_idx])))
            if not 0 <= int(S.get("in_unit_pos", strongest)) < ow:
                S.in_unit_pos = strongest
            S.setdefault("in_unit_pos", strongest)
            st.number_input(
                f"Output position (of {ow})", 0, ow - 1, key="in_unit_pos", persist_state="session"
            )
        if op.in_channels <= I.MAX_STEPPED_CHANNELS and op.result.padded.ndim == 2:
            from core.explain.frames import step_frames
            from pages._instant import instant_stepper

            crop, (_, c0) = I.crop_operation(op, f_idx, 0, S.in_unit_pos, size=6)
            (cw,) = crop.out_shape
            (sw,), (kw,), (dw,) = op.result.stride, op.result.kernel_size, op.result.dilation
            lo, hi = c0 * sw, (c0 + cw - 1) * sw + dw * (kw - 1)
            st.caption(
                f"Output positions {c0}–{c0 + cw - 1} of filter {f_idx} (numbered from 0 in the "
                f"player below), and the {hi - lo + 1} input positions they read ({lo}–{hi} of "
                "the padded input): each output is the sum of "
                f"{kw * op.in_channels} products and the bias."
            )
            prefix = f"in_unit_{unit_layer}_{f_idx}_{c0}"
            S.setdefault(f"{prefix}_step", S.in_unit_pos - c0 + 1)
            instant_stepper(prefix, step_frames(crop), ms_per_step=500, report=False)
        elif op.in_channels <= I.MAX_STEPPED_CHANNELS and op.result.padded.ndim == 3:
            from core.explain.frames import step_frames
            from pages._instant import instant_stepper

            crop, (r0, c0) = I.crop_operation(op, f_idx, S.in_unit_row, S.in_unit_col, size=5)
            ch, cw = crop.out_shape
            st.caption(
                f"Output rows {r0}–{r0 + ch - 1} and columns {c0}–{c0 + cw - 1} of filter "
                f"{f_idx} (numbered from 0 in the player below), and the part of the (padded) "
                "input they read; zeros at an edge are the layer's padding."
            )
            prefix = f"in_unit_{unit_layer}_{f_idx}_{r0}_{c0}"
            S.setdefault(f"{prefix}_step", (S.in_unit_row - r0) * cw + (S.in_unit_col - c0) + 1)
            instant_stepper(
                prefix, step_frames(crop), ms_per_step=500, report=False
            )  # the chosen unit first
        else:
            st.info(
                f"{unit_layer} reads {op.in_channels} channels: too many to step through here "
                f"(at most {I.MAX_STEPPED_CHANNELS}); the first convolution always fits."
            )
        if op.result.padded.ndim == 3:
            show_field(op, f_idx)
        else:
            show_field_1d(op, f_idx)

st.header("The evidence")
convs = I.conv_layer_names(model)
if not convs:
    st.info(
        I.inside_pretrained(model)
        or "This model has no convolution, so there is no Grad-CAM to show.",
        icon=":material/info:",
    )
    end_page()
e1, e2 = st.columns(2)
target_name = e1.selectbox("For the class", class_names, index=pred, key="in_target")
layer = e2.selectbox("Grad-CAM at layer", convs, index=len(convs) - 1, key="in_layer")
target = class_names.index(target_name)
g1, g2 = st.columns(2)
cam = I.grad_cam(model, x, target, layer)


def evidence_figure(attr: np.ndarray, title: str):
    if wave_model:
        return fig.wave_figure(x[0].numpy(), sample_rate=sample_rate(), attr=attr, title=title,
                               presenter=presenter())  # fmt: skip
    return fig.overlay_figure(x[0].numpy(), attr, audio=audio, presenter=presenter(), title=title)


chart(g1, evidence_figure(cam, f"Grad-CAM for “{target_name}” at {layer}"), key="in_cam")
spatial = x.shape[2:]
window = tuple(max(2, n // 7) for n in spatial)
with g2:
    bar = st.progress(0.0, text="Sliding the patch over the input…")
    occ = I.occlusion(model, x, target, window=window,
                      stride=tuple(max(1, w_ // 2) for w_ in window),
                      progress=lambda f: bar.progress(f, text=f"Sliding the patch over the "
                                                      f"input: {f:.0%}"))  # fmt: skip
    bar.empty()
chart(g2, evidence_figure(occ, f"Occlusion: the score drop for “{target_name}”"), key="in_occ")
if wave_model:
    patch = f"{window[0]:,} samples ({1000 * window[0] / sample_rate():,.0f} ms) of silence."
else:
    patch = f"{'×'.join(map(str, window))} cells of 0: " + (
        "the average level of the standardised log-mel." if audio else "black pixels."
    )
st.caption(
    "Red: evidence for the class (hiding it lowers the score); blue, for occlusion: hiding it "
    f"raises the score. The occluding patch is {patch}"
)

if wave_model:
    st.subheader("Hear the evidence")
    st.markdown(
        "Keep only the samples where Grad-CAM puts the top fifth of its evidence, and listen; "
        "then listen to everything else. If the network listens to the right thing, the first "
        f"should still sound like “{target_name}” and the second should not."
    )
    from core.audio.views import wav_bytes

    heard = x[0, 0].numpy()  # the window the network read
    evidence, rest, _ = I.evidence_wave(heard, cam, sample_rate=sample_rate(), keep=0.2)
    h1, h2, h3 = st.columns(3)
    for col, label, clip in ((h1, "the clip", heard), (h2, "the evidence only", evidence),
                             (h3, "everything else", rest)):  # fmt: skip
        col.caption(label)
        col.audio(wav_bytes(clip, sample_rate()), format="audio/wav")
elif audio:
    st.subheader("Hear the evidence")
    st.markdown(
        "Keep only the time–frequency cells where Grad-CAM puts the top fifth of its evidence "
        "(the clip's own sound there, with its phase), and listen; then listen to everything "
        "else. If the network listens to the right thing, the first should still sound like "
        f"“{target_name}” and the second should not."
    )
    from core.audio.features import FeatureSettings
    from core.audio.views import wav_bytes

    settings = FeatureSettings(**(pre_settings or {}))
    evidence, rest, _ = I.evidence_audio(wave, cam, settings, keep=0.2)
    h1, h2, h3 = st.columns(3)
    h1.caption("the clip")
    h1.audio(wav_bytes(wave, settings.sample_rate), format="audio/wav")
    h2.caption("the evidence only")
    h2.audio(wav_bytes(evidence, settings.sample_rate), format="audio/wav")
    h3.caption("everything else")
    h3.audio(wav_bytes(rest, settings.sample_rate), format="audio/wav")

if ex is None:
    st.caption("The sanity checks run on a test set; a loaded model brings none.")
elif st.button("Run the sanity checks", key="in_sanity",
               help="On 24 test examples: is the evidence real?"):  # fmt: skip
    with st.spinner("Checking…"):
        pick = np.flatnonzero(ex.predicted == ex.y)[:24]
        xs, ts = ex.x[pick], ex.y[pick]
        attrs = [I.grad_cam(model, xs[k : k + 1], int(ts[k]), layer) for k in range(len(pick))]
        top_drop, random_drop = I.occlusion_sanity(model, xs, ts, attrs, size=window)
        twin = I.randomized(model)
        corr = float(np.mean([I.rank_correlation(a, I.grad_cam(twin, xs[k : k + 1], int(ts[k]),
                                                               layer))
                              for k, a in enumerate(attrs[:8])]))  # fmt: skip
    a, b = st.columns(2)
    a.metric("Score drop: top region vs a random one", f"{top_drop:.1%} vs {random_drop:.1%}",
             help="Hiding where Grad-CAM points should hurt more than hiding anywhere else.")  # fmt: skip
    b.metric("Rank correlation with a randomised network", f"{corr:.2f}",
             help="Near 0: the map depends on what the network learned (Adebayo et al.).")  # fmt: skip
    if top_drop > random_drop and corr < 0.5:
        st.success("Both checks pass: the map follows the model's evidence.")
    else:
        st.warning("A check fails: read this map with care.")
