"""The concurrent phase: every service of a deployment probed at the same moment, one thread per service.

Each thread runs its service's cells through the runner's own probes (``CellRunner.evaluate``: no second probe, no
record, no latency series), so what differs from the cells' own verdicts is the load: the neighbours' requests.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.codes import Code
from harness.matrix import Cell
from harness.results import LoadProbe
from harness.runner import Outcome, interrupts
from harness.verdicts import Verdict, judge

if TYPE_CHECKING:
    from harness.runner import CellRunner

START_TIMEOUT_S = 60.0  # threads wait this long for each other at the starting line
JOIN_SLICE_S = 0.2  # how often the waiting main thread gets to run a signal handler


def _probe_once(runner: CellRunner, cell: Cell) -> LoadProbe:
    clock = time.monotonic()
    raw: Outcome
    try:
        raw = runner.evaluate(cell)
    except Exception as error:  # the harness broke in this thread: ERROR, never a pass
        raw = Outcome(verdict=Verdict.ERROR, message=f"harness error: {type(error).__name__}: {error}")
        traceback.print_exc()
    outcome = judge(raw, cell.expect)
    return LoadProbe(
        use_case=cell.use_case,
        verdict=outcome.verdict,
        code=Code(outcome.code) if outcome.code else None,
        seconds=round(time.monotonic() - clock, 3),
        message=outcome.message[:500],
    )


def probe_at_once(runner: CellRunner, jobs: Mapping[str, Sequence[Cell]]) -> dict[str, tuple[LoadProbe, ...]]:
    """Probe every service's cells at once (a thread per service, started together); results by service name."""
    jobs = {name: cells for name, cells in jobs.items() if cells}
    if not jobs:
        return {}
    start = threading.Barrier(len(jobs))
    results: dict[str, tuple[LoadProbe, ...]] = {}

    def work(name: str, cells: Sequence[Cell]) -> None:
        # A neighbour that never reaches the line breaks the barrier: probe anyway, the record says what happened.
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=START_TIMEOUT_S)
        probes: list[LoadProbe] = []
        for cell in cells:
            if interrupts.STATE.signum is not None:  # the run is stopping: no new request to a server going down
                break
            probes.append(_probe_once(runner, cell))
        results[name] = tuple(probes)

    threads = [
        threading.Thread(target=work, args=(name, cells), name=f"deployment-load-{name}", daemon=True)
        for name, cells in jobs.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Joined in short slices: a process-directed SIGINT/SIGTERM may be delivered to a worker thread, and then a
        # main thread blocked in an untimed join never runs the Python handler until the probes end (seen: 300 s).
        while thread.is_alive():
            thread.join(JOIN_SLICE_S)
    return results
