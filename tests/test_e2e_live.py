"""Live endpoints end to end: a stack of real CPU vLLM servers started by the test stands in for a deployment someone
else runs, and the harness verifies it only through the live-endpoint mode (`vllm-compat run` with `endpoint:`
entries, `vllm-compat probe`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from live_stack import KEY_VAR, WRONG_KEY_VAR, Stack

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def stack(chat_ok_stack: Stack) -> Stack:
    """The session's two chat-ok servers (tests/live_stack.py), shared with the audio tests."""
    return chat_ok_stack


def _cli(stack: Stack, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "vllm-compat"), *args], cwd=cwd, env=stack.env, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


def _files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def run(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], Path, str]:
    """One `vllm-compat run` over a matrix of live endpoints only: (cells by id, run dir, the output)."""
    work = tmp_path_factory.mktemp("live-run")
    agent_url = f"{stack.agent.base_url}/v1"
    served = stack.agent.served_model_name
    open_url = f"{stack.open.base_url}/v1"
    (work / "matrix.yaml").write_text(
        "defaults: {semantic: false, timeouts: {probe: 120}}\n"
        "models:\n"
        "  - name: agent\n"
        f"    endpoint: {{base_url: '{agent_url}', model: {served}, api_key_env: {KEY_VAR}}}\n"
        "    use_cases: [chat, completions]\n"
        "    required: true\n"
        "  - name: renamed\n"
        f"    endpoint: {{base_url: '{agent_url}', model: qwen2.5-7b-instruct, api_key_env: {KEY_VAR}}}\n"
        "    use_cases: [chat]\n"
        "  - name: wrong-key\n"
        f"    endpoint: {{base_url: '{agent_url}', model: {served}, api_key_env: {WRONG_KEY_VAR}}}\n"
        "    use_cases: [chat]\n"
        "  - name: audio-service\n"
        f"    endpoint: {{base_url: '{open_url}', model: alpha}}\n"
        "    use_cases: [audio, audio_chat, vision]\n"
        "  - name: router\n"
        f"    endpoint: {{base_url: '{open_url}', models: [alpha, beta]}}\n"
        "    use_cases: [chat]\n"
        "  - name: gone\n"
        f"    endpoint: {{base_url: '{stack.dead_url}', model: anything}}\n"
        "    use_cases: [chat]\n"
    )
    run_dir = work / "run"
    ran = _cli(stack, "run", "--matrix", "matrix.yaml", "--run-dir", str(run_dir), "--offline", cwd=work)
    records = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    cells = {r["cell_id"]: r for r in records if r.get("kind") == "cell"}
    assert cells, ran.stdout + ran.stderr
    return cells, run_dir, ran.stdout + ran.stderr


def test_each_live_endpoint_gets_its_verdict_with_evidence(run: tuple[dict[str, dict[str, Any]], Path, str]) -> None:
    """The right service passes; a renamed model is WRONG_MODEL with the list, a wrong key ENDPOINT_AUTH, a text
    model behind an audio/vision claim WRONG_TASK, nothing listening ENDPOINT_UNREACHABLE."""
    cells, _, output = run
    verdicts = {cell_id: (c["verdict"], c.get("code")) for cell_id, c in cells.items()}
    assert verdicts == {
        "agent-default-chat": ("PASS", None),
        "agent-default-completions": ("PASS", None),
        "renamed-default-chat": ("FAIL", "WRONG_MODEL"),
        "wrong-key-default-chat": ("FAIL", "ENDPOINT_AUTH"),
        "audio-service-default-audio": ("FAIL", "WRONG_TASK"),
        "audio-service-default-audio_chat": ("FAIL", "WRONG_TASK"),
        "audio-service-default-vision": ("FAIL", "WRONG_TASK"),
        "router.alpha-default-chat": ("PASS", None),
        "router.beta-default-chat": ("PASS", None),
        "gone-default-chat": ("FAIL", "ENDPOINT_UNREACHABLE"),
    }, output
    renamed = cells["renamed-default-chat"]
    assert "qwen2.5-7b-instruct" in renamed["message"] and "agent-e2e-live" in renamed["evidence"]
    assert "HTTP 401" in cells["wrong-key-default-chat"]["evidence"]
    assert "Connect" in cells["gone-default-chat"]["evidence"]
    for use_case in ("audio", "audio_chat", "vision"):
        print(f"\n[live] {use_case} on a text model: {cells[f'audio-service-default-{use_case}']['evidence'][:240]}")


