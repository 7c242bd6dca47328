"""Train a CNN live: pick data, a model and a recipe; watch the curves while it learns."""

import itertools
import threading
from dataclasses import replace

import streamlit as st

from core.data import shipped as data
from core.data import users as userdata
from core.errors import UserInputError
from core.explain.summary import BACKBONE_COUNTS
from core.figures import training as tfig
from core.learn import pool, runs, zoo
from core.learn import task as tasks
from core.learn import train as trainer
from core.learn.build import to_pytorch_code
from pages import _url
from pages._router import ensure_router
from pages._shared import (
    attach_run,
    browser_id,
    chart,
    init_state,
    linked_run,
    presenter,
    session_alive_check,
    train_owner,
)
from pages._shared import (
    watching as watching_it,
)

ensure_router()
# Seconds between redraws of a live run: each redraw costs the server a script run, and a hall
# of students watching their curves multiplies it (1 s froze a 2-core server with six watchers).
LIVE_REFRESH_S = 2.0

S = st.session_state

DATASETS = {
    "digits": "Handwritten digits (MNIST subset)",
    "commands": "Spoken commands (Italian intents)",
    "instruments": "Instrument timbres (synthesised)",
    "gm_instruments": "General MIDI instruments (30, sampled)",
}
DESCRIPTIONS = {
    "digits": "5,000 handwritten digits from MNIST, 500 of each digit, 28×28 grey pixels. "
    "The network sees the pixels themselves.",
    "commands": "960 short Italian voice commands (turn the light on or off, what time is "
    "it, volume up, ...), eight intents spoken by synthetic voices at several speeds and "
    "pitches, with a little noise. The network sees a log-mel spectrogram of each 2 s clip "
    "(or the waveform itself, for the 1-D M5 network).",
    "instruments": "900 one-second notes of six timbres synthesised on the spot: a sine "
    "(flute), a square wave (clarinet), a sawtooth (brass), a plucked string, an FM bell and "
    "a drum, at random pitches and loudness with background noise. Only the timbre tells "
    "them apart: the pitch range is the same for every class.",
    "gm_instruments": "720 one-second notes of 30 instruments (piano, organs, guitars, basses, "
    "violin, cello, harp, brass, saxophone, oboe, clarinet, flutes, mallets, banjo, ...), "
    "played from the samples of a General MIDI SoundFont at 12 pitches each, soft and loud, "
    "short and long. The test notes are at pitches the network never hears that instrument "
    "play in training: it must recognise the timbre, not the note. The network sees a log-mel "
    "spectrogram of each clip.",
}
PRESETS = [p for p in ("digits_cnn", "speech_cnn", "timbre_cnn", "lenet5", "spectrogram_cnn",
                       "tiny_resnet", "m5", "pyramid_cnn") if p in zoo.PRESETS]  # fmt: skip
DEFAULT_PRESET = dict(trainer.DEFAULT_MODELS)
PRE_MODES = {"frozen": "Frozen: only the new head learns",
             "fine-tuned": "Fine-tuned: every layer learns"}  # fmt: skip


def _weights(backbone: str) -> str:
    return f"{BACKBONE_COUNTS[backbone][0] / 1e6:.2g} M"


PRE_ABOUT = {
    "aisfx": "aiSFX: an 8-layer CNN trained on sound-effects libraries (Ma and Lerch, 2022), "
    f"{_weights('aisfx')} weights that arrive with the app. It makes its own log-mel from each waveform. "
    "Frozen, it is a fixed feature extractor and only the last layer learns: quick, and good "
    "from a few examples. Fine-tuned, every layer moves, the pretrained ones at a tenth of the "
    "rate: slower, better with more data.",
    "speech_embedding": "Google's speech embedding: 20 small convolutions trained on a large "
    f"collection of speech to tell spoken keywords apart ({_weights('speech_embedding')} weights that "
    "arrive with the "
    "app). It makes its own 32-band log-mel, reads 0.78 s at a time every 80 ms and gives the "
    "average and the peak of what it heard: a few clips of each word are enough. Frozen, only "
    "the last layer learns; fine-tuned, every layer moves, the pretrained ones at a tenth of "
    "the rate.",
    "efficientnet_lite0": "EfficientNet-Lite0: a mobile CNN trained on ImageNet's 1.3 million "
    f"photos ({_weights('efficientnet_lite0')} weights that arrive with the app); each picture is resized to 96×96 RGB. "
    "Frozen, only the last layer learns; fine-tuned, every layer moves, the pretrained ones at "
    "a tenth of the rate.",
}
USER = "user"  # the dataset made on the "Your own classes" page (this session only)
OPTIMIZERS = {"sgd": "SGD with momentum", "adam": "Adam", "adamw": "AdamW"}
SHORT = {"digits": "handwritten digits", "commands": "spoken commands",
         "instruments": "instrument timbres", "gm_instruments": "General MIDI instruments"}  # fmt: skip
