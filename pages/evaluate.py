"""Evaluate the trained model: test scores, the confusion matrix, its examples, ROC."""

import numpy as np
import streamlit as st

from core.errors import UserInputError
from core.figures import training as tfig
from core.learn import metrics, runs
from pages import _url
from pages._router import ensure_router
from pages._shared import (
    attach_run,
    chart,
    end_page,
    go_to,
    init_state,
    linked_run,
    presenter,
    table,
)

ensure_router()

S = st.session_state
MAX_IMAGES = 24
INSIDE_DATASETS = ("digits", "commands", "instruments", "gm_instruments")  # Inside reads these
MAX_CLIPS = 6

st.title("Evaluate the model")
st.markdown(
    "Accuracy is one number; the **confusion matrix** tells which classes the network mixes "
    "up. Row *i*, column *j* counts the examples whose true class is *i* and that the network "
    "called *j*: the diagonal holds the right answers, everything else a mistake. Dividing "
    "each row by its total (row-normalised) turns the diagonal into each class's **recall**. "
    "**Precision** reads down a column: of everything called *j*, how much really was *j*."
)

run = S.get("train_run")
# The link names the run (a reload, another tab): it is taken up as the Train page does.
found, asked = linked_run(run)
if found is not None:
    attach_run(found)
    run = found
if run is None:
    st.info(
        "The run named in this link is not on the server: it ended a while ago and its page "
        "was closed, the server restarted, or the link was cut short. Train again on the "
        "Train page."
        if asked
        else "No model has been trained in this session yet: train one on the Train page, "
        "then come back here.",
        icon=":material/info:",
    )
    try:
        st.page_link("pages/train.py", label="Go to the Train page", icon=":material/school:")
    except Exception:  # noqa: BLE001 - the page is not registered in this app
        st.markdown("Open the **Train** page from the menu.")
    end_page()

S[_url.PAGE_EXTRA] = {"run": run.id}  # app.py writes it into the link after the page
task, info = run.task, run.info  # core.learn.task.Task, core.learn.runs.RunInfo
class_names = list(task.class_names)
n_classes = len(class_names)
init_state({"ev_norm": "counts", "ev_true": 0, "ev_pred": 0, "ev_threshold": 0.5})
active = run.active  # read once: a run that ends while this page runs is drawn next run
test = None if active else run.test
if test is not None:
    y_true = np.asarray(info.y_test)
    pred = np.asarray(test.predictions)
    cm = metrics.confusion_matrix(y_true=y_true, y_pred=pred, n_classes=n_classes)
    off = cm - np.diag(np.diag(cm))  # (C, C) mistakes only
    first_cell = tuple(int(v) for v in np.unravel_index(off.argmax(), off.shape))
    if off.max() == 0:
        first_cell = (0, 0)
    if S.get("ev_run_id") != run.id:  # a new run: start on its most frequent mistake
        S.ev_run_id = run.id
        S.ev_true, S.ev_pred = first_cell


def url_settings() -> list[_url.Setting]:
    """What the link holds: the matrix's scale, and once the test is scored, the cell shown
    and the two-class threshold (a link's cell is read before a new run picks its own)."""
    keep = [_url.choice("ev_norm", ["counts", "row-normalised"], "counts")]
    if test is not None:
        keep += [
            _url.integer("ev_true", 0, n_classes - 1, first_cell[0]),
            _url.integer("ev_pred", 0, n_classes - 1, first_cell[1]),
        ]
        if n_classes == 2:
            keep.append(_url.number("ev_threshold", 0.0, 1.0, 0.5))
    return keep


_url.sync(url_settings)


def matrix_view(cm: np.ndarray) -> np.ndarray:
    return metrics.normalise_rows(cm) if S.ev_norm == "row-normalised" else cm


def scores_table(cm: np.ndarray) -> list[dict]:
    sc = metrics.per_class_scores(cm)
    return [
        {
            "class": class_names[i],
            "precision": round(float(sc.precision[i]), 4),
            "recall": round(float(sc.recall[i]), 4),
            "F1": round(float(sc.f1[i]), 4),
            "support": int(sc.support[i]),
        }
        for i in range(n_classes)
    ]


