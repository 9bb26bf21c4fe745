"""A classroom page's own context in the sidebar: what it teaches and the course's worked numbers it uses (the
clinical model's figures and disclaimer stay on the clinical pages, ui/common.py render_sidebar)."""
from collections.abc import Sequence

import streamlit as st


def page_context(teaches: str, worked: Sequence[str] = ()) -> None:
    """Below the app's name in the sidebar: what this page teaches, then its worked numbers, each computed by the caller."""
    with st.sidebar:
        st.markdown(f"**This page teaches** {teaches}")
        if worked:
            st.markdown("**The course's worked numbers**\n" + "".join(f"\n- {line}" for line in worked))
