"""Helpers the tests share (fixtures stay in tests/conftest.py): `files` builds test data, `apptest` opens the app or
a page in Streamlit's AppTest, `browser` drives it in chromium."""
