"""Slow work in a background thread, one system for every page: progress, pause, resume, stop, a result, a fair queue.

The work is a function of one argument, `report(text, done, total)`, which it calls at every real step (an image
read, a batch, an epoch). `report` holds the work while it is paused and raises Stopped once it is stopped, so the
work ends at its next step (or catches Stopped and returns what it made so far). Training jobs wait their turn in
the server's TrainingQueue: first come, first served, at most MAX_TRAINING_RUNS at once, so uploads keep the other
cores. A JobRegistry keys shared jobs by what they compute: a second session asking for the same thing joins the
run in progress, or gets its finished result at once, for a while. Nothing here imports streamlit.
"""
import dataclasses
import heapq
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

Report = Callable[[str, int, int], None]  # (what is happening, steps done, steps in all); raises Stopped when asked
Clock = Callable[[], float]
MAX_TRAINING_RUNS = 2  # networks training at once on one server: each takes a CPU core, and uploads need the others
MAX_PAUSE_S = 30 * 60  # a job paused this long stops by itself instead of holding its slot
UNWATCHED_S = 3 * 60  # a waiting or paused job whose page has not polled for this long (its tab closed) stops
CHECK_S = 1.0  # how often a waiting or paused job looks whether it was given up
RECENT_RUNS = 10  # finished training runs whose durations give the estimated wait
KEEP_BYTES = 64 * 2**20  # arrays that finished shared jobs may keep for later sessions, in all
KEEP_S = 15 * 60  # how long a finished shared job's result stays ready for later sessions


class Stopped(Exception):
    """Raised inside the work, at its next step, once the job is stopped."""


class AlreadyWaiting(RuntimeError):
    """This session already has a job waiting in the training queue."""


@dataclasses.dataclass(frozen=True)
class Place:
    """A waiting job's place in the training queue, and how long it may wait."""
    position: int  # 1 = next to start
    waiting: int  # jobs in line, this one included
    training: int  # jobs holding a slot now
    slots: int
    estimated_wait_s: float | None  # None until a training run has finished on this server
    recent_runs: int  # how many finished runs the estimate is drawn from


class Job:
    """One piece of work in a daemon thread: its latest progress, pause, resume and stop, and its outcome."""

    def __init__(self, work: Callable[[Report], Any], *, name: str = "background-job", queue: "TrainingQueue | None" = None,
                 owner: Hashable | None = None, shared: bool = False, clock: Clock = time.monotonic):
        self.work = work
        self.owner = owner  # the session that asked for it: one waiting job each in the queue
        self.shared = shared  # other sessions may join it and take its result
        self._queue, self._clock = queue, clock
        self._lock = threading.Lock()
        self._watchers: set[Hashable] = set()
        self._stop = threading.Event()
        self._going = threading.Event()  # cleared while paused
        self._going.set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.progress: tuple[str, int, int] = ("Starting…", 0, 1)
        self.result: Any = None
        self.error: Exception | None = None
        self.stopped = False  # ended by Stopped, with no result
        self.started = False  # the work has begun (a queued job waits for its turn first)
        self.finished_at: float | None = None
        self.seen_at: float | None = None  # when a page last polled it; None: nobody polls (a script, a test)

    def start(self) -> "Job":
        """Start the thread; a queued job joins the line first (AlreadyWaiting, before any thread, if it cannot)."""
        if self._queue is not None:
            self._queue.join(self)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            if self._queue is not None:
                self._queue.wait_turn(self)
            self.started = True
            try:
                self.result = self.work(self._report)
            finally:
                if self._queue is not None:
                    self._queue.release(self)
        except Stopped:
            self.stopped = True
        except Exception as err:  # kept for the page to show, instead of dying silently in the thread
            self.error = err
        self.finished_at = self._clock()

    def _report(self, text: str, done: int, total: int) -> None:
        held_since = self._clock()
        while not self._going.wait(CHECK_S):
            if self.abandoned or self._clock() - held_since > MAX_PAUSE_S:
                self._stop.set()
                break
        if self._stop.is_set():
            raise Stopped
        self.progress = (text, done, total)

    def pause(self) -> None:
        """Hold the work at its next step, until `resume` or `stop`."""
        self._going.clear()

    def resume(self) -> None:
        self._going.set()

    def stop(self) -> None:
        """End the work at its next step (a paused job at once; a waiting one leaves the queue)."""
        self._stop.set()
        self._going.set()
        if self._queue is not None:
            self._queue.cancel(self)

    def watch(self, watcher: Hashable) -> bool:
        """Count `watcher` as waiting for the outcome; False when the job is already stopping or failed."""
        with self._lock:
            if self._stop.is_set() or self.error is not None or self.stopped:
                return False
            self._watchers.add(watcher)
            return True

    def leave(self, watcher: Hashable) -> None:
        """`watcher` stops waiting; the job stops once nobody is left."""
        with self._lock:
            self._watchers.discard(watcher)
            if not self._watchers and not self.done:
                self.stop()

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def seen(self) -> None:
        """A page polled the job: someone is still there."""
        self.seen_at = self._clock()

    @property
    def abandoned(self) -> bool:
        """Polled by a page once, but not for UNWATCHED_S (its tab was closed)."""
        return self.seen_at is not None and self._clock() - self.seen_at > UNWATCHED_S

    @property
    def place(self) -> Place | None:
        """Where the job stands in the training queue; None once it runs (or when it never queued)."""
        return None if self._queue is None else self._queue.place(self)

    @property
    def fraction(self) -> float:
        _, done, total = self.progress
        return min(max(done / total, 0.0), 1.0) if total else 0.0

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    @property
    def paused(self) -> bool:
        return not self._going.is_set() and not self.done

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and not self.done

    @property
    def succeeded(self) -> bool:
        return self.done and self.error is None and not self.stopped


