"""Background jobs: progress as the work reports it, a stop that ends the work, one run shared by several sessions."""
import threading

from core.teaching.background import BackgroundJob, JobRegistry, Report


def stepping_work(gate: threading.Event, steps: int = 3):
    """Work that reports each step, then waits at the gate before the next one."""
    def work(report: Report) -> str:
        for step in range(1, steps + 1):
            report(f"step {step} of {steps}", step, steps)
            gate.wait(30)
        return "finished"
    return work


def test_a_job_reports_its_steps_and_keeps_its_result():
    gate = threading.Event()
    job = BackgroundJob(stepping_work(gate)).start()
    job.watch("a")
    gate.set()
    job.wait(30)
    assert job.succeeded and job.result == "finished"
    assert job.progress == ("step 3 of 3", 3, 3) and job.fraction == 1.0


def test_the_last_watcher_leaving_stops_the_work_at_its_next_step():
    gate = threading.Event()
    job = BackgroundJob(stepping_work(gate)).start()
    job.watch("a")
    job.leave("a")
    gate.set()
    job.wait(30)
    assert job.done and job.stopped and not job.succeeded and job.result is None


def test_a_failure_is_kept_for_the_page_to_show():
    def work(report: Report) -> None:
        raise ValueError("no X-rays in that folder")

    job = BackgroundJob(work).start()
    job.wait(30)
    assert isinstance(job.error, ValueError) and str(job.error) == "no X-rays in that folder"


def test_two_sessions_asking_for_the_same_work_share_one_run():
    registry, gate, runs = JobRegistry(), threading.Event(), []

    def work(report: Report) -> int:
        runs.append(1)
        gate.wait(30)
        return 42

    first = registry.start("same settings", work, "session 1")
    second = registry.start("same settings", work, "session 2")
    assert second is first
    first.leave("session 1")  # one session stops: the other is still waiting, so the work goes on
    gate.set()
    first.wait(30)
    assert first.succeeded and first.result == 42 and len(runs) == 1
    assert registry.start("same settings", work, "session 3").result == 42  # later sessions get the result at once
    assert len(runs) == 1


def test_a_stopped_run_is_started_afresh_when_asked_again():
    registry, gate = JobRegistry(), threading.Event()
    job = registry.start("k", stepping_work(gate), "session 1")
    job.leave("session 1")
    gate.set()
    job.wait(30)
    again = registry.start("k", stepping_work(gate), "session 2")
    again.wait(30)
    assert again is not job and again.succeeded
