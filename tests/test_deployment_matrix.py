"""The matrix's `deployments:` rules: services are model entries as the stack runs them, with one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.matrix import Deployment, MatrixError, demo_matrix_path, load_matrix

MODELS = """
defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}, env: {VLLM_CPU_KVCACHE_SPACE: "1"}}
models:
  - id: zoo:chat-ok
    use_cases: [chat, completions, tools]
    expect: {tools: TOOL_FLAGS}
    profiles: {eager: {enforce-eager: true}}
  - id: zoo:no-chat-template
    name: base
    use_cases: [completions, chat]
    expect: {chat: NO_CHAT_TEMPLATE}
"""


def write(tmp_path: Path, deployments: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(MODELS) + textwrap.dedent(deployments), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(MatrixError) as info:
        load_matrix(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def stack(tmp_path: Path, services: str) -> Deployment:
    body = "deployments:\n  stack:\n    services:\n" + textwrap.indent(services, "      ")
    matrix = load_matrix(write(tmp_path, body))
    return matrix.deployments["stack"]


def test_a_service_is_its_model_entry_with_its_share_gpus_flags_and_use_cases(tmp_path: Path) -> None:
    """A service inherits its model's flags/env/expectations for its own use cases, adds its share and pins its GPUs."""
    deployment = stack(
        tmp_path,
        """\
- name: agent
  model: chat-ok
  profile: eager
  use_cases: [chat]
  gpu-memory-utilization: 0.45
  gpus: [1]
  port: 8000
  flags: {max-num-seqs: 4}
- model: base
  gpu-memory-utilization: 0.3
  gpus: [1]
""",
    )
    agent, base = deployment.services
    assert agent.name == "agent" and agent.source_model == "chat-ok" and agent.profile == "eager"
    assert agent.model.name == "stack.agent" and agent.model.use_cases == ("chat",)
    assert dict(agent.model.flags) == {
        "max-model-len": 512,
        "gpu-memory-utilization": 0.45,
        "enforce-eager": True,
        "max-num-seqs": 4,
    }
    assert agent.model.env["CUDA_VISIBLE_DEVICES"] == "1" and agent.model.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert agent.share == 0.45 and agent.gpus == (1,) and agent.devices == (1,) and agent.port == 8000
    assert dict(agent.model.expect) == {}  # tools' expectation went with the use case it was about
    assert base.name == "base" and base.share == 0.3 and base.model.expect == {"chat": "NO_CHAT_TEMPLATE"}
    assert [c.id for c in deployment.cells] == [
        "stack.agent-default-chat",
        "stack.base-default-completions",
        "stack.base-default-chat",
    ]
    assert deployment.cells[0].flags == agent.model.flags and deployment.cells[0].server_key == agent.server_key


def test_deployment_cells_stay_out_of_the_matrix_cells(tmp_path: Path) -> None:
    """A matrix with deployments runs the same cells as without: deployments run only when named."""
    matrix = load_matrix(write(tmp_path, "deployments:\n  s:\n    services: [{model: base}]\n"))
    assert not any(c.model.name.startswith("s.") for c in matrix.cells)
    assert matrix.deployments["s"].services[0].devices == (0,)


def test_the_demo_ships_a_two_service_stack_on_the_cpu_engine() -> None:
    """zoo-stack: the control, the base model and an encoder, each at the CPU engine's 0.2 share, 1 GiB of KV cache."""
    deployment = load_matrix(demo_matrix_path()).deployments["zoo-stack"]
    assert [s.name for s in deployment.services] == ["agent", "base", "search"]
    for service in deployment.services:
        assert service.model.flags["gpu-memory-utilization"] == 0.2
        assert service.model.env["VLLM_CPU_KVCACHE_SPACE"] == "1"


