"""External endpoints for the use cases vLLM cannot serve: validation, where the key comes from, what is sent, and
(with the matrix/runner patch applied) how a matrix cell uses one without pre-flight verdict or vLLM boot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from test_probe_unservable import StandInEndpoint, fake_engine, wav_bytes

from harness.codes import Code
from harness.matrix import NO_KEY, Endpoint, EndpointError, MatrixError, load_matrix, parse_endpoint
from harness.runner.external import EndpointKeyMissing, endpoint_api_key, endpoint_client, endpoint_context
from harness.usecases import UseCase
from harness.verdicts import Verdict

MINIMAL = {"base_url": "https://api.openai.com/v1/", "model": "tts-1"}


# ---- parsing ---------------------------------------------------------------------------------------------------------


def test_minimal_endpoint() -> None:
    """base_url and model suffice: no key variable, no options, semantic checks on, trailing slash dropped."""
    endpoint = parse_endpoint("tts", MINIMAL)
    assert endpoint == Endpoint(UseCase.TTS, "https://api.openai.com/v1", "tts-1", None, (), True)
    assert endpoint.describe() == "external endpoint https://api.openai.com/v1 (model 'tts-1')"


def test_options_per_use_case() -> None:
    """voice/response_format for tts and size/response_format for images are kept, sorted, and readable by name."""
    tts = parse_endpoint(UseCase.TTS, {**MINIMAL, "voice": "nova", "response_format": "mp3", "api_key_env": "K"})
    assert tts.options == (("response_format", "mp3"), ("voice", "nova"))
    assert (tts.option("voice"), tts.option("speed", "1.0"), tts.api_key_env) == ("nova", "1.0", "K")
    image = parse_endpoint("image_generation", {**MINIMAL, "model": "dall-e-2", "size": "512x512", "semantic": False})
    assert (image.option("size"), image.semantic) == ("512x512", False)
    assert image.to_json() == {
        "use_case": "image_generation",
        "base_url": "https://api.openai.com/v1",
        "model": "dall-e-2",
        "api_key_env": None,
        "options": {"size": "512x512"},
        "semantic": False,
        "label": "live endpoint (not started by this run)",
        "live": False,
        "models": ["dall-e-2"],
    }


@pytest.mark.parametrize(
    ("use_case", "fields", "key", "says"),
    [
        ("chat", MINIMAL, "", "only for use cases vLLM cannot serve (image_generation, tts), got 'chat'"),
        ("tts", {"model": "tts-1"}, "", "'base_url' is missing"),
        ("tts", {"base_url": "http://h/v1"}, "", "'model' is missing"),
        ("tts", {**MINIMAL, "base_url": "ftp://h/v1"}, "base_url", "expected an http(s) URL with a host"),
        ("tts", {**MINIMAL, "base_url": "localhost:8000/v1"}, "base_url", "expected an http(s) URL with a host"),
        ("tts", {**MINIMAL, "base_url": "https://u:sk-1@h/v1"}, "base_url", "credentials in the URL"),
        ("tts", {**MINIMAL, "base_url": "https://h/v1?key=sk-1"}, "base_url", "no query or fragment"),
        ("tts", {**MINIMAL, "base_url": "http://h:99999/v1"}, "base_url", "not a URL"),
        ("tts", {**MINIMAL, "api_key": "sk-1"}, "api_key", "secrets never go in the matrix"),
        ("tts", {**MINIMAL, "api_key_env": "sk-abc123"}, "api_key_env", "the NAME of an environment variable"),
        ("tts", {**MINIMAL, "model": ""}, "model", "expected the served model's name"),
        ("tts", {**MINIMAL, "size": "256x256"}, "size", "unknown key for a tts endpoint"),
        ("tts", {**MINIMAL, "response_format": "opus"}, "response_format", "one of wav, mp3"),
        ("image_generation", {**MINIMAL, "size": "big"}, "size", "e.g. 512x512"),
        ("image_generation", {**MINIMAL, "semantic": "yes"}, "semantic", "expected true or false"),
    ],
)
def test_invalid_endpoints_name_the_field(use_case: str, fields: dict[str, Any], key: str, says: str) -> None:
    """Every invalid entry raises EndpointError naming the field at fault, the rule and a fix."""
    with pytest.raises(EndpointError) as caught:
        parse_endpoint(use_case, fields)
    assert caught.value.key == key
    assert says in str(caught.value)
    assert "fix:" in str(caught.value)
    assert "sk-1" not in str(caught.value)  # a secret written by mistake is not echoed into logs


# ---- the key, and what the client sends ------------------------------------------------------------------------------


def test_key_comes_from_the_named_variable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is read from api_key_env; without one the placeholder is used, never OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("TTS_KEY", " sk-tts \n")
    assert endpoint_api_key(parse_endpoint("tts", {**MINIMAL, "api_key_env": "TTS_KEY"})) == "sk-tts"
    assert endpoint_api_key(parse_endpoint("tts", MINIMAL)) == NO_KEY


@pytest.mark.parametrize("value", [None, "", "  "])
def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    """An unset or empty key variable raises EndpointKeyMissing naming the variable and the fix."""
    if value is None:
        monkeypatch.delenv("TTS_KEY", raising=False)
    else:
        monkeypatch.setenv("TTS_KEY", value)
    with pytest.raises(EndpointKeyMissing, match=r"\$TTS_KEY, which is unset or empty; fix: export TTS_KEY"):
        endpoint_api_key(parse_endpoint("tts", {**MINIMAL, "api_key_env": "TTS_KEY"}))


def _sent_headers(endpoint: Endpoint, environ: dict[str, str]) -> httpx.Headers:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, content=wav_bytes(0.5), headers={"content-type": "audio/wav"})

    http_client = cast(Any, httpx.Client(transport=httpx.MockTransport(answer)))
    client = endpoint_client(endpoint, timeout=5, environ=environ, http_client=http_client)
    client.audio.speech.create(model=endpoint.model, voice="alloy", input="hi", response_format="wav")
    return seen[0]


def test_client_sends_only_the_endpoint_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests carry the named key (or the placeholder) and no OpenAI organisation/project from the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-must-not-leak")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-must-not-leak")
    keyed = _sent_headers(parse_endpoint("tts", {**MINIMAL, "api_key_env": "K"}), {"K": "sk-right"})
    assert keyed["authorization"] == "Bearer sk-right"
    keyless = _sent_headers(parse_endpoint("tts", MINIMAL), {})
    assert keyless["authorization"] == f"Bearer {NO_KEY}"
    for headers in (keyed, keyless):
        assert "must-not-leak" not in json.dumps(dict(headers))


def test_context_carries_the_endpoint() -> None:
    """The probe context names the endpoint's model, its options as flags, and no vLLM facts."""
    endpoint = parse_endpoint("tts", {**MINIMAL, "voice": "nova", "api_key_env": "K"})
    ctx = endpoint_context(endpoint, timeout=7, environ={"K": "sk-1"})
    assert (ctx.model, ctx.timeout, ctx.semantic, ctx.api_key) == ("tts-1", 7, True, "sk-1")
    assert dict(ctx.flags) == {"voice": "nova"}
    assert ctx.facts is None
    assert (ctx.end_of_turn, ctx.eos_token_ids, ctx.model_dir) == (None, (), None)


