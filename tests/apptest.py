"""Helpers for driving pages with Streamlit's AppTest."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parent.parent / "pages"


def open_page(stem: str, *, timeout: float = 90) -> AppTest:
    """Run pages/<stem>.py once and check it raised nothing."""
    app = AppTest.from_file(str(PAGES / f"{stem}.py"), default_timeout=timeout)
    app.run()
    assert not app.exception, app.exception
    return app


def codes(app) -> list[str]:
    return [c.value for c in app.code]


def errors(app) -> list[str]:
    return [e.value for e in app.error]


def text_area(app, key: str):
    return next(t for t in app.text_area if t.key == key)
