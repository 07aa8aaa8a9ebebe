"""Query times of the history on a synthetic file of RUNS runs x CELLS cells (figures printed, nothing asserted).

    .venv/bin/python tests/bench_history.py [RUNS] [CELLS]

Every cell has latency and memory figures and flips now and then, so transitions, perf deltas and history strips
all have work to do. Simulated data: the figures say how fast the store answers, nothing about vLLM.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from history_fake import make_run

from harness.history import HistoryStore, compare
from harness.pages import write_site
from harness.verdicts import Verdict


def main(runs: int = 200, cells: int = 100) -> None:
    rng = random.Random(9)
    keys = [
        f"model{i // 5}|default|{('chat', 'completions', 'tools', 'vision', 'embeddings')[i % 5]}" for i in range(cells)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "history.sqlite"
        started = time.perf_counter()
        with HistoryStore.open(db) as store:
            for index in range(runs):
                verdicts = {k: (Verdict.FAIL if rng.random() < 0.1 else Verdict.PASS) for k in keys}
                store.add(make_run(f"r{index:04d}", index, verdicts, ttft=0.015 + rng.random() * 0.002, vram=2**31))
        added = time.perf_counter() - started
        size = db.stat().st_size
        with HistoryStore.open(db) as store:
            latest = store.latest()
            assert latest is not None
            t0 = time.perf_counter()
            history = store.cell_history("model3-default-chat", latest.gpu)
            t1 = time.perf_counter()
            comparison = compare(store, latest)
            t2 = time.perf_counter()
            index = write_site(store, Path(tmp) / "site")
            t3 = time.perf_counter()
        pages = sum(1 for _ in index.parent.rglob("*.html"))
        print(f"history of {runs} runs x {cells} cells ({runs * cells} cell rows), {size / 2**20:.1f} MiB on disk")
        print(f"  add all runs:                  {added:.2f} s ({added / runs * 1000:.1f} ms per run)")
        print(f"  one cell's history ({len(history)} rows): {(t1 - t0) * 1000:.2f} ms")
        print(f"  compare the latest run:        {(t2 - t1) * 1000:.0f} ms ({len(comparison.cells)} cells)")
        print(f"  write the pages:               {t3 - t2:.2f} s ({pages} pages)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
