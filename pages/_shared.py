"""Widgets shared by the explainer pages: matrix editors, the step player, the PyTorch check."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import streamlit as st

from core.errors import UserInputError
from core.explain.conv import format_matrix, parse_matrix
from core.explain.torch_ref import Check

ROUTED = "_routed"  # set by app.py each run: its router runs the page


class EndOfPage(Exception):
    """Raised by :func:`end_page`; app.py's router catches it and ends the run as usual."""


def end_page() -> None:
    """Stop drawing this page here (nothing more can be shown), like ``st.stop()``, but let
    app.py finish its run: the link is still written and the sidebar still drawn (after
    ``st.stop()`` every later Streamlit call is dropped)."""
    if st.session_state.get(ROUTED):
        raise EndOfPage
    st.stop()  # a page run on its own (tests, or before the router takes over)


def presenter() -> bool:
    return bool(st.session_state.get("presenter", False))


def controls(label: str = "Edit the input and settings"):
    """Where a page's editing widgets go: folded into an expander in presenter mode, so the
    step, its figure and its arithmetic fit the projector's screen."""
    if presenter():
        return st.expander(label, expanded=False, icon=":material/tune:")
    return st.container()


def plain_number(v: float) -> str:
    """A float as it is read: at most two decimals (18.4, 0.04, 1,234.5), and two significant
    figures for values too small for two decimals (0.0012, 0.00001), never "0" for them and
    never in scientific notation."""
    if v == 0:
        return "0"
    if math.isfinite(v) and abs(v) < 0.005:
        return np.format_float_positional(v, precision=2, fractional=False, trim="-")
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def table(data, **kwargs) -> None:
    """A table of numbers: an interactive grid, or in presenter mode a plain table whose text
    the hall's font size reaches (the grid draws on a canvas that no font setting enlarges)."""
    if presenter():
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            # st.table prints every float with 4 decimals (18.4000, 0.0400): as they are read
            data = [{k: plain_number(v) if isinstance(v, float) else v for k, v in r.items()}
                    for r in data]  # fmt: skip
        st.table(data)
    else:
        st.dataframe(data, hide_index=True, **kwargs)


def chart(where, fig, **kwargs) -> None:
    """``where.plotly_chart(fig)``, its text sized for a lecture hall in presenter mode."""
    if presenter():
        from core.figures import for_projector

        fig = for_projector(fig)
    where.plotly_chart(fig, **kwargs)


def clip_notes(notes) -> None:
    """What was done to a clip or picture, or found in it, where it enters the app."""
    for note in notes:
        st.info(note, icon=":material/info:")


def browser_id() -> str | None:
    """A stable name for the browser this session runs in (its tabs and reloads share it,
    another browser's differs), or None: a hash of the token in Streamlit's XSRF cookie,
    unmasked (the cookie's mask changes with each page load, the token does not)."""
    import binascii
    import hashlib

    try:
        raw = st.context.cookies.get("_streamlit_xsrf") or ""
    except Exception:  # noqa: BLE001 - no browser (a test, a script): no name
        return None
    parts = str(raw).split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if len(mask) != 4 or not masked:
        return None
    token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
    return hashlib.sha256(token).hexdigest()[:16]


