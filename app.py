"""Chest X-ray CNN Lab: `streamlit run app.py`."""
import streamlit as st

from pages.common import render_sidebar

st.set_page_config(page_title="Chest X-ray CNN Lab", page_icon="🩻", layout="wide")

PAGES = [
    st.Page("pages/diagnose.py", title="Diagnose", icon=":material/radiology:", default=True),
    st.Page("pages/model_performance.py", title="Model performance", icon=":material/monitoring:"),
    st.Page("pages/convolution_lab.py", title="Convolution lab", icon=":material/grid_on:"),
    st.Page("pages/inside_the_cnn.py", title="Inside the CNN", icon=":material/layers:"),
    st.Page("pages/train_in_browser.py", title="Train a CNN", icon=":material/model_training:"),
    st.Page("pages/recurrent_cell.py", title="Recurrent cell", icon=":material/repeat:"),
]

render_sidebar()
st.navigation(PAGES).run()
