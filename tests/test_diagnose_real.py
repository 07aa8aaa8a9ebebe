"""The real failure logs from public threads (tests/data/logs_real): labelled, split blind, and diagnosed well."""

from __future__ import annotations

import hashlib

from harness.codes import CODES
from tests.diagnose_accuracy import HELDOUT2, REAL, labels, outcomes


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
