"""Chest X-ray CNN Lab: `streamlit run app.py`."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no C++ notices (the cuInit line) in the terminal

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Chest X-ray CNN Lab", page_icon="🩻", layout="wide")
with st.spinner("Starting the app: loading TensorFlow (the first visit to a fresh server only)…"):
    from pages.common import render_sidebar  # something on screen at once, not a blank page while TensorFlow loads

PAGES = [
    st.Page("pages/diagnose.py", title="Diagnose", icon=":material/radiology:", default=True),
    st.Page("pages/model_performance.py", title="Model performance", icon=":material/monitoring:"),
    st.Page("pages/convolution_lab.py", title="Convolution lab", icon=":material/grid_on:"),
    st.Page("pages/inside_the_cnn.py", title="Inside the CNN", icon=":material/layers:"),
    st.Page("pages/train_in_browser.py", title="Train a CNN", icon=":material/model_training:"),
    st.Page("pages/recurrent_cell.py", title="Recurrent cell", icon=":material/repeat:"),
    st.Page("pages/shortcut_lesson.py", title="Shortcut learning", icon=":material/alt_route:"),
]

render_sidebar()
st.navigation(PAGES).run()
