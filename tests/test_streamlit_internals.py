"""The two places the app leans on Streamlit internals (pages/common.py). Each test fails when a Streamlit upgrade
changes what the app relies on, so the upgrade is noticed here and not as a slow or broken app."""
import inspect

import keras
import streamlit.commands.navigation as navigation
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import script_runner

from pages.common import keep_compiled_kernels_between_runs


def recorder(calls: list) -> object:
    def clear_session(*args, **kwargs):
        calls.append(args)
    return clear_session


def test_streamlit_clears_keras_after_a_run_from_the_function_the_patch_recognises(monkeypatch):
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", recorder(calls))
    script_runner._clean_problem_modules()
    assert len(calls) == 1, "Streamlit no longer calls keras.backend.clear_session from _clean_problem_modules"


def test_the_patch_skips_only_streamlits_after_run_clear(monkeypatch):
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", recorder(calls))
    keep_compiled_kernels_between_runs()
    script_runner._clean_problem_modules()
    assert calls == []  # compiled functions survive the end of a script run
    keras.backend.clear_session()
    assert len(calls) == 1  # any other caller still clears the session
    keep_compiled_kernels_between_runs()
    assert keras.backend.clear_session.keeps_kernels  # installing twice wraps once


def test_navigation_still_leaves_the_legacy_pages_mode_through_the_flag_route_through_app_uses():
    assert hasattr(PagesManager, "uses_pages_directory")
    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation)
