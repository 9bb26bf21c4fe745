"""Server folders: off unless whoever runs the server names allowed roots in CXR_DATA_ROOTS, and a folder outside
them is refused without saying what is there or whether it exists, on every page that takes a folder."""
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.server_paths import ROOTS_VARIABLE, ServerPathError, resolve_user_folder
from core.paths import REPO_ROOT as REPO
from tests.support.apptest import app_test, page_test

FOLDER_SOURCE = "Folder on this server"
TRAIN_FOLDER = "Chest X-rays from a folder on this server"


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An allowed root with one class folder, a link to /etc and a link to a folder inside it."""
    allowed = tmp_path / "allowed"
    (allowed / "set" / "covid19").mkdir(parents=True)
    (allowed / "etc_link").symlink_to("/etc")
    (allowed / "inner_link").symlink_to(allowed / "set")
    (tmp_path / "beside").mkdir()
    monkeypatch.setenv(ROOTS_VARIABLE, str(allowed))
    return allowed


def refusal(typed: str) -> str:
    with pytest.raises(ServerPathError) as err:
        resolve_user_folder(typed)
    return str(err.value)


def test_server_folders_are_off_unless_roots_are_named(monkeypatch):
    monkeypatch.delenv(ROOTS_VARIABLE, raising=False)
    assert "switched off" in refusal("/etc") and ROOTS_VARIABLE in refusal("/etc")


def test_folders_inside_a_root_are_allowed_absolute_relative_or_through_an_inner_link(root):
    assert resolve_user_folder(str(root / "set")) == root / "set"
    assert resolve_user_folder("set/covid19") == root / "set" / "covid19"
    assert resolve_user_folder("inner_link") == root / "set"


@pytest.mark.parametrize("typed", ["/etc", "/etc/ssh", "/root", "/proc/self", "/no/such/folder", "..", "../beside",
                                   "set/../../beside", "../../../../etc", "etc_link", "etc_link/ssh", "etc_link/nothing",
                                   "bad\0name", str(REPO / ".git")])
def test_a_folder_outside_the_roots_gets_one_refusal_whatever_is_there(root, typed):
    assert refusal(typed) == refusal("/no/such/folder")
    assert "not one this server allows" in refusal(typed) and str(root) in refusal(typed)


def test_several_roots_are_separated_like_path(root, tmp_path, monkeypatch):
    monkeypatch.setenv(ROOTS_VARIABLE, os.pathsep.join([str(root), str(tmp_path / "beside")]))
    assert resolve_user_folder(str(tmp_path / "beside")) == tmp_path / "beside"


def model_performance_page() -> AppTest:
    at = app_test()
    at.switch_page("pages/model_performance.py").run()
    assert not at.exception, at.exception
    return at


def test_model_performance_offers_no_server_folder_and_no_thumbnail_field_when_off(monkeypatch):
    monkeypatch.delenv(ROOTS_VARIABLE, raising=False)
    at = model_performance_page()
    assert not [r for r in at.radio if r.key == "own_source"]  # one way in (a ZIP): no choice to make
    assert not at.text_input
    page_text = " ".join(m.value for kind in ("markdown", "caption") for m in at.get(kind))
    assert "administrator can also allow folders" in page_text and ROOTS_VARIABLE not in page_text


def test_model_performance_refuses_etc_and_a_link_out_of_the_root_alike(root):
    at = model_performance_page()
    at.radio(key="own_source").set_value(FOLDER_SOURCE).run()
    errors = []
    for typed in ("/etc", "/no/such/folder", "etc_link", "../../.."):
        at.text_input(key="own_folder").input(typed).run()
        at.button(key="own_evaluate").click().run()
        errors.append([e.value for e in at.error])
    assert all(shown == errors[0] for shown in errors) and len(errors[0]) == 1
    assert "not one this server allows" in errors[0][0]
    assert not any(word in errors[0][0] for word in ("ssh", "passwd", "systemd", "unknown class folder"))


def test_train_a_cnn_offers_no_server_folder_when_off_and_refuses_etc_when_on(root, monkeypatch):
    at = page_test("train_in_browser.py").run()
    at.radio(key="data_source").set_value("Chest X-rays at low resolution").run()
    at.radio(key="live_folder_choice").set_value(TRAIN_FOLDER).run()
    at.text_input(key="live_folder").set_value("/etc").run()
    assert len(at.error) == 1 and "not one this server allows" in at.error[0].value and "ssh" not in at.error[0].value
    monkeypatch.delenv(ROOTS_VARIABLE)
    at.run()
    assert not any(TRAIN_FOLDER in radio.options for radio in at.radio)