def test_context_carries_the_matrix_options() -> None:
    """The cell's options from the matrix (concurrency streams...) reach the endpoint's probe context; else {}."""
    endpoint = parse_endpoint("tts", MINIMAL)
    assert endpoint_context(endpoint, timeout=7, environ={}, options={"streams": 4}).options == {"streams": 4}
    assert endpoint_context(endpoint, timeout=7, environ={}).options == {}


# ---- the matrix and the runner ----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    return path


def test_matrix_gives_the_cell_its_endpoint(tmp_path: Path) -> None:
    """A model's endpoints reach exactly the cells of their use cases; the others have none."""
    matrix = load_matrix(
        write(
            tmp_path,
            "models:\n"
            "  - id: zoo:chat-ok\n"
            "    use_cases: [chat, tts]\n"
            "    endpoints:\n"
            "      tts: {base_url: 'http://10.0.0.5:8880/v1', model: kokoro, api_key_env: TTS_KEY, voice: af}\n",
        )
    )
    tts_cell, chat_cell = matrix.cell("chat-ok-default-tts"), matrix.cell("chat-ok-default-chat")
    endpoint = cast(Any, tts_cell).endpoint
    assert (endpoint.base_url, endpoint.model, endpoint.api_key_env, endpoint.option("voice")) == (
        "http://10.0.0.5:8880/v1",
        "kokoro",
        "TTS_KEY",
        "af",
    )
    assert cast(Any, chat_cell).endpoint is None
    assert cast(Any, matrix.model("chat-ok")).endpoints == {UseCase.TTS: endpoint}


