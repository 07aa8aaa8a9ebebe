"""Status pages from a history file: index, a page per cell and per run; static, offline, readable without colour,
and no secret on any page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from history_fake import make_run

from harness.cli import main
from harness.history import HistoryStore
from harness.pages import write_site
from harness.verdicts import Verdict

P, F = Verdict.PASS, Verdict.FAIL
SECRET = "hf_" + "Q" * 34


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    db = tmp_path / "history.sqlite"
    with HistoryStore.open(db) as store:
        store.add(make_run("r1", 0, {"m|default|chat": P, "m|default|tools": F, "n|default|chat": P}, vram=2**31))
        store.add(
            make_run(
                "r2",
                1,
                {"m|default|chat": (F, "CONFIG_MISSING"), "m|default|tools": P},
                revision="d4e5f6a" + "0" * 33,
                message=f"token {SECRET} leaked by a server",
                vram=2**31,
            )
        )
        return write_site(store, tmp_path / "site")


def test_index_has_the_headline_grid_panel_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The index says how many cells work, shows the grid (a cell: symbol and code, the verdict word in its title,
    the word on its page) and lists new failures first."""
    index = _site(tmp_path, monkeypatch)
    html = index.read_text()
    assert "1 of 2 cells working" in html
    chat = re.search(r'<a [^>]*title="m-default-chat: FAIL CONFIG_MISSING[^"]*"[^>]*>(.*?)</a>', html)
    assert chat is not None and chat.group(1).startswith('<span class="v v-fail">✘ CONFIG_<wbr>MISSING</span>')
    assert "✘ FAIL CONFIG_MISSING" in (index.parent / "cells" / "m-default-chat.html").read_text()
    moved = html[html.index('id="moved"') : html.index('id="grid"')]  # the news before the grid, as counts
    assert moved.index("▼ 1 NEW FAILURE") < moved.index("▲ 1 FIXED") < moved.index("? 1 MISSING")
    panel = html[html.index('id="transitions"') :]
    assert panel.index('data-transition="NEW FAILURE"') < panel.index('data-transition="FIXED"')
    assert panel.index('data-transition="FIXED"') < panel.index('data-transition="MISSING"')
    assert "revision a1b2c3d -&gt; d4e5f6a" in panel
    assert 'id="environment"' in html


def test_cell_and_run_pages_with_history_and_plots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cell page holds its key, its verdict strip and SVG trend plots labelled with vLLM and revision."""
    index = _site(tmp_path, monkeypatch)
    cell = (index.parent / "cells" / "m-default-tools.html").read_text()
    assert cell.count("<svg") >= 2 and "vLLM 0.32.0 · d4e5f6a" in cell
    assert 'id="strip"' in cell and "FIXED" in cell
    missing = (index.parent / "cells" / "n-default-chat.html").read_text()
    assert "MISSING" in missing
    assert (index.parent / "runs" / "r1.html").is_file() and (index.parent / "runs" / "r2.html").is_file()


def test_pages_are_offline_and_never_show_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No page loads anything from the network, and the token a message carried reads ***."""
    index = _site(tmp_path, monkeypatch)
    for page in index.parent.rglob("*.html"):
        text = page.read_text()
        assert SECRET not in text, page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), page
        assert "<script" not in text
    assert "token *** leaked" in (index.parent / "runs" / "r2.html").read_text()


def test_cli_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`vllm-compat pages` prints where to open the site; without a history file it is a usage error."""
    _site(tmp_path, monkeypatch)
    out = tmp_path / "again"
    assert main(["pages", "--history", str(tmp_path / "history.sqlite"), "--out", str(out)]) == 0
    assert f"file://{(out / 'index.html').resolve()}" in capsys.readouterr().out
    assert main(["pages", "--history", str(tmp_path / "none.sqlite")]) == 2
    assert main(["pages", "--history", str(tmp_path / "history.sqlite"), "--run", "nope"]) == 2


def test_a_page_per_use_case_and_per_model_lists_every_cell_problems_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index links each use case and model to its page; the page tallies it and lists its cells, the failing
    ones before the working ones; run pages, which show other runs, do not link them."""
    index = _site(tmp_path, monkeypatch)
    html = index.read_text()
    assert 'href="usecases/chat.html"' in html and 'href="models/m.html"' in html
    chat = (index.parent / "usecases" / "chat.html").read_text()
    assert "1 of 1 cells working" not in chat and "0 of 1 cells working" in chat and "1 FAIL" in chat
    model = (index.parent / "models" / "m.html").read_text()
    assert "1 of 2 cells working" in model
    assert model.index('data-cell="m-default-chat"') < model.index('data-cell="m-default-tools"')  # FAIL first
    assert "usecases/" not in (index.parent / "runs" / "r1.html").read_text()
