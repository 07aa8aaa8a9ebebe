"""The node-wide allocator: flock leases all or nothing, shared fractions, freed when their holder dies; boot locks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.fleet import Allocator, describe_inventory

UNITS = describe_inventory("4xH100-80GB")
MIG = describe_inventory("1xA100-80GB:mig=3g.40gb*2")
ROOT = Path(__file__).resolve().parents[1]


def _holder(lease_dir: Path, count: int, *, shared: float | None = None) -> subprocess.Popen[str]:
    """Another process that leases ``count`` units (or a ``shared`` fraction of unit 0), says so, and sleeps."""
    take = (
        f"allocator.try_shared(units[:1], 1, {shared}, 'child')"
        if shared is not None
        else f"allocator.try_exclusive(units, {count}, 'child')"
    )
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from harness.fleet import Allocator, describe_inventory
        units = describe_inventory("4xH100-80GB")
        allocator = Allocator(Path({str(lease_dir)!r}))
        lease = {take}
        print("held" if lease is not None else "refused", flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)


def test_a_lease_is_all_or_nothing(tmp_path: Path) -> None:
    """With three of four units leased, a lease of two is refused and keeps nothing: the last unit stays free."""
    allocator = Allocator(tmp_path)
    three = allocator.try_exclusive(UNITS, 3, "big")
    assert three is not None and len(three.units) == 3
    assert allocator.try_exclusive(UNITS, 2, "pair") is None
    one = allocator.try_exclusive(UNITS, 1, "small")
    assert one is not None and one.units[0] not in three.units
    three.release()
    one.release()


def test_a_lease_held_by_a_killed_process_is_freed(tmp_path: Path) -> None:
    """A worker killed with SIGKILL while it holds all four units: they are free at once, nobody cleaned up."""
    allocator = Allocator(tmp_path)
    child = _holder(tmp_path, 4)
    try:
        assert allocator.try_exclusive(UNITS, 1, "parent") is None
        (holder,) = allocator.holders(UNITS[0])
        assert holder.pid == child.pid and holder.holder == "child"
    finally:
        _kill(child)
    lease = allocator.try_exclusive(UNITS, 4, "parent")
    assert lease is not None
    lease.release()


def test_two_processes_never_hold_one_gpu(tmp_path: Path) -> None:
    """Another process holds two units: this one gets only the other two, and a third ask for any unit is refused."""
    allocator = Allocator(tmp_path)
    child = _holder(tmp_path, 2)
    try:
        mine = allocator.try_exclusive(UNITS, 2, "parent")
        assert mine is not None
        theirs = {h.pid for unit in UNITS[:2] for h in allocator.holders(unit)}
        assert theirs == {child.pid} and not set(mine.units) & set(UNITS[:2])
        assert allocator.try_exclusive(UNITS, 1, "third") is None
        mine.release()
    finally:
        _kill(child)


def test_shared_fractions_sum_to_at_most_one_and_exclude_exclusive_holders(tmp_path: Path) -> None:
    """0.5 and 0.4 share a GPU; 0.2 more is refused; nobody takes it whole while they share; whole excludes share."""
    allocator = Allocator(tmp_path)
    first = allocator.try_shared(UNITS[:1], 1, 0.5, "a")
    second = allocator.try_shared(UNITS[:1], 1, 0.4, "b")
    assert first is not None and second is not None
    assert allocator.try_shared(UNITS[:1], 1, 0.2, "c") is None
    assert allocator.try_exclusive(UNITS[:1], 1, "whole") is None
    assert sorted(h.fraction or 0 for h in allocator.holders(UNITS[0])) == [0.4, 0.5]
    first.release()
    second.release()
    whole = allocator.try_exclusive(UNITS[:1], 1, "whole")
    assert whole is not None
    assert allocator.try_shared(UNITS[:1], 1, 0.1, "d") is None
    whole.release()


def test_a_dead_sharers_fraction_is_freed(tmp_path: Path) -> None:
    """A sharer killed with SIGKILL no longer counts: its 0.7 is available again."""
    allocator = Allocator(tmp_path)
    child = _holder(tmp_path, 1, shared=0.7)
    try:
        assert allocator.try_shared(UNITS[:1], 1, 0.5, "parent") is None
    finally:
        _kill(child)
    lease = allocator.try_shared(UNITS[:1], 1, 0.5, "parent")
    assert lease is not None
    lease.release()


def test_boots_on_one_physical_gpu_never_overlap(tmp_path: Path) -> None:
    """Two MIG devices of one GPU: a second boot waits for the first's boot lock, and times out past its bound."""
    allocator = Allocator(tmp_path)
    with allocator.boot_lock(MIG[:1], timeout_s=1, poll_s=0.01) as waited:
        assert waited < 0.5
        with (
            pytest.raises(TimeoutError, match="held its boot lock"),
            allocator.boot_lock(MIG[1:], timeout_s=0.2, poll_s=0.01),
        ):
            pass  # pragma: no cover - never entered
        with allocator.boot_lock(UNITS[1:2], timeout_s=0.2, poll_s=0.01):
            pass  # another physical GPU boots meanwhile
    started = time.monotonic()
    with allocator.boot_lock(MIG[1:], timeout_s=1, poll_s=0.01):
        assert time.monotonic() - started < 0.5
