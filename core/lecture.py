"""A lecture: an ordered list of the app's own views, each a page and the state in its link.

A slide is a page (its url path) and the query parameters that page keeps its state in
(pages/_url.py), with a title and a note for the speaker. A lecture travels as a small JSON
file, which is user input: :func:`from_json` reads it with limits on size, depth, counts and
lengths, and accepts only pages it is told exist.

A :class:`Shelf` keeps recent lectures under random tokens for the server's sessions, in
memory and, given a folder, on disk, so a lecture's link still works after a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import UserInputError

MAX_BYTES = 256_000
MAX_SLIDES = 100
MAX_PARAMS = 200  # settings of one view (a receptive-field stack and a bank of filters fit)
MAX_KEY = 40
MAX_VALUE = 4_000
MAX_TITLE = 200
MAX_NOTE = 4_000
VERSION = 1


@dataclass(frozen=True)
class Slide:
    page: str  # a url path of pages/_registry.py, e.g. "convolution"
    params: dict[str, str] = field(default_factory=dict)
    title: str = ""
    note: str = ""


@dataclass(frozen=True)
class Lecture:
    title: str = "Lecture"
    slides: tuple[Slide, ...] = ()

    def add(self, slide: Slide) -> Lecture:
        if len(self.slides) >= MAX_SLIDES:
            raise UserInputError(f"A lecture holds at most {MAX_SLIDES} slides.")
        return replace(self, slides=(*self.slides, slide))

    def move(self, i: int, step: int) -> Lecture:
        """Slide i moved ``step`` places (-1 up, +1 down); unchanged at either end."""
        j = i + step
        if not (0 <= i < len(self.slides) and 0 <= j < len(self.slides)):
            return self
        s = list(self.slides)
        s[i], s[j] = s[j], s[i]
        return replace(self, slides=tuple(s))

    def remove(self, i: int) -> Lecture:
        return replace(self, slides=tuple(s for k, s in enumerate(self.slides) if k != i))

    def edit(self, i: int, **changes) -> Lecture:
        s = list(self.slides)
        s[i] = _checked(replace(s[i], **changes), where=f"slide {i + 1}")
        return replace(self, slides=tuple(s))


def _text(value, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise UserInputError(f"The lecture file's {what} is not text.")
    if len(value) > limit:
        raise UserInputError(f"The lecture file's {what} is longer than {limit:,} characters.")
    return value


def _checked(slide: Slide, *, where: str, pages: set[str] | None = None) -> Slide:
    _text(slide.title, f"title of {where}", MAX_TITLE)
    _text(slide.note, f"note of {where}", MAX_NOTE)
    if pages is not None and slide.page not in pages:
        raise UserInputError(
            f"The lecture file's {where} opens a page this app does not have ({slide.page[:40]!r})."
        )
    return slide


def to_json(lecture: Lecture) -> str:
    doc = {
        "version": VERSION,
        "title": lecture.title,
        "slides": [
            {"page": s.page, "params": dict(s.params), "title": s.title, "note": s.note}
            for s in lecture.slides
        ],
    }
    return json.dumps(doc, indent=1, ensure_ascii=False)


def from_json(data: bytes | str, *, pages: set[str]) -> Lecture:
    """Read a lecture file; every problem is one sentence (UserInputError)."""
    if len(data) > MAX_BYTES:
        raise UserInputError(
            f"A lecture file is at most {MAX_BYTES // 1000} KB; this one is larger."
        )
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise UserInputError("This file is not a lecture: it is not valid JSON.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("slides"), list):
        raise UserInputError("This file is not a lecture: it has no list of slides.")
    if doc.get("version", VERSION) != VERSION:
        raise UserInputError(f"This lecture file is version {doc.get('version')!r}; "
                             f"this app reads version {VERSION}.")  # fmt: skip
    if len(doc["slides"]) > MAX_SLIDES:
        raise UserInputError(f"A lecture holds at most {MAX_SLIDES} slides; this file has "
                             f"{len(doc['slides'])}.")  # fmt: skip
    slides = []
    for n, raw in enumerate(doc["slides"], start=1):
        where = f"slide {n}"
        if not isinstance(raw, dict):
            raise UserInputError(f"The lecture file's {where} is not a slide.")
        params = raw.get("params", {})
        if not isinstance(params, dict) or len(params) > MAX_PARAMS:
            raise UserInputError(f"The lecture file's {where} has no valid settings.")
        for k, v in params.items():
            _text(k, f"setting name in {where}", MAX_KEY)
            _text(v, f"setting {k[:MAX_KEY]!r} of {where}", MAX_VALUE)
        page = _text(raw.get("page"), f"page of {where}", 60)
        slide = Slide(page=page, params=dict(params), title=raw.get("title", ""),
                      note=raw.get("note", ""))  # fmt: skip
        slides.append(_checked(slide, where=where, pages=pages))
    title = _text(doc.get("title", "Lecture"), "title", MAX_TITLE)
    return Lecture(title=title, slides=tuple(slides))


TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
log = logging.getLogger(__name__)


class Shelf:
    """Recent lectures by token, shared by a server's sessions; thread-safe and bounded: at
    most ``size`` in memory, and in ``folder`` at most ``files`` files of at most MAX_BYTES
    and ``disk_bytes`` in all, the least recently used dropped first (a lecture read or put
    again counts as used, so the one a hall keeps opening stays). ``folder`` (optional) keeps
    them across restarts of the server (and for every server that shares it); its files are
    read as user input, and a disk that refuses costs only that keeping."""

    TOUCH_EVERY = 60.0  # seconds between two marks of one file as used

    def __init__(self, size: int, folder: Path | str | None = None, *, pages: set[str],
                 files: int = 5_000, disk_bytes: int = 64_000_000):  # fmt: skip
        self.size, self.pages = size, set(pages)
        self.folder = Path(folder) if folder else None
        self.files, self.disk_bytes = files, disk_bytes
        self._items: OrderedDict[str, Lecture] = OrderedDict()
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _file(self, token: str) -> Path | None:
        if self.folder is None or not TOKEN_RE.fullmatch(token):
            return None
        return self.folder / f"{token}.json"

    def put(self, token: str, lecture: Lecture) -> None:
        with self._lock:
            changed = self._items.get(token) is not lecture
            self._items[token] = lecture
            self._items.move_to_end(token)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        if changed:  # each rerun puts the same object again: only a change is written
            self._write(token, lecture)
        else:
            self._touch(token)

    def get(self, token: str) -> Lecture | None:
        with self._lock:
            lecture = self._items.get(token)
            if lecture is not None:
                self._items.move_to_end(token)
        if lecture is not None:
            self._touch(token)
            return lecture
        lecture = self._read(token)
        if lecture is not None:
            with self._lock:
                self._items.setdefault(token, lecture)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return lecture

    def _touch(self, token: str) -> None:
        """Mark the lecture's file as used (at most once a TOUCH_EVERY): pruned last."""
        path = self._file(token)
        if path is None:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._touched.get(token, -1e9) < self.TOUCH_EVERY:
                return
            self._touched[token] = now
            if len(self._touched) > 4 * self.size:
                self._touched.clear()
        with contextlib.suppress(OSError):  # not on disk (any more): nothing to keep
            os.utime(path)

    def _write(self, token: str, lecture: Lecture) -> None:
        path = self._file(token)
        if path is None:
            return
        text = to_json(lecture).encode()
        if len(text) > MAX_BYTES:
            return  # it could not be read back
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(text)
            os.replace(tmp, path)  # a reader never sees half a file
            tmp = None
            with self._lock:
                self._touched[token] = time.monotonic()
            self._prune(path.parent)
        except OSError as err:
            log.warning("A lecture could not be kept on disk: %s", err)
        finally:
            if tmp is not None:  # a full disk: no half-written file left behind
                Path(tmp).unlink(missing_ok=True)

    def _prune(self, folder: Path) -> None:
        """Keep the most recently used files within the count and the bytes allowed."""
        found = []
        for f in folder.glob("*.json"):
            try:
                st = f.stat()
            except OSError:
                continue  # removed meanwhile (another server pruning the same folder)
            found.append((st.st_mtime_ns, f.name, st.st_size, f))
        found.sort(reverse=True)
        total = 0
        for n, (_, _, size, f) in enumerate(found):
            total += size
            if n >= self.files or total > self.disk_bytes:
                f.unlink(missing_ok=True)

    def _read(self, token: str) -> Lecture | None:
        path = self._file(token)
        if path is None:
            return None
        try:
            if not path.is_file() or path.stat().st_size > MAX_BYTES:
                return None
            lecture = from_json(path.read_bytes(), pages=self.pages)
            os.utime(path)  # recently used: pruned last
            return lecture
        except (OSError, UserInputError):
            return None
