"""Ask a trained model about your own clip or picture; keep the model; export it."""

import streamlit as st

from core import audio
from core.audio.clips import UPLOAD_TYPES
from core.data.images import load_picture
from core.errors import UserInputError
from core.figures import predict as pfig
from core.learn import checkpoints, classify, runs
from core.learn.build import to_pytorch_code
from pages import _url as U
from pages._router import ensure_router
from pages._shared import chart, clip_notes, end_page, newest_input, presenter

ensure_router()

S = st.session_state
PLAY_DECODED_SECONDS = 120.0  # longer clips are played from the file itself, not re-encoded
UPLOAD_MB = int(st.get_option("server.maxUploadSize"))  # Streamlit refuses larger files itself

st.title("Ask your model")
st.markdown(
    "Give the network something it has never seen: record or upload a clip (or a picture, "
    "for an image model). It goes through exactly the preprocessing the training examples "
    "went through, and the network answers with a probability for every class. A clip longer "
    "than the training examples is scored window by window, so you can see where in the clip "
    f"each class wins; clips up to {classify.MAX_CLIP_SECONDS / 60:.0f} minutes long are "
    f"scored whole. Files up to {UPLOAD_MB} MB are taken: an hour of MP3, M4A or Opus, but only "
    f"about {UPLOAD_MB * 2**20 / (2 * 16_000) / 60:.0f} minutes of 16 kHz mono WAV (compress a "
    "longer WAV first)."
)


# ---------------------------------------------------------------------------- the model ----
def session_model():
    run = S.get("train_run")
    if run is None or run.status not in (runs.DONE, runs.STOPPED) or run.model is None:
        return None
    task, info = run.task, run.info  # core.learn.task.Task, core.learn.runs.RunInfo
    if task is None or info is None:
        return None
    return {"model": run.model, "pre": task.preprocess, "class_names": list(task.class_names),
            "head": task.head, "spec": info.spec, "input_shape": task.input_shape,
            "task": task.to_dict(),
            "title": f"{info.model_name} trained on {info.dataset_name} in this session"}  # fmt: skip


def load_uploaded() -> None:
    up = S.get("cl_bundle_upload")
    if up is None:
        return
    try:
        b = checkpoints.load_bundle(up.getvalue(), name=up.name)
        S.cl_loaded = {"model": b.model, "pre": classify.Preprocess.from_dict(b.features or {}),
                       "class_names": b.class_names, "head": b.head, "spec": b.spec,
                       "input_shape": b.input_shape, "task": b.task,
                       "title": f"{up.name} (loaded)"}  # fmt: skip
        S.cl_load_error = None
    except UserInputError as err:
        S.cl_load_error = str(err)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def shipped_model(name: str) -> dict:
    """A model the app ships (assets/models), ready the moment the app starts; shared by all
    sessions, read-only (the page never trains it)."""
    from core.learn import inside

    b = inside.load_shipped(name)
    facts = inside.shipped_models()[name]
    return {"model": b.model, "pre": classify.Preprocess.from_dict(b.features or {}),
            "class_names": b.class_names, "head": b.head, "spec": b.spec,
            "input_shape": b.input_shape, "task": b.task,
            "title": f"{facts['model']} shipped with the app, trained on {name} "
                     f"(test accuracy {facts['test_accuracy']:.1%})"}  # fmt: skip


def shipped_sources() -> dict:
    from core.learn import inside

    return {f"shipped:{k}": f"Shipped: {k}" for k in inside.shipped_models()}


sources = {}
if session_model() is not None:
    sources["session"] = "The model trained in this session"
sources.update(shipped_sources())
sources["loaded"] = "A saved model (.zip)"
if S.get("cl_source") not in sources:
    S.cl_source = next(iter(sources))


def model_setting() -> U.Setting:
    """The model in the link: a shipped one travels; a saved model's link opens the loader
    (the file itself does not travel); this tab's trained model travels while the tab has
    it, and a link naming it elsewhere says so."""
    plain = U.choice("cl_source", list(sources), next(iter(sources)))

    def read(text: str):
        if text == "session" and text not in sources:
            raise ValueError(
                "no model has been trained in this tab yet: train one on the Train page"
            )
        return plain.read(text)

    return U.Setting(plain.key, read, plain.write, plain.default)


def url_settings() -> list[U.Setting]:
    return [model_setting(), U.choice("cl_pic_source", ["Draw it", "Upload one"], "Draw it")]


U.sync(url_settings)
st.radio(
    "Which model?",
    list(sources),
    format_func=sources.get,
    persist_state="session",
    key="cl_source",
    horizontal=True,
)

