"""Landing page: what each page teaches, with links."""

import streamlit as st

from pages._registry import PAGES
from pages._router import ensure_router

ensure_router()

st.title("How a convolutional network computes")
st.markdown(
    "Every number a CNN produces comes from a few simple operations repeated many times. "
    "These pages let you watch each one on numbers you choose, check it against PyTorch, "
    "and then build and train networks of your own."
)

for page in PAGES:
    st.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
    st.markdown(page.blurb)

st.caption(
    "Presenter mode (in the sidebar) enlarges text and figures for a projector. "
    "Every result on the explainer pages can be checked against PyTorch with one click."
)
