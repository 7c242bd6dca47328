"""The engine of the CNN explainer: numbers in, numbers out.

Nothing in this package imports streamlit, and the explainer modules (conv, receptive,
audio) do not import torch at module level, so every function can be used from a notebook
or a test as well as from the app.
"""
