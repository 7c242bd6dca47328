"""The Lecture page through the app: slides ordered, retitled, saved, loaded and presented,
each page opening at its slide's state in presenter mode. (Adding a view from the sidebar is
driven in a browser: tests/test_browser_lecture.py.)"""

import pytest
from streamlit.testing.v1 import AppTest

from core.lecture import Lecture, Slide, from_json, to_json
from pages._slides import PATHS
from tests.apptest import steppers


def _lecture_page(lecture: Lecture | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    if lecture is not None:
        at.session_state["lecture"] = lecture
    at.switch_page("pages/lecture.py").run()
    assert not at.exception, at.exception
    return at


TWO = Lecture(
    slides=(
        Slide(page="pooling", params={"pool_mode": "max"}, title="Pooling 1"),
        Slide(page="convolution", params={"conv_stride_w": "2"}, title="Convolution 1"),
    )
)


def _titles(at) -> list[str]:
    return [t.value for t in at.text_input if t.key.startswith("lec_title_")]


def test_an_empty_lecture_says_how_to_add_a_view():
    at = _lecture_page()
    assert "Add this view to the lecture" in " ".join(i.value for i in at.info)
    assert at.button(key="lec_present").disabled


def test_order_retitle_annotate_and_save():
    at = _lecture_page(TWO)
    assert _titles(at) == ["Pooling 1", "Convolution 1"]
    down = next(b for b in at.button if b.key.startswith("lec_down_") and b.key.endswith("_0"))
    down.click().run()
    assert _titles(at) == ["Convolution 1", "Pooling 1"]
    title = next(
        t for t in at.text_input if t.key.startswith("lec_title_") and t.key.endswith("_0")
    )
    title.input("Stride 2 skips every other column").run()
    note = next(t for t in at.text_area if t.key.endswith("_1"))
    note.input("Ask: what does max pooling keep?").run()
    assert not at.exception
    saved = from_json(to_json(at.session_state["lecture"]), pages=set(PATHS))
    assert [s.title for s in saved.slides] == ["Stride 2 skips every other column", "Pooling 1"]
    assert saved.slides[0].params == {"conv_stride_w": "2"}
    assert saved.slides[1].note == "Ask: what does max pooling keep?"
    remove = next(b for b in at.button if b.key.startswith("lec_del_") and b.key.endswith("_0"))
    remove.click().run()
    assert _titles(at) == ["Pooling 1"]


def test_present_opens_the_first_slide_at_its_state_in_presenter_mode():
    at = _lecture_page(TWO)
    at.button(key="lec_present").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="pool_mode").value == "max"
    assert at.toggle(key="presenter").value is True
    assert at.session_state["lecture_at"] == 0
    assert "Slide 1 of 2" in " ".join(m.value for m in at.sidebar.markdown)


def test_open_goes_to_one_slide():
    at = _lecture_page(TWO)
    next(b for b in at.button if b.key.startswith("lec_open_") and b.key.endswith("_1")).click()
    at.run()
    assert not at.exception, at.exception
    assert at.number_input(key="conv_stride_w").value == 2
    assert steppers(at)["conv"]["presenter"] is True


def _go(at, page):
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_views_added_from_two_pages_are_presented_slide_by_slide():
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    _go(at, "pooling").radio(key="pool_mode").set_value("max").run()
    at.sidebar.button(key="lec_add").click().run()
    _go(at, "convolution").number_input(key="conv_stride_w").set_value(2).run()
    at.sidebar.button(key="lec_add").click().run()
    _go(at, "lecture")
    assert _titles(at) == ["Pooling 1", "Convolution 1"]
    at.button(key="lec_present").click().run()
    assert at.radio(key="pool_mode").value == "max"
    assert "Slide 1 of 2" in " ".join(m.value for m in at.sidebar.markdown)
    assert at.sidebar.button(key="lec_prev").disabled
    at.sidebar.button(key="lec_next").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="conv_stride_w").value == 2
    assert at.toggle(key="presenter").value is True
    assert "Slide 2 of 2" in " ".join(m.value for m in at.sidebar.markdown)
    assert at.sidebar.button(key="lec_next").disabled
    at.sidebar.button(key="lec_prev").click().run()
    assert at.radio(key="pool_mode").value == "max"
    at.sidebar.button(key="lec_end").click().run()
    assert not at.exception and at.session_state["lecture_at"] is None
    assert _titles(at) == ["Pooling 1", "Convolution 1"]
    assert not [b for b in at.sidebar.button if b.key == "lec_add"]  # not on the Lecture page


def test_a_reload_on_a_slide_finds_the_lecture_and_a_visitor_gets_a_copy():
    at = _lecture_page(TWO)
    at.button(key="lec_present").click().run()
    token = at.session_state["lecture_token"]
    again = AppTest.from_file("../app.py", default_timeout=90)  # a new session: a reload
    again.query_params.update({"lecture": token, "slide": "2", "conv_stride_w": "2"})
    again.switch_page("pages/convolution.py").run()
    assert not again.exception, again.exception
    assert again.session_state["lecture"] == at.session_state["lecture"]
    assert again.session_state["lecture_at"] == 1
    assert "Slide 2 of 2" in " ".join(m.value for m in again.sidebar.markdown)
    # the visitor's lecture travels under a token of its own: its edits leave the first alone
    assert again.session_state["lecture_token"] != token


@pytest.mark.parametrize(
    "query",
    [
        {"lecture": "x" * 100_000, "slide": "1"},
        {"lecture": "nosuchtoken", "slide": "NaN"},
        {"lecture": "", "slide": "-5"},
        {"slide": "99999999999999999999"},
    ],
)
def test_hostile_lecture_parameters_are_ignored(query):
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.query_params.update(query)
    at.switch_page("pages/pooling.py").run()
    assert not at.exception, at.exception
    assert not at.session_state["lecture"].slides
    assert "lecture_at" not in at.session_state or at.session_state["lecture_at"] is None


def test_a_lecture_link_still_works_after_the_server_restarts():
    """The shelf is kept in $CNN_DATA_DIR/lectures: a restart (its memory cleared) loses
    nothing a link names."""
    from pages._slides import shelf

    at = _lecture_page(TWO)
    at.button(key="lec_present").click().run()
    token = at.session_state["lecture_token"]
    shelf.clear()  # what a restart does to the server's memory
    again = AppTest.from_file("../app.py", default_timeout=90)
    again.query_params.update({"lecture": token, "slide": "1", "pool_mode": "max"})
    again.switch_page("pages/pooling.py").run()
    assert not again.exception, again.exception
    assert again.session_state["lecture"] == TWO
    assert "Slide 1 of 2" in " ".join(m.value for m in again.sidebar.markdown)
