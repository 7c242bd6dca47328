"""The lecture in the sidebar of every page: add the view on screen, and while presenting,
move from slide to slide (each slide opens its page at its state, in presenter mode).

The buttons only record what was asked (callbacks run before the script); app.py calls
:func:`follow` before the page runs, so a slide change costs one run of the page it opens.

Once a lecture has slides, every page's link carries ``lecture=<token>`` (and, while it is
given, ``slide=<n>``): the server keeps recent lectures on a bounded shelf under random tokens,
so a reload on any page, or the link opened in another tab of the same server (also after the
server has restarted), finds the lecture again. "Copy link" leaves the token out except on the Lecture page and while the
lecture is given. A session that finds a lecture this way takes a copy under a token of its
own, so nobody who was sent the link can change the lecturer's slides.
"""

from __future__ import annotations

import secrets

import streamlit as st

from core.errors import UserInputError
from core.lecture import Lecture, Shelf, Slide
from pages import _url
from pages._registry import PAGES

PATHS = {p.url_path: p.path for p in PAGES}
TITLES = {p.url_path: p.title for p in PAGES}
KEY, AT, GOTO, SAID = "lecture", "lecture_at", "lecture_goto", "lecture_said"
TOKEN = "lecture_token"
END = -1
SHELF_SIZE = 500  # lectures kept in memory for reloads, the least recently used dropped first


@st.cache_resource(show_spinner=False)
def shelf() -> Shelf:
    """The server's lectures: in memory, and under $CNN_DATA_DIR/lectures so that their links
    outlive a restart of the server."""
    from core.data.online import data_dir

    return Shelf(SHELF_SIZE, data_dir() / "lectures", pages=set(PATHS))


def lecture() -> Lecture:
    return st.session_state.setdefault(KEY, Lecture())


def go(i: int) -> None:
    """Ask for slide i (END: leave the lecture for the Lecture page); see :func:`follow`."""
    st.session_state[GOTO] = i


def _restore() -> None:
    """A session opened on a lecture's link (a reload, a new tab) takes up that lecture."""
    q = st.query_params
    if KEY in st.session_state or "lecture" not in q:
        return
    found = shelf().get(str(q["lecture"])[:40])
    if found is None:
        return  # an unknown or expired token is ignored, like any unknown setting
    st.session_state[KEY] = found
    try:
        n = int(str(q.get("slide", ""))[:6])
        st.session_state[AT] = n - 1 if 1 <= n <= len(found.slides) else None
    except ValueError:
        st.session_state[AT] = None


def _carry(page) -> None:
    """The lecture's token (and, while it is given, the slide) for the link of every page,
    so a reload anywhere keeps the lecture being built; "Copy link" shares the lecture only
    from the Lecture page or while it is given."""
    here = getattr(page, "url_path", "")
    lec, at = lecture(), st.session_state.get(AT)
    carry = {}
    if lec.slides:
        token = st.session_state.setdefault(TOKEN, secrets.token_urlsafe(8))
        shelf().put(token, lec)
        carry["lecture"] = token
        if at is not None:
            carry["slide"] = str(min(at, len(lec.slides) - 1) + 1)
    st.session_state[_url.CARRY] = carry
    shared = at is not None or here == "lecture"
    st.session_state[_url.PRIVATE] = set() if shared else {"lecture"}


def follow(page) -> None:
    """Before the page ``page`` runs: take up a lecture from the link, open the slide asked
    for since the last run (its page, its settings, presenter mode), carry the lecture on."""
    _restore()
    _carry(page)
    i = st.session_state.pop(GOTO, None)
    if i is None:
        return
    slides = lecture().slides
    if i == END or not slides:
        st.session_state[AT] = None
        st.switch_page(PATHS["lecture"])
    i = min(max(i, 0), len(slides) - 1)
    st.session_state[AT] = i
    slide = slides[i]
    st.switch_page(PATHS[slide.page], query_params={**slide.params, "presenter": "1"})


def _add(here: str) -> None:
    """The view on screen (the settings its link holds, as the last run wrote them) as a slide."""
    lec = lecture()
    params = {k: v for k, v in st.session_state.get(_url.LAST, {}).items()
              if k not in ("presenter", "lecture", "slide")}  # fmt: skip
    n = sum(s.page == here for s in lec.slides) + 1
    try:
        st.session_state[KEY] = lec.add(
            Slide(page=here, params=params, title=f"{TITLES[here]} {n}")
        )
        st.session_state[SAID] = ("ok", f"Added as slide {len(lec.slides) + 1} of the lecture.")
    except UserInputError as err:
        st.session_state[SAID] = ("error", str(err))


def bar() -> None:
    """While a lecture is given: the slide and its Previous / Next at the top of the page, in
    view on a projector (the sidebar's own controls sit below the page list)."""
    lec, at = lecture(), st.session_state.get(AT)
    if at is None or not lec.slides:
        return
    at = min(at, len(lec.slides) - 1)
    where, prev, nxt = st.columns([4, 1.4, 1.4], vertical_alignment="center")
    where.caption(f"Slide {at + 1} of {len(lec.slides)}: {lec.slides[at].title}")
    prev.button("Previous", icon=":material/chevron_left:", key="lec_bar_prev", on_click=go,
                args=(at - 1,), disabled=at == 0, width="stretch")  # fmt: skip
    nxt.button("Next", icon=":material/chevron_right:", key="lec_bar_next", on_click=go,
               args=(at + 1,), disabled=at >= len(lec.slides) - 1, type="primary",
               width="stretch")  # fmt: skip


def sidebar(page) -> None:
    """The lecture's controls for the page ``page`` (what st.navigation returned)."""
    here = getattr(page, "url_path", "")
    lec = lecture()
    at = st.session_state.get(AT)
    if at is not None and lec.slides:
        at = min(at, len(lec.slides) - 1)
        slide = lec.slides[at]
        st.markdown(f"**Slide {at + 1} of {len(lec.slides)}**: {slide.title}")
        if slide.note:
            st.caption(slide.note)
        # stacked, full width: two columns of a sidebar clip the labels in presenter mode
        st.button("Next slide", icon=":material/chevron_right:", key="lec_next", on_click=go,
                  args=(at + 1,), disabled=at >= len(lec.slides) - 1, type="primary",
                  width="stretch")  # fmt: skip
        st.button("Previous slide", icon=":material/chevron_left:", key="lec_prev", on_click=go,
                  args=(at - 1,), disabled=at == 0, width="stretch")  # fmt: skip
        st.button("End the lecture", key="lec_end", on_click=go, args=(END,), width="stretch")
    if here in PATHS and here != "lecture":
        st.button("Add this view to the lecture", icon=":material/add_to_queue:", key="lec_add",
                  help="The page as it is now: its settings.", on_click=_add, args=(here,))  # fmt: skip
    said = st.session_state.pop(SAID, None)
    if said and said[0] == "ok":
        st.toast(said[1], icon=":material/add_to_queue:")
    elif said:
        st.error(said[1])
