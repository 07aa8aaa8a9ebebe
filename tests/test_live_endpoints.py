"""Live endpoints without a server: the matrix's `endpoint:` entries, identity first (unreachable, refused key,
another model, no model list), the swap order and figures, what runs once per run, the gate's --require-boot and
the report's label, over httpx.MockTransport answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest
from records_fake import cell

from harness.cli import main
from harness.codes import Code
from harness.gate import decide
from harness.matrix import LIVE_LABEL, MatrixError, load_matrix
from harness.probes import check_identity, measure_swaps, request_kind, swap_order
from harness.report import render_status
from harness.results import CellServer, RunResults, append_record, read_results
from harness.runner import LiveEndpoints, probe_endpoint
from harness.usecases import UseCase
from harness.verdicts import Verdict

URL = "http://svc.test:8000/v1"
METRICS = (
    "# HELP vllm:request_success_total Count.\n# TYPE vllm:request_success_total counter\n"
    'vllm:request_success_total{finished_reason="stop",model_name="qwen-7b"} 3.0\n'
)


def vllm_like(models: list[str], key: str | None = None, seen: list[str] | None = None) -> httpx.MockTransport:
    """Answers as vLLM 0.32 does: /v1 routes behind the key (401 {"error": "Unauthorized"}), /version and /metrics
    open."""

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(f"{request.method} {request.url.path} {request.headers.get('authorization', '')}")
        path = request.url.path
        if path.startswith("/v1") and key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return httpx.Response(401, json={"error": "Unauthorized"})
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "root": f"/models/{m}"} for m in models]
            return httpx.Response(200, json={"object": "list", "data": data})
        if path == "/version":
            return httpx.Response(200, json={"version": "0.32.0"})
        if path == "/metrics":
            return httpx.Response(200, text=METRICS)
        return httpx.Response(404, json={"detail": "Not Found"})

    return httpx.MockTransport(handle)


def refusing(error: Callable[[httpx.Request], Exception]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error(request)

    return httpx.MockTransport(handle)


# ---- identity -------------------------------------------------------------------------------------------------------


def test_identity_lists_the_models_and_records_version_and_metrics() -> None:
    """A listed model may be probed; /version and the /metrics model_name labels are recorded; the key goes as a
    bearer token."""
    seen: list[str] = []
    identity = check_identity(URL, "sk-right-key-123", transport=vllm_like(["qwen-7b"], "sk-right-key-123", seen))
    assert identity.refusal("qwen-7b") is None
    assert identity.to_json("qwen-7b") == {
        "models_listed": ["qwen-7b"],
        "version": "0.32.0",
        "metrics": True,
        "metrics_model_names": ["qwen-7b"],
        "root": "/models/qwen-7b",
    }
    assert seen == [
        "GET /v1/models Bearer sk-right-key-123",
        "GET /version Bearer sk-right-key-123",
        "GET /metrics Bearer sk-right-key-123",
    ]


def test_a_model_the_server_does_not_list_is_wrong_model_with_the_list() -> None:
    """The service at the URL serves phi-2 under its own name: WRONG_MODEL naming what it listed and its root."""
    identity = check_identity(URL, "EMPTY", transport=vllm_like(["phi-2"]))
    refusal = identity.refusal("qwen2-audio")
    assert refusal is not None and refusal.code == Code.WRONG_MODEL
    assert "'phi-2' (root /models/phi-2)" in refusal.message
    assert refusal.evidence == f"GET {URL}/models -> ['phi-2']"


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (lambda r: httpx.ConnectError("[Errno 111] Connection refused", request=r), "Connection refused"),
        (lambda r: httpx.ConnectError("[Errno -2] Name or service not known", request=r), "Name or service"),
        (lambda r: httpx.ReadTimeout("timed out", request=r), "ReadTimeout"),
    ],
)
def test_no_http_answer_is_endpoint_unreachable(error: Callable[[httpx.Request], Exception], says: str) -> None:
    """Refused, unknown host and timeout are ENDPOINT_UNREACHABLE for every model, with the error as evidence."""
    identity = check_identity(URL, "EMPTY", transport=refusing(error))
    refusal = identity.refusal("any")
    assert refusal is not None and refusal.code == Code.ENDPOINT_UNREACHABLE
    assert says in refusal.evidence and identity.version is None and identity.metrics_models is None


def test_a_refused_key_is_endpoint_auth_and_health_never_counts() -> None:
    """A wrong key gets vLLM's 401 on /v1/models: ENDPOINT_AUTH with the answer, even though /version answers."""
    identity = check_identity(URL, "sk-wrong-key-000", transport=vllm_like(["qwen-7b"], "sk-right-key-123"))
    refusal = identity.refusal("qwen-7b")
    assert refusal is not None and refusal.code == Code.ENDPOINT_AUTH
    assert refusal.evidence == f'GET {URL}/models -> HTTP 401 {{"error":"Unauthorized"}}'
    assert identity.version == "0.32.0"  # the server is up: only the key is wrong