def live(current: runs.Run, was_active: bool) -> None:
    """While training: the latest validation matrix, redrawn every second."""
    snap = current.snapshot()
    if was_active and not snap.active:
        st.rerun(scope="app")
    if snap.status == runs.QUEUED:
        st.info(f"The run is waiting for a free slot (number {snap.queue_position} in the queue).")
        return
    st.progress(snap.progress, text=f"Training: {snap.progress:.0%} done, about "
                f"{runs.format_seconds(snap.eta)} left.")  # fmt: skip
    if snap.val_confusion is None:
        st.info("The first epoch is still running: the matrix appears when it ends.")
        return
    cm = snap.val_confusion
    st.subheader(f"Validation confusion matrix after epoch {snap.val_confusion_epoch}")
    st.caption(
        "Made from the validation set at the end of the latest epoch; it updates every epoch. "
        "The test set is scored once, when the run ends."
    )
    st.metric("Validation accuracy", f"{metrics.accuracy_from_confusion(cm):.1%}")
    chart(st,
        tfig.confusion_figure(matrix_view(cm), class_names,
                              normalised=S.ev_norm == "row-normalised", presenter=presenter()),
        key="ev_live_cm",
    )  # fmt: skip
    table(scores_table(cm))


st.radio(
    "Confusion matrix shows",
    ["counts", "row-normalised"],
    persist_state="session",
    key="ev_norm",
    horizontal=True,
    help="Row-normalised divides each row by the number of examples of its true class.",
)

if active:
    st.fragment(run_every=1.0)(live)(run, True)
    end_page()

snap = run.snapshot()
if test is None:
    if snap.status == runs.FAILED:
        st.error(f"The last run failed: {snap.message}", icon=":material/error:")
    else:
        st.warning(f"The last run ended without a model to test. {snap.message}")
    end_page()

state = {"finished": "finished", "diverged": "diverged", "at_chance": "stayed at chance"}.get(
    snap.verdict, "was stopped"
)
st.caption(
    f"{info.model_name} on {info.dataset_name}: the run {state}; the weights of epoch "
    f"{snap.best_epoch} (best on validation) are scored on {len(y_true):,} held-out test "
    "examples it never saw."
)
m = st.columns(3)
m[0].metric("Test accuracy", f"{test.accuracy:.1%}")
m[1].metric("Test loss", f"{test.loss:.4f}")
m[2].metric("Mistakes", f"{int(cm.sum() - np.trace(cm)):,} of {int(cm.sum()):,}")


def cell_clicked() -> None:
    """A click on the heat map picks the cell (its labels are the class names)."""
    sel = S.get("ev_cm_chart")
    points = (sel or {}).get("selection", {}).get("points", []) if sel else []
    if points:
        p = points[0]
        if p.get("y") in class_names and p.get("x") in class_names:
            S.ev_true = class_names.index(p["y"])
            S.ev_pred = class_names.index(p["x"])


for key in ("ev_true", "ev_pred"):
    if S[key] not in range(n_classes):
        S[key] = 0

# a few short class names fit beside the scores; more, or longer ones, need the page's width
if n_classes <= 4 and max(len(str(c)) for c in class_names) <= 14:
    left, right = st.columns([3, 2], gap="large")
else:
    left, right = st.container(), st.container()
with left:
    st.subheader("Confusion matrix (test set)")
    chart(st,
        tfig.confusion_figure(matrix_view(cm), class_names,
                              normalised=S.ev_norm == "row-normalised",
                              selected=(S.ev_true, S.ev_pred), presenter=presenter()),
        key="ev_cm_chart", on_select=cell_clicked, selection_mode="points",
    )  # fmt: skip
with right:
    st.subheader("Per-class scores")
    table(scores_table(cm))
    st.caption(
        "precision = right among those predicted as the class; recall = found among those "
        "truly in it; F1 = their harmonic mean; support = test examples of the class."
    )

