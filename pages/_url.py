"""A page's settings in its URL: written as they change, read back from a shared link.

Each explainer page names the settings that define what it shows as ``Setting`` objects
(a session-state key, how to read it from text and how to write it as text) and calls
:func:`sync` once its defaults are in place and before its widgets are drawn. ``sync`` reads
the URL only when it was not written by this session (a link opened, a reload, a page
entered again), so a widget the user just moved is never overwritten by the URL it is about
to replace. Then it writes every setting that differs from the page's default, so the
address bar always holds the page's state; the presenter flag travels with it (app.py).

Query parameters are user input. Unknown keys are ignored and dropped; a value that does not
read (letters for a number, NaN, out of range, a matrix too large, too much text) is ignored
with one sentence naming it, and the page keeps its default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import streamlit as st

from core.errors import UserInputError
from core.explain.conv import parse_matrix

MAX_VALUE_CHARS = 4000  # longer than any matrix of 16x16 numbers the pages accept
LAST = "_url_last"  # the query string this session wrote last, as a dict
EXTERNAL = "_url_external"  # set by app.py each run: the URL did not come from this session
SYNCED = "_url_synced"  # set by sync to the settings this run's page keeps in the URL
CARRY = "_url_carry"  # parameters of the app rather than the page (the lecture being given)
PAGE_EXTRA = "_url_page_extra"  # what the page on screen adds to its link this run (a run id)
PRIVATE = "_url_private"  # parameters of the address bar that "Copy link" leaves out


@dataclass(frozen=True)
class Setting:
    """One setting of a page as it travels in the URL.

    ``read`` turns the URL text into the value (raising ValueError with the reason);
    ``write`` turns the value into URL text; ``default`` is what a fresh page shows (not
    written to the URL).
    """

    key: str
    read: Callable[[str], object]
    write: Callable[[object], str]
    default: object
    get: Callable[[], object] | None = None  # for a value kept under several keys
    put: Callable[[object], None] | None = None


def integer(key: str, lo: int, hi: int, default: int) -> Setting:
    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"not a whole number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"not a whole number from {lo} to {hi}")
        return value

    return Setting(key, read, lambda v: str(int(v)), default)


def number(key: str, lo: float, hi: float, default: float) -> Setting:
    def read(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"not a number from {lo:g} to {hi:g}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise ValueError(f"not a number from {lo:g} to {hi:g}")
        return value

    return Setting(key, read, lambda v: repr(float(v)), default)


def slug(option) -> str:
    """A short URL word for an option: "Textbook worked example (3x3 ...)" -> "textbook-worked"."""
    words = re.findall(r"[a-z0-9.]+", str(option).lower())
    out = ""
    for w in words:
        if len(out) + len(w) > 24:
            break
        out = f"{out}-{w}" if out else w
    return out or str(option)


def choice(key: str, options: Iterable, default, names: dict | None = None) -> Setting:
    """One of ``options``; in the URL as ``names[option]``, or a short slug of it."""
    options = list(options)
    names = dict(names or {})
    slugs = [slug(o) for o in options]
    for o, w in zip(options, slugs, strict=True):
        if o not in names:
            names[o] = w if slugs.count(w) == 1 else str(o)
    by_name = {names[o]: o for o in options}
    shown = ", ".join(list(by_name)[:8])
    by_name.update({str(o): o for o in options if str(o) not in by_name})  # "gm_instruments" too

    def read(text: str):
        if text not in by_name:
            raise ValueError("not one of " + shown)
        return by_name[text]

    return Setting(key, read, lambda v: names.get(v, str(v)), default)


def flag(key: str, default: bool = False) -> Setting:
    def read(text: str) -> bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("not 1 or 0")

    return Setting(key, read, lambda v: "1" if v else "0", default)


def text(key: str, default: str, max_chars: int = 200) -> Setting:
    def read(value: str) -> str:
        if len(value) > max_chars:
            raise ValueError(f"longer than {max_chars} characters")
        return value

    return Setting(key, read, str, default)


def matrix(key: str, default: str, *, max_rows: int = 16, max_cols: int = 16) -> Setting:
    """A typed matrix: rows separated by ``;`` and cells by ``,`` in the URL.

    The text is kept as typed (a fraction stays ``1/9``), so a cell the page cannot read
    stays visible with the page's own message; a matrix too large for the page is refused.
    """

    def read(value: str) -> str:
        if len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"longer than {MAX_VALUE_CHARS} characters")
        typed = "\n".join(" ".join(row.replace(",", " ").split()) for row in value.split(";"))
        try:
            parse_matrix(typed, max_rows=max_rows, max_cols=max_cols)
        except UserInputError as err:
            if "not a number" not in str(err):  # a bad cell is shown and named on the page
                raise ValueError(str(err).rstrip(".")) from None
        return typed

    def write(value: str) -> str:
        rows = [",".join(line.replace(",", " ").split()) for line in str(value).splitlines()]
        return ";".join(r for r in rows if r)

    return Setting(key, read, write, default)


# ----------------------------------------------------------------------------- syncing


def _shown(value: str) -> str:
    return value if len(value) <= 24 else value[:21] + "..."


def read_url(settings: list[Setting]) -> list[str]:
    """Apply the URL's values of ``settings`` to session state; the sentences of those refused."""
    given = st.query_params.to_dict()
    problems = []
    for s in settings:
        if s.key not in given:
            continue
        raw = given[s.key]
        try:
            value = s.read(raw)
        except ValueError as why:
            problems.append(f"{s.key}={_shown(raw)!s} ({why})")
            continue
        if s.put is not None:
            s.put(value)
        else:
            st.session_state[s.key] = value
    return problems