SCHEDULERS = {"none": "none (constant rate)", "step": "StepLR (divide every few epochs)",
              "onecycle": "OneCycle (warm up, then anneal)",
              "plateau": "ReduceLROnPlateau (when validation stalls)"}  # fmt: skip
AUGMENT = {"none": "none", "image": "shifts and rotations",
           "spectrogram": "SpecAugment masks, time shift", "waveform": "time shift and gain"}  # fmt: skip
STATUS = {
    runs.QUEUED: ("Waiting", ":material/hourglass_top:"),
    runs.RUNNING: ("Training", ":material/model_training:"),
    runs.DONE: ("Finished", ":material/check_circle:"),
    runs.STOPPED: ("Stopped", ":material/stop_circle:"),
    runs.FAILED: ("Failed", ":material/error:"),
}
VERDICT = {  # a run that went through all its epochs but learned nothing useful
    "diverged": ("Diverged", ":material/trending_up:"),
    "at_chance": ("At chance", ":material/casino:"),
}


# --------------------------------------------------------------------------- caches ----
# Datasets and their tensors are the same for every visitor: one copy per server. A user's
# model and run never go in a cache; they live in this session's state only.


@st.cache_resource(max_entries=3, show_spinner="Loading the dataset…")
def shipped_dataset(name: str):
    return data.load(name)


@st.cache_resource(max_entries=6, show_spinner="Preparing the model inputs…")
def shipped_inputs(name: str, reads: tasks.Reads):
    return tasks.inputs_for(shipped_dataset(name), reads)


def load_dataset(name: str):
    """A shipped dataset (one copy per server), or this session's own (never cached globally)."""
    return S.user_dataset if name == USER else shipped_dataset(name)


def load_inputs(name: str, reads: tasks.Reads):
    """The dataset's tensors as a model reads them (core.learn.task.Reads)."""
    if name != USER:
        return shipped_inputs(name, reads)
    memo = S.setdefault("user_inputs", {})
    key = (id(S.user_dataset), reads)
    if key not in memo:
        memo.clear()
        with st.spinner("Preparing the model inputs…"):
            memo[key] = tasks.inputs_for(S.user_dataset, reads)
    return memo[key]


def recipe_state(recipe: trainer.Recipe) -> dict:
    return {
        "tr_optimizer": recipe.optimizer,
        "tr_lr": float(recipe.lr),
        "tr_momentum": float(recipe.momentum),
        "tr_wd": float(recipe.weight_decay),
        "tr_scheduler": recipe.scheduler,
        "tr_batch": int(recipe.batch_size),
        "tr_epochs": int(recipe.epochs),
        "tr_augment": recipe.augment,
        "tr_seed": int(recipe.seed),
    }


def local_device():
    """This machine's device for the sidebar's choice, the CPU while that choice is unusable
    here (the comparison trains here or in a local worker, never on a cluster)."""
    try:
        return trainer.choose_device(S.get("device_choice", "auto"))
    except UserInputError:
        return trainer.choose_device("cpu")


def device_now():
    """The training device the sidebar's choice gives runs (on a Ray cluster, the cluster's),
    this machine's while that choice is unusable."""
    try:
        return pool.run_device(S.get("device_choice", "auto"))
    except UserInputError:
        return local_device()


def tuned_recipe() -> trainer.Recipe:
    """The recipe this page starts from for the chosen data and model source."""
    ds_now = load_dataset(S.tr_dataset)
    if S.tr_source == "pretrained":
        return tasks.pretrained_recipe(ds_now, S.tr_pre_mode, device_now())
    return trainer.default_recipe(tasks.like(ds_now), device_now())


def recipe_for_source() -> str:
    return f"pretrained {S.tr_pre_mode}" if S.tr_source == "pretrained" else "scratch"


def dataset_changed() -> None:
    name = tasks.like(load_dataset(S.tr_dataset))
    S.tr_preset = DEFAULT_PRESET[name]
    S.tr_pre_net = S.tr_cmp_net = tasks.default_backbone(load_dataset(S.tr_dataset))
    if S.tr_dataset == USER:  # a handful of your own examples: few-shot, from a pretrained net
        S.tr_source, S.tr_pre_mode = "pretrained", "frozen"
    elif S.tr_source == "pretrained":  # the shipped sets start from the fast presets
        S.tr_source = "preset"
    S.update(recipe_state(tuned_recipe()))
    S.tr_recipe_for = recipe_for_source()
    S.tr_class_a, S.tr_class_b = 0, 1


def source_changed() -> None:
    """A pretrained network (frozen or fine-tuned) and a network from scratch learn with
    different recipes: switching between them brings the recipe that suits; switching between
    a preset and the Model builder's model keeps the one on screen."""
    if S.get("tr_recipe_for", "scratch") != recipe_for_source():
        S.update(recipe_state(tuned_recipe()))
        S.tr_recipe_for = recipe_for_source()