# --------------------------------------------------------------------- one cell's examples ----
st.subheader("The examples behind a cell")
st.caption("Pick a cell here, or click one in the matrix.")
s1, s2 = st.columns(2)
s1.selectbox(
    "True class",
    range(n_classes),
    format_func=lambda c: class_names[c],
    persist_state="session",
    key="ev_true",
)
s2.selectbox("Predicted as", range(n_classes), format_func=lambda c: class_names[c],
             persist_state="session", key="ev_pred")  # fmt: skip
i, j = S.ev_true, S.ev_pred
hits = np.flatnonzero((y_true == i) & (pred == j))  # positions in the test set
kind = "right" if i == j else "mistakes"
st.markdown(
    f"**{len(hits)}** test examples of **{class_names[i]}** predicted as **{class_names[j]}** "
    f"({kind})." + (f" Showing the first {MAX_IMAGES}." if len(hits) > MAX_IMAGES else "")
)
ds = info.dataset
index = np.asarray(info.test_index)
probs = np.asarray(test.probabilities)
if len(hits) and ds.kind == "image":
    shown = hits[:MAX_IMAGES]
    st.image(
        [ds.x[index[k]][0] for k in shown],
        caption=[f"p={probs[k, j]:.2f}" for k in shown],
        width=84,
        clamp=True,
    )
elif len(hits):
    shown = hits[:MAX_CLIPS]
    if len(hits) > MAX_CLIPS:
        st.caption(f"Playing the first {MAX_CLIPS}.")
    cols = st.columns(min(len(shown), 3))
    for n, k in enumerate(shown):
        with cols[n % len(cols)]:
            clip = ds.x[index[k]]
            info = ds.info[index[k]] if ds.info else {}
            label = f"“{info['text']}”" if "text" in info else f"example {index[k]}"
            st.markdown(f"{label} · confidence {probs[k, j]:.2f}")
            chart(st, tfig.clip_figure(clip, sample_rate=ds.sample_rate),
                            key=f"ev_clip_{n}")  # fmt: skip
            st.audio(clip, sample_rate=ds.sample_rate)

if len(hits) and n_classes > 2 and run.info.dataset_name in INSIDE_DATASETS:
    o1, o2 = st.columns([2, 1], vertical_alignment="bottom")
    pick = o1.selectbox("Look inside the network at", [int(index[k]) for k in hits[:MAX_IMAGES]],
                        format_func=lambda d: f"example {d}", key="ev_inside_pick")  # fmt: skip
    o2.button("Open in Inside the network", icon=":material/biotech:", key="ev_inside",
              on_click=go_to, args=("pages/inside.py", {"in_model": "session",
                                                        "in_index": str(pick)}))  # fmt: skip

# ------------------------------------------------------------------------ two classes: ROC ----
if n_classes == 2:
    st.subheader("Two classes: ROC curve and the decision threshold")
    st.markdown(
        f"The network outputs one score per example: the probability that it is "
        f"**{class_names[1]}** (the positive class). Calling it positive above a threshold "
        "trades false alarms against misses: each threshold is one point of the ROC curve, "
        "and the area under it (AUC) is the chance that a random positive example scores "
        "higher than a random negative one."
    )
    scores = probs[:, 1]
    try:
        roc = metrics.roc_curve(y_true=y_true, scores=scores)
    except UserInputError as err:
        st.error(str(err))
        end_page()
    st.slider("Threshold", 0.0, 1.0, step=0.01, persist_state="session", key="ev_threshold")
    cm2 = metrics.threshold_confusion(y_true=y_true, scores=scores, threshold=S.ev_threshold)
    fpr, tpr = metrics.rates(cm2)  # this threshold's point on the ROC curve
    a, b = st.columns(2, gap="large")
    with a:
        chart(st, tfig.roc_figure(roc.fpr, roc.tpr, auc=roc.auc, point=(fpr, tpr),
                                        presenter=presenter()), key="ev_roc")  # fmt: skip
    with b:
        chart(st, tfig.confusion_figure(cm2, class_names, presenter=presenter()),
                        key="ev_cm2")  # fmt: skip
        q = st.columns(3)
        q[0].metric("AUC", f"{roc.auc:.3f}")
        q[1].metric("True-positive rate", f"{tpr:.1%}")
        q[2].metric("False-positive rate", f"{fpr:.1%}")
