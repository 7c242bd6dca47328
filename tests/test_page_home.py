"""The entry point: navigation, home page links and presenter mode."""

from streamlit.testing.v1 import AppTest

from pages._registry import PAGES
from tests.apptest import codes, steppers


def test_home_links_every_page():
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception
    assert at.title[0].value == "How a convolutional network computes"
    text = " ".join(m.value for m in at.markdown)
    for page in PAGES:
        assert page.blurb in text


def test_presenter_mode_toggles_without_error():
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    at.toggle(key="presenter").set_value(True).run()
    assert not at.exception
    at.switch_page("pages/convolution.py").run()
    assert not at.exception
    assert "1×1 + 0×2 + 0×4 + 1×5 = 6" in codes(at)
    assert steppers(at)["conv"]["presenter"] is True  # the player draws large numbers too
