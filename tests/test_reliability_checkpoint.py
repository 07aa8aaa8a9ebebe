"""Hostile checkpoints: pre-flight ends within its bounds with a finding, never a traceback, never a hang."""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import time
from pathlib import Path

import pytest

from harness.checkpoint import PreflightReport, preflight
from harness.checkpoint import template as template_module
from harness.checkpoint.sandbox import TEMPLATE_BOUNDS, Bounds
from harness.findings import Severity
from harness.usecases import UseCase
from harness.zoo import build_member

pytestmark = pytest.mark.reliability

# Small bounds for the templates that only a wall clock stops, so that the test costs seconds, not the default 15.
FAST = Bounds(wall_s=3.0, memory_bytes=256 * 1024 * 1024)


@pytest.fixture(scope="module")
def chat_ok(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_member("chat-ok", tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def model(chat_ok: Path, tmp_path: Path) -> Path:
    """A fresh copy of zoo:chat-ok to spoil."""
    return Path(shutil.copytree(chat_ok, tmp_path / "model"))


def _codes(report: PreflightReport) -> dict[str, Severity]:
    return {f.code: f.severity for f in report.findings}


def _child_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


HOSTILE_TEMPLATES = {
    # two nested loops that print: the output grows until the memory bound stops it
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{{ j }}{% endfor %}{% endfor %}",
    # three nested loops that print nothing: only the wall clock stops them
    "silent-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
    "{% endfor %}{% endfor %}{% endfor %}",
    "huge-string": "{% set s = 'x' * 10000000000 %}{{ s | length }}",
    "doubling-string": "{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
    "{% endfor %}{{ ns.s | length }}",
    "recursive-macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "python-internals": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ raise_exception.__globals__['__builtins__']['open']('/etc/passwd').read() }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_a_hostile_template_ends_within_the_bounds_with_template_error(
    model: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template that loops, nests loops, builds huge strings, recurses or reaches for Python internals ends within
    the sandbox's time and memory bounds with an ERROR TEMPLATE_ERROR (the cells fail before any boot)."""
    monkeypatch.setattr(template_module, "TEMPLATE_BOUNDS", FAST)
    (model / "chat_template.jinja").write_text(HOSTILE_TEMPLATES[name])
    started = time.monotonic()
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    took = time.monotonic() - started
    assert _codes(report).get("TEMPLATE_ERROR") == Severity.ERROR, report.findings
    assert took < FAST.wall_s + 10, took  # the render's bound plus pre-flight's own reading
    message = next(f.message for f in report.findings if f.code == "TEMPLATE_ERROR")
    print(
        f"\n[reliability] template {name}: pre-flight {took:.1f} s, children's peak RSS so far {_child_peak_mib():.0f}"
        f" MiB (bounds {FAST.describe()}): {message[:120]}"
    )
    assert "Traceback" not in message


def test_the_default_template_bounds_are_named_and_enforced(model: Path) -> None:
    """With the default bounds (15 s, 512 MiB) a template whose output explodes is stopped by the memory bound within
    seconds, and the finding names the bounds."""
    (model / "chat_template.jinja").write_text(HOSTILE_TEMPLATES["nested-loops"])
    started = time.monotonic()
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    took = time.monotonic() - started
    message = next(f.message for f in report.findings if f.code == "TEMPLATE_ERROR")
    assert TEMPLATE_BOUNDS.describe() in message
    assert "ran out of memory" in message
    assert took < TEMPLATE_BOUNDS.wall_s
    print(f"\n[reliability] default template bounds {TEMPLATE_BOUNDS.describe()}: nested loops stopped in {took:.1f} s")


def test_a_good_template_still_renders_through_the_bounded_child(model: Path) -> None:
    """The sandbox child changes nothing for a real template: chat-ok renders, its end-of-turn id is found."""
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    assert report.facts.chat_template is not None and report.facts.chat_template.renders
    assert report.facts.end_of_turn_id is not None
    assert "TEMPLATE_ERROR" not in _codes(report)


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "above the 64 MiB bound"),  # 2 GiB, sparse: never read
        (b"[" * 200_000 + b"]" * 200_000, "nests deeper"),
        (b'{"model_type": "\xff\xfe"}', "not UTF-8"),
        (b'{"model_type": ', "not valid JSON"),
        (b"[1, 2, 3]", "not a JSON object"),
    ],
    ids=["huge", "deep", "not-utf8", "truncated", "a-list"],
)
def test_a_hostile_config_json_is_a_finding_never_a_traceback(model: Path, content: bytes | None, reason: str) -> None:
    """A config.json that is huge, deeply nested, not UTF-8, cut short or of the wrong type is CONFIG_MISSING
    with why, read within the bound."""
    config = model / "config.json"
    if content is None:
        _sparse(config, 2 * 1024**3)
    else:
        config.write_bytes(content)
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    finding = next(f for f in report.findings if f.code == "CONFIG_MISSING")
    assert finding.severity == Severity.ERROR
    assert reason in finding.message, finding.message


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json", "generation_config.json"])
@pytest.mark.parametrize("value", [5, "x", None, [1, "a"]])
def test_wrong_types_in_any_json_file_are_never_a_traceback(model: Path, name: str, value: object) -> None:
    """Every top-level key of the tokenizer and generation files set to a value of the wrong type: pre-flight still
    answers a report (the fuzz over every key of chat-ok and tool-call found tokenizer.json added_tokens: 5)."""
    path = model / name
    data = json.loads(path.read_text())
    for key in list(data)[:5]:
        spoiled = {**data, key: value}
        path.write_text(json.dumps(spoiled))
        preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    path.write_text(json.dumps(value))
    preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))