@pytest.mark.parametrize(
    ("services", "line", "parts"),
    [
        ("- model: chat-okk\n", 15, ["services[0].model", "unknown model 'chat-okk'", "did you mean 'chat-ok'", "fix"]),
        (
            "- model: base\n  use_cases: [tools]\n",
            16,
            ["services[0].use_cases[0]", "does not list 'tools'", "completions, chat", "fix: add it"],
        ),
        (
            "- {model: chat-ok, gpu-memory-utilization: 0.6}\n- {model: base, gpu-memory-utilization: 0.5}\n",
            14,
            ["stack.services", "sum to 1.10", "chat-ok 0.6 + base 0.5", "over 1.0", "fix: lower the shares"],
        ),
        (
            "- {model: chat-ok, name: a, port: 8000}\n- {model: base, name: b, port: 8000}\n",
            16,
            ["services[1].port", "duplicate port 8000", "also deployments.stack.services[0]", "fix"],
        ),
        (
            "- {model: chat-ok, name: a}\n- {model: base, name: a}\n",
            16,
            ["services[1].name", "duplicate service name 'a'", "fix"],
        ),
        (
            "- {model: chat-ok, gpus: [0]}\n- {model: base, gpus: [0], flags: {gpu-memory-utilization: null}}\n",
            14,
            ["GPU 0 is shared by chat-ok, base", "base give(s) no gpu-memory-utilization", "fix: give each"],
        ),
        (
            "- {model: chat-ok, gpus: [0], flags: {tensor-parallel-size: 2}}\n",
            15,
            ["services[0].gpus", "1 GPU(s) for tensor x pipeline parallel size 2", "fix"],
        ),
        (
            "- {model: chat-ok, gpu-memory-utilization: 1.5}\n",
            15,
            ["services[0].gpu-memory-utilization", "expected a fraction in (0, 1]", "got 1.5", "fix"],
        ),
        ("- {model: chat-ok, profile: fast}\n", 15, ["services[0].profile", "no profile 'fast'", "default, eager"]),
        ("- {model: chat-ok, name: Agent_1}\n", 15, ["services[0].name", "must match", "fix: write 'name: agent_1'"]),
        ("- {model: chat-ok, replicas: 2}\n", 15, ["services[0].replicas", "unknown key", "allowed"]),
    ],
)
def test_deployment_mistakes_are_one_line_with_file_line_rule_value_and_fix(
    tmp_path: Path, services: str, line: int, parts: list[str]
) -> None:
    """Unknown model, a use case the model lacks, shares over 1.0 on a GPU, duplicate ports/names: file:line + fix."""
    path = write(tmp_path, "deployments:\n  stack:\n    services:\n" + textwrap.indent(services, "      "))
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: "), message
    for part in parts:
        assert part in message, message


def test_shares_on_different_gpus_do_not_add_up(tmp_path: Path) -> None:
    """0.6 on GPU 0 and 0.6 on GPU 1 fit: the rule is per GPU, as vLLM budgets each engine per GPU."""
    deployment = stack(
        tmp_path,
        "- {model: chat-ok, gpus: [0], gpu-memory-utilization: 0.6}\n"
        "- {model: base, gpus: [1], gpu-memory-utilization: 0.6}\n",
    )
    assert [s.devices for s in deployment.services] == [(0,), (1,)]


def test_an_unknown_deployment_name_lists_the_known_ones(tmp_path: Path) -> None:
    """`--deployment` naming no deployment ends the run with the list of deployments and the usage exit code."""
    import subprocess
    import sys

    path = write(tmp_path, "deployments:\n  stack:\n    services: [{model: base}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--matrix", str(path), "--deployment", "stak"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "--deployment 'stak': no such deployment (deployments: stack)" in output


def test_a_stack_that_boots_nothing_still_runs_records_and_reports_through_the_plugin(tmp_path: Path) -> None:
    """`run --deployment` with services pre-flight refuses: no boot, a deployment record, 0 of 2 working up front."""
    import subprocess
    import sys

    from harness.results import read_results

    path = tmp_path / "matrix.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            defaults: {flags: {max-model-len: 512, gpu-memory-utilization: 0.2}}
            models:
              - {id: "zoo:missing-config", use_cases: [chat]}
              - {id: "zoo:no-chat-template", name: base, use_cases: [chat]}
            deployments:
              broken:
                services: [{model: missing-config, port: 8000}, {model: base, port: 8001}]
            """
        ),
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    argv = ["run", "--matrix", str(path), "--deployment", "broken", "--run-dir", str(run_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv, "--", "--status-file", str(tmp_path / "STATUS.md")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    results = read_results(run_dir)
    assert {c.cell_id: c.code for c in results.cells} == {
        "broken.missing-config-default-chat": "CONFIG_MISSING",
        "broken.base-default-chat": "NO_CHAT_TEMPLATE",
    }, output[-3000:]
    assert results.servers == []  # nothing booted
    (record,) = results.deployments
    assert [(s.name, s.booted, s.under_load) for s in record.services] == [
        ("missing-config", False, ()),
        ("base", False, ()),
    ]
    assert record.concurrent_s is None
    status = (tmp_path / "STATUS.md").read_text(encoding="utf-8")
    assert status.index("**deployment `broken`: 0 of 2 services working**") < status.index("cells working")
    assert done.returncode == 1, output[-3000:]
