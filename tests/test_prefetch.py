"""The next server's weights download while the current server boots and probes (harness.runner.prefetch)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.matrix import Cell, load_matrix
from harness.runner.prefetch import WeightPrefetcher

FETCH_S = 0.4  # a slow download
PROBE_S = 0.5  # the current server's boot + probes


def _cells(tmp_path: Path, names: list[str]) -> list[Cell]:
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}", encoding="utf-8")
    body = "models:\n" + "".join(f"  - id: ./{n}\n    use_cases: [chat, completions]\n" for n in names)
    (tmp_path / "matrix.yaml").write_text(body, encoding="utf-8")
    return list(load_matrix(tmp_path / "matrix.yaml").cells)


class SlowFetch:
    """A fetch that sleeps, noting when each server's download ran."""

    def __init__(self) -> None:
        self.spans: dict[str, tuple[float, float]] = {}
        self.threads: dict[str, str] = {}

    def __call__(self, cell: Cell) -> Path:
        start = time.monotonic()
        time.sleep(FETCH_S)
        self.spans[cell.server_key] = (start, time.monotonic())
        self.threads[cell.server_key] = threading.current_thread().name
        if cell.model.name == "broken":
            raise OSError("download failed")
        return Path("/weights") / cell.server_key


def test_the_next_servers_download_overlaps_the_current_servers_probes(tmp_path: Path) -> None:
    """B's fetch runs during A's probes; B then gets its weights without waiting a whole download."""
    cells = _cells(tmp_path, ["a", "b", "c"])
    fetch = SlowFetch()
    prefetcher = WeightPrefetcher(fetch)
    prefetcher.plan(cells)
    assert prefetcher.weights(cells[0]) == Path("/weights/a-default")  # nothing ahead yet: fetched in line
    probe_start = time.monotonic()  # a-default has its weights: the pool starts the next fetch, then boots a
    prefetcher.prefetch_after("a-default")
    time.sleep(PROBE_S)  # a-default boots and probes
    probe_end = time.monotonic()
    asked = time.monotonic()
    assert prefetcher.weights(cells[2]) == Path("/weights/b-default")  # cells[2] is b's chat cell
    waited = time.monotonic() - asked
    b_start, b_end = fetch.spans["b-default"]
    assert probe_start <= b_start < probe_end and b_end <= probe_end + 0.05  # the download ran inside a's probes
    assert waited < FETCH_S / 4 and fetch.threads["b-default"].startswith("prefetch-")
    assert "c-default" not in fetch.spans  # one fetch ahead at a time, started by the pool


def test_a_failed_background_fetch_is_raised_in_line(tmp_path: Path) -> None:
    """The error of a failed background fetch reaches the server that asks for its weights."""
    cells = _cells(tmp_path, ["a", "broken"])
    prefetcher = WeightPrefetcher(SlowFetch())
    prefetcher.plan(cells)
    prefetcher.prefetch_after("a-default")
    with pytest.raises(OSError, match="download failed"):
        prefetcher.weights(cells[2])


def test_servers_that_want_a_dry_boot_are_not_fetched_ahead(tmp_path: Path) -> None:
    """A server whose dry boot must come before any download is skipped; the one after it is fetched."""
    cells = _cells(tmp_path, ["a", "dry", "c"])
    fetch = SlowFetch()
    prefetcher = WeightPrefetcher(fetch, wanted=lambda cell: cell.model.name != "dry")
    prefetcher.plan(cells)
    job = prefetcher.prefetch_after("a-default")
    assert job is not None and job.key == "c-default"
    job.done.wait(5)
    assert set(fetch.spans) == {"c-default"}
