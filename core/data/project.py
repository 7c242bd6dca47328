"""Keep a "Your own classes" project as one zip file, and open it again later.

A project zip holds:

* ``project.json``: the format and version, the kind ("audio" or "image"), the sampling rate,
  and per class, in order, its name and the file and shown name of every example;
* one folder per class with its examples: clips as 32-bit float WAV at the app's rate (read
  back sample for sample), pictures as 16-bit grey PNG (8-bit grey levels come back exactly);
* ``model.zip`` when a model trained on these classes is included: the app's own saved model
  (core.learn.checkpoints: safetensors + JSON, never pickle).

The folders are named after the classes, so the zip is also one the class-folder zip import
reads. Opening a project trusts nothing in it: the zip is read by
core.data.archive.read_members (limits on entries, sizes and paths), every example is decoded
and checked as an upload is (core.data.users.gather), and the model is rebuilt by
core.learn.checkpoints.load_bundle.

Example
-------
>>> data = save_project(gathered, sr=16_000)  # doctest: +SKIP
>>> load_project(data).gathered.counts  # {"clap": 12, "snap": 10, "background": 20}  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

from core.data.archive import UNREADABLE, read_members
from core.data.users import MAX_EXAMPLES, Gathered, clean_class_name, gather
from core.errors import UserInputError

FORMAT = "cnn-explainer-project"
VERSION = 1
MANIFEST = "project.json"
MODEL = "model.zip"
MAX_MANIFEST_BYTES = 5 * 2**20
_EXT = {"audio": ".wav", "image": ".png"}


@dataclass
class Project:
    """An opened project: its examples, and the model saved with it (if any, and usable).

    bundle : core.learn.checkpoints.Bundle or None
    model : the saved model's bytes (``model.zip``), to save again with the project
    problems : sentences about what was left out (unreadable examples, a model that does not fit)
    notes : sentences about what was done to examples on the way in (as for uploads)
    """

    gathered: Gathered
    bundle: object | None = None
    model: bytes | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _folder(name: str, taken: set[str]) -> str:
    """A folder name for a class: its name without characters file systems refuse, unique."""
    base = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name).strip(" .") or "class"
    if base in (MANIFEST, MODEL):
        base += "_"
    folder, k = base, 2
    while folder.lower() in taken:
        folder, k = f"{base} ({k})", k + 1
    taken.add(folder.lower())
    return folder


def _encode(example: np.ndarray, *, kind: str, sr: int) -> bytes:
    buf = io.BytesIO()
    if kind == "audio":
        import soundfile as sf

        sf.write(buf, np.asarray(example, dtype=np.float32), sr, format="WAV", subtype="FLOAT")
    else:
        from PIL import Image

        levels = np.round(np.clip(example, 0.0, 1.0) * 65535).astype(np.uint16)  # (H, W)
        Image.fromarray(levels).save(buf, format="PNG")
    return buf.getvalue()


def save_project(g: Gathered, *, sr: int = 16_000, model: bytes | None = None) -> bytes:
    """The bytes of a project zip holding every class and example of ``g`` (and ``model``).

    Parameters
    ----------
    g : core.data.users.Gathered
        The classes in order, each with its examples and their shown names.
    sr : int
        The clips' sampling rate in Hz.
    model : bytes, optional
        A saved model (core.learn.checkpoints.save_bundle) trained on these classes.
    """
    if g.kind not in _EXT:
        raise UserInputError(f"A project holds clips or pictures, not {g.kind!r}.")
    taken: set[str] = set()
    classes, members = [], []
    for label, items in g.examples.items():
        folder = _folder(label, taken)
        paths = [f"{folder}/{i + 1:04d}{_EXT[g.kind]}" for i in range(len(items))]
        members += [(p, _encode(x, kind=g.kind, sr=sr)) for p, x in zip(paths, items, strict=True)]
        classes.append({"name": label, "files": paths, "names": list(g.names[label])})
    manifest = {"format": FORMAT, "version": VERSION, "kind": g.kind, "sample_rate": int(sr),
                "classes": classes, "model": MODEL if model else None}  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False))
        for path, data in members:
            zf.writestr(path, data)
        if model:
            zf.writestr(MODEL, model)
    return buf.getvalue()


def _manifest(raw: bytes) -> dict:
    """project.json, checked field by field."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise UserInputError(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES // 2**20} MB.")
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise UserInputError(f"{MANIFEST} is not valid JSON ({str(err)[:200]}).") from None
    except RecursionError:
        raise UserInputError(f"{MANIFEST} is nested too deeply to be a project.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserInputError(f"{MANIFEST} was not written by this page (its 'format' is wrong).")
    if meta.get("version") != VERSION:
        raise UserInputError(
            f"{MANIFEST} has version {str(meta.get('version'))[:20]}; this app reads {VERSION}."
        )
    if meta.get("kind") not in _EXT:
        raise UserInputError(f"{MANIFEST}'s 'kind' must be 'audio' or 'image'.")
    classes = meta.get("classes")
    if not isinstance(classes, list):
        raise UserInputError(f"{MANIFEST}'s 'classes' must be a list.")
    for c in classes:
        ok = (
            isinstance(c, dict)
            and isinstance(c.get("name"), str)
            and isinstance(c.get("files"), list)
            and isinstance(c.get("names"), list)
            and len(c["files"]) == len(c["names"])
            and all(isinstance(v, str) and len(v) <= 300 for v in c["files"] + c["names"])
        )
        if not ok:
            raise UserInputError(
                f"{MANIFEST} lists a class without a name, or whose 'files' and 'names' are not "
                "two lists of text of the same length."
            )
    return meta


def load_project(data: bytes, *, sr: int = 16_000, max_examples: int | None = None) -> Project:
    """Open a project zip written by :func:`save_project`, checking everything in it.

    Parameters
    ----------
    data : bytes
        The uploaded file.
    sr : int
        The rate the clips are decoded at.
    max_examples : int, optional
        Refuse a project with more examples than this (default
        ``core.data.users.MAX_EXAMPLES``), before any is decoded.

    Returns
    -------
    Project
        Unreadable or damaged examples are left out with a sentence each (as with uploads); a
        model that is damaged, cannot be read, or was trained on other classes, is left out
        with a sentence.

    Raises
    ------
    UserInputError
        Not a zip, a zip the archive reader refuses (size, count, paths, links), no, a damaged
        or a malformed project.json, duplicate class names, or too many examples.
    """
    from core.learn.checkpoints import MAX_BUNDLE_BYTES

    def refuse(path: str) -> str | None:
        if path in (MANIFEST, MODEL) or posixpath.splitext(path)[1].lower() in _EXT.values():
            return None
        return f"{path}: not part of a project, left out"

    members = read_members(data, refuse=refuse, limits={MODEL: MAX_BUNDLE_BYTES},
                           skip_damaged=True)  # fmt: skip
    files, damaged = dict(members.files), members.damaged
    if MANIFEST in damaged:
        raise UserInputError(damaged[MANIFEST])
    if MANIFEST not in files:
        raise UserInputError(
            f"This zip has no {MANIFEST}, so it is not a project saved by this page. A zip with "
            "one folder per class is read by “Upload a zip with one folder per class” above."
        )
    meta = _manifest(files[MANIFEST])
    kind = meta["kind"]
    n = sum(len(c["files"]) for c in meta["classes"])
    max_examples = MAX_EXAMPLES if max_examples is None else max_examples
    if n > max_examples:
        raise UserInputError(
            f"The project holds {n} examples; this page keeps at most {max_examples}."
        )
    problems = list(members.skipped)
    by_class: dict[str, list[tuple[str, bytes]]] = {}
    for c in meta["classes"]:
        label = clean_class_name(c["name"])
        if label in by_class:
            raise UserInputError(f"{MANIFEST} lists the class '{label}' twice.")
        by_class[label] = []
        for path, shown in zip(c["files"], c["names"], strict=True):
            where = posixpath.normpath(path.replace("\\", "/"))
            content = files.get(where)
            if where in damaged:
                problems.append(f"{label}/{shown}: {damaged[where]}")
                continue
            if content is None or posixpath.splitext(path)[1].lower() != _EXT[kind]:
                problems.append(f"{label}/{shown}: its file {path!r} is not in the project.")
                continue
            by_class[label].append((shown, content))
    g = gather(by_class, kind=kind, sr=sr, max_examples=max_examples)
    project = Project(g, problems=problems + g.problems, notes=g.notes)
    g.problems, g.notes = [], []
    if meta.get("model") is not None and MODEL in damaged:
        project.problems.append(f"The project's model was left out: {damaged[MODEL]}")
    elif meta.get("model") is not None:
        _attach_model(project, files.get(MODEL))
    return project


def _attach_model(project: Project, raw: bytes | None) -> None:
    from core.learn.checkpoints import load_bundle

    if raw is None:
        project.problems.append(f"The project names a model, but it holds no {MODEL}.")
        return
    try:
        bundle = load_bundle(raw, name=f"The project's {MODEL}")
    except UserInputError as err:
        project.problems.append(f"The project's model was left out: {err}")
        return
    except UNREADABLE as err:  # a model.zip whose own members do not unpack
        detail = (str(err) or type(err).__name__)[:200].rstrip(".")
        project.problems.append(
            f"The project's model was left out: its {MODEL} is damaged ({detail}); train it "
            "again and download the project anew."
        )
        return
    names = list(project.gathered.examples)
    if list(bundle.class_names) != names:
        project.problems.append(
            f"The project's model was left out: it tells apart {', '.join(bundle.class_names)}, "
            f"but the project's classes are {', '.join(names) or 'none'}."
        )
        return
    project.bundle, project.model = bundle, raw
