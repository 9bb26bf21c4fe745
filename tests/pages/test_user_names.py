"""File and ZIP member names come from users: every page shows them as the text they are, never as markdown (no
live link, no image fetched from another host, no emphasis, colour or LaTeX), and drops bidirectional overrides."""
import html
import re

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from tests.support.apptest import app_test
from tests.support.files import zip_bytes
from ui.common import WORD_JOINER, plain

LINK_NAME = "**bold**[link](http://x).png"
IMAGE_NAME = "![t](http://host/x.png)"
URL_NAMES = ["see http://x.invalid/a.png", "www.x.invalid.png", "me@x.invalid.dcm", "HTTPS://X.INVALID", "mailto:me@x.invalid"]
NAMES = [LINK_NAME, IMAGE_NAME, ":red[alert] $x^2$ :material/home: <b>hi</b> `code`.png", "a_b_c*d*.dcm", *URL_NAMES]
# what GitHub-flavoured markdown (Streamlit's) links on its own in plain text: "www.", a scheme, an e-mail address
AUTOLINK = re.compile(r"(?i)(www\.|(https?|ftp|mailto|xmpp):|[\w.+-]@[a-z0-9])")


def rendered(markdown: str) -> str:
    return MarkdownIt().render(markdown)


def shown(markdown: str) -> str:
    """What a viewer reads: the markdown rendered, its tags dropped."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered(markdown))).strip()


def is_plain(markdown: str, name: str) -> bool:
    """The name reads as typed and nothing in the markdown became a link (bare URLs included), an image or emphasis."""
    page, text = rendered(markdown), shown(markdown)
    return (name in text.replace(WORD_JOINER, "") and not AUTOLINK.search(text)
            and not any(tag in page for tag in ("<a ", "<img", "<em>", "<code>", "<b>")))


@pytest.mark.parametrize("name", NAMES)
def test_a_name_inside_markdown_reads_as_typed_and_links_nowhere(name):
    assert is_plain(plain(name), name) and shown(plain(name)).replace(WORD_JOINER, "") == name


def test_bidirectional_overrides_and_control_characters_are_dropped():
    assert shown(plain("scan\u202egnp.exe\n\t.png")) == "scangnp.exe.png"


def markdown_shown(at: AppTest) -> list[str]:
    """Every markdown source on the page: subheaders, alerts, markdown and captions."""
    return [e.value for kind in ("subheader", "error", "markdown", "caption", "info", "warning") for e in at.get(kind)]


def test_the_diagnose_page_shows_uploaded_names_as_text(xray_paths):
    at = app_test().run()
    xray = xray_paths["normal"][0].read_bytes()
    image_file = IMAGE_NAME + ".png"  # the uploader takes image extensions only
    at.file_uploader[0].set_value([(LINK_NAME, xray, "image/png"), (image_file, b"not an image", "image/png")])
    at.run()
    assert not at.exception, at.exception
    sources = markdown_shown(at)
    assert any(is_plain(e.value, LINK_NAME) for e in at.get("subheader"))
    assert any(is_plain(e.value, image_file) and "could not be analysed" in shown(e.value) for e in at.error)
    assert not any("<a " in rendered(s) or "<img" in rendered(s) for s in sources)


def test_zip_member_and_folder_names_are_shown_as_text(xray_paths):
    at = app_test()
    at.switch_page("pages/model_performance.py").run()
    members = {f"{folder}/{paths[0].name}": paths[0].read_bytes() for folder, paths in xray_paths.items()}
    members[f"normal/{LINK_NAME}"] = b"\x89PNG\r\n\x1a\n garbage"
    at.file_uploader[0].upload("own.zip", zip_bytes(members), "application/zip").run()
    assert not at.exception, at.exception
    assert any(is_plain(s, f"normal/{LINK_NAME}") for s in markdown_shown(at))
    at.file_uploader[0].upload(IMAGE_NAME + ".zip", zip_bytes({f"{IMAGE_NAME}/a.png": b"x"}), "application/zip").run()
    [error] = at.error
    assert is_plain(error.value, IMAGE_NAME + ".zip") and "unknown class folder(s) in the ZIP" in shown(error.value)
    assert not any("<a " in rendered(s) or "<img" in rendered(s) for s in markdown_shown(at))