if S.cl_source == "loaded":
    st.file_uploader("Saved model (.zip with model.safetensors and model.json)",
                     type=["zip", "pt", "pth", "ckpt", "pkl", "bin"],
                     key="cl_bundle_upload", on_change=load_uploaded)  # fmt: skip
    if S.get("cl_load_error"):
        st.error(S.cl_load_error, icon=":material/error:")
    current = S.get("cl_loaded")
    if current is None:
        if "session" not in sources:
            st.info("Train a model on the Train page (it appears here when it has finished), or "
                    "load one saved from this app.")  # fmt: skip
        end_page()
elif S.cl_source.startswith("shipped:"):
    current = shipped_model(S.cl_source.split(":", 1)[1])
else:
    current = session_model()
if S.get("cl_asked") is not None and S.cl_asked["model"] is not current["model"]:
    del S.cl_asked  # another model's answer about a clip: let it (and that model) go

pre: classify.Preprocess = current["pre"]
names = current["class_names"]
st.caption(
    f"**{current['title']}**: {len(names)} classes ({', '.join(names)}); it reads "
    + ("log-mel spectrograms" if pre.representation == "log-mel" else pre.representation + "s")
    + (f" of {pre.length / pre.sample_rate:.2f} s at {pre.sample_rate} Hz." if pre.representation != "image"
       else f" of {pre.image_shape[1]}×{pre.image_shape[2]} pixels.")
)  # fmt: skip


def ask_about_clip(source, digest: str) -> dict:
    """Decode a clip and score it window by window, with a progress bar.

    The answer is kept with the model and the clip's hash, so the reruns that follow (a
    click anywhere on the page) show it again without decoding or scoring the clip again.
    """
    name = getattr(source, "name", "recording")
    asked = {"model": current["model"], "digest": digest, "notes": [], "limit_note": None,
             "error": None, "samples": None, "prediction": None, "shown": None}  # fmt: skip
    try:
        data = source.getvalue()
        limit = classify.clip_limit(data)
        clip = audio.load_clip(
            data, name=name, target_sr=pre.sample_rate, max_seconds=limit.seconds
        )
        asked["notes"] = clip.notes
        asked["limit_note"] = limit.note(name, clip.source_seconds)
        audio.require_signal(clip, frame=pre.frame)
        n = len(classify.window_starts(clip.n_samples, pre.length))
        windows = f"{n} window{'s' * (n > 1)}"
        bar = st.progress(0.0, text=f"Scoring {windows}…")
        try:
            prediction = classify.classify_clip(
                current["model"], clip.samples, pre=pre, class_names=names, head=current["head"],
                progress=lambda done: bar.progress(done, text=f"Scoring {windows}: {done:.0%}"),
            )  # fmt: skip
        finally:
            bar.empty()
        first = classify.window_batch(clip.samples, [0], pre.length)  # (1, length)
        asked["shown"] = classify.audio_tensor(first, pre)[0].numpy()
        asked["prediction"] = prediction
        if clip.duration <= PLAY_DECODED_SECONDS:
            asked["samples"] = (clip.samples, clip.sr)
    except UserInputError as err:
        asked["error"] = str(err)
    return asked


# ------------------------------------------------------------------------------ ask it ----
st.header("Ask it")
prediction = shown = None
if pre.representation == "image":
    st.radio(
        "Picture",
        ["Draw it", "Upload one"],
        persist_state="session",
        key="cl_pic_source",
        horizontal=True,
    )
    gray = None
    if S.cl_pic_source == "Draw it":
        from streamlit_drawable_canvas import st_canvas

        st.caption("Draw with the mouse (or a finger), light on dark like the MNIST digits. It is "
                   "cropped, scaled to 20 pixels and centred in 28×28, as MNIST's digits were.")  # fmt: skip
        drawn = st_canvas(stroke_width=22, stroke_color="#ffffff", background_color="#000000",
                          height=280, width=280, drawing_mode="freedraw", return_image_data=True,
                          key="cl_canvas")  # fmt: skip
        gray = classify.drawing_to_digit(drawn.image_data)
    else:
        up = st.file_uploader(
            "A picture (PNG or JPEG)", type=["png", "jpg", "jpeg"], key="cl_picture"
        )
        if up is not None:
            try:
                pic = load_picture(up.getvalue(), name=up.name, max_side=512)
                clip_notes(pic.notes)
                gray = pic.gray
            except UserInputError as err:
                st.error(str(err), icon=":material/error:")
    if gray is not None:
        shown = classify.image_tensor(gray, pre)[0].numpy()
        prediction = classify.classify_image(current["model"], gray, pre=pre, class_names=names,
                                             head=current["head"])  # fmt: skip
