"""Fetch the next server's weights in the background while the current server boots and probes.

A GPU should never wait for a download that could have run earlier: once a server has its weights, the next server
this process plans (in the order its cells run) starts fetching its own on a thread, so by the time the current one
stops, the next one's weights are usually in the HF cache. One fetch runs ahead at a time (downloads compete for the
same link). Servers that want a dry boot are not fetched ahead: their dry boot exists to fail before any download.
A fetch that failed ahead raises its error when the server asks for its weights, as a fetch in line would have.
Under pytest-xdist a worker does not know which servers it will be given, so the server it fetches ahead may run on
another worker; that worker then finds the weights in the shared HF cache (or waits on the hub client's file lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.matrix import Cell


@dataclass
class PrefetchJob:
    """One server's weights fetched ahead: when it ran, and its path or error."""

    key: str
    started: float = 0.0  # time.monotonic()
    finished: float | None = None
    path: Path | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class WeightPrefetcher:
    """``weights(cell)`` gives a server's weight directory, from a fetch run ahead when there was one."""

    def __init__(self, fetch: Callable[[Cell], Path], wanted: Callable[[Cell], bool] = lambda cell: True) -> None:
        self._fetch = fetch
        self._wanted = wanted  # False: never fetch this server ahead (a dry boot comes first)
        self._order: list[Cell] = []  # the first cell of each planned server, in run order
        self._jobs: dict[str, PrefetchJob] = {}
        self._lock = threading.Lock()
        self.finished: list[PrefetchJob] = []  # jobs whose weights were taken, for the records and tests

    def plan(self, cells: Iterable[Cell]) -> None:
        seen: set[str] = set()
        self._order = []
        for cell in cells:
            if cell.endpoint is None and cell.server_key not in seen:
                seen.add(cell.server_key)
                self._order.append(cell)

    def weights(self, cell: Cell) -> Path:
        """The cell's weights: waits for its fetch ahead if one ran, else fetches now."""
        with self._lock:
            job = self._jobs.pop(cell.server_key, None)
        if job is None:
            return self._fetch(cell)
        job.done.wait()
        self.finished.append(job)
        if job.error is not None:
            raise job.error
        assert job.path is not None
        return job.path

    def prefetch_after(self, key: str) -> PrefetchJob | None:
        """Start fetching the weights of the server planned after ``key`` (the job, or None when there is none)."""
        keys = [c.server_key for c in self._order]
        if key not in keys:
            return None
        for cell in self._order[keys.index(key) + 1 :]:
            if not self._wanted(cell):
                continue
            with self._lock:
                if cell.server_key in self._jobs:
                    return None  # already on its way
                job = PrefetchJob(cell.server_key, started=time.monotonic())
                self._jobs[cell.server_key] = job
            threading.Thread(target=self._run, args=(job, cell), name=f"prefetch-{key}", daemon=True).start()
            return job
        return None

    def _run(self, job: PrefetchJob, cell: Cell) -> None:
        try:
            job.path = self._fetch(cell)
        except BaseException as error:  # handed to the server's own fetch, which raises it in line
            job.error = error
        finally:
            job.finished = time.monotonic()
            job.done.set()