init_state(
    {
        "tr_dataset": "digits",
        "tr_binary": False,
        "tr_class_a": 0,
        "tr_class_b": 1,
        "tr_source": "preset",
        "tr_preset": DEFAULT_PRESET["digits"],
        "tr_pre_mode": "frozen",
        "tr_recipe_for": "scratch",
        **recipe_state(trainer.default_recipe("digits", device_now())),
    }
)
# The tuned recipe follows the device while the user has not changed it: a GPU gets larger
# batches (trainer.GPU_RECIPES), the CPU the batch of 32 it runs fastest with.
if S.tr_dataset in trainer.DEFAULT_RECIPES:
    _tuned = recipe_state(trainer.default_recipe(S.tr_dataset, device_now()))
    _shown = {k: S.get(k) for k in _tuned}
    _defaults = (trainer.DEFAULT_RECIPES[S.tr_dataset], trainer.GPU_RECIPES[S.tr_dataset])
    if _shown != _tuned and _shown in [recipe_state(r) for r in _defaults]:
        S.update(_tuned)


def _put(key: str, then=None):
    """Set ``key`` from a link; ``then`` runs when the value changed (what a widget's
    on_change would run)."""

    def put(value) -> None:
        changed = S.get(key) != value
        S[key] = value
        if changed and then is not None:
            then()

    return put


def url_settings() -> list[_url.Setting]:
    """The settings a link to this page carries: the data, the model and the recipe, each
    written when it differs from what the page starts from for that data and model. Your own
    classes live in this browser only, so a page on them writes nothing."""
    own = S.tr_dataset == USER
    ds_now = load_dataset(S.tr_dataset)
    tuned = recipe_state(tuned_recipe())
    top = ds_now.n_classes - 1
    settings = [
        _url.choice("tr_dataset", [k for k in DATASETS if k != USER], "digits"),
        _url.flag("tr_binary"),
        _url.integer("tr_class_a", 0, top, 0),
        _url.integer("tr_class_b", 0, top, 1),
        _url.choice("tr_source", ["preset", "pretrained", "builder"], "preset"),
        _url.choice("tr_preset", PRESETS, DEFAULT_PRESET[tasks.like(ds_now)]),
        _url.choice("tr_pre_net", tasks.backbones_for(ds_now), tasks.default_backbone(ds_now)),
        _url.choice("tr_pre_mode", list(PRE_MODES), "frozen"),
        _url.choice("tr_optimizer", list(OPTIMIZERS), tuned["tr_optimizer"]),
        _url.number("tr_lr", 1e-8, 10.0, tuned["tr_lr"]),
        _url.number("tr_momentum", 0.0, 0.999, tuned["tr_momentum"]),
        _url.number("tr_wd", 0.0, 1.0, tuned["tr_wd"]),
        _url.choice("tr_scheduler", list(SCHEDULERS), tuned["tr_scheduler"]),
        _url.integer("tr_batch", 1, 65536, tuned["tr_batch"]),
        _url.integer("tr_epochs", 1, 1000, tuned["tr_epochs"]),
        _url.choice("tr_augment", list(AUGMENT), tuned["tr_augment"]),
        _url.integer("tr_seed", 0, 2**31 - 1, tuned["tr_seed"]),
    ]
    then = {"tr_dataset": dataset_changed, "tr_source": source_changed,
            "tr_pre_mode": source_changed}  # fmt: skip
    return [
        replace(
            s,
            put=_put(s.key, then[s.key]) if s.key in then else None,
            get=lambda key=s.key: None if own else S.get(key),
        )
        for s in settings
    ]


if pool.backend_setting() == "process":
    pool.get_pool()  # a worker starts importing torch now, before the first Train press


run = S.get("train_run")
# The run's id travels in the link: a reload, or the same student in another tab, finds it.
if S.tr_dataset == USER and S.get("user_dataset") is None:
    S.tr_dataset = "digits"  # your own classes were let go on their page
# A link (or a reload) brings back the data, model and recipe it was made with; the run it
# names, if any, is attached next and its own settings win.
_found, _asked = linked_run(run)  # read before sync drops what is not a setting
_url.sync(url_settings)
if _asked and _found is None:
    st.info(
        "The run named in this link is not on the server: it ended a while ago and its page "
        "was closed, the server restarted, or the link was cut short. Train again below.",
        icon=":material/link_off:",
    )
elif _found is not None:
    attach_run(_found)
    run = _found
if run is not None and S.get("tr_settings_of") != run.id:
    # a run this page did not start (from a link, or taken up on the Evaluate page): the
    # settings on screen become the run's own (they are locked while it trains)
    S.tr_settings_of = run.id
    if run.task is not None:
        S.update(recipe_state(run.task.recipe))
    _own = S.get("user_dataset")
    _key = (
        USER
        if _own is not None and run.info is not None and run.info.dataset is _own
        else getattr(run.info, "dataset_name", None)
    )  # a run on your own classes (this session's): the "Your data" entry
    if run.info is not None and (_key in DATASETS or _key == USER):
        S.tr_dataset = _key
        by_title = {zoo.PRESETS[k]["title"]: k for k in PRESETS}
        if run.info.model_name in by_title:
            S.tr_source, S.tr_preset = "preset", by_title[run.info.model_name]
        for _net, _mode in itertools.product(tasks.BACKBONE_TITLES, PRE_MODES):
            if run.info.model_name == tasks.pretrained_title(_net, _mode):
                S.tr_source, S.tr_pre_net, S.tr_pre_mode = "pretrained", _net, _mode
        S.tr_recipe_for = recipe_for_source()  # the recipe on screen is the run's kind