else:
    c1, c2 = st.columns(2)
    rec = c1.audio_input("Record a clip", key="cl_record")
    up = c2.file_uploader("…or upload one", type=UPLOAD_TYPES, key="cl_clip")
    source, digest = newest_input({"rec": rec, "up": up}, "cl")
    if source is not None:
        asked = S.get("cl_asked")
        if asked is None or asked["digest"] != digest:  # (another model's answer is gone)
            asked = S.cl_asked = ask_about_clip(source, digest)
        clip_notes(asked["notes"])
        if asked["limit_note"]:
            st.warning(asked["limit_note"], icon=":material/timer:")
        if asked["error"]:
            st.error(asked["error"], icon=":material/error:")
        else:
            if asked["samples"] is not None:
                st.audio(asked["samples"][0], sample_rate=asked["samples"][1])
            else:  # a long clip: the file itself (within the upload limit), not a new WAV
                st.audio(source, format=getattr(source, "type", None) or "audio/wav")
            prediction, shown = asked["prediction"], asked["shown"]

if prediction is not None:
    left, right = st.columns(2)
    with left:
        st.markdown(
            "**What the network reads**"
            + (" (the first window)" if pre.representation != "image" else "")
        )
        chart(st, pfig.input_figure(shown, representation=pre.representation, presenter=presenter()),
                        key="cl_input_fig")  # fmt: skip
    with right:
        best, p = prediction.top(1)[0]
        st.markdown(f"**It says: {best}** ({p:.1%})")
        chart(st, pfig.probabilities_figure(prediction.top(min(5, len(names))), presenter=presenter()),
                        key="cl_probs_fig")  # fmt: skip
    if prediction.window_probs is not None and len(prediction.window_starts) > 1:
        st.markdown(
            f"**Over time**: {len(prediction.window_starts)} windows of {prediction.window_seconds:.2f} s, "
            "each half a window after the last; the answer above is their average."
        )
        chart(st, pfig.timeline_figure(prediction.window_starts, prediction.window_probs, names,
                                             window=prediction.window_seconds, presenter=presenter()),
                        key="cl_timeline_fig")  # fmt: skip

# ------------------------------------------------------------------------------ keep it ----
st.header("Keep it")
st.markdown(
    "Save the model as a .zip holding **model.safetensors** (the weights: plain numbers, no "
    "code) and **model.json** (the layers, the classes and the preprocessing). Load it here "
    "later or on another machine; a pickled PyTorch checkpoint is refused, because unpickling "
    "can run code."
)
if current.get("spec") is not None:
    bundle = checkpoints.save_bundle(current["model"], spec=current["spec"], input_shape=current["input_shape"],
                                     class_names=names, head=current["head"], features=pre.to_dict(),
                                     task=current.get("task"))  # fmt: skip
    st.download_button("Download the model (.zip)", bundle, file_name="cnn-model.zip",
                       mime="application/zip", key="cl_download", icon=":material/download:")  # fmt: skip
    with st.expander("The PyTorch code that rebuilds it"):
        st.code(
            to_pytorch_code(current["spec"], current["input_shape"], logits=True),
            language="python",
        )
        st.caption(
            "Then `model.load_state_dict(safetensors.torch.load_file('model.safetensors'))`."
        )
    if st.button("Export to ONNX", key="cl_onnx", icon=":material/output:"):
        from core.learn.export import to_onnx

        try:
            with st.spinner("Exporting…"):
                exported = to_onnx(current["model"], current["input_shape"], class_names=names,
                                   preprocess=pre, head=current["head"])  # fmt: skip
        except UserInputError as err:
            st.error(str(err), icon=":material/error:")
        else:
            # keyed by the model object itself (held, so its id can never pass to another)
            S.cl_onnx_result = (current["model"], exported)
    onnx = S.get("cl_onnx_result")
    if onnx is not None and onnx[0] is not current["model"]:  # another model's export: gone
        del S.cl_onnx_result
        onnx = None
    if onnx is not None:
        exp = onnx[1]
        st.success(f"Exported and checked with {exp.checked_with}: largest difference from PyTorch "
                   f"{exp.max_abs_diff:.2g}.")  # fmt: skip
        st.download_button(
            "Download model.onnx", exp.data, file_name="model.onnx", key="cl_onnx_download"
        )
        st.caption(
            "It reads a batch of any size, and its metadata holds the class names, the input "
            "shape and the preprocessing (in onnxruntime: "
            "`session.get_modelmeta().custom_metadata_map`)."
        )
