"""Background jobs: progress as the work reports it, pause, resume and stop through one API, one run shared by
several sessions with bounded finished results, and a fair training queue with a place in line and an estimated wait."""
import threading
import time

import numpy as np
import pytest

from core.teaching.background import UNWATCHED_S, AlreadyWaiting, Job, JobRegistry, Report, Stopped, TrainingQueue


def stepping_work(gate: threading.Event, steps: int = 3):
    """Work that reports each step, then waits at the gate before the next one."""
    def work(report: Report) -> str:
        for step in range(1, steps + 1):
            report(f"step {step} of {steps}", step, steps)
            gate.wait(30)
        return "finished"
    return work


def blocked(gate: threading.Event, started: threading.Event | None = None):
    """Work that holds its slot until the gate opens."""
    def work(report: Report) -> str:
        if started is not None:
            started.set()
        gate.wait(30)
        return "released"
    return work


def until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_job_reports_its_steps_and_keeps_its_result():
    gate = threading.Event()
    job = Job(stepping_work(gate)).start()
    job.watch("a")
    gate.set()
    job.wait(30)
    assert job.succeeded and job.result == "finished"
    assert job.progress == ("step 3 of 3", 3, 3) and job.fraction == 1.0


def test_the_last_watcher_leaving_stops_the_work_at_its_next_step():
    gate = threading.Event()
    job = Job(stepping_work(gate)).start()
    job.watch("a")
    job.leave("a")
    gate.set()
    job.wait(30)
    assert job.done and job.stopped and not job.succeeded and job.result is None


def test_a_failure_is_kept_for_the_page_to_show():
    def work(report: Report) -> None:
        raise ValueError("no X-rays in that folder")

    job = Job(work).start()
    job.wait(30)
    assert isinstance(job.error, ValueError) and str(job.error) == "no X-rays in that folder"


def test_a_paused_job_holds_at_its_next_step_until_resumed_and_a_stop_may_keep_what_it_made():
    steps_done, go_on = [], threading.Event()

    def work(report: Report) -> int:
        for step in range(1, 101):
            try:
                report("counting", step, 100)
            except Stopped:
                return len(steps_done)  # what it made so far, as a live training run keeps its network
            steps_done.append(step)
            if step == 2:
                go_on.wait(30)
            time.sleep(0.01)
        return len(steps_done)

    job = Job(work).start()
    assert until(lambda: len(steps_done) == 2)
    job.pause()
    go_on.set()
    time.sleep(0.2)
    assert job.paused and len(steps_done) == 2  # held at step 3's report
    job.resume()
    assert until(lambda: len(steps_done) > 2 or job.done)
    job.pause()
    time.sleep(0.1)
    held = len(steps_done)
    job.stop()  # a paused job stops at once
    job.wait(30)
    assert job.succeeded and job.result == held < 100 and not job.paused


def test_two_sessions_asking_for_the_same_work_share_one_run():
    registry, gate, runs = JobRegistry(TrainingQueue()), threading.Event(), []

    def work(report: Report) -> int:
        runs.append(1)
        gate.wait(30)
        return 42

    first = registry.submit("same settings", work, "session 1")
    second = registry.submit("same settings", work, "session 2")
    assert second is first
    first.leave("session 1")  # one session stops: the other is still waiting, so the work goes on
    gate.set()
    first.wait(30)
    assert first.succeeded and first.result == 42 and len(runs) == 1
    assert registry.submit("same settings", work, "session 3").result == 42  # later sessions get the result at once
    assert len(runs) == 1


def test_a_stopped_run_is_started_afresh_when_asked_again():
    registry, gate = JobRegistry(TrainingQueue()), threading.Event()
    job = registry.submit("k", stepping_work(gate), "session 1")
    job.leave("session 1")
    gate.set()
    job.wait(30)
    again = registry.submit("k", stepping_work(gate), "session 2")
    again.wait(30)
    assert again is not job and again.succeeded


def test_a_private_job_is_never_joined_nor_kept_by_the_registry():
    registry = JobRegistry(TrainingQueue())
    first = registry.submit("k", lambda report: np.zeros(10), "session 1", shared=False)
    first.wait(30)
    second = registry.submit("k", lambda report: np.zeros(10), "session 2", shared=False)
    second.wait(30)
    assert second is not first and registry.count() == 0  # the result lives only in the session that took it


def test_finished_results_are_kept_within_a_memory_bound_newest_first():
    registry = JobRegistry(TrainingQueue(), keep_bytes=2_500_000)
    for i in range(3):  # 1 MB each
        registry.submit(i, lambda report: np.zeros(1_000_000, np.uint8), "session").wait(30)
        time.sleep(0.01)
    assert registry.count() == 2
    fresh = registry.submit(0, lambda report: np.ones(1_000_000, np.uint8), "session")  # the oldest was let go
    fresh.wait(30)
    assert fresh.result[0] == 1
    assert registry.submit(2, lambda report: None, "session").result[0] == 0  # the newest is still shared


