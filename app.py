"""Router and shared frame of the CNN explainer: navigation, sidebar, presenter mode.

Run with `streamlit run app.py`. Pages live in pages/, the engine in core/.
"""

import logging
import os

import streamlit as st

from pages import _shared, _slides, _url
from pages._registry import PAGES

st.set_page_config(page_title="CNN explainer", page_icon=":material/grid_on:", layout="wide")

sections: dict[str, list] = {
    "Start": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)]
}
for page in PAGES:
    sections.setdefault(page.section, []).append(
        st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path)
    )

nav = st.navigation(sections, expanded=True)  # every page in view, no "View more"

# A URL this session did not write (a link opened, a reload, another page entered) is read;
# presenter mode travels in it like a page's settings (pages/_url.py).
S = st.session_state
S[_url.EXTERNAL] = st.query_params.to_dict() != S.get(_url.LAST)
if S[_url.EXTERNAL] and "presenter" in st.query_params:
    try:
        S.presenter = _url.flag("presenter").read(st.query_params["presenter"])
    except ValueError:
        S.presenter = False
S[_url.SYNCED] = False
S[_url.PAGE_EXTRA] = {}

DEVICE_LABELS = {"auto": "Auto: CUDA, then MPS, then CPU", "cpu": "CPU", "cuda": "CUDA GPU",
                 "mps": "Apple GPU (MPS)"}  # fmt: skip

with st.sidebar:
    st.toggle(
        "Presenter mode",
        key="presenter",
        help="Larger text and figures for a projector in a lecture hall.",
    )
    st.selectbox(
        "Training device",
        ["auto", "cpu", "cuda", "mps"],
        format_func=DEVICE_LABELS.get,
        key="device_choice",
        help="Where models are trained: a GPU when there is one, else the CPU. "
        "The explainer pages always compute on the CPU.",
    )

st.html(
    """<style>
    [data-testid="stCode"] code { font-size: 1.1rem; }
    </style>"""
)
if st.session_state.get("presenter"):
    # What is taught grows, not only the prose: matrix cells being typed, the written-out
    # arithmetic, tables, metrics and widget values, readable from the back of a hall.
    st.html(
        """<style>
        html, body, [data-testid="stAppViewContainer"] { font-size: 21px; }
        [data-testid="stMainBlockContainer"] { padding: 2.5rem 1.5rem 4rem 1.5rem; }
        [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.25rem; }
        [data-testid="stCode"] code { font-size: 1.3rem; line-height: 1.45; }
        [data-testid="stMain"] textarea { font-size: 1.5rem !important; line-height: 1.4 !important;
                                           font-family: "DejaVu Sans Mono", monospace !important; }
        [data-testid="stMain"] input { font-size: 1.25rem !important; }
        [data-testid="stTable"] td, [data-testid="stTable"] th,
        [data-testid="stMarkdownContainer"] td, [data-testid="stMarkdownContainer"] th { font-size: 1.3rem; }
        [data-testid="stMetricValue"] p { font-size: 2.4rem !important; }
        [data-testid="stMetricLabel"] p { font-size: 1.3rem; }
        [data-testid="stWidgetLabel"] p { font-size: 1.15rem; }
        .katex { font-size: 1.5em; }
        .katex-display { overflow-x: auto; overflow-y: hidden; }
        h1 { font-size: 2.8rem !important; } h2 { font-size: 2.1rem !important; }
        @media (max-width: 1500px) {  /* a projector at 1280 x 720, or 1920 x 1080 at 150% */
            html, body, [data-testid="stAppViewContainer"] { font-size: 18px; }
            [data-testid="stMetricValue"] p { font-size: 1.7rem !important; }
            [data-testid="stMetricLabel"] p, [data-testid="stWidgetLabel"] p { font-size: 1rem; }
            [data-testid="stMain"] input { font-size: 1.1rem !important; }
        }
        [data-testid="stSidebarNavItems"] [data-testid="stMarkdownContainer"],
        [data-testid="stSidebarNavItems"] [data-testid="stMarkdownContainer"] p {
            white-space: normal !important; text-overflow: clip !important; }
        </style>"""
    )

_slides.follow(nav)  # a slide asked for from the sidebar or the Lecture page
_slides.bar()  # while a lecture is given: where it is, and Previous / Next, in view
_shared.follow_page()  # a page another page's button asked for

S[_shared.ROUTED] = True
# A fault of ours shows one sentence, not a traceback (a hall may be watching); the traceback
# goes to the server's log. CNN_DEBUG=1 (tests, development) lets it through as itself. An
# error inside a fragment (a live view) is drawn by Streamlit, hence its option too.
DEBUG = os.environ.get("CNN_DEBUG", "").strip() not in ("", "0")
st.set_option("client.showErrorDetails", "full" if DEBUG else "none")
failed_early = False
try:
    nav.run()
except _shared.EndOfPage:
    pass  # the page said all it could; the sidebar and the link below still come
except Exception as err:
    if DEBUG or type(err).__name__ == "FragmentHandledException":  # already drawn
        raise
    logging.getLogger("cnn_explainer").exception("Page %r failed", getattr(nav, "title", "?"))
    # before the page read its link, its settings are still only there: keep the link as it is
    failed_early = not S.get(_url.SYNCED)
    st.error(
        "Something went wrong on this page, and it stopped here. Nothing you entered is lost: "
        "change a setting or reload the page to try again. The server's log has the details.",
        icon=":material/error:",
    )
finally:
    # the page's settings as the page left them (it may have fitted some to its data);
    # a page without settings in its link keeps only presenter mode there
    if not failed_early:
        _url.write_url(S[_url.SYNCED]() if S.get(_url.SYNCED) else [])
    with st.sidebar:
        _url.share_link()
        _slides.sidebar(nav)