if run is not None:
    S[_url.PAGE_EXTRA] = {"run": run.id}  # app.py writes it into the link after the page
watching = run is not None and watching_it(run)
busy = run is not None and run.active and not watching

st.title("Train a CNN")
st.markdown(
    "Pick a dataset and a network, choose how to train it, and press **Train**. Every batch "
    "nudges the weights downhill on the loss; after each epoch the network is scored on a "
    "**validation** set it never trains on. The curves show both: when training loss keeps "
    "falling while validation loss rises, the network has started to memorise its training "
    "examples (overfitting). The weights of the best validation epoch are the ones kept. "
    "The run goes on while you visit other pages; the **Evaluate** page digs into its mistakes."
)

# ------------------------------------------------------------------------------ data ----
st.header("1. Data")
c1, c2 = st.columns([2, 3])
if S.get("user_dataset") is not None:
    own = S.user_dataset
    DATASETS[USER] = f"Your data ({own.n_classes} classes, {len(own.y)} examples)"
    DESCRIPTIONS[USER] = (
        f"The {'pictures' if own.kind == 'image' else 'clips'} gathered on the “Your own "
        f"classes” page: {', '.join(own.class_names)}."
    )
    SHORT[USER] = "your data"
    made_from, gathered = S.get("user_dataset_from"), S.get("yd_data")
    if (
        made_from is not None
        and gathered is not None
        and userdata.fingerprint(gathered) != made_from
    ):
        now = sum(gathered.counts.values())
        st.warning(
            f"Your own classes have changed since “Use these classes” was pressed: the page now "
            f"holds {now} examples, the training set {len(own.y)}. Training uses the training set "
            "until you refresh it.",
            icon=":material/sync_problem:",
        )
        if st.button(
            "Train on what Your own classes shows now", key="tr_refresh_own", disabled=busy
        ):
            try:
                S.user_dataset = userdata.to_dataset(gathered, sr=own.sample_rate or 16_000)
                S.user_dataset_from = userdata.fingerprint(gathered)
            except UserInputError as err:
                st.error(str(err), icon=":material/error:")
            else:
                st.rerun()
elif S.tr_dataset == USER:
    S.tr_dataset = "digits"
c1.selectbox("Dataset", list(DATASETS), format_func=DATASETS.get, persist_state="session", key="tr_dataset",
             on_change=dataset_changed, disabled=busy)  # fmt: skip
ds = load_dataset(S.tr_dataset)
c2.markdown(DESCRIPTIONS[S.tr_dataset])
c2.caption(
    f"{len(ds.y):,} examples: {len(ds.splits['train']):,} to train on, "
    f"{len(ds.splits['val']):,} for validation, {len(ds.splits['test']):,} held out for the "
    f"test. Classes: {', '.join(ds.class_names)}."
)

with st.expander("Examples, one per class", expanded=False):
    firsts = [int(next(i for i in ds.splits["train"] if ds.y[i] == c)) for c in range(ds.n_classes)]
    if ds.kind == "image":
        st.image([ds.x[i][0] for i in firsts], caption=list(ds.class_names), width=84, clamp=True)
    else:
        cols = st.columns(min(ds.n_classes, 4))
        for k, i in enumerate(firsts):
            with cols[k % len(cols)]:
                text = ds.info[i].get("text") if ds.info else None
                st.markdown(f"**{ds.class_names[k]}**" + (f": “{text}”" if text else ""))
                st.audio(ds.x[i], sample_rate=ds.sample_rate)

b1, b2, b3 = st.columns([2, 2, 2])
b1.checkbox("Only two classes", persist_state="session", key="tr_binary", disabled=busy,
            help="Learn a yes/no decision between two classes with one sigmoid output and "
            "binary cross-entropy; the Evaluate page then draws its ROC curve.")  # fmt: skip
classes = list(range(ds.n_classes))
for col, key, label in ((b2, "tr_class_a", "Class 0 (negative)"),
                        (b3, "tr_class_b", "Class 1 (positive)")):  # fmt: skip
    if S[key] not in classes:
        S[key] = 0
    col.selectbox(label, classes, format_func=lambda c: ds.class_names[c], persist_state="session", key=key,
                  disabled=busy or not S.tr_binary)  # fmt: skip

# ----------------------------------------------------------------------------- model ----
st.header("2. Model")
builder = S.get("builder_spec")
builder_ok = isinstance(builder, dict) and builder.get("dataset") == S.tr_dataset
sources = {"preset": "A preset, adapted to this data",
           "pretrained": "A pretrained network with a new head",
           "builder": "My model from the Model builder"}  # fmt: skip