def write_url(settings: list[Setting]) -> None:
    """Put every setting that differs from its default into the URL, and nothing else."""
    params = {}
    for s in settings:
        value = s.get() if s.get is not None else st.session_state.get(s.key, s.default)
        if value is not None and value != s.default:
            params[s.key] = s.write(value)
    params.update(st.session_state.get(PAGE_EXTRA) or {})
    params.update(st.session_state.get(CARRY) or {})
    if st.session_state.get("presenter"):
        params["presenter"] = "1"
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
    st.session_state[LAST] = params


def sync(settings: Callable[[], list[Setting]]) -> None:
    """Read a page's settings from a URL that this session did not write; then write them.

    ``settings`` is called again after reading, so settings whose number depends on another
    (a layer count, a channel count) are read once that count is known.
    """
    if st.session_state.get(EXTERNAL, True):
        # two reads: a value whose range depends on another setting (a class number on the
        # link's dataset) is judged once that one is read; a value taken by the first read but
        # refused by the second is put back as it was
        given = st.query_params.to_dict()
        plain = [s.key for s in settings() if s.put is None and s.key in given]
        before = {k: st.session_state[k] for k in plain if k in st.session_state}
        first = read_url(settings())
        taken = [k for k in plain if not any(p.startswith(f"{k}=") for p in first)]
        problems = read_url(settings())
        for key in taken:
            if any(p.startswith(f"{key}=") for p in problems):
                if key in before:
                    st.session_state[key] = before[key]
                else:
                    st.session_state.pop(key, None)
        if problems:
            st.warning(
                "Some settings in this link could not be used, so the page shows its defaults "
                "for them: " + "; ".join(problems[:12]) + ("; ..." if len(problems) > 12 else "")
                + ".",
                icon=":material/link_off:",
            )  # fmt: skip
        st.session_state[EXTERNAL] = False
    write_url(settings())
    st.session_state[SYNCED] = settings  # app.py writes them again once the page has run


def share_link(label: str = "Copy link") -> None:
    """The full address of this page's state, to copy (the code box has a copy button)."""
    with st.popover(label, icon=":material/link:"):
        st.caption("This link opens the page as it is now, in any browser:")
        base = str(st.context.url or "").split("?")[0]
        # a run's id stays in this tab, and so does a lecture being built
        private = set(st.session_state.get(PAGE_EXTRA) or {}) | set(
            st.session_state.get(PRIVATE) or ()
        )
        query = "&".join(f"{k}={_quote(v)}" for k, v in st.session_state.get(LAST, {}).items()
                         if k not in private)  # fmt: skip
        st.code(base + ("?" + query if query else ""), language=None, wrap_lines=True)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe=",;.-_/")