@pytest.mark.parametrize(
    ("response", "says"),
    [
        (httpx.Response(404, json={"detail": "Not Found"}), "HTTP 404"),
        (httpx.Response(200, text="<html>ok</html>"), "not JSON"),
        (httpx.Response(200, json={"models": []}), "no 'data' list"),
    ],
)
def test_no_model_list_is_an_http_error(response: httpx.Response, says: str) -> None:
    """A server with no OpenAI model list at base_url is HTTP_ERROR: nothing says which model answers."""
    identity = check_identity(URL, "EMPTY", transport=httpx.MockTransport(lambda request: response))
    refusal = identity.refusal("m")
    assert refusal is not None and refusal.code == Code.HTTP_ERROR and says in refusal.message


# ---- the matrix -----------------------------------------------------------------------------------------------------


def _matrix(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text("models:\n" + entry)
    return path


def test_an_endpoint_entry_points_every_use_case_at_the_server(tmp_path: Path) -> None:
    """`endpoint:` makes every cell a live endpoint cell: the served name is the model id, no checkpoint source."""
    matrix = load_matrix(
        _matrix(
            tmp_path,
            f"  - name: agent\n    endpoint: {{base_url: '{URL}', model: qwen-7b, api_key_env: AGENT_KEY}}\n"
            "    use_cases: [chat, tools, vision, embeddings]\n",
        )
    )
    assert [c.id for c in matrix.cells] == [f"agent-default-{u}" for u in ("chat", "tools", "vision", "embeddings")]
    assert all(c.endpoint is not None and c.endpoint.live and c.endpoint.model == "qwen-7b" for c in matrix.cells)
    spec = matrix.models[0]
    assert (spec.id, spec.source, spec.path, spec.semantic) == ("qwen-7b", "endpoint", None, True)
    assert matrix.cells[0].endpoint is not None
    assert matrix.cells[0].endpoint.to_json()["label"] == LIVE_LABEL


def test_several_models_behind_one_url_alternate_use_case_by_use_case(tmp_path: Path) -> None:
    """`models: [a, b]` gives one model per name, and cells a, b, a, b so the server must switch each time."""
    matrix = load_matrix(
        _matrix(
            tmp_path,
            f"  - name: router\n    endpoint: {{base_url: '{URL}', models: [a, b]}}\n"
            "    use_cases: [chat, completions]\n",
        )
    )
    assert [c.id for c in matrix.cells] == [
        "router.a-default-chat",
        "router.b-default-chat",
        "router.a-default-completions",
        "router.b-default-completions",
    ]
    assert {c.endpoint.models for c in matrix.cells if c.endpoint} == {("a", "b")}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("    id: zoo:chat-ok\n", "models[0].id: a live endpoint is a server this run does not start"),
        ("    flags: {max-model-len: 512}\n", "models[0].flags: a live endpoint is a server this run does not start"),
        ("    endpoint: {base_url: 'http://h/v1', model: m, api_key: sk-1}\n", "secrets never go in the matrix"),
        ("    endpoint: {base_url: 'http://h/v1', model: m, models: [a, b]}\n", "exactly one of 'model'"),
        ("    endpoint: {base_url: 'http://h/v1', models: [a]}\n", "two or more served model names"),
        ("    endpoint: {model: m}\n", "'base_url' is missing"),
    ],
)
def test_endpoint_entry_mistakes_name_the_key(tmp_path: Path, entry: str, says: str) -> None:
    """Each mistake is one line naming the file, the key, the rule and the fix."""
    base = "  - name: svc\n    use_cases: [chat]\n"
    if "endpoint:" not in entry:
        base += f"    endpoint: {{base_url: '{URL}', model: m}}\n"
    with pytest.raises(MatrixError) as caught:
        load_matrix(_matrix(tmp_path, base + entry))
    assert says in str(caught.value) and "fix:" in str(caught.value) and "matrix.yaml:" in str(caught.value)


