"""Slow work on a page, over core/teaching/background: start or join a job, follow it, keep its outcome.

A page names each kind of work (e.g. "comparison"); this session's state then holds `<name>_job` while it waits or
runs, and `<name>_result`, `<name>_error` or `<name>_notice` once it ends. While a training job waits for a slot the
page shows its place in line, an estimated wait and Cancel; while it runs, a bar, Stop and (if asked) Pause.
"""
import uuid
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from core.teaching.background import UNWATCHED_S, AlreadyWaiting, Job, JobRegistry, Place, Report

POLL_S = 1.0  # how often a job's progress or place in line is redrawn
STOPPED = "Stopped. Press the button again to start over."
LEFT_QUEUE = "You left the queue. Press the button again to join it at the back."
GIVEN_UP = (f"This run lost its place in line: the page was not open for {UNWATCHED_S // 60} minutes. Press the button "
            "again to join the queue at the back.")


@st.cache_resource
def shared_jobs() -> JobRegistry:
    """The server's jobs, shared by every session: the same request runs once, and its result is kept for a while."""
    return JobRegistry()


def watcher_id() -> str:
    """This session's name as a watcher of jobs."""
    return st.session_state.setdefault("job_watcher_id", uuid.uuid4().hex)


def start_job(name: str, key: Hashable, work: Callable[[Report], Any], *, queued: bool = False, shared: bool = True) -> None:
    """Start the work, or join the shared run of it already going or finished on this server. A queued job waits for
    a training slot; a private one (shared=False) is this session's alone, and Stop keeps what it made so far."""
    for suffix in ("result", "error", "notice"):
        st.session_state.pop(f"{name}_{suffix}", None)
    try:
        st.session_state[f"{name}_job"] = shared_jobs().submit(key, work, watcher_id(), queued=queued, shared=shared)
    except AlreadyWaiting as err:
        st.session_state[f"{name}_error"] = str(err)


def is_running(name: str) -> bool:
    """Whether this session has the job waiting or running."""
    return f"{name}_job" in st.session_state


def stop_job(name: str) -> None:
    """Stop waiting for the job: a shared one goes on while other sessions wait for it; a private one that runs stops
    at its next step and is followed to its end (its result may be what it made so far)."""
    job: Job | None = st.session_state.get(f"{name}_job")
    if job is None:
        return
    job.leave(watcher_id())
    if job.shared or not job.started:
        del st.session_state[f"{name}_job"]
        st.session_state[f"{name}_notice"] = STOPPED if job.started else LEFT_QUEUE


def wait_text(seconds: float | None, runs: int) -> str:
    if seconds is None:
        return "No estimated wait yet: no training has finished on this server since it started."
    minutes, rest = divmod(round(seconds), 60)
    about = f"{minutes} min {rest} s" if minutes else f"{rest} s"
    return f"Estimated wait: about {about}, if each run ahead lasts as long as the median of the last {runs} on this server."


def place_text(place: Place) -> str:
    return (f"Waiting for a training slot: number {place.position} of {place.waiting} in line. "
            f"{place.training} of {place.slots} slots are training now (the server trains at most {place.slots} "
            f"networks at once, so that uploads stay quick). {wait_text(place.estimated_wait_s, place.recent_runs)}")


def _keep_outcome(name: str, job: Job, describe_error: Callable[[Exception], str]) -> None:
    del st.session_state[f"{name}_job"]
    if job.succeeded:
        st.session_state[f"{name}_result"] = job.result
    elif job.error is not None:
        st.session_state[f"{name}_error"] = describe_error(job.error)
    else:
        st.session_state[f"{name}_notice"] = STOPPED if job.started else GIVEN_UP


def _progress(name: str, job: Job, pausable: bool) -> None:
    state = " — stopping after this step…" if job.stopping else " — paused" if job.paused else ""
    widths = [5, 1, 1] if pausable else [6, 1]
    bar, *buttons = st.columns(widths, vertical_alignment="bottom")
    bar.progress(job.fraction, text=job.progress[0] + state)
    if pausable:
        buttons[0].button("Resume" if job.paused else "Pause", icon=":material/play_arrow:" if job.paused else ":material/pause:",
                          on_click=job.resume if job.paused else job.pause, disabled=job.stopping, key=f"{name}_pause",
                          width="stretch")  # one button, so the fragment redraws it in place
    buttons[-1].button("■ Stop", on_click=stop_job, args=(name,), disabled=job.stopping, key=f"{name}_stop", width="stretch")


def _follow(name: str, describe_error: Callable[[Exception], str], pausable: bool, draw: Callable[[Job], None] | None) -> None:
    job: Job | None = st.session_state.get(f"{name}_job")
    if job is None:
        return
    job.seen()
    if job.done:
        _keep_outcome(name, job, describe_error)
        st.rerun()
    if (place := job.place) is not None:
        text, cancel = st.columns([6, 1], vertical_alignment="bottom")
        text.info(place_text(place), icon=":material/hourglass_top:")
        cancel.button("Cancel", on_click=stop_job, args=(name,), key=f"{name}_cancel", width="stretch")
        return
    _progress(name, job, pausable)
    if draw is not None:
        draw(job)


def follow_job(name: str, describe_error: Callable[[Exception], str], *, pausable: bool = False,
               draw: Callable[[Job], None] | None = None) -> None:
    """While the job waits: its place in line and Cancel; while it runs: its progress, Stop, Pause if `pausable`, and
    whatever `draw` shows of it; redrawn every POLL_S. When it ends, its outcome is kept in this session."""
    st.fragment(_follow, run_every=POLL_S if is_running(name) else None)(name, describe_error, pausable, draw)
    if error := st.session_state.get(f"{name}_error"):
        st.error(error)
    if notice := st.session_state.get(f"{name}_notice"):
        st.info(notice)
