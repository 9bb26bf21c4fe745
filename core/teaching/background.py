"""Slow work in a background thread: honest progress, a stop that works, and one run shared by every session.

The work is a function of one argument, `report(text, done, total)`, which it calls at every real step (an image
read, a batch, an epoch). `report` raises Stopped once everyone watching the job has stopped it, so the work ends
at its next step. A JobRegistry keys jobs by what they compute: a second session asking for the same thing joins
the run in progress, or gets its finished result at once. Nothing here imports streamlit.
"""
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

Report = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all); raises Stopped when asked
MAX_TRAINING_RUNS = 2  # networks training at once on one server: each takes a CPU core, and a class has many students
_training_slots = threading.BoundedSemaphore(MAX_TRAINING_RUNS)


class Stopped(Exception):
    """Raised inside the work, at its next step, once nobody is waiting for it any more."""


class ServerBusy(RuntimeError):
    """Every training slot on the server is taken."""


@contextmanager
def training_slot() -> Iterator[None]:
    """Hold one of the server's MAX_TRAINING_RUNS training slots for the block; ServerBusy at once when none is free."""
    if not _training_slots.acquire(blocking=False):
        raise ServerBusy(f"The server is already training {MAX_TRAINING_RUNS} networks, as many as it runs at once. "
                         "Try again when one of them finishes.")
    try:
        yield
    finally:
        _training_slots.release()


class BackgroundJob:
    """One piece of work in a daemon thread, with its latest progress and the sessions waiting for it."""

    def __init__(self, work: Callable[[Report], Any], name: str = "background-job"):
        self._work = work
        self._lock = threading.Lock()
        self._watchers: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.progress: tuple[str, int, int] = ("Starting…", 0, 1)
        self.result: Any = None
        self.error: Exception | None = None
        self.stopped = False

    def start(self) -> "BackgroundJob":
        self._thread.start()
        return self

    def _report(self, text: str, done: int, total: int) -> None:
        if self._stop.is_set():
            raise Stopped
        self.progress = (text, done, total)

    def _run(self) -> None:
        try:
            self.result = self._work(self._report)
        except Stopped:
            self.stopped = True
        except Exception as err:  # kept for the page to show, instead of dying silently in the thread
            self.error = err

    @property
    def fraction(self) -> float:
        _, done, total = self.progress
        return min(max(done / total, 0.0), 1.0) if total else 0.0

    @property
    def done(self) -> bool:
        return not self._thread.is_alive() and self._thread.ident is not None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def succeeded(self) -> bool:
        return self.done and self.error is None and not self.stopped

    def watch(self, watcher: str) -> bool:
        """Count `watcher` as waiting for the result; False when the job is already stopping or failed."""
        with self._lock:
            if self._stop.is_set() or self.error is not None or self.stopped:
                return False
            self._watchers.add(watcher)
            return True

    def leave(self, watcher: str) -> None:
        """`watcher` stops waiting; the work stops at its next step once nobody is left."""
        with self._lock:
            self._watchers.discard(watcher)
            if not self._watchers and not self.done:
                self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


class JobRegistry:
    """Jobs by what they compute, so that sessions asking for the same thing share one run and its result."""

    def __init__(self, keep: int = 16):
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, BackgroundJob] = {}

    def start(self, key: Hashable, work: Callable[[Report], Any], watcher: str) -> BackgroundJob:
        """The job for `key`, joined by `watcher`: the one running or finished, or a new one if it failed or stopped."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.watch(watcher):
                return job
            job = BackgroundJob(work, name=f"job-{len(self._jobs)}")
            job.watch(watcher)
            self._jobs.pop(key, None)
            self._jobs[key] = job.start()
            self._forget_old()
            return job

    def _forget_old(self) -> None:
        """Drop the oldest finished jobs beyond `keep` (running ones are never dropped)."""
        finished = [key for key, job in self._jobs.items() if job.done]
        for key in finished[:max(0, len(self._jobs) - self._keep)]:
            del self._jobs[key]
