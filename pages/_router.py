"""Make sure every page runs inside app.py's router, even when a link opens it directly.

Streamlit still supports an older way of building multipage apps from a `pages/` folder.
When the very first visit to a freshly started server is a deep link (say /pooling), it
runs that page on its own, without app.py: no sidebar, no presenter mode, no navigation.
This project's layout keeps its pages in `pages/` but always routes with st.navigation, so
a page that finds itself run the old way switches the process to the router and reruns.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_router() -> None:
    """Call first on every page: reruns through app.py when the page was run on its own."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
