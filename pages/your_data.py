"""Your own classes: record or upload examples per class (or a zip), add room noise as a
background class, keep the whole project as one zip, then train on them."""

import numpy as np
import streamlit as st

from core.audio.clips import UPLOAD_TYPES
from core.data import archive, online
from core.data import project as projects
from core.data import users as userdata
from core.errors import UserInputError
from core.figures.thumbs import log_mel_thumbnail
from pages import _url as U
from pages._router import ensure_router
from pages._shared import clip_notes, count, init_state

ensure_router()

S = st.session_state
SR = 16_000
MAX_EXAMPLES = 600  # per browser session, so one user cannot fill the server's memory
KINDS = {"Sounds": "audio", "Pictures": "image"}

st.title("Your own data")
st.markdown(
    "Teach a network your own classes: name them, then record or upload a few examples of "
    "each (or upload a zip with one folder per class). Every clip is checked the way the audio "
    "explorer checks it, cut to its loudest "
    f"{userdata.CLIP_SECONDS:g} s (or padded with silence), and shown as the log-mel image the "
    f"network will read. When each class has at least {userdata.MIN_PER_CLASS} examples (ideally "
    f"{userdata.FEW_PER_CLASS} or more), use the set for training."
)


def collection() -> userdata.Gathered:
    """The examples of the kind chosen; the other kind's wait aside until it is chosen again."""
    kind = KINDS[S.yd_kind]
    if "yd_data" not in S or S.yd_data.kind != kind:
        aside = S.setdefault("yd_aside", {})
        if "yd_data" in S:
            aside[S.yd_data.kind] = S.yd_data
        S.yd_data = aside.pop(kind, None) or userdata.Gathered(kind)
    return S.yd_data


def n_examples(g: userdata.Gathered) -> int:
    return sum(g.counts.values())


def room() -> int:
    """How many more examples this session may keep (the files beyond are not decoded)."""
    kept = n_examples(collection()) + sum(map(n_examples, S.get("yd_aside", {}).values()))
    return max(MAX_EXAMPLES - kept, 0)


def merge(new: userdata.Gathered) -> None:
    """Add decoded examples to the collection, within the session's limit."""
    g = collection()
    room_left = room()
    added = 0
    for label, items in new.examples.items():
        g.examples.setdefault(label, [])
        g.names.setdefault(label, [])
        for example, name in zip(items, new.names[label], strict=True):
            if added >= room_left:
                new.problems.append(
                    f"The limit of {MAX_EXAMPLES} examples is reached; the rest was left out."
                )
                break
            g.examples[label].append(example)
            g.names[label].append(name)
            added += 1
    S.yd_messages = [("warning", p) for p in new.problems] + [("note", n) for n in new.notes]
    if added:
        S.yd_messages.insert(0, ("success", f"Added {count(added, 'example')}."))


def add_class() -> None:
    try:
        name = userdata.clean_class_name(S.yd_new_class)
    except UserInputError as err:
        S.yd_messages = [("error", str(err))]
        return
    g = collection()
    if name in g.examples:
        S.yd_messages = [("error", f"There is already a class called '{name}'.")]
        return
    g.examples[name], g.names[name] = [], []
    S.yd_new_class = ""
    S.yd_messages = []


def add_files(label: str, files: list[tuple[str, bytes]]) -> None:
    try:
        merge(userdata.gather({label: files}, kind=collection().kind, sr=SR,
                              max_examples=room()))  # fmt: skip
    except UserInputError as err:
        S.yd_messages = [("error", str(err))]


def add_background(name: str, data: bytes) -> bool:
    try:
        merge(userdata.gather_background(data, name=name, sr=SR))
    except UserInputError as err:
        S.yd_messages = [("error", str(err))]
        return False
    return True


def delete_example(label: str, i: int) -> None:
    g = collection()
    del g.examples[label][i]
    del g.names[label][i]


def delete_class(label: str) -> None:
    g = collection()
    g.examples.pop(label, None)
    g.names.pop(label, None)


def add_zip() -> None:
    up = S.get("yd_zip")
    if up is None or not fresh([up]):
        return
    kinds = archive.AUDIO_EXT if collection().kind == "audio" else archive.IMAGE_EXT
    try:
        files = archive.read_class_zip(up.getvalue(), kinds=kinds)
        new = userdata.gather(files.classes, kind=collection().kind, sr=SR, max_examples=room())
        new.problems = files.skipped + new.problems
        merge(new)
    except UserInputError as err:
        S.yd_messages = [("error", f"{up.name}: {err}")]


