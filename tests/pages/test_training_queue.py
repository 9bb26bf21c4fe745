"""Train a CNN on a busy server: with both training slots taken, a new run waits in line, says its place and its
estimated wait, and can be cancelled; another job from the same session is refused with a message."""
import re
import threading

import pytest

from core.teaching.background import MAX_TRAINING_RUNS, TRAINING_QUEUE, Job, Report
from tests.support.apptest import page_test

PAGE = "train_in_browser.py"


@pytest.fixture
def busy_server():
    """Both of the server's training slots held by other sessions' jobs until the test ends."""
    gate = threading.Event()

    def hold(report: Report) -> None:
        gate.wait(120)

    holders = [Job(hold, queue=TRAINING_QUEUE, owner=f"another session {i}").start() for i in range(MAX_TRAINING_RUNS)]
    try:
        for job in holders:
            while not job.started and not job.done:
                job.wait(0.01)
        yield
    finally:
        gate.set()
        for job in holders:
            job.wait(30)


def test_a_run_on_a_busy_server_shows_its_place_in_line_and_can_be_cancelled(busy_server):
    at = page_test(PAGE).run()
    at.slider(key="epochs").set_value(1)
    at.button(key="train").click().run()
    job = at.session_state["live_job"]
    waiting = [i.value for i in at.info if i.value.startswith("Waiting for a training slot")]
    assert waiting and waiting[0].startswith("Waiting for a training slot: number 1 of 1 in line. "
                                             f"{MAX_TRAINING_RUNS} of {MAX_TRAINING_RUNS} slots are training now")
    assert re.search(r"Estimated wait: about \d+|No estimated wait yet: no training has finished", waiting[0])
    assert not job.started and not at.get("progress")

    at.button(key="compare").click().run()  # a second job from the same session while the first waits
    assert [e.value for e in at.error] == ["You already have a job waiting for a training slot: cancel it, or wait "
                                           "until it starts, before you start another."]

    at.button(key="live_cancel").click().run()
    job.wait(30)
    assert "live_job" not in at.session_state and job.stopped and not job.started
    assert [i.value for i in at.info][-1].startswith("You left the queue.") and not at.exception