@pytest.mark.parametrize(
    ("header", "length"),
    [(b"", 2**62), (b"[1, 2]", 6), (b'{"w": {"data_offsets": "ab"}}', 29), (b"[" * 5000, 5000)],
    ids=["absurd-length", "a-list", "wrong-offsets", "deep"],
)
def test_a_corrupt_safetensors_header_is_weights_corrupt_read_within_the_bound(
    model: Path, header: bytes, length: int
) -> None:
    """An absurd header length (2**62 bytes) is refused unread; a header that is not a safetensors one is
    WEIGHTS_CORRUPT, never a traceback."""
    (model / "model.safetensors").write_bytes(struct.pack("<Q", length) + header)
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    finding = next(f for f in report.findings if f.code == "WEIGHTS_CORRUPT")
    assert finding.severity == Severity.ERROR
    if length == 2**62:
        assert "nothing read" in finding.message


@pytest.mark.parametrize("kind", ["loop", "fifo", "device-link", "directory-outside", "directory-loop"])
def test_entries_that_loop_block_or_leave_the_checkpoint_are_unsafe_and_nothing_is_read(model: Path, kind: str) -> None:
    """A symlink loop, a FIFO named config.json (a read would block for ever), a link to /dev/zero, a link to a
    directory outside, or a directory linking to its parent: UNSAFE_PATH, and pre-flight reads nothing else."""
    if kind == "loop":
        os.symlink("b.json", model / "a.json")
        os.symlink("a.json", model / "b.json")
    elif kind == "fifo":
        (model / "config.json").unlink()
        os.mkfifo(model / "config.json")
    elif kind == "device-link":
        (model / "tokenizer.json").unlink()
        os.symlink("/dev/zero", model / "tokenizer.json")
    elif kind == "directory-outside":
        os.symlink("/etc", model / "extra")
    else:
        os.symlink("..", model / "up")
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    assert [(f.code, f.severity) for f in report.findings] == [("UNSAFE_PATH", Severity.ERROR)], report.findings
    print(f"\n[reliability] {kind}: {report.findings[0].message[:160]}")


def test_a_link_to_a_regular_file_elsewhere_is_read(model: Path, tmp_path: Path) -> None:
    """Links to regular files outside the directory (a shared weight store, the zoo's packaged checkpoints) are
    normal and read: config.json -> a file elsewhere still gives its architecture."""
    elsewhere = tmp_path / "store" / "config.json"
    elsewhere.parent.mkdir()
    shutil.move(model / "config.json", elsewhere)
    os.symlink(elsewhere, model / "config.json")
    report = preflight(str(model), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    assert "UNSAFE_PATH" not in _codes(report) and report.facts.architecture is not None


def test_a_hub_snapshot_whose_links_lead_into_its_blobs_is_safe(chat_ok: Path, tmp_path: Path) -> None:
    """The HF cache layout (snapshots/<sha>/file -> ../../blobs/<hash>) is not refused."""
    repo = tmp_path / "models--org--m"
    snapshot = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for file in chat_ok.iterdir():
        shutil.copy(file, repo / "blobs" / file.name)
        os.symlink(f"../../blobs/{file.name}", snapshot / file.name)
    report = preflight(str(snapshot), use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"))
    assert "UNSAFE_PATH" not in _codes(report), report.findings


@pytest.mark.parametrize(
    ("model_id", "rule"),
    [
        ("org/../../etc", "no '..'"),
        ("a/b/c", "[owner/]name"),
        ("../../nonexistent-dir", "no such directory"),
        ("/nonexistent/abs", "no such directory"),
        ("~/nonexistent-vllm-compat", "no such directory"),
        ("zoo:../../etc/passwd", "unknown zoo member"),
        ("zoo:/etc", "unknown zoo member"),
    ],
)
def test_model_ids_and_zoo_names_that_are_paths_are_refused_with_the_rule(model_id: str, rule: str) -> None:
    """A model id that is a path walking out of the cache, or a zoo name that is a path, is refused with the rule,
    before anything is fetched."""
    report = preflight(model_id, use_cases=[UseCase.CHAT], engine_python=Path("/nonexistent"), offline=True)
    assert report.path is None
    assert len(report.findings) == 1 and report.findings[0].severity == Severity.ERROR
    assert rule in report.findings[0].message, report.findings[0].message