def session_alive_check():
    """A check that this browser session is still connected (None outside a served app)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(session_id)


def train_owner() -> str:
    """This browser session, for the one-run-per-session rule of the run queue."""
    import uuid

    return st.session_state.setdefault("train_owner", uuid.uuid4().hex)


def linked_run(current):
    """The run the link names (``run=<id>``, read only from a link or a reload), when this
    session should take it up instead of ``current``: None when the link names none, it is
    already ``current``, or ``current`` is this session's own run still training. Returns
    ``(run or None, asked)``: a run that has left the server gives ``(None, id)``."""
    from pages import _url

    asked = st.query_params.get("run") if st.session_state.get(_url.EXTERNAL, True) else None
    if (
        not asked
        or current is not None
        and (current.id == asked or current.active and not watching(current))
    ):
        return None, None
    from core.learn import runs

    return runs.find(asked), asked


def watching(current) -> bool:
    """This session only watches ``current`` (another browser's run, opened from its link)."""
    return st.session_state.get("train_watching") == current.id


def attach_run(found) -> None:
    """A run named in a link (a reload, another tab, a pasted address) becomes this session's
    run. Its own browser's run is adopted (Stop works here); another browser's is only
    watched, so a lecturer's run shown to the hall cannot be stopped from a seat (a browser
    that cannot be named counts as another)."""
    from core.learn import runs

    S = st.session_state
    if found.browser is not None and browser_id() != found.browser:
        S.train_watching = found.id
    else:
        S.pop("train_watching", None)
        runs.get_queue().adopt(found, owner=train_owner(), alive=session_alive_check())
    S.train_run = found


def count(n: int, one: str, many: str | None = None) -> str:
    """``n`` and its noun in the right number: "1 channel", "2 channels", "0 classes"."""
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def init_state(defaults: dict) -> None:
    """Give widget keys their first values, without overwriting what the user has set."""
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


def matrix_input(
    label: str,
    key: str,
    *,
    name: str,
    max_rows: int = 16,
    max_cols: int = 16,
    help: str | None = None,
    height: int = 150,
) -> np.ndarray | None:
    """A text area for a matrix; returns the parsed array, or shows why not and returns None."""
    st.text_area(
        label,
        persist_state="session",
        key=key,
        height=height,
        help=help
        or "One row per line; numbers separated by spaces or commas. Fractions like 1/9 work.",
    )
    try:
        return parse_matrix(st.session_state[key], name=name, max_rows=max_rows, max_cols=max_cols)
    except UserInputError as err:
        st.error(str(err), icon=":material/error:")
        return None


def set_matrix(key: str, m: np.ndarray) -> None:
    st.session_state[key] = format_matrix(m)


def remember(key: str, value=None):
    """Keep the last good state of a page; without ``value``, return what was kept (or None)."""
    if value is not None:
        st.session_state[key] = value
    return st.session_state.get(key)


def stepper(prefix: str, n_steps: int, render: Callable[[int], None]) -> None:
    """Step, play, pause and scrub through ``n_steps`` steps; ``render(i)`` draws step i (0-based).

    Play advances one step a second on the server, inside a fragment, so the rest of the
    page is not recomputed while it plays.
    """
    key, playing_key = f"{prefix}_step", f"{prefix}_playing"
    st.session_state[key] = min(max(int(st.session_state.get(key, 1)), 1), n_steps)
    playing = bool(st.session_state.get(playing_key, False)) and n_steps > 1

    def move(delta: int) -> None:
        st.session_state[playing_key] = False
        st.session_state[key] = min(max(st.session_state[key] + delta, 1), n_steps)

    def toggle() -> None:
        if not st.session_state.get(playing_key) and st.session_state[key] >= n_steps:
            st.session_state[key] = 1  # play again from the start
        st.session_state[playing_key] = not st.session_state.get(playing_key, False)

    c1, c2, c3, c4, _ = st.columns([1, 1, 1, 1, 4])
    c1.button(
        "First",
        icon=":material/first_page:",
        key=f"{prefix}_first",
        on_click=move,
        args=(-n_steps,),
    )
    c2.button(
        "Back", icon=":material/chevron_left:", key=f"{prefix}_prev", on_click=move, args=(-1,)
    )
    c3.button(
        "Pause" if playing else "Play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        key=f"{prefix}_play",
        on_click=toggle,
        disabled=n_steps <= 1,
    )
    c4.button(
        "Next", icon=":material/chevron_right:", key=f"{prefix}_next", on_click=move, args=(1,)
    )

    @st.fragment(run_every=1.0 if playing else None)
    def panel() -> None:
        if st.session_state.get(playing_key):
            if st.session_state[key] >= n_steps:
                st.session_state[playing_key] = False
                st.rerun()
            st.session_state[key] += 1
        if n_steps > 1:
            st.slider(
                f"Step (of {n_steps})",
                1,
                n_steps,
                persist_state="session",
                key=key,
                help="Drag to scrub through the steps.",
            )
        render(st.session_state[key] - 1)

    panel()


def show_check(check: Check, *, shape_note: str = "") -> None:
    """PyTorch's output beside ours with the largest difference."""
    st.code(check.call, language="python")
    a, b = st.columns(2)
    a.markdown("**PyTorch**")
    a.dataframe(_frame(check.torch_output), hide_index=True)
    b.markdown("**This page**")
    b.dataframe(_frame(check.our_output), hide_index=True)
    verdict = "agree" if check.agrees else "DISAGREE"
    st.metric(
        "Largest absolute difference",
        f"{check.max_abs_diff:.3g}",
        help="Both are computed in 64-bit floating point.",
    )
    (st.success if check.agrees else st.error)(f"PyTorch and this page {verdict}. {shape_note}")


def _frame(a: np.ndarray):
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    a = np.atleast_2d(a.reshape(a.shape[0], -1) if a.ndim > 2 else a)
    return {f"col {j}": np.round(a[:, j], 6) for j in range(a.shape[1])}


GOTO_PAGE = "_goto_page"


def go_to(path: str, query_params: dict | None = None) -> None:
    """A button's on_click: open page ``path`` with ``query_params`` on the next run (app.py
    calls :func:`follow_page` before the page runs; a callback itself may not switch pages)."""
    st.session_state[GOTO_PAGE] = (path, dict(query_params or {}))


def follow_page() -> None:
    asked = st.session_state.pop(GOTO_PAGE, None)
    if asked is not None:
        st.switch_page(asked[0], query_params=asked[1])


def newest_input(inputs: dict, prefix: str):
    """Of several inputs (a recording, an upload), the one that changed last, and a hash of
    its bytes ((None, None) when there is none).

    Each input is remembered (under ``<prefix>_input_digests`` in session state) by a hash of
    its bytes; when one appears or changes it becomes the newest, so a new recording wins
    over an upload still sitting in its box.
    """
    import hashlib

    S = st.session_state
    seen = S.setdefault(f"{prefix}_input_digests", {})
    present = {}
    for key, item in inputs.items():
        if item is None:
            seen.pop(key, None)
            continue
        digest = hashlib.blake2b(item.getvalue(), digest_size=16).hexdigest()
        present[key] = item
        if seen.get(key) != digest:
            seen[key] = digest
            S[f"{prefix}_newest_input"] = key
    if not present:
        return None, None
    newest = S.get(f"{prefix}_newest_input")
    key = newest if newest in present else next(iter(present))
    return present[key], seen[key]
