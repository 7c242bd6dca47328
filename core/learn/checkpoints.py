"""Save a trained model so it can be loaded again later or elsewhere, without pickle.

A saved model is one zip holding two files:

* ``model.safetensors``: the weights and buffers (safetensors stores raw tensors only, so
  loading it can never run code);
* ``model.json``: the layer spec (core.explain.summary), the input shape, the class names, the
  output head, how a raw picture or clip becomes the input (``features``: the representation,
  log-mel settings, border, clip length) and, for models trained here, the whole typed task
  (``task``: core.learn.task.Task.to_dict, the recipe included).

:func:`load_bundle` checks both, rebuilds the network from the spec and loads the weights
strictly, so a spec that does not match its weights is refused with a sentence. A pickled
PyTorch checkpoint (``torch.save``) is recognised and refused: unpickling can run code.
Everything else in the file is untrusted too and checked with a sentence for the user: the
zip's list of contents before it is read, each member as it is unpacked, the class names
against the network's outputs, the feature settings against its input
(core.learn.classify.Preprocess.from_dict) and every weight (finite numbers only).
"""

from __future__ import annotations

import io
import json
import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from core.errors import UserInputError
from core.explain.summary import check_caps, show, summarize
from core.learn.build import build_model, strip_head

FORMAT = "cnn-explainer-model"
VERSION = 1
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
MAX_CLASSES = 10_000
MAX_MEMBERS = 16  # files a saved model's zip may hold (it needs two)
MAX_LISTING_BYTES = 2**20  # the zip's list of contents; enough to recognise a torch.save zip
# what unpacking a damaged, encrypted or oddly compressed zip member raises (bz2: OSError)
_UNPACK_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, lzma.LZMAError,
                  NotImplementedError, RuntimeError, ValueError, struct.error)  # fmt: skip


@dataclass
class Bundle:
    """A model rebuilt from a saved bundle, with everything needed to use it."""

    model: object  # torch.nn.Module, in eval mode
    spec: list
    input_shape: tuple[int, ...]
    class_names: list[str]
    head: str = "softmax"
    features: dict | None = None
    extra: dict = field(default_factory=dict)
    task: dict | None = None  # core.learn.task.Task.to_dict() of a model trained by this app