src_col, preset_col = st.columns(2)
src_col.radio("Model", list(sources), format_func=sources.get, persist_state="session", key="tr_source",
              on_change=source_changed, disabled=busy)  # fmt: skip

problems: list[str] = []
plan = code = None
classes_pair = (S.tr_class_a, S.tr_class_b) if S.tr_binary else None
try:
    if S.tr_source == "preset":
        preset_col.selectbox("Preset", PRESETS, format_func=lambda k: zoo.PRESETS[k]["title"],
                     persist_state="session", key="tr_preset", disabled=busy)  # fmt: skip
        inputs = load_inputs(S.tr_dataset, tasks.reads_for_preset(ds, S.tr_preset))
        plan = tasks.plan_preset(ds, inputs, S.tr_preset, classes=classes_pair)
    elif S.tr_source == "pretrained":
        nets = tasks.backbones_for(ds)
        if S.get("tr_pre_net") not in nets:
            S.tr_pre_net = tasks.default_backbone(ds)
        preset_col.selectbox("Pretrained network", nets, format_func=tasks.BACKBONE_TITLES.get,
                             persist_state="session", key="tr_pre_net",
                             disabled=busy or len(nets) < 2)  # fmt: skip
        preset_col.radio("The pretrained layers", list(PRE_MODES), format_func=PRE_MODES.get,
                         persist_state="session", key="tr_pre_mode", on_change=source_changed,
                         disabled=busy)  # fmt: skip
        preset_col.caption(PRE_ABOUT[S.tr_pre_net])
        inputs = load_inputs(S.tr_dataset, tasks.reads_for_pretrained(ds))
        plan = tasks.plan_pretrained(ds, inputs, S.tr_pre_mode, classes=classes_pair,
                                     backbone=S.tr_pre_net)  # fmt: skip
    else:
        if not builder_ok:
            made_for = builder.get("dataset") if isinstance(builder, dict) else None
            raise UserInputError(
                "The Model builder has no model for this dataset yet"
                + (f" (its model is for {made_for})" if made_for else "")
                + ": build one there for "
                f"{SHORT[S.tr_dataset]}, or choose a preset."
            )
        reads = tasks.reads_for_shape(ds, builder["input_shape"], builder.get("representation"))
        inputs = load_inputs(S.tr_dataset, reads)
        plan = tasks.plan_builder(ds, inputs, builder, classes=classes_pair)
        if plan.note:
            st.info(plan.note, icon=":material/info:")
    code = to_pytorch_code(plan.spec, plan.task.input_shape, logits=True)
except UserInputError as err:
    plan = None
    problems.append(str(err))
    st.error(str(err), icon=":material/error:")

if plan is not None:
    summary = plan.summary
    shape_txt = "×".join(str(v) for v in plan.task.input_shape)
    trains = (
        f"**{summary.torch_params:,}** parameters"
        if summary.trainable == summary.torch_params
        else f"**{summary.trainable:,}** parameters train, {summary.torch_params - summary.trainable:,} "
        "stay frozen"
    )
    st.markdown(
        f"**{plan.model_name}** on inputs of shape {shape_txt} (channels first): {trains}, "
        f"{summary.mult_adds:,} multiply-adds per example."
    )
    layers_tab, code_tab = st.tabs(["Layers and shapes", "PyTorch code"])
    with layers_tab:
        cols = ["Layer (type)", "Output shape (C, H, W)", "PyTorch parameters", "Mult-adds"]
        st.dataframe([{k: r[k] for k in cols} for r in summary.records()], hide_index=True)
    with code_tab:
        st.code(code, language="python", wrap_lines=presenter())
        st.caption(
            "The last softmax or sigmoid is left out of the trained module: the loss "
            "(cross-entropy, or binary cross-entropy for one output) applies it itself."
        )

# ---------------------------------------------------------------------------- recipe ----
st.header("3. Recipe")
r1, r2, r3, r4 = st.columns(4)
r1.selectbox("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZERS.get, persist_state="session", key="tr_optimizer",
             disabled=busy)  # fmt: skip
r2.number_input("Learning rate", min_value=0.0, step=1e-4, format="%g",
                persist_state="session", key="tr_lr", disabled=busy)  # fmt: skip
r3.number_input("Momentum (SGD)", min_value=0.0, max_value=0.999, step=0.05, persist_state="session", key="tr_momentum",
                disabled=busy or S.tr_optimizer != "sgd")  # fmt: skip
r4.number_input("Weight decay", min_value=0.0, step=1e-3, format="%g",
                persist_state="session", key="tr_wd", disabled=busy)  # fmt: skip
# the two choices get the room their names need (at 1280 px "OneCycle (warm u" was all)
r5, r8 = st.columns(2)
r6, r7, r9, _ = st.columns(4)
r5.selectbox("Scheduler", list(SCHEDULERS), format_func=SCHEDULERS.get, persist_state="session", key="tr_scheduler",
             disabled=busy)  # fmt: skip
