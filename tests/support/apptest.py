"""The app, or one page, in Streamlit's AppTest, with one timeout for every test."""
from streamlit.testing.v1 import AppTest

from core.paths import REPO_ROOT

APPTEST_TIMEOUT_S = 300  # generous: a first run loads TensorFlow and the model on 2 busy cores


def app_test() -> AppTest:
    """The whole app (`app.py`: navigation, sidebar, the first page), not yet run."""
    return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=APPTEST_TIMEOUT_S)


def page_test(name: str) -> AppTest:
    """One page file of `pages/` on its own, not yet run."""
    return AppTest.from_file(str(REPO_ROOT / "pages" / name), default_timeout=APPTEST_TIMEOUT_S)