def test_live_cells_are_labelled_and_record_the_identity(run: tuple[dict[str, dict[str, Any]], Path, str]) -> None:
    """Every record says live endpoint (not started by this run) with what /v1/models, /version and /metrics said,
    pre-flight not applicable; nothing booted; STATUS.md has the live table."""
    cells, run_dir, _ = run
    agent = cells["agent-default-chat"]["server"]
    assert agent["external"]["label"] == "live endpoint (not started by this run)"
    assert agent["external"]["live"] is True
    assert agent["external"]["models_listed"] == ["agent-e2e-live"]
    assert agent["vllm_version"] == agent["external"]["version"] and agent["external"]["version"].startswith("0.32")
    assert agent["external"]["metrics"] is True and "agent-e2e-live" in agent["external"]["metrics_model_names"]
    assert agent["external"]["preflight"].startswith("not applicable")
    assert "port" not in agent and "log" not in agent  # nothing of ours answered
    records = (run_dir / "results.jsonl").read_text().splitlines()
    assert not [line for line in records if json.loads(line).get("kind") == "server"]
    status = (run_dir / "STATUS.md").read_text()
    assert "## Live endpoints (not started by this run)" in status
    assert "PASS (live endpoint)" in status


def test_models_behind_one_url_are_probed_alternately_with_switch_timings(
    run: tuple[dict[str, dict[str, Any]], Path, str],
) -> None:
    """Two names behind one URL: both answered every request of the swap sequence, with the first request after a
    switch and the following ones timed; the chat cells ran alpha, beta in turn."""
    cells, _, _ = run
    for name in ("alpha", "beta"):
        swap = cells[f"router.{name}-default-chat"]["server"]["external"]["swap"]
        assert (swap["asked"], swap["answered"], swap["error"]) == (4, 4, None), swap
        assert len(swap["first_after_switch_s"]) == 2 and len(swap["following_s"]) == 2
        print(f"\n[live] {name}: first after a switch {swap['first_median_s']} s, next {swap['following_median_s']} s")
    order = [cell_id for cell_id in cells if cell_id.startswith("router.")]
    assert order == ["router.alpha-default-chat", "router.beta-default-chat"]


def test_the_gate_accepts_live_endpoints_unless_a_boot_is_required(
    stack: Stack, run: tuple[dict[str, dict[str, Any]], Path, str]
) -> None:
    """The required agent cells passed on the live endpoint: the gate allows; with --require-boot it blocks them,
    saying they were not started by this run; no key appears in any file or the output."""
    _, run_dir, output = run
    allowed = _cli(stack, "gate", str(run_dir), cwd=run_dir)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    blocked = _cli(stack, "gate", str(run_dir), "--require-boot", "--summary", str(run_dir / "boot.md"), cwd=run_dir)
    assert blocked.returncode == 1
    assert "BLOCK agent-default-chat: verified only on a live endpoint (not started by this run)" in blocked.stdout
    output += allowed.stdout + allowed.stderr + blocked.stdout + blocked.stderr
    assert stack.agent.api_key not in output
    assert _files_holding(run_dir.parent, stack.agent.api_key) == []


def test_probe_command_checks_one_server(stack: Stack, tmp_path: Path) -> None:
    """`vllm-compat probe` exits 0 only when every use case passed: the right key passes, a missing or wrong key is
    ENDPOINT_AUTH (exit 1), a model the server does not list is WRONG_MODEL; the key is never printed."""
    url = f"{stack.agent.base_url}/v1"
    served = stack.agent.served_model_name
    ok = _cli(stack, "probe", "--base-url", url, "--model", served, "--use-case", "chat", "--api-key-env", KEY_VAR,
              "--no-semantic", "--json", cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    answer = json.loads(ok.stdout)
    assert answer["passed"] and answer["label"] == "live endpoint (not started by this run)"
    assert [(r["model"], r["verdict"]) for r in answer["results"]] == [(served, "PASS")]
    no_key = _cli(stack, "probe", "--base-url", url, "--model", served, "--use-case", "chat", "--no-semantic",
                  cwd=tmp_path)  # fmt: skip
    wrong = _cli(stack, "probe", "--base-url", url, "--model", served, "--use-case", "chat", "--api-key-env",
                 WRONG_KEY_VAR, "--no-semantic", cwd=tmp_path)  # fmt: skip
    renamed = _cli(stack, "probe", "--base-url", url, "--model", "gpt-4o", "--use-case", "chat", "--api-key-env",
                   KEY_VAR, "--no-semantic", cwd=tmp_path)  # fmt: skip
    assert (no_key.returncode, wrong.returncode, renamed.returncode) == (1, 1, 1)
    assert "FAIL ENDPOINT_AUTH" in no_key.stdout and "FAIL ENDPOINT_AUTH" in wrong.stdout
    assert "FAIL WRONG_MODEL" in renamed.stdout and served in renamed.stdout
    everything = "".join(p.stdout + p.stderr for p in (ok, no_key, wrong, renamed))
    assert stack.agent.api_key not in everything