# ---- swaps ----------------------------------------------------------------------------------------------------------


def test_swap_order_makes_every_turn_a_switch() -> None:
    """a, a, b, b, a, a, b, b: the first request of each turn follows another model's."""
    assert swap_order(["a", "b"]) == [
        ("a", True), ("a", False), ("b", True), ("b", False), ("a", True), ("a", False), ("b", True), ("b", False),
    ]  # fmt: skip
    assert request_kind(["embeddings"]) == "embeddings" and request_kind(["vision", "completions"]) == "completions"


def test_measure_swaps_times_each_model_and_counts_what_failed() -> None:
    """Each model's answered requests are timed as first-after-a-switch or following; a model that errors is counted
    as not answered, with its error."""

    def handle(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        if model == "b":
            return httpx.Response(404, json={"error": {"message": "The model `b` does not exist."}})
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        choice = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}
        body = {"id": "1", "object": "chat.completion", "created": 1, "model": model, "choices": [choice]}
        return httpx.Response(200, json=body | {"usage": usage})

    # cast: openai types http_client as its own httpx flavour (httpx2); a public httpx.Client works at runtime.
    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(handle)))
    client = openai.OpenAI(base_url=URL, api_key="EMPTY", max_retries=0, http_client=http_client)
    a, b = measure_swaps(client, {"a": "chat", "b": "chat"}, timeout=5)
    assert (a.asked, a.answered, len(a.first_after_switch_s), len(a.following_s), a.error) == (4, 4, 2, 2, None)
    assert (b.asked, b.answered, b.first_median_s) == (4, 0, None)
    assert b.error is not None and "does not exist" in b.error


# ---- the runner's surface -------------------------------------------------------------------------------------------


def test_probe_endpoint_asks_identity_once_and_refuses_unlisted_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two models, one listed behind a wrong key: every model x use case FAILs ENDPOINT_AUTH from one /v1/models
    request, and nothing else is sent."""
    from harness.matrix import parse_live_endpoint

    monkeypatch.setenv("SVC_KEY", "sk-wrong-key-000")
    seen: list[str] = []
    endpoint = parse_live_endpoint(
        {"base_url": URL, "models": ["a", "b"], "api_key_env": "SVC_KEY"}, [UseCase.CHAT], True
    )
    live = LiveEndpoints(transport=vllm_like(["a"], "sk-right-key-123", seen))
    report = probe_endpoint(endpoint["a"][UseCase.CHAT], [UseCase.CHAT, UseCase.TOOLS], timeout=5, live=live)
    assert [(r.model, r.use_case.value, r.outcome.code) for r in report.results] == [
        ("a", "chat", "ENDPOINT_AUTH"), ("b", "chat", "ENDPOINT_AUTH"),
        ("a", "tools", "ENDPOINT_AUTH"), ("b", "tools", "ENDPOINT_AUTH"),
    ]  # fmt: skip
    assert not report.passed and report.swaps == ()
    assert [s.split()[1] for s in seen] == ["/v1/models", "/version", "/metrics"]
    assert all(r.outcome.server and r.outcome.server.external for r in report.results)
    assert all(r.outcome.stage == "identity" for r in report.results)


def test_probe_endpoint_with_a_missing_key_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset key variable is ERROR naming it; nothing is sent."""
    from harness.matrix import parse_live_endpoint

    monkeypatch.delenv("SVC_KEY", raising=False)
    seen: list[str] = []
    endpoint = parse_live_endpoint({"base_url": URL, "model": "a", "api_key_env": "SVC_KEY"}, [UseCase.CHAT], True)
    report = probe_endpoint(
        endpoint["a"][UseCase.CHAT],
        [UseCase.CHAT],
        timeout=5,
        live=LiveEndpoints(transport=vllm_like(["a"], seen=seen)),
    )
    assert report.results[0].outcome.verdict is Verdict.ERROR and "$SVC_KEY" in report.results[0].outcome.message
    assert seen == []