def save_bundle(model, *, spec: list, input_shape, class_names, head: str = "softmax",
                features: dict | None = None, extra: dict | None = None,
                task: dict | None = None) -> bytes:  # fmt: skip
    """The bytes of a .zip holding model.safetensors and model.json."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec,
        "input_shape": list(input_shape),
        "class_names": list(class_names),
        "head": head,
        "features": features,
        "task": task,
        "extra": extra or {},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.safetensors", save(state))
        zf.writestr("model.json", json.dumps(meta, indent=2))
    return buf.getvalue()


def _zip_listing(data: bytes) -> tuple[int, int] | None:
    """How many files a zip says it holds and how many bytes its list of contents takes, read
    from its end record as zipfile does (ZIP64 included), without reading the list itself;
    None when ``data`` has no end record (it is not a zip)."""
    end = b"PK\x05\x06"
    at = len(data) - 22
    if not (at >= 0 and data[at : at + 4] == end and data[-2:] == b"\x00\x00"):
        at = data.rfind(end, max(0, len(data) - 22 - 0xFFFF))  # behind a comment
    if at < 0 or len(data) - at < 22:
        return None
    *_, entries, size, _, _ = struct.unpack("<4s4H2LH", data[at : at + 22])
    locator = at - 20  # a ZIP64 locator, then the ZIP64 end record just before it
    if locator >= 56 and data[locator : locator + 4] == b"PK\x06\x07":
        record = struct.unpack("<4sQ2H2L4Q", data[locator - 56 : locator])
        if record[0] == b"PK\x06\x06":
            entries, size = record[7], record[8]
    return entries, size


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UserInputError(
            f"The file has no {name}: a saved model holds model.safetensors and model.json."
        ) from None
    if info.file_size > limit:
        raise UserInputError(f"{name} is larger than {limit // 2**20} MB; it was refused.")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except _UNPACK_ERRORS:
        raise UserInputError(
            f"{name} could not be unpacked: the file is damaged, encrypted or compressed in a "
            "way this app cannot read. Save the model again from this app."
        ) from None
    if len(data) > limit:
        raise UserInputError(f"{name} unpacks to more than {limit // 2**20} MB; it was refused.")
    return data


def _check_meta(meta) -> None:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserInputError("model.json was not written by this app (its 'format' is missing).")
    if meta.get("version") != VERSION:
        raise UserInputError(
            f"model.json has version {show(meta.get('version'))}; this app reads {VERSION}."
        )
    spec, shape, names = meta.get("spec"), meta.get("input_shape"), meta.get("class_names")
    if not isinstance(spec, list) or not all(isinstance(layer, dict) for layer in spec):
        raise UserInputError("model.json's 'spec' must be a list of layers.")
    if not isinstance(shape, list) or not all(isinstance(v, int) and v > 0 for v in shape):
        raise UserInputError("model.json's 'input_shape' must be a list of positive whole numbers.")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise UserInputError("model.json's 'class_names' must list at least two class names.")
    if len(names) > MAX_CLASSES or any(len(n) > 200 for n in names):
        raise UserInputError(
            f"model.json's 'class_names' may list at most {MAX_CLASSES:,} names of at most "
            "200 characters each."
        )
    blank = next((i for i, n in enumerate(names) if not n.strip()), None)
    if blank is not None:
        raise UserInputError(
            f"model.json's 'class_names' has an empty name (class {blank + 1}); every class "
            "needs a name."
        )
    seen = set()
    for n in names:
        if n in seen:
            raise UserInputError(
                f"model.json's 'class_names' lists {show(n)} twice; each class needs its own name."
            )
        seen.add(n)
    if meta.get("head") not in ("softmax", "sigmoid"):
        raise UserInputError("model.json's 'head' must be 'softmax' or 'sigmoid'.")
    for key in ("features", "task"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise UserInputError(f"model.json's '{key}' must be a mapping of settings.")


def _check_outputs(summary, names: list, shape: tuple) -> None:
    """The network must give one number per class name (or one yes/no score for two)."""
    out = tuple(summary.rows[-1].output_shape) if summary.rows else shape
    if len(out) != 1:
        raise UserInputError(
            f"The model's output has shape {out}; a model that tells classes apart ends with "
            "one number per class (a dense layer)."
        )
    if out[0] == 1 and len(names) != 2:
        raise UserInputError(
            f"The model gives one output (a yes/no score), which names 2 classes, but "
            f"model.json lists {len(names):,} class names."
        )
    if out[0] != 1 and len(names) != out[0]:
        raise UserInputError(
            f"The model gives {out[0]:,} outputs, one per class, but model.json lists "
            f"{len(names):,} class names."
        )


def _check_finite(state: dict, expected: dict) -> None:
    """Refuse NaN or infinite weights, and weights too large for the model's own type (a
    float64 1e300 becomes infinity as float32): the model would answer NaN for everything."""
    import torch

    for key, value in state.items():
        if not value.is_floating_point():
            continue
        want = expected[key].dtype
        if want.is_floating_point and want != value.dtype:
            value = value.to(want)
        if not bool(torch.isfinite(value).all()):
            raise UserInputError(
                f"The weights in {key} hold values that are not finite numbers (NaN, infinity "
                "or too large for 32-bit floats); such a model cannot answer."
            )


def load_bundle(data: bytes, *, name: str = "the file") -> Bundle:
    """Check a saved model and rebuild it; never unpickles anything.

    Raises UserInputError for an empty or damaged file, a pickled checkpoint, a missing or
    malformed model.json, class names or feature settings that do not fit the network, or
    weights that do not fit the spec or are not finite.
    """
    if not data:
        raise UserInputError(f"{name} is empty (0 bytes).")
    if len(data) > MAX_BUNDLE_BYTES:
        raise UserInputError(f"{name} is larger than {MAX_BUNDLE_BYTES // 2**20} MB.")
    pickled = (
        f"{name} is a pickled PyTorch checkpoint (torch.save). Loading a pickle can run any "
        "code hidden in it, so this app refuses it. Save models from this app (a .zip with "
        "model.safetensors and model.json), or convert the weights to safetensors."
    )
    if data[:1] == b"\x80":  # a raw pickle stream
        raise UserInputError(pickled)
    not_zip = f"{name} is not a saved model: expected a .zip with model.safetensors and model.json."
    listing = _zip_listing(data)
    if listing is None:
        raise UserInputError(not_zip)

    def too_many(count: str) -> UserInputError:
        return UserInputError(
            f"{name} holds {count} files; a saved model holds two, model.safetensors and "
            "model.json."
        )

    # zipfile parses the whole list of contents (a million files take seconds): only a small one
    entries, listing_bytes = listing
    if listing_bytes > MAX_LISTING_BYTES:
        raise too_many(f"{entries:,}" if entries > MAX_MEMBERS else "too many")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        members = zf.namelist()
    except _UNPACK_ERRORS:
        raise UserInputError(not_zip) from None
    with zf:
        if any(n.endswith(".pkl") for n in members):  # torch.save: archive/data.pkl
            raise UserInputError(pickled)
        if len(members) > MAX_MEMBERS:
            raise too_many(f"{len(members):,}")
        raw_meta = _read_member(zf, "model.json", 5 * 2**20)
        weights = _read_member(zf, "model.safetensors", MAX_BUNDLE_BYTES)
    try:
        meta = json.loads(raw_meta)
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, or a 5,000-digit int
        raise UserInputError(f"model.json is not valid JSON ({str(err)[:200]}).") from None
    except RecursionError:
        raise UserInputError("model.json is nested too deeply to be a saved model.") from None
    _check_meta(meta)
    # the spec is untrusted: check every field and the caps from its arithmetic before
    # anything is allocated (a 1 kB model.json can ask for a 30 GB layer)
    spec = strip_head(meta["spec"])
    shape = tuple(meta["input_shape"])
    summary = summarize(spec, shape)
    check_caps(summary)
    _check_outputs(summary, meta["class_names"], shape)
    if meta.get("features") is not None:
        from core.learn.classify import Preprocess

        Preprocess.from_dict(meta["features"], input_shape=shape)

    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        state = load(weights)
    except (SafetensorError, ValueError, RuntimeError) as err:
        raise UserInputError(f"model.safetensors could not be read ({err}).") from None
    model = build_model(spec, shape)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}")
        for k in wrong[:3]:
            parts.append(
                f"{k} is {tuple(state[k].shape)} but the spec needs {tuple(expected[k].shape)}"
            )
        raise UserInputError("The weights do not fit the layer spec: " + "; ".join(parts) + ".")
    _check_finite(state, expected)
    model.load_state_dict(state, strict=True)
    model.eval()
    return Bundle(model, meta["spec"], shape, meta["class_names"], meta["head"],
                  meta.get("features"), meta.get("extra") or {}, meta.get("task"))  # fmt: skip
