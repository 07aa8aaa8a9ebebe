"""The plugin's side of the node scheduler (pytester, nothing boots): biggest servers collected first, and a GPU
setting the scheduler cannot read is a one-line usage error."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MATRIX = """
models:
  - id: zoo:chat-ok
    name: small
    use_cases: [chat, completions]
  - id: zoo:chat-ok
    name: big
    use_cases: [chat, completions]
    flags: {tensor-parallel-size: 4}
  - id: zoo:chat-ok
    name: middle
    use_cases: [chat]
    flags: {tensor-parallel-size: 2}
"""


def test_the_biggest_servers_are_collected_first_each_servers_cells_together(pytester: pytest.Pytester) -> None:
    """tp 4, then tp 2, then the one-GPU server, each server's cells one after another."""
    pytester.makefile(".yaml", matrix=MATRIX)
    result = pytester.runpytest_subprocess("--matrix", "matrix.yaml", "--collect-only", "-q")
    ids = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if "::test_" in line]
    servers = [cell_id.split("-default-")[0] for cell_id in ids]
    assert servers == ["big", "big", "middle", "small", "small"], ids


def test_an_unreadable_gpu_description_is_a_one_line_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VLLM_COMPAT_GPUS=8xH900 stops the run before any boot with the variable, the rule and no traceback."""
    pytester.makefile(".yaml", matrix=MATRIX)
    monkeypatch.setenv("VLLM_COMPAT_GPUS", "8xH900")
    result = pytester.runpytest_subprocess("--matrix", "matrix.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "VLLM_COMPAT_GPUS=8xH900: H900: not a known GPU" in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_an_unreadable_wait_is_the_same_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """VLLM_COMPAT_LEASE_WAIT_S=soon is refused with the variable, the rule and a fix."""
    from harness.plugin import _fleet_error

    monkeypatch.setenv("VLLM_COMPAT_LEASE_WAIT_S", "soon")
    assert _fleet_error() == (
        "vllm-compat: VLLM_COMPAT_LEASE_WAIT_S=soon: expected a number of seconds >= 0; "
        "fix: e.g. VLLM_COMPAT_LEASE_WAIT_S=14400"
    )
