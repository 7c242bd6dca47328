"""A fault in a page shows one sentence, not a traceback (a hall may be watching), keeps the
sidebar, and goes to the server's log; with CNN_DEBUG=1 it is raised as itself."""

import logging

import pytest
from streamlit.testing.v1 import AppTest


def _open(page: str) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.run()
    at.switch_page(page).run()
    return at


def test_a_page_fault_is_one_sentence_and_logged(monkeypatch, caplog):
    monkeypatch.delenv("CNN_DEBUG", raising=False)
    import pages._shared as shared

    def broken(*a, **k):
        raise ZeroDivisionError("a bug in the engine")

    monkeypatch.setattr(shared, "count", broken)
    with caplog.at_level(logging.ERROR, logger="cnn_explainer"):
        at = _open("pages/transposed.py")
    assert not at.exception  # no traceback on the page
    said = " ".join(e.value for e in at.error)
    assert "Something went wrong on this page" in said and "a bug in the engine" not in said
    assert any(r.exc_info and "a bug in the engine" in str(r.exc_info[1]) for r in caplog.records)
    assert any(b.key == "lec_add" for b in at.sidebar.button)  # the sidebar is still drawn


def test_with_cnn_debug_the_fault_is_raised_as_itself(monkeypatch):
    monkeypatch.setenv("CNN_DEBUG", "1")
    import pages._shared as shared

    def broken(*a, **k):
        raise ZeroDivisionError("a bug in the engine")

    monkeypatch.setattr(shared, "count", broken)
    at = _open("pages/transposed.py")
    assert at.exception and "a bug in the engine" in at.exception[0].message


@pytest.mark.parametrize("value", ["", "0"])
def test_cnn_debug_off(monkeypatch, value):
    monkeypatch.setenv("CNN_DEBUG", value)
    import pages._shared as shared

    monkeypatch.setattr(shared, "count", lambda *a, **k: 1 / 0)
    at = _open("pages/transposed.py")
    assert not at.exception and any("Something went wrong" in e.value for e in at.error)


def test_a_fault_before_the_page_reads_its_link_keeps_the_link(monkeypatch):
    """Reloading, as the sentence advises, must find what the link held."""
    monkeypatch.delenv("CNN_DEBUG", raising=False)
    import pages._shared as shared

    monkeypatch.setattr(shared, "init_state", lambda *a, **k: 1 / 0)
    at = AppTest.from_file("../app.py", default_timeout=90)
    at.query_params.update({"tconv_stride": "3", "tconv_bias": "2.5"})
    at.switch_page("pages/transposed.py").run()
    assert not at.exception and any("Something went wrong" in e.value for e in at.error)
    assert at.query_params["tconv_stride"] == "3" and at.query_params["tconv_bias"] == "2.5"


def test_a_live_view_s_error_shows_no_traceback(monkeypatch):
    """Streamlit draws a fragment's error itself: without CNN_DEBUG, with no details."""
    import streamlit as st

    monkeypatch.delenv("CNN_DEBUG", raising=False)
    try:
        _open("pages/pooling.py")
        assert st.get_option("client.showErrorDetails") == "none"
        monkeypatch.setenv("CNN_DEBUG", "1")
        _open("pages/pooling.py")
        assert st.get_option("client.showErrorDetails") == "full"
    finally:
        st.set_option("client.showErrorDetails", "full")