class TrainingQueue:
    """The server's training slots, given first come, first served; each session has at most one job in line."""

    def __init__(self, slots: int = MAX_TRAINING_RUNS, clock: Clock = time.monotonic):
        self.slots = slots
        self._clock = clock
        self._turn = threading.Condition()
        self._waiting: list[Job] = []
        self._running: dict[Job, float] = {}  # job -> when it took its slot
        self._durations: deque[float] = deque(maxlen=RECENT_RUNS)

    def join(self, job: Job) -> None:
        with self._turn:
            if job.owner is not None and any(other.owner == job.owner for other in self._waiting):
                raise AlreadyWaiting("You already have a job waiting for a training slot: cancel it, or wait until it "
                                     "starts, before you start another.")
            self._waiting.append(job)

    def wait_turn(self, job: Job) -> None:
        """Block until `job` is first in line and a slot is free, then hold the slot; Stopped if it was cancelled."""
        with self._turn:
            while not (self._waiting and self._waiting[0] is job and len(self._running) < self.slots):
                self._drop_abandoned()
                if job not in self._waiting:
                    raise Stopped
                self._turn.wait(CHECK_S)
            self._waiting.pop(0)
            self._running[job] = self._clock()
            self._turn.notify_all()  # the next in line may take another free slot

    def cancel(self, job: Job) -> None:
        with self._turn:
            if job in self._waiting:
                self._waiting.remove(job)
                self._turn.notify_all()

    def _drop_abandoned(self) -> None:
        """Take out of line the jobs whose sessions are gone, so that nobody waits behind them."""
        gone = [job for job in self._waiting if job.abandoned]
        for job in gone:
            self._waiting.remove(job)
        if gone:
            self._turn.notify_all()

    def release(self, job: Job) -> None:
        """Give back the job's slot and remember how long it held it."""
        with self._turn:
            began = self._running.pop(job, None)
            if began is not None:
                self._durations.append(self._clock() - began)
            self._turn.notify_all()

    def place(self, job: Job) -> Place | None:
        with self._turn:
            self._drop_abandoned()
            if job not in self._waiting:
                return None
            position = self._waiting.index(job) + 1
            return Place(position, len(self._waiting), len(self._running), self.slots, self._estimate(position),
                         len(self._durations))

    def _estimate(self, position: int) -> float | None:
        """Seconds until the job at `position` starts, if every run lasts the median of the recent ones."""
        if not self._durations:
            return None
        typical, now = statistics.median(self._durations), self._clock()
        free_in = [max(began + typical - now, 0.0) for began in self._running.values()]
        free_in += [0.0] * (self.slots - len(free_in))
        heapq.heapify(free_in)
        for _ in range(position - 1):  # each job ahead takes the first slot to free up, for a typical run
            heapq.heappush(free_in, heapq.heappop(free_in) + typical)
        return free_in[0]


TRAINING_QUEUE = TrainingQueue()  # the server's one line: every session's training waits here


def footprint(value: Any, depth: int = 4) -> int:
    """Bytes held by the arrays and byte strings in a result, looking into dataclasses, sequences and mappings."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if depth == 0:
        return 0
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, Mapping):
        parts = list(value.values())
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        return 0
    return sum(footprint(part, depth - 1) for part in parts)


class JobRegistry:
    """Jobs by what they compute, so that sessions asking for the same thing share one run and its result.

    Finished shared jobs stay ready for later sessions while they are younger than `keep_s` and, newest first, their
    results' arrays fit in `keep_bytes`. A private job (shared=False) is never held here: its session alone keeps it.
    """

    def __init__(self, queue: TrainingQueue = TRAINING_QUEUE, keep_bytes: int = KEEP_BYTES, keep_s: float = KEEP_S,
                 clock: Clock = time.monotonic):
        self.queue, self._keep_bytes, self._keep_s, self._clock = queue, keep_bytes, keep_s, clock
        self._lock = threading.Lock()
        self._jobs: dict[Hashable, Job] = {}

    def submit(self, key: Hashable, work: Callable[[Report], Any], watcher: Hashable, *, queued: bool = False,
               shared: bool = True) -> Job:
        """The job for `key`, joined by `watcher`: the shared one running or finished, or a new one. A queued job
        waits its turn in the training queue; AlreadyWaiting when `watcher` already has one waiting there."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(key) if shared else None
            if job is not None and job.watch(watcher):
                return job
            job = Job(work, name=f"job-{key!r:.40}", queue=self.queue if queued else None, owner=watcher,
                      shared=shared, clock=self._clock)
            job.watch(watcher)
            job.start()
            if shared:
                self._jobs.pop(key, None)
                self._jobs[key] = job
            return job

    def count(self) -> int:
        """Jobs held for sharing: those running or waiting, and finished ones within the bounds."""
        with self._lock:
            self._forget_old()
            return len(self._jobs)

    def _forget_old(self) -> None:
        """Drop finished jobs past `keep_s`, then the oldest until the rest fit in `keep_bytes` (running ones stay)."""
        now, kept_bytes = self._clock(), 0
        finished = {key: job.finished_at for key, job in self._jobs.items() if job.finished_at is not None}
        for key in sorted(finished, key=finished.__getitem__, reverse=True):
            size = footprint(self._jobs[key].result)
            if not self._jobs[key].succeeded or now - finished[key] > self._keep_s or kept_bytes + size > self._keep_bytes:
                del self._jobs[key]
            else:
                kept_bytes += size
