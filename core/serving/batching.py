"""One inference queue shared by every session: films that arrive within a few milliseconds of each other go through
the model together, and each caller gets back only its own row.

No thread of its own: the first caller to find the queue idle leads. It waits `window_s` for others to join, runs
up to `max_batch` waiting inputs as one batch, hands each caller its row, and passes the lead to the oldest caller
still waiting (or leaves the queue idle), so that no caller serves more than its own batch.
"""
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

WINDOW_S = 0.005  # how long a leader waits for other films before running the batch
MAX_BATCH = 16  # films in one batch at most; later ones wait for the next


@dataclass(eq=False)
class _Request:
    x: np.ndarray
    ready: threading.Event = field(default_factory=threading.Event)  # set when answered, or when handed the lead
    leads: bool = False
    result: tuple[np.ndarray, ...] | None = None
    error: BaseException | None = None


class InferenceQueue:
    """Batches calls of `run`, which takes a stacked (N, ...) array and returns a tuple of arrays with N rows each."""

    def __init__(self, run: Callable[[np.ndarray], tuple[np.ndarray, ...]], window_s: float = WINDOW_S,
                 max_batch: int = MAX_BATCH):
        self._run, self.window_s, self.max_batch = run, window_s, max_batch
        self._lock = threading.Lock()
        self._waiting: list[_Request] = []
        self._busy = False  # a leader is gathering or running a batch
        self.batch_sizes: list[int] = []  # the size of every batch run so far, newest last (the last 1,000)

    def submit(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """`run`'s output rows for one input, computed in a batch with whatever other inputs arrived meanwhile."""
        request = _Request(x)
        with self._lock:
            self._waiting.append(request)
            request.leads, self._busy = not self._busy, True
        while request.result is None and request.error is None:
            if request.leads:
                self._lead()
            else:
                request.ready.wait()
                request.ready.clear()
        if request.error is not None:
            raise request.error
        assert request.result is not None  # the loop above ends on a result or an error
        return request.result

    def _lead(self) -> None:
        """Run one batch (the leader's own input among the oldest), then hand on the lead."""
        time.sleep(self.window_s)
        with self._lock:
            batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
        self._answer(batch)
        self.batch_sizes = [*self.batch_sizes[-999:], len(batch)]
        with self._lock:
            if self._waiting:
                self._waiting[0].leads = True
                self._waiting[0].ready.set()
            else:
                self._busy = False
        for request in batch:
            request.leads = False
            request.ready.set()

    def _answer(self, batch: list[_Request]) -> None:
        """Each request's rows, or its own error: a batch that fails is run again one input at a time, so that one
        caller's bad input fails that caller only, and none is left waiting."""
        try:
            outputs = self._run(np.stack([request.x for request in batch]))
        except Exception as err:
            if len(batch) == 1:
                batch[0].error = err
            else:
                for request in batch:
                    self._answer([request])
            return
        for row, request in enumerate(batch):
            request.result = tuple(output[row] for output in outputs)
