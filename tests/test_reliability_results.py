"""The harness's own faults: a torn last line, a full filesystem, a read-only run directory, NOT RUN records."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report import headline
from harness.results import (
    RESULTS_FILE,
    CellRecord,
    ResultsWriteError,
    append_record,
    read_results,
)
from harness.usecases import UseCase
from harness.verdicts import Verdict, judge

pytestmark = pytest.mark.reliability


def _cell(index: int, verdict: Verdict = Verdict.PASS, message: str = "") -> CellRecord:
    return CellRecord(
        run_id="r",
        cell_id=f"m-default-chat{index}",
        model="m",
        model_id="zoo:chat-ok",
        revision=None,
        profile="default",
        use_case=UseCase.CHAT,
        verdict=verdict,
        message=message or "x" * 200,
    )


def test_a_torn_last_line_is_dropped_and_reported(tmp_path: Path) -> None:
    """A power loss mid-line: the reader keeps every whole line, drops the torn one and says so (file:line), and the
    report's headline says it too."""
    path = tmp_path / RESULTS_FILE
    for index in range(3):
        append_record(path, _cell(index))
    with path.open("ab") as handle:
        handle.write(b'{"schema_version": 2, "kind": "cell", "run_id": "r", "cell_id": "m-def')
    results = read_results(tmp_path)
    assert [c.cell_id for c in results.cells] == [f"m-default-chat{i}" for i in range(3)]
    assert len(results.dropped) == 1 and f"{path}:4:" in results.dropped[0]
    assert "1 torn line(s) dropped from results.jsonl" in headline(results)


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (a real full filesystem) where this box lets root mount one."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root: the ENOSPC fake below covers the writer")
    try:
        with _tmpfs(tmp_path / "small", "64k") as mount:
            yield mount
    except subprocess.CalledProcessError as error:
        pytest.skip(f"mount -t tmpfs refused here ({error.stderr.decode().strip()}): the ENOSPC fake covers it")


def test_a_full_filesystem_is_a_clear_error_and_the_file_keeps_its_whole_lines(full_disk: Path) -> None:
    """On a real full tmpfs the writer raises one line naming the path, the reason and what the file keeps, and
    never leaves half a line behind."""
    run_dir = full_disk / "run"
    written = 0
    failure: ResultsWriteError | None = None
    for index in range(10_000):
        try:
            append_record(run_dir / RESULTS_FILE, _cell(index, message="y" * 2000))
        except ResultsWriteError as error:
            failure = error
            break
        written += 1
    assert failure is not None
    message = str(failure)
    print(f"\n[reliability] full tmpfs after {written} records: {message}")
    assert str(run_dir / RESULTS_FILE) in message and "No space left on device" in message
    assert f"the {written} whole line(s) written before" in message
    results = read_results(run_dir)
    assert len(results.cells) == written and results.dropped == []
    assert (run_dir / RESULTS_FILE).read_bytes().endswith(b"\n")


def test_a_short_write_on_enospc_is_cut_off_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's own guarantee, with a fake disk that takes half a line and then raises ENOSPC: the half line is
    truncated away (a simulated fault: the tmpfs test above is the real one)."""
    path = tmp_path / RESULTS_FILE
    append_record(path, _cell(0))
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(ResultsWriteError, match="the 1 whole line"):
        append_record(path, _cell(1))
    monkeypatch.undo()
    assert read_results(tmp_path).dropped == [] and len(read_results(tmp_path).cells) == 1


def test_a_read_only_run_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A run directory on a read-only filesystem (a tmpfs remounted ro; root ignores chmod): one line naming the
    path and what was kept."""
    if not _can_mount():
        pytest.skip("remounting read-only needs root")
    with _tmpfs(tmp_path / "ro", "1m") as mount:
        append_record(mount / RESULTS_FILE, _cell(0))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(ResultsWriteError) as caught:
            append_record(mount / RESULTS_FILE, _cell(1))
        message = str(caught.value)
        assert str(mount / RESULTS_FILE) in message and "Read-only file system" in message
        assert "the 1 whole line(s) written before" in message and "\n" not in message
        print(f"\n[reliability] read-only run dir: {message}")