r6.number_input("Batch size", min_value=0, step=8, persist_state="session", key="tr_batch",
                disabled=busy)  # fmt: skip
r7.number_input(
    "Epochs", min_value=0, step=1, persist_state="session", key="tr_epochs", disabled=busy
)
# the augmentations that suit what the model reads (a waveform model gets waveform ones)
reads_now = (
    plan.task.representation if plan is not None else "image" if ds.kind == "image" else "log-mel"
)
augments = ["none", tasks.AUGMENT_FOR[reads_now]]
S.tr_augment = tasks.fit_augment(S.tr_augment, reads_now) if S.tr_augment in AUGMENT else "none"
r8.selectbox("Augmentation", augments, format_func=AUGMENT.get, persist_state="session", key="tr_augment",
             disabled=busy)  # fmt: skip
r9.number_input(
    "Seed",
    min_value=0,
    max_value=2**31 - 1,
    step=1,
    persist_state="session",
    key="tr_seed",
    disabled=busy,
)

try:
    # one recipe from the tuned defaults: the page overrides only the fields it shows
    recipe = tasks.recipe_for(
        ds,
        reads_now,
        optimizer=S.tr_optimizer,
        lr=float(S.tr_lr),
        momentum=float(S.tr_momentum),
        weight_decay=float(S.tr_wd),
        scheduler=S.tr_scheduler,
        batch_size=int(S.tr_batch),
        epochs=int(S.tr_epochs),
        augment=S.tr_augment,
        seed=int(S.tr_seed),
    )
    if plan is not None:
        plan = plan.with_recipe(recipe)
except UserInputError as err:
    plan = None
    problems.append(str(err))
    st.error(str(err), icon=":material/error:")

try:
    device = pool.run_device(S.get("device_choice", "auto"))
    st.caption(f"Training device: **{device.type.upper()}** (change it in the sidebar).")
except UserInputError as err:
    device = None
    problems.append(str(err))
    st.error(str(err), icon=":material/error:")


# ------------------------------------------------------------------------ train/stop ----
def start() -> str | None:
    """Hand this page's plan to the server's queue; return why not, or None."""
    if problems or plan is None or device is None:
        return "Fix the settings marked in red above first."
    previous = S.get("train_run")
    if previous is not None and previous.active and not watching_it(previous):
        return "A run of yours is already waiting or training: stop it first."
    try:
        S.train_run = runs.start_training(plan, device, dataset=ds, owner=train_owner(),
                                          alive=session_alive_check(),
                                          browser=browser_id())  # fmt: skip
    except UserInputError as err:
        return str(err)
    S.tr_settings_of = S.train_run.id  # made from the settings on screen
    S.pop("train_watching", None)
    return None


def stop() -> None:
    current = S.get("train_run")
    if current is not None and not watching_it(current):
        current.stop()


st.header("4. Train")
k1, k2, _ = st.columns([1, 1, 4])
train_clicked = k1.button("Train", key="tr_train", type="primary",
                          icon=":material/play_arrow:", disabled=busy)  # fmt: skip
k2.button("Stop", key="tr_stop", icon=":material/stop:", on_click=stop, disabled=not busy,
          help="Ends the run before its next batch; the best weights so far are kept.")  # fmt: skip
if watching and run.active:
    st.info("You are watching a run started in another browser: its curves follow it live, "
            "but only that browser can stop it. Train starts a run of your own.",
            icon=":material/visibility:")  # fmt: skip
if train_clicked:
    why_not = start()
    if why_not is None:
        st.rerun()  # redraw the settings as locked while the run goes on
    st.error(why_not, icon=":material/error:")


