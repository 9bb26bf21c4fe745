"""Chest X-ray CNN Lab, the page shell: navigation, each page's title, the sidebar.

Serve it with `streamlit run server.py` (the model is loaded as the server starts) or `streamlit run app.py`.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no C++ notices in the terminal

import streamlit as st  # noqa: E402

st.set_page_config(page_title="Chest X-ray CNN Lab", page_icon="🩻", layout="wide")

CLINICAL = [
    st.Page("pages/diagnose.py", title="Analyse an X-ray", icon=":material/radiology:", default=True),
    st.Page("pages/model_performance.py", title="Model performance", icon=":material/monitoring:"),
]
CLASSROOM = [
    st.Page("pages/convolution_lab.py", title="Convolution lab", icon=":material/grid_on:"),
    st.Page("pages/inside_the_cnn.py", title="Inside the CNN", icon=":material/layers:"),
    st.Page("pages/train_in_browser.py", title="Train a CNN", icon=":material/model_training:"),
    st.Page("pages/recurrent_cell.py", title="Recurrent cell", icon=":material/repeat:"),
    st.Page("pages/shortcut_lesson.py", title="Shortcut learning", icon=":material/alt_route:"),
]

page = st.navigation({"Clinicians and researchers": CLINICAL, "Teachers and students": CLASSROOM})
st.title(page.title)  # on screen before TensorFlow loads: a fresh server never shows a blank page
with st.spinner("Starting the app: loading TensorFlow (the first visit to a fresh server only)…"):
    from ui.common import render_sidebar
    from ui.streamlit_internals import keep_compiled_kernels_between_runs
keep_compiled_kernels_between_runs()
render_sidebar(clinical=page.url_path in {p.url_path for p in CLINICAL})
page.run()
