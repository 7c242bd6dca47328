"""Lecture: the app's own views as slides, ordered, titled, annotated, saved and presented."""

from dataclasses import replace

import streamlit as st

from core.errors import UserInputError
from core.lecture import MAX_NOTE, MAX_TITLE, from_json, to_json
from pages._router import ensure_router
from pages._slides import AT, KEY, PATHS, TITLES, go, lecture

ensure_router()
S = st.session_state

st.title("Lecture")
st.markdown(
    "Build a lecture from the app itself. On any page, set it up as you want to show it and "
    "press **Add this view to the lecture** in the sidebar: the slide keeps the page's "
    "settings (everything its link holds). Here you order the slides, give each a title and a "
    "note, save the lecture as a small file and load it again next year. **Present** opens "
    "each slide's page as it was, in presenter mode, with Previous and Next in the sidebar."
)


def _version() -> int:
    return S.setdefault("lec_version", 0)


def _bump() -> None:
    S.lec_version = _version() + 1  # widgets are made anew from the lecture


def _move(i: int, step: int) -> None:
    S[KEY] = lecture().move(i, step)
    _bump()


def _remove(i: int) -> None:
    S[KEY] = lecture().remove(i)
    _bump()


def _edit(i: int, field: str, key: str) -> None:
    try:
        S[KEY] = lecture().edit(i, **{field: S[key]})
    except UserInputError as err:
        S["lec_problem"] = str(err)


def _retitle(key: str) -> None:
    S[KEY] = replace(lecture(), title=S[key][:MAX_TITLE])


lec = lecture()
v = _version()
if S.get("lec_problem"):
    st.error(S.pop("lec_problem"))
st.text_input("Title of the lecture", lec.title, key=f"lec_name_{v}", on_change=_retitle,
              args=(f"lec_name_{v}",), max_chars=MAX_TITLE)  # fmt: skip

if not lec.slides:
    st.info(
        "No slides yet. Open a page (Convolution, Pooling, Receptive field, ...), set it up, "
        "and press **Add this view to the lecture** in the sidebar.",
        icon=":material/add_to_queue:",
    )
for i, slide in enumerate(lec.slides):
    with st.container(border=True):
        # the buttons fill their columns, and Remove's gets the room its label needs
        c = st.columns([3, 1, 1.1, 1.3, 1.1], vertical_alignment="bottom")
        c[0].text_input(
            f"Slide {i + 1}: {TITLES.get(slide.page, slide.page)}",
            slide.title,
            key=f"lec_title_{v}_{i}",
            on_change=_edit,
            args=(i, "title", f"lec_title_{v}_{i}"),
            max_chars=MAX_TITLE,
        )
        c[1].button("Up", icon=":material/arrow_upward:", key=f"lec_up_{v}_{i}",
                    on_click=_move, args=(i, -1), disabled=i == 0, width="stretch")  # fmt: skip
        c[2].button("Down", icon=":material/arrow_downward:", key=f"lec_down_{v}_{i}",
                    on_click=_move, args=(i, 1), disabled=i == len(lec.slides) - 1,
                    width="stretch")  # fmt: skip
        c[3].button("Remove", icon=":material/delete:", key=f"lec_del_{v}_{i}",
                    on_click=_remove, args=(i,), width="stretch")  # fmt: skip
        c[4].button("Open", icon=":material/open_in_new:", key=f"lec_open_{v}_{i}", on_click=go,
                    args=(i,), help="Open this slide's page as it was, in presenter mode.",
                    width="stretch")  # fmt: skip
        st.text_area(
            "Note for the speaker",
            slide.note,
            key=f"lec_note_{v}_{i}",
            on_change=_edit,
            args=(i, "note", f"lec_note_{v}_{i}"),
            max_chars=MAX_NOTE,
            height=68,
        )
        shown = ", ".join(f"{k}={val[:30]}" for k, val in list(slide.params.items())[:6])
        st.caption(f"Settings: {shown or 'the page as it opens'}"
                   + (" ..." if len(slide.params) > 6 else ""))  # fmt: skip

st.divider()
c1, c2, c3 = st.columns(3)
c1.button("Present", icon=":material/slideshow:", type="primary", key="lec_present",
          disabled=not lec.slides, on_click=go, args=(0,))  # fmt: skip
c2.download_button(
    "Save the lecture (JSON)",
    data=to_json(lec),
    file_name="lecture.json",
    mime="application/json",
    key="lec_save",
    disabled=not lec.slides,
)
upload = c3.file_uploader("Load a lecture", type=["json"], key="lec_upload", max_upload_size=1)
if upload is not None and S.get("lec_loaded") != upload.file_id:
    S.lec_loaded = upload.file_id  # read once: the slides may be edited after loading
    try:
        S[KEY] = from_json(upload.getvalue(), pages=set(PATHS))
        S[AT] = None
        _bump()
        st.rerun()
    except UserInputError as err:
        st.error(f"{err} The slides you had are kept.")
