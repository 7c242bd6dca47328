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


def steppers(app) -> dict[str, dict]:
    """The browser-side step players on the page: prefix -> the data they were sent."""
    import json

    out = {}
    for el in app.get("bidi_component"):
        data = json.loads(el.proto.json)
        if "steps" in data:
            out[data["prefix"]] = data
    return out


def step_equations(app, prefix: str) -> list[str]:
    """Every step's written-out arithmetic, as the player in the browser shows it."""
    return [s["eq"] for s in steppers(app)[prefix]["steps"]]


def go_to_step(app, prefix: str, n: int):
    """Open the player at step n (1-based), as a link or the URL of a reload does."""
    app.session_state[f"{prefix}_step"] = n
    return app.run()


def codes(app) -> list[str]:
    """The code blocks of the page, and the arithmetic of the step each player shows."""
    shown = [d["steps"][d["step"] - 1]["eq"] for d in steppers(app).values()]
    return [c.value for c in app.code] + shown


def errors(app) -> list[str]:
    return [e.value for e in app.error]


def text_area(app, key: str):
    return next(t for t in app.text_area if t.key == key)