def fresh(uploads) -> list:
    """The uploads (or recordings) not added yet: a widget keeps its files across reruns."""
    seen = S.setdefault("yd_seen", set())
    new = [u for u in uploads if u.file_id not in seen]
    seen.update(u.file_id for u in new)
    return new


def trained_model(g: userdata.Gathered):
    """The saved model to keep with the project: a model trained in this session on these very
    classes (made when the download is clicked), else the one an opened project brought."""
    names = tuple(g.examples)
    run = S.get("train_run")
    if (
        run is not None
        and run.status in ("done", "stopped")
        and run.model is not None
        and run.task is not None
        and run.info is not None
        and run.task.dataset == "your data"
        and tuple(run.task.class_names) == names
    ):
        return lambda: run.task.save(run.model, spec=run.info.spec)
    kept = S.get("yd_project_model")  # (class names, bytes, kind) of an opened project's model
    if kept is not None and kept[0] == names and g.kind == kept[2]:
        return kept[1]
    return None


def project_file(g: userdata.Gathered, model):
    """What the download button calls when clicked: the project zip of the page as shown now."""
    shown = userdata.Gathered(g.kind, {k: list(v) for k, v in g.examples.items()},
                              {k: list(v) for k, v in g.names.items()})  # fmt: skip

    def build() -> bytes:
        return projects.save_project(shown, sr=SR, model=model() if callable(model) else model)

    return build


def open_project() -> None:
    """Replace the examples of the project's kind by the project's (and keep its model)."""
    up = S.get("yd_project")
    if up is None:
        return
    try:
        p = projects.load_project(up.getvalue(), sr=SR, max_examples=MAX_EXAMPLES)
    except UserInputError as err:
        S.yd_project_messages = [("error", f"{up.name}: {err}")]
        return
    new = p.gathered
    aside = S.setdefault("yd_aside", {})
    old = S.get("yd_data")
    others = [x for x in (old, *aside.values()) if x is not None and x.kind != new.kind]
    n_others = sum(map(n_examples, others))
    if n_examples(new) + n_others > MAX_EXAMPLES:
        said = (
            f"{up.name} holds {n_examples(new)} examples; with the {n_others} of the other kind "
            f"on this page, that is more than the {MAX_EXAMPLES} a page keeps."
        )
        S.yd_project_messages = [("error", said)]
        return
    replaced = n_examples(aside.pop(new.kind, None) or userdata.Gathered(new.kind))
    if old is not None and old.kind != new.kind:
        aside[old.kind] = old
    elif old is not None:
        replaced += n_examples(old)
    S.yd_data = new
    S.yd_kind = next(label for label, kind in KINDS.items() if kind == new.kind)
    S.yd_project_model = (tuple(new.examples), p.model, new.kind) if p.model else None
    if p.bundle is not None:  # ready on the Ask page, as a model loaded there would be
        from core.learn.classify import Preprocess

        b = p.bundle
        S.cl_loaded = {"model": b.model, "pre": Preprocess.from_dict(b.features or {}),
                       "class_names": b.class_names, "head": b.head, "spec": b.spec,
                       "input_shape": b.input_shape, "task": b.task,
                       "title": f"the model in {up.name}"}  # fmt: skip
    said = (
        f"Opened {up.name}: {count(n_examples(new), 'example')} of "
        f"{count(len(new.examples), 'class', 'classes')}"
        + (", and the model trained on them: ask it on the “Ask your model” page (as “A saved "
           "model”)" if p.bundle is not None else "")
        + (f". They replace the {count(replaced, 'example')} on the page." if replaced
           else ".")
    )  # fmt: skip
    S.yd_project_messages = (
        [("success", said)] + [("warning", m) for m in p.problems] + [("note", n) for n in p.notes]
    )
    S.yd_messages = []


@st.cache_data(show_spinner=False, max_entries=256)
def thumbnail(samples: np.ndarray) -> np.ndarray:
    return log_mel_thumbnail(samples, sr=SR)


init_state({"yd_kind": "Sounds", "yd_limit": 1000})


def url_settings() -> list[U.Setting]:
    """The kind of classes and the dataset to download travel in the link (the examples, a
    user's own files, do not)."""
    return [U.choice("yd_kind", list(KINDS), "Sounds"),
            U.choice("yd_online", list(online.TITLES), next(iter(online.TITLES))),
            U.integer("yd_limit", 50, 6000, 1000)]  # fmt: skip


U.sync(url_settings)
st.radio(
    "What will the network tell apart?",
    list(KINDS),
    persist_state="session",
    key="yd_kind",
    horizontal=True,
)
g = collection()

