"""The status pages in real headless Chromium (Debian's chromium, over the DevTools protocol): the DOM has the
headline, the grid and the transitions, the console has no errors, and screenshots are saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import Browser, browser_path
from history_fake import make_run

from harness.history import HistoryStore
from harness.pages import write_site
from harness.verdicts import Verdict

P, F = Verdict.PASS, Verdict.FAIL


@pytest.fixture
def site(tmp_path: Path) -> Path:
    if browser_path() is None and not os.environ.get("CI"):
        pytest.skip("no chromium on PATH: apt-get install -y chromium (CI installs it and runs this test)")
    with HistoryStore.open(tmp_path / "history.sqlite") as store:
        store.add(make_run("r1", 0, {"m|default|chat": P, "m|default|tools": F}))
        store.add(make_run("r2", 1, {"m|default|chat": (F, "CONFIG_MISSING"), "m|default|tools": P}, revision="e" * 40))
        return write_site(store, tmp_path / "site")


def test_index_and_cell_page_in_chromium(site: Path, tmp_path: Path) -> None:
    """Chromium renders the index (headline, grid, transitions in order) and a cell page with no console error."""
    shots = tmp_path / "screenshots"
    with Browser() as browser:
        page = browser.page()
        page.open(site.as_uri())
        assert page.evaluate("document.querySelector('#headline').innerText").startswith("1 of 2 cells working")
        cells = page.evaluate("[...document.querySelectorAll('#grid a[data-cell]')].map(a => a.innerText)")
        assert any("FAIL CONFIG_MISSING" in text for text in cells)
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


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    """The console check is not vacuous: a page logging an error and throwing is caught by it."""
    if browser_path() is None and not os.environ.get("CI"):
        pytest.skip("no chromium on PATH")
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('broken page'); undefined_name();</script></body></html>")
    with Browser() as browser:
        page = browser.page()
        page.open(bad.as_uri())
        assert any("broken page" in error for error in page.errors)
        assert any("Uncaught" in error or "undefined_name" in error for error in page.errors), page.errors
