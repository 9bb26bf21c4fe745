"""Slow work on a page: start or join the server's shared run, show its real progress with a Stop button, keep its result.

A page names each kind of work (e.g. "comparison"); this session's state then holds `<name>_job` while it runs,
and `<name>_result`, `<name>_error` or `<name>_notice` once it ends.
"""
import uuid
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from core.teaching.background import JobRegistry, Report

POLL_S = 1.0  # how often a running job's progress is redrawn


@st.cache_resource
def shared_jobs() -> JobRegistry:
    """The server's jobs, shared by every session: the same request runs once, and its result is kept."""
    return JobRegistry()


def watcher_id() -> str:
    """This session's name as a watcher of jobs."""
    return st.session_state.setdefault("job_watcher_id", uuid.uuid4().hex)


def start_job(name: str, key: Hashable, work: Callable[[Report], Any]) -> None:
    """Start the work, or join the run of it already going or finished on this server."""
    for suffix in ("result", "error", "notice"):
        st.session_state.pop(f"{name}_{suffix}", None)
    st.session_state[f"{name}_job"] = shared_jobs().start(key, work, watcher_id())


def is_running(name: str) -> bool:
    return f"{name}_job" in st.session_state


def stop_job(name: str) -> None:
    """Stop waiting; the work itself stops at its next step unless another session is still waiting for it."""
    job = st.session_state.pop(f"{name}_job", None)
    if job is not None:
        job.leave(watcher_id())
        st.session_state[f"{name}_notice"] = "Stopped. Press the button again to start over."


def _follow(name: str, describe_error: Callable[[Exception], str]) -> None:
    job = st.session_state.get(f"{name}_job")
    if job is None:
        return
    if job.done:
        del st.session_state[f"{name}_job"]
        if job.succeeded:
            st.session_state[f"{name}_result"] = job.result
        elif job.error is not None:
            st.session_state[f"{name}_error"] = describe_error(job.error)
        else:
            st.session_state[f"{name}_notice"] = "Stopped. Press the button again to start over."
        st.rerun()
    text, _, _ = job.progress
    bar, button = st.columns([6, 1], vertical_alignment="bottom")
    bar.progress(job.fraction, text=text)
    button.button("■ Stop", on_click=stop_job, args=(name,), key=f"{name}_stop", width="stretch")


def follow_job(name: str, describe_error: Callable[[Exception], str]) -> None:
    """While the job runs: its progress and a Stop button, redrawn every POLL_S; when it ends, its outcome is kept."""
    st.fragment(_follow, run_every=POLL_S if is_running(name) else None)(name, describe_error)
    if error := st.session_state.get(f"{name}_error"):
        st.error(error)
    if notice := st.session_state.get(f"{name}_notice"):
        st.info(notice)