def test_finished_results_are_let_go_after_the_time_bound():
    clock = FakeClock()
    registry = JobRegistry(TrainingQueue(clock=clock), keep_s=60, clock=clock)
    kept = registry.submit("k", lambda report: "first", "session 1")
    kept.wait(30)
    clock.now += 59
    assert registry.submit("k", lambda report: "second", "session 2") is kept
    clock.now += 2
    assert registry.count() == 0
    again = registry.submit("k", lambda report: "second", "session 3")
    again.wait(30)
    assert again.result == "second"


def test_the_queue_runs_jobs_first_come_first_served_and_shows_each_its_place():
    queue, gate, order = TrainingQueue(slots=2), threading.Event(), []

    def noting(name: str):
        def work(report: Report) -> str:
            order.append(name)
            return name
        return work

    running = [Job(blocked(gate), queue=queue, owner=f"busy {i}").start() for i in range(2)]
    assert until(lambda: all(job.started for job in running))
    waiting = [Job(noting(name), queue=queue, owner=name).start() for name in ("a", "b", "c")]
    time.sleep(0.1)
    assert not any(job.started for job in waiting)
    places = [job.place for job in waiting]
    assert [(p.position, p.waiting, p.training, p.slots) for p in places] == [(1, 3, 2, 2), (2, 3, 2, 2), (3, 3, 2, 2)]
    assert all(p.estimated_wait_s is None for p in places)  # no run has finished yet: no estimate is made up
    gate.set()
    for job in waiting:
        job.wait(30)
    assert order == ["a", "b", "c"] and all(job.place is None and job.succeeded for job in waiting)


def test_the_estimated_wait_follows_the_recent_run_durations():
    clock = FakeClock()
    queue = TrainingQueue(slots=2, clock=clock)
    for seconds in (100, 120, 140):  # three finished runs: median 120 s
        job = Job(lambda report: None, queue=queue)
        queue.join(job)
        queue.wait_turn(job)
        clock.now += seconds
        queue.release(job)
    first, second = (Job(lambda report: None, queue=queue, owner=i) for i in range(2))
    for job in (first, second):
        queue.join(job)
        queue.wait_turn(job)  # both slots taken now
        clock.now += 30
    behind = [Job(lambda report: None, queue=queue, owner=f"w{i}") for i in range(3)]
    for job in behind:
        queue.join(job)
    # the slots free up in 120 - 60 = 60 s and 120 - 30 = 90 s; each run ahead then takes 120 s more
    assert [queue.place(job).estimated_wait_s for job in behind] == [60, 90, 180]
    assert queue.place(behind[0]).recent_runs == 3


def test_cancelling_a_waiting_job_takes_it_out_of_line_and_moves_the_others_up():
    queue, gate = TrainingQueue(slots=1), threading.Event()
    holder = Job(blocked(gate), queue=queue, owner="holder").start()
    assert until(lambda: holder.started)
    first = Job(blocked(gate), queue=queue, owner="first").start()
    second = Job(blocked(gate), queue=queue, owner="second").start()
    first.watch("first")
    first.leave("first")  # its session cancels
    first.wait(30)
    assert first.done and first.stopped and not first.started
    assert second.place.position == 1 and second.place.waiting == 1
    gate.set()
    second.wait(30)
    assert second.succeeded


def test_a_session_has_at_most_one_job_waiting():
    queue, gate = TrainingQueue(slots=1), threading.Event()
    Job(blocked(gate), queue=queue, owner="other").start()
    mine = Job(blocked(gate), queue=queue, owner="me").start()
    with pytest.raises(AlreadyWaiting, match="already have a job waiting"):
        Job(blocked(gate), queue=queue, owner="me").start()
    registry = JobRegistry(queue)
    with pytest.raises(AlreadyWaiting):
        registry.submit("another", blocked(gate), "me", queued=True)
    assert registry.count() == 0 and until(lambda: mine.place.waiting == 1)
    gate.set()
    mine.wait(30)
    assert mine.succeeded


def test_a_waiting_job_whose_page_stopped_polling_gives_up_its_place():
    clock, gate = FakeClock(), threading.Event()
    queue = TrainingQueue(slots=1, clock=clock)
    holder = Job(blocked(gate), queue=queue, owner="holder", clock=clock).start()
    assert until(lambda: holder.started)
    gone, staying = (Job(blocked(gate), queue=queue, owner=name, clock=clock).start() for name in ("gone", "staying"))
    gone.seen()
    clock.now += UNWATCHED_S - 1
    staying.seen()
    assert staying.place.position == 2  # still polled within the limit
    clock.now += 2
    assert staying.place.position == 1 and staying.place.waiting == 1  # the closed tab's job left the line
    gone.wait(30)
    assert gone.stopped and not gone.started
    gate.set()
    staying.wait(30)
    assert staying.succeeded


def test_a_paused_job_whose_page_stopped_polling_stops_and_frees_its_slot():
    clock, queue = FakeClock(), TrainingQueue(slots=1)
    job = Job(stepping_work(threading.Event(), steps=100), queue=queue, clock=clock)
    job.pause()
    job.start()
    job.seen()
    time.sleep(0.2)
    assert job.paused and not job.done
    clock.now += UNWATCHED_S + 1
    job.wait(30)
    assert job.stopped and job.progress[1] == 0  # held at its first step, then stopped there
    follower = Job(lambda report: "ran", queue=queue).start()
    follower.wait(30)
    assert follower.result == "ran"  # the slot was given back