def show_run(current: runs.Run, was_active: bool) -> None:
    snap = current.snapshot()
    if was_active and not snap.active:
        st.rerun(scope="app")  # the run ended: redraw the buttons and the rest of the page
    label, icon = VERDICT.get(snap.verdict) or STATUS[snap.status]
    task, info = current.task, current.info
    rec = task.recipe  # the settings this run uses, from its own task
    st.markdown(
        f"{label}: **{info.model_name}** ({info.params:,} parameters) on "
        f"**{SHORT.get(info.dataset_name, info.dataset_name)}**"
        + (f", two classes: {' vs '.join(task.class_names)}" if task.binary else "")
        + f", on {info.device.upper()}."
    )
    st.caption(
        f"Settings of this run: {OPTIMIZERS.get(rec.optimizer, rec.optimizer)}, learning rate "
        f"{rec.lr:g}, batch {rec.batch_size}, {rec.epochs} epochs, scheduler "
        f"{SCHEDULERS.get(rec.scheduler, rec.scheduler)}, augmentation "
        f"{AUGMENT.get(rec.augment, rec.augment)}"
        + (
            f" (masks up to {rec.freq_mask} bands and {rec.time_mask} frames, shift "
            f"{rec.time_shift:.0%})"
            if rec.augment == "spectrogram"
            else ""
        )
        + f", seed {rec.seed}."
    )
    if snap.status == runs.QUEUED:
        n_slots = runs.get_queue().max_running
        st.info(
            f"The server trains at most {n_slots} model{'s' if n_slots > 1 else ''} at once. Your "
            f"run is number **{snap.queue_position}** in the queue; it starts by itself.",
            icon=icon,
        )
    elif snap.verdict == "at_chance":
        st.warning(snap.message, icon=icon)
    elif snap.status == runs.FAILED:
        st.error(snap.message, icon=icon)
    elif snap.status in (runs.DONE, runs.STOPPED):
        st.success(snap.message, icon=icon)
    if snap.status != runs.QUEUED:
        epoch_now = snap.epochs[-1].epoch if snap.epochs else 0
        left = (
            f", about {runs.format_seconds(snap.eta)} left" if snap.status == runs.RUNNING else ""
        )
        st.progress(
            snap.progress,
            text=f"Step {snap.step:,} of {snap.total_steps:,} · epoch {epoch_now} of {rec.epochs} "
            f"done · {runs.format_seconds(snap.elapsed)} so far{left}"
            if snap.total_steps or not snap.active
            else "Waiting for a free training process: the server's are all busy (a comparison "
            f"is using one) · {runs.format_seconds(snap.elapsed)} so far"
            if snap.waiting_for_worker
            else f"Starting: a training process is taking the data and building the model · "
            f"{runs.format_seconds(snap.elapsed)} so far",
        )
    steps_per_epoch = snap.total_steps / rec.epochs if snap.total_steps else None
    m = st.columns(4)
    last = snap.epochs[-1] if snap.epochs else None
    m[0].metric("Train loss", f"{last.train_loss:.4f}" if last else "–")
    m[1].metric(
        "Validation loss", f"{last.val_loss:.4f}" if last and last.val_loss is not None else "–"
    )
    m[2].metric("Validation accuracy",
                f"{last.val_acc:.1%}" if last and last.val_acc is not None else "–")  # fmt: skip
    m[3].metric("Best epoch", str(snap.best_epoch) if snap.best_epoch else "–")
    # A watching page redraws every LIVE_REFRESH_S; the figure is rebuilt only when the run
    # has moved (a hall of watchers costs the server little while runs wait or between points).
    fig_key = (current.id, snap.step, len(snap.epochs), snap.best_epoch, presenter())
    cached = S.get("_tr_curves_fig")
    if cached is None or cached[0] != fig_key:
        cached = S["_tr_curves_fig"] = (fig_key, tfig.curves_figure(
            snap.epochs,
            batch_steps=snap.batch_steps,
            batch_losses=snap.batch_losses,
            steps_per_epoch=steps_per_epoch,
            n_epochs=rec.epochs,
            best_epoch=snap.best_epoch,
            presenter=presenter(),
        ))  # fmt: skip
    chart(st, cached[1], key="tr_curves")
    if snap.status in (runs.DONE, runs.STOPPED) and current.test is not None:
        st.markdown(
            f"Test accuracy of the kept weights: **{current.test.accuracy:.1%}** "
            f"(loss {current.test.loss:.4f}) on {len(info.y_test):,} held-out examples."
        )
        try:
            st.page_link("pages/evaluate.py", label="See the mistakes on the Evaluate page",
                         icon=":material/fact_check:")  # fmt: skip
        except Exception:  # noqa: BLE001 - the page is not registered in this app
            st.markdown("Open the **Evaluate** page to see the mistakes.")


if run is not None:
    active_now = run.active
    st.fragment(run_every=LIVE_REFRESH_S if active_now else None)(show_run)(run, active_now)
else:
    st.caption("No run yet in this session.")

st.header("5. Compare with a pretrained network")
st.markdown(
    "A network trained from scratch starts from random weights and must learn everything from "
    "your examples. A **pretrained** network has already learned useful features on a large "
    "collection (ImageNet pictures for EfficientNet-Lite0, sound-effects libraries for the "
    "aiSFX audio CNN, speech for Google's speech embedding). **Frozen**, its layers stay as they are and only a new last layer "
    "learns; **fine-tuned**, every layer learns, the old ones at a tenth of the rate. With "
    "few examples per class the pretrained network usually wins by far: try 8 per class."
)
cm0, cm1, cm2, cm3 = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
cmp_nets = tasks.backbones_for(ds)
if S.get("tr_cmp_net") not in cmp_nets:
    S.tr_cmp_net = tasks.default_backbone(ds)
cm0.selectbox("Pretrained network", cmp_nets, format_func=tasks.BACKBONE_TITLES.get,
              key="tr_cmp_net", disabled=len(cmp_nets) < 2)  # fmt: skip
cm1.radio("Pretrained backbone", ["frozen", "fine-tuned"], key="tr_cmp_mode", horizontal=True,
          help="Fine-tuning trains every weight of the pretrained network: slow without a GPU.")  # fmt: skip
