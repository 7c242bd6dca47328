"""The task a model learns, owned in one place.

A :class:`Task` holds, as typed fields, everything that ties a model to its data: what the
model reads and its shape, how a raw picture or clip is made into that input
(:class:`core.learn.classify.Preprocess`: the representation, the log-mel FeatureSettings or
the picture's border, the clip length), the head (softmax over the classes, or one sigmoid
output for two), the class names and the :class:`core.learn.train.Recipe`. The builder's
hand-over, the trainer, background runs, saving, loading and classifying all read it; nothing
rediscovers it from a model's name, a tensor's shape or a dict's keys.

How a page (or a notebook) goes from a dataset to a run::

    from core.data import shipped
    from core.learn import runs, task as tasks

    ds = shipped.load("digits")
    reads = tasks.reads_for_preset(ds, "lenet5")  # Reads("image", pad=2): 28x28 -> 32x32
    inputs = tasks.inputs_for(ds, reads)  # tensors (cache them per dataset and Reads)
    plan = tasks.plan_preset(ds, inputs, "lenet5", classes=(3, 8))  # the tuned recipe
    plan = plan.with_recipe(lr=1e-3, epochs=2)  # dataclasses.replace, validated by Recipe
    run = runs.start_training(plan, "cpu", dataset=ds)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from core.errors import UserInputError
from core.learn.classify import Preprocess, preprocess_for
from core.learn.train import DEFAULT_MODELS, DEFAULT_RECIPES, Recipe, TrainData, default_recipe

REPRESENTATIONS = ("image", "log-mel", "waveform")
HEADS = ("softmax", "sigmoid")
#: The augmentation that suits each representation (a recipe may also use "none").
AUGMENT_FOR = {"image": "image", "log-mel": "spectrogram", "waveform": "waveform"}
MAX_BORDER = 4  # pixels a preset may add around each side of a picture (LeNet-5: 28 -> 32)


# --------------------------------------------------------------- what the model reads ----


@dataclass(frozen=True)
class Reads:
    """What a model reads, before any tensor is made.

    representation : {"image", "log-mel", "waveform"}
    pad : zero border added around each side of a picture (LeNet-5 reads 28x28 digits as 32x32)
    """

    representation: str
    pad: int = 0

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise UserInputError(
                f"A model reads one of {', '.join(REPRESENTATIONS)}; not {self.representation!r}."
            )
        if not 0 <= self.pad <= MAX_BORDER or self.pad and self.representation != "image":
            raise UserInputError(f"Only pictures get a border, of 0 to {MAX_BORDER} pixels.")


def reads_for_preset(ds, preset: str) -> Reads:
    """What a core.learn.zoo preset reads from ``ds``, from the input the preset declares.

    A preset declared on a 1-D input (C, T) reads waveforms; on audio any other reads a
    log-mel. A picture preset declared a few pixels larger than the data's pictures (LeNet-5:
    32x32 for 28x28 digits) reads them with a zero border, as LeCun padded MNIST.
    """
    from core.learn.zoo import PRESETS

    if preset not in PRESETS:
        raise UserInputError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    declared = tuple(PRESETS[preset]["input_shape"])
    if ds.kind != "image":
        return Reads("waveform" if len(declared) == 2 else "log-mel")
    size, want = int(ds.x.shape[-1]), int(declared[-1])
    border = (want - size) // 2
    if len(declared) == 3 and 0 < border <= MAX_BORDER and want - size == 2 * border:
        return Reads("image", pad=border)
    return Reads("image")


def input_shape_of(ds, reads: Reads, settings=None) -> tuple[int, ...]:
    """The shape (channels first, no batch axis) of one example of ``ds`` read as ``reads``."""
    if ds.kind == "image":
        if reads.representation != "image":
            raise UserInputError("A picture dataset can only be read as images.")
        c, h, w = (int(v) for v in ds.x.shape[1:])
        return (c, h + 2 * reads.pad, w + 2 * reads.pad)
    n = int(ds.x.shape[1])
    if reads.representation == "waveform":
        return (1, n)
    if reads.representation != "log-mel":
        raise UserInputError("An audio dataset is read as a log-mel or as a waveform.")
    from core.audio.features import FeatureSettings

    s = settings or FeatureSettings(sample_rate=ds.sample_rate)
    return (1, s.n_mels, s.n_frames(n))


def reads_for_shape(ds, input_shape, representation: str | None = None) -> Reads:
    """What a model built for ``input_shape`` (the Model builder's) reads from ``ds``.

    Raises UserInputError when no way of reading ``ds`` gives that shape.
    """
    wanted = tuple(int(v) for v in input_shape)
    if ds.kind == "image":
        candidates = [Reads("image", pad=p) for p in range(MAX_BORDER + 1)]
    else:
        candidates = [Reads("log-mel"), Reads("waveform")]
    if representation in REPRESENTATIONS:
        candidates = [r for r in candidates if r.representation == representation] or candidates
    for reads in candidates:
        if input_shape_of(ds, reads) == wanted:
            return reads
    raise UserInputError(
        f"The Model builder's model reads inputs of shape {wanted}, which this dataset does "
        "not provide: rebuild it for this dataset's input."
    )


def inputs_for(ds, reads: Reads, *, settings=None):
    """The dataset's tensors as the model reads them: core.data.shipped.ModelInputs."""
    from core.data.shipped import model_inputs

    return model_inputs(ds, representation=reads.representation, pad=reads.pad, settings=settings)


# ------------------------------------------------------------------------- the recipe ----


def like(ds) -> str:
    """The shipped dataset whose tuned recipe and model suit ``ds`` (your data: by its kind)."""
    if ds.name in DEFAULT_RECIPES:
        return ds.name
    return "digits" if ds.kind == "image" else "commands"


def default_preset(ds) -> str:
    """The core.learn.zoo preset ``ds`` starts from (small, fast on a CPU)."""
    return DEFAULT_MODELS[like(ds)]


def fit_augment(augment: str, representation: str) -> str:
    """An augmentation that suits the representation: "none" or its own kind.

    A recipe tuned on log-mels ("spectrogram") trains a waveform model with "waveform"
    augmentation, and the other way round; a picture model never gets an audio one.
    """
    return "none" if augment == "none" else AUGMENT_FOR[representation]


def recipe_for(ds, representation: str, *, device=None, **changes) -> Recipe:
    """The tuned recipe for ``ds`` on ``device`` (DEFAULT_RECIPES, or GPU_RECIPES on CUDA),
    with ``changes`` made field by field.

    One recipe object from the defaults to the run: the changes go through
    ``dataclasses.replace`` (so the Recipe checks every field, once, as it is made) and the
    augmentation is made to suit the representation.
    """
    unknown = sorted(set(changes) - {f.name for f in fields(Recipe)})
    if unknown:
        raise UserInputError(f"A recipe has no setting {', '.join(unknown)}.")
    recipe = replace(default_recipe(like(ds), device), **changes)
    return replace(recipe, augment=fit_augment(recipe.augment, representation))


# --------------------------------------------------------------------------- the task ----


@dataclass(frozen=True)
class Task:
    """What one model learns: its input, its head, its classes and its recipe.

    Attributes
    ----------
    dataset : the dataset's name ("digits", "your data", ...)
    class_names : the classes in output order (two for a two-class task)
    input_shape : (C, H, W) or (C, T) one example as the model reads it
    preprocess : how a raw picture or clip becomes that input (core.learn.classify.Preprocess)
    recipe : core.learn.train.Recipe (valid by construction)
    head : "softmax" (one output per class) or "sigmoid" (one output, two classes)
    classes : the dataset's class indices (negative, positive) of a two-class task, else None
    """

    dataset: str
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]
    preprocess: Preprocess
    recipe: Recipe
    head: str = "softmax"
    classes: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        if self.head not in HEADS:
            raise UserInputError(f"The head must be one of {', '.join(HEADS)}; not {self.head!r}.")
        if len(self.class_names) < 2:
            raise UserInputError("A classifier needs at least two classes.")
        if self.head == "sigmoid" and len(self.class_names) != 2:
            raise UserInputError(
                f"One sigmoid output tells two classes apart; this task has "
                f"{len(self.class_names)}."
            )
        if self.preprocess.representation not in REPRESENTATIONS:
            raise UserInputError(f"Unknown representation {self.preprocess.representation!r}.")
        if self.recipe.augment not in ("none", AUGMENT_FOR[self.representation]):
            raise UserInputError(
                f"A model that reads {self.representation} cannot be trained with "
                f"{self.recipe.augment} augmentation; use "
                f"{AUGMENT_FOR[self.representation]} or none."
            )

    @property
    def representation(self) -> str:
        return self.preprocess.representation

    @property
    def binary(self) -> bool:
        """Two classes through one sigmoid output (the Evaluate page draws their ROC)."""
        return self.head == "sigmoid"

    @property
    def n_outputs(self) -> int:
        """Width of the model's last layer: 1 for a sigmoid head, else the class count."""
        return 1 if self.binary else len(self.class_names)

    def with_recipe(self, recipe: Recipe | None = None, **changes) -> Task:
        """This task with another recipe and/or recipe fields changed (dataclasses.replace,
        so the Recipe checks them); the augmentation is made to suit the input."""
        recipe = replace(recipe or self.recipe, **changes)
        recipe = replace(recipe, augment=fit_augment(recipe.augment, self.representation))
        return replace(self, recipe=recipe)

    # ------------------------------------------------------------- saved with a model ----

    def to_dict(self) -> dict:
        """Plain JSON-safe values (a saved model's ``task``)."""
        return {
            "dataset": self.dataset,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "preprocess": self.preprocess.to_dict(),
            "recipe": asdict(self.recipe),
            "head": self.head,
            "classes": list(self.classes) if self.classes is not None else None,
        }

    @classmethod
    def from_dict(cls, d) -> Task:
        """The task :meth:`to_dict` wrote; UserInputError for anything else."""
        try:
            if not isinstance(d, dict):
                raise TypeError("not a mapping")
            json.dumps(d)  # plain values only
            recipe = d["recipe"]
            if not isinstance(recipe, dict):
                raise TypeError("the recipe is not a mapping")
            classes = d.get("classes")
            return cls(
                dataset=str(d["dataset"]),
                class_names=tuple(d["class_names"]),
                input_shape=tuple(d["input_shape"]),
                preprocess=Preprocess.from_dict(d["preprocess"]),
                recipe=Recipe(**recipe),
                head=d.get("head", "softmax"),
                classes=tuple(int(c) for c in classes) if classes is not None else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UserInputError(f"The saved task is not readable ({err}).") from None

    def save(self, model, *, spec: list, extra: dict | None = None) -> bytes:
        """The app's own saved model (core.learn.checkpoints: safetensors + JSON) of ``model``."""
        from core.learn.checkpoints import save_bundle

        return save_bundle(
            model,
            spec=spec,
            input_shape=self.input_shape,
            class_names=list(self.class_names),
            head=self.head,
            features=self.preprocess.to_dict(),
            task=self.to_dict(),
            extra=extra,
        )


# ------------------------------------------------------------- the tensors of a task ----


@dataclass(frozen=True, eq=False)
class Split:
    """The tensors a task trains, validates and is tested on.

    data : core.learn.train.TrainData (train and validation tensors)
    x_test : Tensor (M, ...); y_test : Tensor (M,) int64
    test_index : (M,) int64 indices of the test examples in the dataset's ``x``
    """

    data: TrainData
    x_test: object
    y_test: object
    test_index: np.ndarray


def check_classes(ds, classes) -> tuple[int, int] | None:
    """The two classes of a two-class task, checked against ``ds``; None keeps them all."""
    if classes is None:
        return None
    a, b = (int(c) for c in classes)
    if a == b:
        raise UserInputError("Choose two different classes for a two-class task.")
    if not (0 <= a < ds.n_classes and 0 <= b < ds.n_classes):
        raise UserInputError(f"Classes are numbered 0 to {ds.n_classes - 1}.")
    return a, b


def split(ds, inputs, *, classes: tuple[int, int] | None = None) -> Split:
    """Cut a dataset's model inputs into the train / validation / test tensors of a task.

    Parameters
    ----------
    ds : core.data.shipped.Dataset (its ``splits`` are used)
    inputs : core.data.shipped.ModelInputs of that dataset; x (N, ...), y (N,)
    classes : (a, b), optional
        Keep only these two classes: class ``a`` becomes label 0 and ``b`` label 1.
    """
    import torch

    classes = check_classes(ds, classes)
    y_all = np.asarray(ds.y)

    def part(name: str):
        idx = np.asarray(ds.splits[name], dtype=np.int64)
        if classes is not None:
            idx = idx[np.isin(y_all[idx], list(classes))]
        t = torch.as_tensor(idx)
        y = inputs.y[t]
        if classes is not None:
            y = (y == classes[1]).long()  # class b -> 1, class a -> 0
        return idx, inputs.x[t], y

    _, x_tr, y_tr = part("train")
    _, x_va, y_va = part("val")
    te_idx, x_te, y_te = part("test")
    return Split(TrainData(x_tr, y_tr, x_va, y_va), x_te, y_te, te_idx)


def make_task(ds, inputs, *, recipe: Recipe | None = None,
              classes: tuple[int, int] | None = None) -> Task:  # fmt: skip
    """The task of learning ``ds`` read as ``inputs`` (all classes, or two with a sigmoid)."""
    classes = check_classes(ds, classes)
    names = tuple(ds.class_names)
    if classes is not None:
        names = (names[classes[0]], names[classes[1]])
    shape = tuple(int(v) for v in inputs.x.shape[1:])
    if recipe is None:
        recipe = recipe_for(ds, inputs.representation)
    return Task(
        dataset=ds.name,
        class_names=names,
        input_shape=shape,
        preprocess=preprocess_for(ds, inputs, shape),
        recipe=recipe,
        head="sigmoid" if classes is not None else "softmax",
        classes=classes,
    )


# ------------------------------------------------------------------ the model's head ----


def check_outputs(summary, task: Task) -> None:
    """Raise UserInputError unless the model ends in ``task.n_outputs`` numbers per example."""
    out = tuple(summary.output_shape)
    want = task.n_outputs
    if len(out) != 1:
        raise UserInputError(
            f"The model ends with shape {out}, but a classifier must end with one number per "
            f"class: add Flatten (or global average pooling) and a Linear layer with {want} "
            "outputs."
        )
    if out[0] != want:
        what = (
            "one output (the probability of the second class, through a sigmoid)"
            if task.binary
            else f"{want} outputs, one per class"
        )
        raise UserInputError(
            f"The model's last layer has {out[0]} outputs, but this task needs {what}: set "
            f"the last Linear layer's out_features to {want}."
        )


def fit_head(spec: list, summary, task: Task) -> tuple[list, str | None]:
    """Give a model's last Linear layer the outputs ``task`` needs; say so when it changed.

    A model drawn in the Model builder for all ten digits ends in 10 outputs; the two-class
    task (one sigmoid output) can still use everything before that layer. When the output
    already fits, or the model does not end in a Linear layer, ``spec`` comes back as it was
    and :func:`check_outputs` has the last word.
    """
    from core.explain.summary import canonical_type

    out, want = tuple(summary.output_shape), task.n_outputs
    last = spec[-1] if spec else None
    if len(out) != 1 or out[0] == want or not isinstance(last, dict):
        return spec, None
    if canonical_type(str(last.get("type", ""))) != "linear":
        return spec, None
    key = "units" if "units" in last else "out_features"
    new_last = {k: v for k, v in last.items() if k not in ("units", "out_features")}
    new_last[key] = want
    what = (
        "one output (a sigmoid: two classes)" if task.binary else f"{want} outputs, one per class"
    )
    return [*spec[:-1], new_last], (
        f"The model's last Linear layer had {out[0]} outputs; for this task it gets {what}, "
        "with fresh weights. Everything before it is the model as built."
    )


# --------------------------------------------------------------------------- a plan ----


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything a run needs, checked: the task, its tensors, the model's spec and summary.

    note : a sentence when the model was adapted to the task (its head), else None
    """

    task: Task
    split: Split
    spec: list
    summary: object  # core.explain.summary.Summary of ``spec`` on ``task.input_shape``
    model_name: str
    note: str | None = None

    def with_recipe(self, recipe: Recipe | None = None, **changes) -> Plan:
        """This plan with another recipe and/or recipe fields changed (see Task.with_recipe)."""
        return replace(self, task=self.task.with_recipe(recipe, **changes))


def _plan(ds, inputs, spec: list, model_name: str, *, classes, adapt_head: bool) -> Plan:
    from core.explain.summary import summarize

    task = make_task(ds, inputs, classes=classes)
    note = None
    if adapt_head:
        spec, note = fit_head(spec, summarize(spec, task.input_shape), task)
    summary = summarize(spec, task.input_shape)
    check_outputs(summary, task)
    return Plan(task, split(ds, inputs, classes=classes), spec, summary, model_name, note)


def plan_preset(ds, inputs, preset: str, *, classes: tuple[int, int] | None = None) -> Plan:
    """A core.learn.zoo preset adapted to ``ds`` read as ``inputs``, with the tuned recipe."""
    from core.learn.zoo import PRESETS, preset_spec

    classes = check_classes(ds, classes)
    n = 2 if classes is not None else ds.n_classes
    shape = tuple(int(v) for v in inputs.x.shape[1:])
    spec = preset_spec(preset, input_shape=shape, n_classes=n,
                       head="sigmoid" if classes is not None else "softmax")  # fmt: skip
    return _plan(ds, inputs, spec, PRESETS[preset]["title"], classes=classes, adapt_head=False)


def plan_builder(ds, inputs, builder: dict, *, classes: tuple[int, int] | None = None) -> Plan:
    """The Model builder's model (its hand-over dict) on ``ds`` read as ``inputs``.

    Its last Linear layer is given the outputs the task needs (one sigmoid output for two
    classes, one per class otherwise), with a note saying so.
    """
    shape = tuple(int(v) for v in inputs.x.shape[1:])
    if tuple(builder["input_shape"]) != shape:
        raise UserInputError(
            f"The Model builder's model reads inputs of shape {tuple(builder['input_shape'])}, "
            f"but these inputs are {shape}: rebuild it for this dataset's input."
        )
    name = builder.get("name") or "Model builder's model"
    return _plan(ds, inputs, list(builder["spec"]), name, classes=classes, adapt_head=True)


# ------------------------------------------------------- a pretrained network, new head ----

#: The recipe of each mode, over the dataset's tuned one: a frozen backbone leaves only the
#: head to learn (a logistic regression on its features, quick at a high rate); fine-tuning
#: moves every weight, the backbone at a tenth of the rate (see core.learn.backbones).
PRETRAINED_RECIPES = {
    "frozen": dict(optimizer="adam", lr=1e-2, weight_decay=1e-3, scheduler="none",
                   augment="none", epochs=20),
    "fine-tuned": dict(optimizer="adam", lr=1e-3, weight_decay=0.0, scheduler="none",
                       augment="none", epochs=10),
}  # fmt: skip
BACKBONE_TITLES = {"aisfx": "aiSFX sound CNN", "speech_embedding": "Google speech embedding",
                   "efficientnet_lite0": "EfficientNet-Lite0"}  # fmt: skip
#: Shipped audio sets of spoken words start from the speech network; sounds from aiSFX.
SPEECH_DATASETS = ("commands", "your data")


def backbones_for(ds) -> tuple[str, ...]:
    """The pretrained networks that read this dataset's kind of data."""
    return ("efficientnet_lite0",) if ds.kind == "image" else ("speech_embedding", "aisfx")


def default_backbone(ds) -> str:
    """The pretrained network a dataset starts from: EfficientNet-Lite0 for pictures, the
    speech network for spoken words (and your own clips, most often words), aiSFX for sounds."""
    if ds.kind == "image":
        return "efficientnet_lite0"
    return "speech_embedding" if ds.name in SPEECH_DATASETS else "aisfx"


def pretrained_backbone(ds, backbone: str | None = None) -> str:
    """``backbone`` checked against ``ds``'s kind of data, or the default one."""
    name = backbone or default_backbone(ds)
    if name not in backbones_for(ds):
        raise UserInputError(
            f"The pretrained network {name!r} does not read "
            f"{'pictures' if ds.kind == 'image' else 'sound'}; choose "
            f"{' or '.join(backbones_for(ds))}."
        )
    return name


def reads_for_pretrained(ds) -> Reads:
    """What the pretrained network reads: the pictures, or the waveforms (it makes its own
    log-mel from them, with the settings it was trained with)."""
    return Reads("image") if ds.kind == "image" else Reads("waveform")


def pretrained_title(backbone: str, mode: str) -> str:
    return f"Pretrained {BACKBONE_TITLES[backbone]} ({mode}) with a new head"


def pretrained_recipe(ds, mode: str, device=None) -> Recipe:
    """The tuned recipe for ``ds`` changed as :data:`PRETRAINED_RECIPES` says for ``mode``."""
    if mode not in PRETRAINED_RECIPES:
        raise UserInputError(f"Unknown mode {mode!r}: frozen or fine-tuned.")
    return replace(default_recipe(like(ds), device), **PRETRAINED_RECIPES[mode])


def plan_pretrained(ds, inputs, mode: str, *, classes: tuple[int, int] | None = None,
                    backbone: str | None = None) -> Plan:  # fmt: skip
    """A pretrained network (``backbone``, or the dataset's default; ``mode``: frozen or
    fine-tuned) with a new head: dropout and one Linear layer, with :func:`pretrained_recipe`."""
    if mode not in PRETRAINED_RECIPES:
        raise UserInputError(f"Unknown mode {mode!r}: frozen or fine-tuned.")
    if inputs.representation != reads_for_pretrained(ds).representation:
        raise UserInputError("The pretrained network reads pictures or waveforms as they are.")
    classes = check_classes(ds, classes)
    name = pretrained_backbone(ds, backbone)
    layer = {"type": "pretrained", "backbone": name, "mode": mode}
    if ds.kind != "image":
        layer["sample_rate"] = int(ds.sample_rate or 16_000)
    n = 2 if classes is not None else ds.n_classes
    head = [{"type": "dense", "units": 1, "activation": "sigmoid"}] if classes is not None else [
        {"type": "dense", "units": n, "activation": "softmax"}]  # fmt: skip
    spec = [layer, {"type": "dropout", "p": 0.2}, *head]
    plan = _plan(ds, inputs, spec, pretrained_title(name, mode), classes=classes, adapt_head=False)
    return plan.with_recipe(pretrained_recipe(ds, mode))
