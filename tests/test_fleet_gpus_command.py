"""`vllm-compat gpus [--json]`: the inventory as a table or JSON, the honest n/a without a GPU, bad input: one line."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.fleet import read_inventory
from tests.nvml_fake import FakeNvml, NoDriver, a100_with_migs, h100


def test_without_a_gpu_it_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No NVIDIA driver: one line, GPUs: n/a (no NVIDIA GPU), exit 0."""
    monkeypatch.delenv("VLLM_COMPAT_GPUS", raising=False)
    monkeypatch.setattr("harness.commands.gpus.read_inventory", lambda: read_inventory({}, NoDriver()))
    assert main(["gpus"]) == 0
    assert capsys.readouterr().out == "GPUs: n/a (no NVIDIA GPU)\n"


def test_the_table_lists_gpus_and_mig_devices(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An H100 and an A100 in MIG mode: one row per unit with its UUID, memory and compute capability."""
    nvml = FakeNvml([h100(0), a100_with_migs(1)])
    monkeypatch.setattr("harness.commands.gpus.read_inventory", lambda: read_inventory({}, nvml))
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "GPUs: 3 unit(s) on 2 GPU(s) (NVML, driver 550.54.15)"
    assert "GPU-00000000-fake" in out[2] and "9.0" in out[2]
    assert out[3].startswith("1/0") and "MIG 3g.40gb" in out[3] and "MIG-00000001-0-fake" in out[3]


def test_json_of_a_described_node_says_simulated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """VLLM_COMPAT_GPUS=2xA100-40GB,1xL4 --json: three units, source described, simulated true on each."""
    monkeypatch.setenv("VLLM_COMPAT_GPUS", "2xA100-40GB,1xL4")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert main(["gpus", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "described" and data["simulated"] is True
    assert [u["name"] for u in data["units"]] == ["A100-40GB", "A100-40GB", "L4"]
    assert all(u["simulated"] for u in data["units"]) and data["units"][2]["compute_capability"] == "8.9"


def test_a_wrong_description_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """VLLM_COMPAT_GPUS=8xH900: the usage error names the variable and the rule, no traceback."""
    monkeypatch.setenv("VLLM_COMPAT_GPUS", "8xH900")
    assert main(["gpus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vllm-compat gpus: error: VLLM_COMPAT_GPUS=8xH900: H900: not a known GPU")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