cm2.number_input("Epochs for both", 1, 100, 10, key="tr_cmp_epochs")
cm3.selectbox("Training examples", ["all", 8, 16, 32], key="tr_cmp_per_class",
              format_func=lambda v: "all" if v == "all" else f"{v} per class")  # fmt: skip


def start_compare(asked: dict) -> None:
    """Train both sides in a thread of the server (the work in a worker process), so a click
    elsewhere on the page, or a visit to another page, does not throw the comparison away;
    it ends when the browser session does, or when Stop is pressed."""
    from core.learn import transfer

    job = {"progress": (0.0, "Starting…"), "result": None, "error": None,
           "stop": threading.Event(), "dataset": S.tr_dataset}  # fmt: skip
    alive = session_alive_check()

    def progress(fraction: float, said: str) -> None:
        job["progress"] = (min(max(float(fraction), 0.0), 1.0), said)

    def watch() -> None:
        """The page closed (its session gone): stop, whether training or still waiting."""
        while job["thread"].is_alive() and not job["stop"].is_set():
            if alive is not None and not alive():
                job["stop"].set()
            job["stop"].wait(2.0)

    def waiting() -> None:
        progress(0.0, f"Waiting for a free worker: at most {pool.get_pool().size} models "
                      "train at once on this server.")  # fmt: skip

    def work() -> None:
        try:
            if pool.backend_setting() == "process":  # in a worker, not the server's interpreter
                job["result"] = pool.get_pool().call("transfer.compare", asked,
                                                     on_progress=progress, stop=job["stop"],
                                                     on_wait=waiting)  # fmt: skip
            else:
                job["result"] = transfer.compare(**asked, on_progress=progress, stop=job["stop"])
        except UserInputError as err:
            job["error"] = str(err)
        except Exception as err:  # noqa: BLE001 - a sentence on the page, not a traceback
            job["error"] = f"The comparison failed: {err}"

    job["thread"] = threading.Thread(target=work, daemon=True, name="compare")
    S.tr_cmp_job = job
    job["thread"].start()
    if alive is not None:
        threading.Thread(target=watch, daemon=True, name="compare-watch").start()


def show_compare() -> None:
    """The comparison under way: its progress, refreshed; once it ends, its result."""
    job = S.get("tr_cmp_job")
    if job is None:
        return
    if job["thread"].is_alive():
        fraction, said = job["progress"]
        with st.status("Comparing…", expanded=True):
            st.progress(fraction, text=said)
            st.button("Stop comparing", key="tr_cmp_stop", icon=":material/stop:",
                      on_click=job["stop"].set)  # fmt: skip
        return
    del S.tr_cmp_job
    if job["stop"].is_set():  # what a stopped comparison returns is half-trained: not shown
        S.tr_cmp_said = ("info", "Comparison stopped: a half-trained pair is not shown.")
    elif job["error"]:
        S.tr_cmp_said = ("error", job["error"])
    elif job["result"] is not None:
        S.tr_cmp_result = (job["dataset"], job["result"])
    st.rerun()  # the whole page: the result below, the Compare button again


comparing = S.get("tr_cmp_job") is not None
if st.button("Compare", key="tr_compare", icon=":material/compare:", disabled=busy or comparing,
             help="Trains both on this page's dataset, one after the other (a minute or more "
                  "on a CPU: the backbone reads every example once).") and not comparing:  # fmt: skip
    per = S.tr_cmp_per_class
    S.pop("tr_cmp_said", None)
    start_compare({"ds": ds, "mode": S.tr_cmp_mode, "epochs": int(S.tr_cmp_epochs),
                   "per_class": None if per == "all" else int(per), "device": local_device(),
                   "backbone": S.tr_cmp_net})  # fmt: skip
    comparing = True
if comparing:
    st.fragment(run_every=1.0)(show_compare)()
if S.get("tr_cmp_said"):
    kind, said = S.tr_cmp_said
    if kind == "info":
        st.info(said, icon=":material/info:")
    else:
        st.error(said, icon=":material/error:")
shown = S.get("tr_cmp_result")
if shown is not None and shown[0] == S.tr_dataset:
    cmp_result = shown[1]
    chart(st, tfig.compare_figure([cmp_result.scratch, cmp_result.pretrained],
                                  presenter=presenter()), key="tr_cmp_curves")  # fmt: skip
    st.caption(
        f"Trained on {cmp_result.n_train:,} examples, tested on {cmp_result.n_test:,} held-out "
        "ones; the same split and epochs for both."
    )
    left, right = st.columns(2)
    for col, side in ((left, cmp_result.scratch), (right, cmp_result.pretrained)):
        col.markdown(
            f"**{side.name}**: test accuracy **{side.test_accuracy:.1%}**; trained "
            f"{side.trained_parameters:,} of {side.total_parameters:,} parameters in "
            f"{side.seconds:.1f} s."
        )
        chart(col, tfig.confusion_figure(side.confusion, cmp_result.class_names,
                                         presenter=presenter()),
              key=f"tr_cmp_cm_{'scratch' if side is cmp_result.scratch else 'pretrained'}")  # fmt: skip