a, b = st.columns([3, 1], vertical_alignment="bottom")
a.text_input(
    "New class name",
    persist_state="session",
    key="yd_new_class",
    placeholder="e.g. clap, whistle, snap",
)
b.button("Add class", key="yd_add_class", on_click=add_class, icon=":material/add:")

with st.expander("Upload a zip with one folder per class", expanded=False):
    st.caption(
        "e.g. clap/1.wav, clap/2.wav, snap/1.wav. Limits: "
        f"{archive.MAX_FILES} files, {archive.MAX_TOTAL_BYTES // 2**20} MB unpacked; paths "
        "that leave the folder, links and zip bombs are refused."
    )
    st.file_uploader("Zip", type=["zip"], key="yd_zip", on_change=add_zip)

for kind, text in S.get("yd_messages", []):
    if kind == "note":  # what the decoder did to a clip or picture, shown as on every page
        clip_notes([text])
    else:
        getattr(st, kind)(text)

for label in list(g.examples):
    items = g.examples[label]
    n_items = len(items)
    badge = "" if n_items >= userdata.FEW_PER_CLASS else " — needs more examples"
    with st.expander(
        f"**{label}**: {count(n_items, 'example')}{badge}",
        expanded=n_items < userdata.FEW_PER_CLASS,
    ):
        c1, c2 = st.columns(2)
        if g.kind == "audio":
            rec = c1.audio_input("Record an example", key=f"yd_rec_{label}_{n_items}")
            if rec is not None and fresh([rec]):
                add_files(label, [(f"recording {n_items + 1}.wav", rec.getvalue())])
                st.rerun()
            ups = c2.file_uploader("Upload clips", type=UPLOAD_TYPES,
                                   accept_multiple_files=True, key=f"yd_up_{label}_{n_items}")  # fmt: skip
        else:
            ups = c2.file_uploader("Upload pictures", type=["png", "jpg", "jpeg"],
                                   accept_multiple_files=True, key=f"yd_up_{label}_{n_items}")  # fmt: skip
        new_uploads = fresh(ups or [])
        if new_uploads:
            add_files(label, [(u.name, u.getvalue()) for u in new_uploads])
            st.rerun()
        for i, (example, name) in enumerate(zip(items, g.names[label], strict=True)):
            row = st.columns([1.2, 2.5, 0.5, 2], vertical_alignment="center")
            if g.kind == "audio":
                row[0].image(thumbnail(example), caption=f"{name} · {len(example) / SR:.2f} s",
                             width=150)  # fmt: skip
                row[1].audio(example, sample_rate=SR)
            else:
                row[0].image(np.clip(example, 0, 1), caption=name, width=96)
            row[2].button("", icon=":material/delete:", key=f"yd_del_{label}_{i}",
                          on_click=delete_example, args=(label, i), help="Delete this example")  # fmt: skip
        st.button(
            f"Delete class '{label}'", key=f"yd_delc_{label}", on_click=delete_class, args=(label,)
        )

if g.kind == "audio":
    n_bg = len(g.examples.get(userdata.BACKGROUND, []))
    with st.expander(
        "**Room noise**, so that “none of these” is an answer"
        + (f" ({n_bg} examples in “{userdata.BACKGROUND}”)" if n_bg else " — not recorded yet"),
        expanded=not n_bg,
    ):
        st.markdown(
            "Without a background class the network must name one of your classes for every "
            "sound, even for the hum of the room. Record about "
            f"{userdata.BACKGROUND_SECONDS} s of the room as it is when nobody makes any of your "
            "sounds (fan, traffic, people in the distance). It is cut into "
            f"{userdata.CLIP_SECONDS:g}-s examples, the length of every other clip, and added as "
            f"the class “{userdata.BACKGROUND}”, so “none of these” becomes an answer."
        )
        b1, b2 = st.columns(2)
        takes = S.get("yd_bg_takes", 0)
        rec = b1.audio_input(
            f"Record about {userdata.BACKGROUND_SECONDS} s of room noise", key=f"yd_bg_rec_{n_bg}"
        )
        if rec is not None and fresh([rec]):
            if add_background(f"room recording {takes + 1}.wav", rec.getvalue()):
                S.yd_bg_takes = takes + 1
            st.rerun()
        up = b2.file_uploader("Or upload a recording of the room", type=UPLOAD_TYPES,
                              key=f"yd_bg_up_{n_bg}")  # fmt: skip
        if up is not None and fresh([up]):
            add_background(up.name, up.getvalue())
            st.rerun()

st.subheader("Use for training")
if g.examples:
    st.dataframe({"class": list(g.counts), "examples": list(g.counts.values())}, hide_index=True)