def test_probe_command_usage_mistakes_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad URL or an unset key variable is a one-line usage error, exit 2."""
    monkeypatch.delenv("NOPE_KEY", raising=False)
    assert main(["probe", "--base-url", "ftp://h/v1", "--model", "m", "--use-case", "chat"]) == 2
    assert "--base-url: expected an http(s) URL" in capsys.readouterr().err
    assert main(["probe", "--base-url", URL, "--model", "m", "--use-case", "chat", "--api-key-env", "NOPE_KEY"]) == 2
    assert "NOPE_KEY: the variable is unset" in capsys.readouterr().err


# ---- gate and report ------------------------------------------------------------------------------------------------


def _live_run(tmp_path: Path) -> RunResults:
    run_dir = tmp_path / "run"
    external = {"base_url": URL, "model": "qwen-7b", "label": LIVE_LABEL, "live": True, "models_listed": ["qwen-7b"]}
    server = CellServer(key="agent-default", external=external)
    append_record(run_dir / "results.jsonl", cell("agent|default|chat", Verdict.PASS, required=True, server=server))
    append_record(run_dir / "results.jsonl", cell("local|default|chat", Verdict.PASS, required=True))
    return read_results(run_dir)


def test_gate_accepts_live_endpoints_unless_a_boot_is_required(tmp_path: Path) -> None:
    """A passing live cell allows the rollout, labelled; --require-boot blocks it (and only it) naming the endpoint."""
    run = _live_run(tmp_path)
    accepted = decide(run)
    assert accepted.passed and [c.live for c in accepted.cells] == [True, False]
    required = decide(run, require_boot=True)
    assert [b.cell_id for b in required.blockers] == ["agent-default-chat"]
    assert f"verified only on a {LIVE_LABEL} at {URL}" in required.blockers[0].reason
    assert main(["gate", str(run.run_dir), "--require-boot"]) == 1
    assert main(["gate", str(run.run_dir)]) == 0
    assert f"PASS ({LIVE_LABEL})" in (run.run_dir / "gate.md").read_text()


def test_report_labels_live_cells(tmp_path: Path) -> None:
    """STATUS.md marks the live cell in the grid and lists it under the live endpoints with what /v1/models said."""
    status = render_status(_live_run(tmp_path))
    assert "## Live endpoints (not started by this run)" in status
    assert "✅ PASS (live endpoint)" in status
    assert f"| agent-default-chat | ✅ PASS (live endpoint) | {URL} | qwen-7b | qwen-7b | absent | absent |" in status


# ---- media a remote endpoint can fetch ------------------------------------------------------------------------------


def test_media_is_served_where_the_endpoint_can_fetch_it() -> None:
    """A local server fetches media from loopback; a remote one from the address the route to it leaves from, on
    which the media server really answers."""
    from harness.probes.inputs import MediaServer, media_host_for

    assert {media_host_for(u) for u in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "")} == {"127.0.0.1"}
    host = media_host_for("http://10.1.2.3:8000/v1")  # no packet is sent: a UDP connect only picks the route
    with MediaServer(host=host) as media:
        url = media.url("red.png")
        assert url.startswith(f"http://{host}:")
        assert httpx.get(url, timeout=5).status_code == 200 and media.fetched("red.png") == 1


def test_a_deployment_service_that_is_a_live_endpoint_boots_nothing(tmp_path: Path) -> None:
    """A deployment's service whose model is a live endpoint is not booted, and its step says it is a live endpoint
    (not a pre-flight failure); nothing is sent while the stack boots."""
    from harness.deploy import boot_in_order
    from harness.runner import CellRunner

    path = _matrix(
        tmp_path,
        f"  - name: gone\n    endpoint: {{base_url: '{URL}', model: m}}\n    use_cases: [chat]\n"
        "deployments:\n  stack:\n    services:\n      - {name: agent, model: gone}\n",
    )
    runner = CellRunner(run_id="t", run_dir=tmp_path, engine_python=None, offline=True, boot_timeout=None)
    (step,) = boot_in_order(runner, load_matrix(path).deployments["stack"])
    assert (step.booted, step.evidence) == (False, LIVE_LABEL)
