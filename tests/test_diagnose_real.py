"""The real failure logs from public threads (tests/data/logs_real): labelled, split blind, and diagnosed well."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from harness.codes import CODES
from tests.diagnose_accuracy import (
    HELDOUT2,
    HELDOUT3,
    HELDOUT4,
    HELDOUT5,
    HELDOUT6,
    HELDOUT7,
    HELDOUT8,
    HELDOUT9,
    HELDOUT10,
    HELDOUT11,
    HELDOUT12,
    HELDOUT13,
    HELDOUT14,
    HELDOUT15,
    REAL,
    labels,
    outcomes,
)


def test_every_real_log_is_labelled_with_a_known_code_and_cites_its_thread() -> None:
    """Each log has a label in the vocabulary, and its first line names the public thread it was taken from."""
    labelled = labels()
    assert {path.name for path in REAL.glob("*.log")} == set(labelled)
    assert len(labelled) >= 120
    for name, label in labelled.items():
        assert label["code"] in CODES, name
        assert (REAL / name).read_text().startswith("# source: https://"), name


def test_the_second_held_out_set_is_labelled_and_new() -> None:
    """Held-out set 2: at least 40 logs, each labelled with a known code, citing a thread that held-out set 1 and the
    dev set do not cite (new threads, not new copies of old ones), and all of them held out."""
    labelled = labels(HELDOUT2)
    assert {path.name for path in HELDOUT2.glob("*.log")} == set(labelled)
    assert len(labelled) >= 40
    first_corpus_threads = {(REAL / name).read_text().split()[2] for name in labels()}
    for name, label in labelled.items():
        assert label["code"] in CODES and label["split"] == "heldout2", name
        source = (HELDOUT2 / name).read_text()
        assert source.startswith("# source: https://"), name
        assert source.split()[2] not in first_corpus_threads, name


def _thread(first_line: str) -> str:
    """The thread a log's first line cites (``# source: URL`` or ``# URL -- fix: ...``), without anchor, and without
    query where the path names the page (a blog's "/?p=17879" is the query's page)."""
    found = re.search(r"https?://\S+", first_line)
    assert found, first_line
    url = found.group(0).split("#")[0]
    path = url.split("?")[0]
    return (url if path.rstrip("/").count("/") < 3 else path).rstrip("/.,)")


@pytest.mark.parametrize(
    ("corpus", "split", "earlier", "size"),
    [
        (HELDOUT3, "heldout3", 3, 40),
        (HELDOUT4, "heldout4", 4, 40),
        (HELDOUT5, "heldout5", 5, 40),
        (HELDOUT6, "heldout6", 6, 40),
        (HELDOUT7, "heldout7", 7, 40),
        (HELDOUT8, "heldout8", 8, 40),
        (HELDOUT9, "heldout9", 9, 40),
        # collected side by side from disjoint sources (vllm-project's threads, other projects', web pages), each
        # checked against sets 1 to 9 only; the thread pool ran dry before 40 each (their README.md says so)
        (HELDOUT10, "heldout10", 10, 12),
        (HELDOUT11, "heldout11", 10, 13),
        (HELDOUT12, "heldout12", 10, 27),
        # side by side again: Chinese, Japanese and Korean web pages (3 found), long-tail GitHub threads (22)
        (HELDOUT13, "heldout13", 13, 3),
        (HELDOUT14, "heldout14", 13, 22),
        # repositories no earlier set cites (6 found)
        (HELDOUT15, "heldout15", 15, 6),
    ],
)
def test_the_later_blind_sets_are_labelled_and_cite_new_threads(
    corpus: Path, split: str, earlier: int, size: int
) -> None:
    """Held-out sets 3 to 15: each log labelled with a known code and its split, each citing a thread with its fix on
    its first line, one log per thread, and no thread that an earlier set (or a fixture) cites."""
    labelled = labels(corpus)
    assert {path.name for path in corpus.glob("*.log")} == set(labelled)
    assert len(labelled) >= size
    before = [REAL, *(HELDOUT2.parent / f"logs_heldout{number}" for number in range(2, earlier))]
    seen = {_thread(log.read_text(errors="replace").splitlines()[0]) for d in before for log in d.glob("*.log")}
    threads = []
    for name, label in labelled.items():
        assert label["code"] in CODES and label["split"] == split, name
        first = (corpus / name).read_text(errors="replace").splitlines()[0]
        assert first.startswith("# http") and " -- fix: " in first, name
        threads.append(_thread(first))
    assert len(threads) == len(set(threads))
    assert not set(threads) & seen


def test_the_split_is_the_hash_of_the_file_name() -> None:
    """A log is held out exactly when sha256(file name) mod 10 < 3: nobody chose which logs to hold out."""
    for name, label in labels().items():
        held_out = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 10 < 3
        assert label["split"] == ("heldout" if held_out else "dev"), name


def test_dev_logs_are_diagnosed_right_without_the_engines_source() -> None:
    """With the hand signatures and the log's structure alone, at least 90 % of the dev logs get their label and
    none gets a wrong code (a wrong code is worse than an honest OTHER)."""
    dev = [outcome for outcome in outcomes(None) if outcome.split == "dev"]
    right = sum(outcome.right for outcome in dev)
    wrong = [outcome.name for outcome in dev if outcome.confidently_wrong]
    assert right >= 0.9 * len(dev), f"{right}/{len(dev)}"
    assert wrong == []


def test_every_answer_names_a_line() -> None:
    """Every real log's answer, OTHER included, names the line of the log it rests on."""
    for outcome in outcomes(None):
        assert outcome.line is not None and outcome.line > 1, outcome.name  # line 1 is the thread's URL, blanked