@pytest.mark.parametrize(
    ("endpoints", "says"),
    [
        (
            "      chat: {base_url: 'http://h/v1', model: m}\n",
            "matrix.yaml:5: models[0].endpoints.chat: endpoints are only for use cases vLLM cannot serve",
        ),
        (
            "      image_generation: {base_url: 'http://h/v1', model: m}\n",
            "matrix.yaml:5: models[0].endpoints.image_generation: 'image_generation' is not among this model's "
            "use_cases",
        ),
        (
            "      tts:\n        base_url: 'https://u:pw@h/v1'\n        model: m\n",
            "matrix.yaml:6: models[0].endpoints.tts.base_url: credentials in the URL",
        ),
        (
            "      tts:\n        base_url: 'https://h/v1'\n        model: m\n        api_key: sk-1\n",
            "matrix.yaml:8: models[0].endpoints.tts.api_key: secrets never go in the matrix",
        ),
        ("      tts: 'http://h/v1'\n", "matrix.yaml:5: models[0].endpoints.tts: expected a mapping of endpoint fields"),
    ],
    ids=["chat", "not-listed", "credentials", "api-key", "not-a-mapping"],
)
def test_matrix_endpoint_errors_name_file_line_and_key(tmp_path: Path, endpoints: str, says: str) -> None:
    """A wrong endpoint entry is a one-line MatrixError naming file:line and the key path."""
    text = "models:\n  - id: zoo:chat-ok\n    use_cases: [chat, tts]\n    endpoints:\n" + endpoints
    with pytest.raises(MatrixError) as caught:
        load_matrix(write(tmp_path, text))
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.fixture
def runner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInEndpoint]:
    """A stand-in endpoint that wants sk-stand-in, a zoo cache in tmp, and the probes registered."""
    from harness.probes import PROBES, image_generation, tts

    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(PROBES, tts.USE_CASE, tts.probe)
    monkeypatch.setitem(PROBES, image_generation.USE_CASE, image_generation.probe)
    with StandInEndpoint(api_key="sk-stand-in") as server:
        yield server


def _run(tmp_path: Path, base_url: str, *, member: str = "chat-ok", use_case: str = "tts") -> tuple[Any, Any]:
    from harness.runner import CellRunner

    matrix = load_matrix(
        write(
            tmp_path,
            f"models:\n  - id: zoo:{member}\n    use_cases: [{use_case}]\n    endpoints:\n"
            f"      {use_case}: {{base_url: '{base_url}', model: stand-in-1, api_key_env: STAND_IN_KEY}}\n",
        )
    )
    cell = matrix.cells[0]
    # engine_python=None: any path that tried to pre-flight against vLLM or boot it would end in ERROR.
    runner = CellRunner(run_id="t", run_dir=tmp_path / "run", engine_python=None, offline=True, boot_timeout=None)
    runner.plan([cell])
    outcome = runner.run(cell)
    records = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    return outcome, records