try:
    warnings = userdata.check(g)
except UserInputError as err:
    st.info(str(err))
else:
    for w in warnings:
        st.warning(w)
    if st.button("Use these classes for training", key="yd_use", type="primary"):
        S.user_dataset = userdata.to_dataset(g, sr=SR)
        S.user_dataset_from = userdata.fingerprint(g)  # what the page showed when it was made
        ds = S.user_dataset
        st.success(
            f"Ready: {len(ds.y)} examples of {ds.n_classes} classes "
            f"({len(ds.splits['train'])} for training, {len(ds.splits['val'])} for validation, "
            f"{len(ds.splits['test'])} for testing). Open the Train page and choose 'Your data': "
            "it starts from a pretrained network with a new head, which learns from a handful "
            "of examples per class because it brings features learned on a large collection"
            + (" of speech (or of sound effects)." if ds.kind == "audio" else " of photos.")
        )
made_from = S.get("user_dataset_from")
if made_from is not None and made_from != userdata.fingerprint(g):
    st.info(
        f"The training set was made from an earlier state of this page ({made_from.n_examples} "
        f"examples; the page now shows {n_examples(g)}). Press “Use these classes for "
        "training” to train on what is shown here.",
        icon=":material/sync_problem:",
    )

st.subheader("Keep your work")
what = "clips" if g.kind == "audio" else "pictures"
st.warning(
    f"Your {what} live in this browser tab until you download the project: reloading the page "
    "or closing the tab starts it empty. Download the project to keep them, and open it here "
    "later.",
    icon=":material/save:",
)
model = trained_model(g)
k1, k2 = st.columns(2)
k1.download_button(
    "Download the project (.zip)",
    project_file(g, model),
    file_name="my-classes.zip",
    mime="application/zip",
    key="yd_project_download",
    on_click="ignore",
    icon=":material/download:",
    disabled=not g.examples,
)
k1.caption(
    f"{count(n_examples(g), 'example')} of {count(len(g.examples), 'class', 'classes')}"
    + (", and the model trained on them" if model is not None else "")
    + ": one folder per class and project.json"
    + ("; the model as model.zip (safetensors + JSON, no pickle)." if model is not None else ".")
)
k2.file_uploader("Open a project (.zip)", type=["zip"], key="yd_project", on_change=open_project)
for kind, text in S.get("yd_project_messages", []):
    if kind == "note":
        clip_notes([text])
    else:
        getattr(st, kind)(text)

st.divider()
st.subheader("Or download a real dataset")
st.markdown(
    "When this machine is online, the classic datasets can be fetched, checked against their "
    "published checksums and used for training like the ones that ship with the app. They are "
    "kept on the server's disk, so the next user does not download them again."
)
d1, d2, d3 = st.columns([3, 3, 1], vertical_alignment="bottom")
d1.selectbox(
    "Dataset",
    list(online.TITLES),
    format_func=online.TITLES.get,
    persist_state="session",
    key="yd_online",
)
if S.yd_online == "speech_commands":
    d2.multiselect(
        "Words to keep",
        online.SPEECH_WORDS,
        default=["yes", "no"],
        persist_state="session",
        key="yd_words",
    )
else:
    d2.number_input("Training examples per class", 50, 6000, step=50, persist_state="session", key="yd_limit",
                    help="The first N of each class (and N/5 test examples), so training stays quick.")  # fmt: skip
if d3.button("Download", key="yd_download"):
    bar = st.progress(0.0, text="Connecting…")

    def report(filename, index, n_files, done, total):
        frac = (index + (done / total if total else 0.0)) / n_files
        size = (
            f"{done / 2**20:.1f} of {total / 2**20:.1f} MB" if total else f"{done / 2**20:.1f} MB"
        )
        bar.progress(min(frac, 1.0), text=f"{filename}: {size}")

    try:
        words = tuple(S.get("yd_words", ("yes", "no")))
        limit = None if S.yd_online == "speech_commands" else int(S.yd_limit)
        S.user_dataset_from = None  # a downloaded set, not the classes gathered here
        S.user_dataset = online.fetch(S.yd_online, online.data_dir(), words=words,
                                      base_url=online.mirror(), progress=report,
                                      limit_per_class=limit)  # fmt: skip
    except UserInputError as err:
        bar.empty()
        st.error(str(err))
    else:
        bar.progress(1.0, text="Done")
        ds = S.user_dataset
        st.success(f"{online.TITLES[S.yd_online]}: {len(ds.y)} examples of {ds.n_classes} classes "
                   "are ready. Open the Train page and choose 'Your data'.")  # fmt: skip