def test_not_run_is_never_a_pass_and_never_judged_into_one(tmp_path: Path) -> None:
    """NOT RUN stays NOT RUN whatever the matrix expects (never XFAIL/XPASS), and the headline says the run was
    interrupted."""
    from harness.runner import Outcome

    assert judge(Outcome(verdict=Verdict.NOT_RUN, message="not run"), "OOM").verdict is Verdict.NOT_RUN
    append_record(tmp_path / RESULTS_FILE, _cell(0))
    append_record(tmp_path / RESULTS_FILE, _cell(1, Verdict.NOT_RUN))
    results = read_results(tmp_path)
    assert results.interrupted
    assert headline(results).startswith("**run interrupted: 1 cells not run**")
    assert results.counts()[Verdict.PASS] == 1


def test_a_second_signal_kills_every_engine_group_at_once(tmp_path: Path) -> None:
    """The first SIGINT raises KeyboardInterrupt; a second one (teardown running) raises nothing and SIGKILLs every
    registered group, even one that ignores SIGTERM; reap() clears the run directory's registry."""
    import signal
    import time

    from harness.runner import interrupts
    from harness.server import groups

    stubborn = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; sleep 60"], start_new_session=True, stdin=subprocess.DEVNULL
    )
    groups.register(stubborn.pid, tmp_path)
    assert (tmp_path / groups.ENGINES_DIR / str(stubborn.pid)).exists()
    interrupts.reset()
    assert interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        started = time.monotonic()
        signal.raise_signal(signal.SIGINT)  # must not raise
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
        print(f"\n[reliability] second SIGINT: stubborn engine group killed in {time.monotonic() - started:.2f} s")
        assert interrupts.STATE.exit_code == 130 and interrupts.STATE.later == [signal.SIGINT]
    finally:
        interrupts.uninstall()
        interrupts.reset()
        groups.forget(stubborn.pid)
    assert groups.reap(tmp_path) == [] and not (tmp_path / groups.ENGINES_DIR).exists()


def test_an_engine_log_that_grows_without_bound_is_capped_keeping_head_and_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (fake) engine writing its log without end: the file stays near the cap, keeps its head (the command line)
    and its latest lines, and says how much was cut; BOOT_TIMEOUT still comes with the tail."""
    import sys

    from harness.server import BootError, VllmServer
    from harness.server import server as server_module

    cap = 4 * 1024 * 1024
    monkeypatch.setattr(server_module, "LOG_CAP_BYTES", cap)
    monkeypatch.setattr(server_module, "LOG_HEAD_BYTES", 64 * 1024)
    monkeypatch.setattr(server_module, "LOG_TAIL_BYTES", 512 * 1024)
    monkeypatch.setattr(server_module, "LOG_CHECK_S", 0.1)
    wrapper = tmp_path / "engine-python"
    fake = Path(__file__).with_name("fake_engine.py")
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    wrapper.chmod(0o755)
    server = VllmServer(
        engine_python=wrapper, model_path=tmp_path / "model", name="flood", flags={}, env={"FAKE_ENGINE_MODE": "flood"},
        run_dir=tmp_path / "run", run_id="0123456789abcdef", boot_timeout=4.0, stop_grace=1.0, poll_interval=0.1,
    )  # fmt: skip
    peak = 0
    stop = False

    def watch() -> None:
        nonlocal peak
        while not stop:
            with contextlib.suppress(OSError):
                peak = max(peak, server.log_path.stat().st_size)
            time.sleep(0.02)

    import threading
    import time

    threading.Thread(target=watch, daemon=True).start()
    with pytest.raises(BootError) as caught:
        server.start()
    stop = True
    text = server.log_path.read_text(errors="replace")
    print(
        f"\n[reliability] flooding engine log: peak {peak / 2**20:.1f} MiB, final "
        f"{server.log_path.stat().st_size / 2**20:.1f} MiB (cap {cap / 2**20:.0f} MiB, checked every 0.1 s)"
    )
    assert caught.value.diagnosis.code == "BOOT_TIMEOUT" and "flood line" in caught.value.log_tail
    assert text.startswith("# vllm-compat: ") and "log capped at" in text
    assert peak < 3 * cap