def test_runner_probes_the_endpoint_without_booting(
    tmp_path: Path, runner_env: StandInEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tts cell with an endpoint PASSes on the stand-in with no engine and no boot; the record names the endpoint
    and not the key."""
    monkeypatch.setenv("STAND_IN_KEY", "sk-stand-in")
    outcome, records = _run(tmp_path, runner_env.base_url)
    assert (outcome.verdict, outcome.code) == (Verdict.PASS, None), outcome.message
    assert outcome.message.startswith(f"external endpoint {runner_env.base_url} (model 'stand-in-1'): tts: all")
    assert [r["kind"] for r in records] == ["cell"]  # no server record: nothing booted
    assert records[0]["server"]["external"]["base_url"] == runner_env.base_url
    assert "sk-stand-in" not in json.dumps(records)
    # identity first (/v1/models; /version and /metrics, which this stand-in lacks), then the probe
    assert [r["path"] for r in runner_env.requests] == ["/v1/models", "/version", "/metrics", "/v1/audio/speech"]
    assert records[0]["server"]["external"]["models_listed"] == ["stand-in-1"]


def test_runner_endpoint_overrides_the_diffusers_not_servable(
    tmp_path: Path, runner_env: StandInEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diffusers pipeline's image_generation cell with an endpoint is decided by the endpoint, not NOT_SERVABLE."""
    monkeypatch.setenv("STAND_IN_KEY", "sk-stand-in")
    outcome, _ = _run(tmp_path, runner_env.base_url, member="diffusers-pipeline", use_case="image_generation")
    assert outcome.verdict is Verdict.PASS, outcome.message
    assert [c.name for c in outcome.checks][-1] == "answer"


def test_runner_missing_key_is_an_error(
    tmp_path: Path, runner_env: StandInEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint whose key variable is unset is ERROR naming the variable; nothing is sent."""
    monkeypatch.delenv("STAND_IN_KEY", raising=False)
    outcome, _ = _run(tmp_path, runner_env.base_url)
    assert outcome.verdict is Verdict.ERROR
    assert "$STAND_IN_KEY" in outcome.message
    assert runner_env.requests == []


def test_runner_refused_key_and_dead_endpoint_fail(
    tmp_path: Path, runner_env: StandInEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused key FAILs ENDPOINT_AUTH (HTTP 401); an endpoint with nothing listening FAILs ENDPOINT_UNREACHABLE."""
    monkeypatch.setenv("STAND_IN_KEY", "sk-wrong")
    outcome, _ = _run(tmp_path, runner_env.base_url)
    assert (outcome.verdict, outcome.code, outcome.stage) == (Verdict.FAIL, Code.ENDPOINT_AUTH, "identity")
    assert "HTTP 401" in outcome.message
    assert [r["path"] for r in runner_env.requests if r["method"] == "POST"] == []  # nothing probed past identity
    outcome, _ = _run(tmp_path, "http://127.0.0.1:9/v1")
    assert (outcome.verdict, outcome.code) == (Verdict.FAIL, Code.ENDPOINT_UNREACHABLE)
    assert "no HTTP answer" in outcome.message


def test_endpoint_cells_do_not_hold_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning counts only the cells vLLM serves, so a server stops after its last vLLM cell."""
    from harness.runner import CellRunner

    matrix = load_matrix(
        write(
            tmp_path,
            "models:\n  - id: zoo:chat-ok\n    use_cases: [chat, tts]\n"
            "    endpoints: {tts: {base_url: 'http://h/v1', model: m}}\n",
        )
    )
    runner = CellRunner(
        run_id="t", run_dir=tmp_path, engine_python=fake_engine(tmp_path / "e"), offline=True, boot_timeout=None
    )
    runner.plan(matrix.cells)
    assert runner.servers.remaining() == {"chat-ok-default": 1}
