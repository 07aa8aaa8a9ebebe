"""The vision and video probes against a mocked vLLM (httpx.MockTransport) that fetches URLs and enforces limits."""

from __future__ import annotations

import base64
import json
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import openai
import pytest

from harness.probes import multimodal, video, vision
from harness.probes.base import EngineUnreachable, ProbeContext, ProbeResult
from harness.probes.inputs.media import MEDIA

ANSWER = "Hello from the tiny zoo model."


def _refusal(count: int, modality: str) -> str:
    """vLLM 0.32's HTTP 400 body, as the real CPU engine answered it for tiny-llava."""
    message = f"At most {count} {modality}(s) may be provided in one prompt. (parameter={modality})"
    return json.dumps({"error": {"message": message, "type": "BadRequestError", "param": modality, "code": 400}})


@dataclass
class FakeVllm:
    """Answers multimodal chat like vLLM: fetches http URLs, decodes data URIs, counts item tokens, enforces limits."""

    text: str | dict[str, str] = ANSWER  # a dict answers by a word of the question
    limits: dict[str, int] = field(default_factory=lambda: {"image": 999, "video": 999})  # --limit-mm-per-prompt
    supported: dict[str, int] = field(default_factory=lambda: {"image": 999, "video": 999})  # the model's own
    tokens_per_item: int = 64
    fetch: bool = True
    status: int | None = None
    body: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        content = payload["messages"][0]["content"]
        items = {"image": 0, "video": 0}
        question = ""
        for part in content:
            if part["type"] == "text":
                question = part["text"]
                continue
            modality = part["type"].removesuffix("_url")
            url = part[part["type"]]["url"]
            if url.startswith("data:"):
                base64.b64decode(url.split(",", 1)[1], validate=True)
            elif self.fetch:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200
            items[modality] += 1
        self.seen.append({"items": dict(items), "question": question})
        if self.status is not None:
            return httpx.Response(self.status, text=self.body, headers={"content-type": "application/json"})
        for modality, count in items.items():
            limit = min(self.limits[modality], self.supported[modality])
            if count > limit:
                return httpx.Response(400, text=_refusal(limit, modality))
        prompt = 12 + self.tokens_per_item * sum(items.values())
        if isinstance(self.text, dict):
            text = next((v for k, v in self.text.items() if k in question.lower()), "I do not know.")
        else:
            text = self.text
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": payload["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7},
            },
        )


def context(api: FakeVllm | httpx.MockTransport, **overrides: Any) -> ProbeContext:
    transport = api if isinstance(api, httpx.MockTransport) else httpx.MockTransport(api)
    http_client = cast(Any, httpx.Client(transport=transport))
    client = openai.OpenAI(base_url="http://engine.test/v1", api_key="k", max_retries=0, http_client=http_client)
    options: dict[str, Any] = {
        "client": client,
        "model": "tiny-llava-0123",
        "semantic": False,
        "timeout": 5.0,
        "end_of_turn": "<|im_end|>",
        "eos_token_ids": (510,),
        "eos_mismatch_predicted": False,
        "expected_answer": ANSWER,
        "flags": {},
    }
    return ProbeContext(**(options | overrides))


def failed(result: ProbeResult) -> list[str]:
    return [check.name for check in result.checks if not check.passed]


def checks(result: ProbeResult) -> dict[str, str]:
    return {check.name: check.detail for check in result.checks}


# --- flags ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, 999),
        ({"limit-mm-per-prompt": {"image": 2}}, 2),
        ({"limit-mm-per-prompt": '{"image": 1}'}, 1),
        ({"limit-mm-per-prompt": {"image": {"count": 3, "width": 64}}}, 3),
        ({"limit_mm_per_prompt": {"image": 0}}, 0),
        ({"limit-mm-per-prompt": {"video": 1}}, 999),
    ],
)
def test_mm_limit_reads_every_spelling(flags: dict[str, Any], expected: int) -> None:
    """The image limit is read from a mapping, its JSON text, the {count: n} form or vLLM's default of 999."""
    assert multimodal.mm_limit(flags, "image") == expected


def test_mm_limit_names_a_bad_value() -> None:
    """A limit flag that is neither a mapping nor JSON fails with the value in the message."""
    with pytest.raises(ValueError, match="image=2"):
        multimodal.mm_limit({"limit-mm-per-prompt": "image=2"}, "image")


# --- vision --------------------------------------------------------------------------------------------------------


def test_vision_passes_with_multi_image_when_the_limit_allows() -> None:
    """With no limit flag, data URI, fetched URL, count and two images all pass, and the URL was really fetched."""
    api = FakeVllm()
    result = vision.probe(context(api))
    assert result.passed, result.message
    names = checks(result)
    assert {"data_uri_tokens", "http_url_fetched", "count_answer", "two_images_tokens"} <= set(names)
    assert "fetched" in names["http_url_fetched"] and " 1 time" in names["http_url_fetched"]
    assert [s["items"]["image"] for s in api.seen] == [0, 0, 0, 1, 1, 1, 2]
    assert result.usage["prompt_tokens"] == 12 + 64


def test_vision_limit_one_expects_the_refusal_and_passes() -> None:
    """With an image limit of 1, the two-image request's HTTP 400 MM_LIMIT is an expected refusal, said so in detail."""
    api = FakeVllm(limits={"image": 1, "video": 999})
    result = vision.probe(context(api, flags={"limit-mm-per-prompt": {"image": 1}}))
    assert result.passed, result.message
    detail = checks(result)["two_images_refused"]
    assert detail.startswith("expected refusal") and "MM_LIMIT" in detail and "At most 1 image(s)" in detail


def test_vision_limit_not_enforced_fails_with_mm_limit() -> None:
    """A server that answers two images although the limit is 1 fails the cell with MM_LIMIT."""
    api = FakeVllm()  # ignores the flag the cell says it was started with
    result = vision.probe(context(api, flags={"limit-mm-per-prompt": {"image": 1}}))
    assert failed(result) == ["two_images_refused"]
    assert result.code == "MM_LIMIT"
    assert "not enforced" in result.message


def test_vision_wrong_refusal_beyond_limit_fails() -> None:
    """Beyond the limit, a refusal that is not vLLM's limit message (here HTTP 500) is a failure, not a pass."""

    good = FakeVllm()

    def handler(request: httpx.Request) -> httpx.Response:
        if _images(request) < 2:
            return good(request)
        return httpx.Response(500, json={"error": {"message": "EngineCore crashed", "code": 500}})

    result = vision.probe(context(httpx.MockTransport(handler), flags={"limit-mm-per-prompt": {"image": 1}}))
    assert failed(result) == ["two_images_refused"]
    assert result.code == "HTTP_ERROR"
    assert "expected HTTP 400 MM_LIMIT, got HTTP 500" in result.message


def _images(request: httpx.Request) -> int:
    content = json.loads(request.content)["messages"][0]["content"]
    return sum(1 for part in content if part["type"] == "image_url")


def test_vision_model_that_takes_one_image_passes_and_says_so() -> None:
    """Without a limit flag, vLLM's refusal naming the model's own limit of 1 is reported in detail, not failed."""
    api = FakeVllm(supported={"image": 1, "video": 0})
    result = vision.probe(context(api))
    assert result.passed, result.message
    assert "the model takes at most 1 image(s)" in checks(result)["two_images"]


def test_vision_image_limit_zero_fails_with_mm_limit() -> None:
    """An image limit of 0 refuses the first image: the cell fails with MM_LIMIT and vLLM's message as evidence."""
    api = FakeVllm(limits={"image": 0, "video": 999})
    result = vision.probe(context(api, flags={"limit-mm-per-prompt": {"image": 0}}))
    assert not result.passed
    assert result.code == "MM_LIMIT"
    assert failed(result) == ["data_uri_request"]
    assert "At most 0 image(s)" in result.evidence


def test_vision_image_that_adds_no_tokens_fails() -> None:
    """A server whose prompt_tokens do not grow with the image (the image never reached the model) fails."""
    result = vision.probe(context(FakeVllm(tokens_per_item=0)))
    assert {"data_uri_tokens", "http_url_tokens", "count_tokens", "two_images_tokens"} <= set(failed(result))
    assert "never saw it" in checks(result)["data_uri_tokens"]


def test_vision_url_never_fetched_fails() -> None:
    """An answer to the URL image without a request to the MediaServer fails http_url_fetched."""
    result = vision.probe(context(FakeVllm(fetch=False)))
    assert failed(result) == ["http_url_fetched"]
    assert "0 time(s)" in result.message


def test_vision_empty_answer_and_wrong_exact_answer_fail() -> None:
    """An empty answer fails the content checks; a zoo member's answer other than the expected one fails too."""
    result = vision.probe(context(FakeVllm(text="")))
    assert "data_uri_content" in failed(result)
    result = vision.probe(context(FakeVllm(text="Something else.")))
    assert "data_uri_answer" in failed(result)
    assert "expected 'Hello from the tiny zoo model.'" in checks(result)["data_uri_answer"]


def test_vision_semantic_answers_are_lenient() -> None:
    """Real-model answers pass with synonyms and case ("Crimson.", "SEVEN", "There are 3 circles.")."""
    answers = {"colour": "Crimson.", "digit": "SEVEN", "circles": "There are 3 circles.", "images": "two"}
    result = vision.probe(context(FakeVllm(text=answers), semantic=True, expected_answer=None))
    assert result.passed, result.message


def test_vision_semantic_wrong_answers_fail() -> None:
    """Wrong colours, digits and counts fail their semantic checks, and "13" is not "3"."""
    answers = {"colour": "Blue.", "digit": "1", "circles": "13", "images": "one"}
    result = vision.probe(context(FakeVllm(text=answers), semantic=True, expected_answer=None))
    assert {"data_uri_answer", "http_url_answer", "count_answer", "two_images_answer"} <= set(failed(result))


def test_vision_http_error_is_diagnosed() -> None:
    """A refused request ends the probe with the failed step and the diagnosed code of vLLM's message."""
    body = _refusal(0, "image")
    result = vision.probe(context(FakeVllm(status=400, body=body)))
    assert failed(result) == ["text_only_request"]
    assert result.code == "MM_LIMIT"


def test_vision_connection_lost_raises_engine_unreachable() -> None:
    """A request that gets no HTTP answer raises EngineUnreachable for the runner to ask the server."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(EngineUnreachable):
        vision.probe(context(httpx.MockTransport(handler)))


def test_vision_connection_lost_on_the_refusal_raises_engine_unreachable() -> None:
    """A dead engine during the expected refusal is EngineUnreachable, never an expected refusal."""
    good = FakeVllm()

    def handler(request: httpx.Request) -> httpx.Response:
        if _images(request) >= 2:
            raise httpx.ConnectError("connection reset", request=request)
        return good(request)

    with pytest.raises(EngineUnreachable):
        vision.probe(context(httpx.MockTransport(handler), flags={"limit-mm-per-prompt": {"image": 1}}))


# --- video ---------------------------------------------------------------------------------------------------------


def test_video_passes_as_data_uri_and_fetched_url() -> None:
    """The clip as data URI and as a fetched URL: both answered, tokens grow, and the MediaServer saw the fetch."""
    api = FakeVllm()
    result = video.probe(context(api))
    assert result.passed, result.message
    assert [s["items"]["video"] for s in api.seen] == [0, 1, 1]
    assert "1 time(s)" in checks(result)["http_url_fetched"]


def test_video_on_a_vision_only_model_fails_with_mm_limit() -> None:
    """A model that takes no video gets vLLM's "At most 0 video(s)" refusal: the cell fails with MM_LIMIT."""
    result = video.probe(context(FakeVllm(supported={"image": 999, "video": 0})))
    assert result.code == "MM_LIMIT"
    assert failed(result) == ["data_uri_request"]
    assert "At most 0 video(s)" in result.evidence


def test_video_semantic_is_lenient_and_can_fail() -> None:
    """A real model's answer passes when it names the square or its motion, and fails when it names neither."""
    ok = video.probe(context(FakeVllm(text="A red SQUARE."), semantic=True, expected_answer=None))
    assert ok.passed, ok.message
    bad = video.probe(context(FakeVllm(text="A cat."), semantic=True, expected_answer=None))
    assert {"data_uri_answer", "http_url_answer"} <= set(failed(bad))


def test_video_clip_is_what_the_probe_sends() -> None:
    """The data URI sent is the media set's AVI (video/x-msvideo), byte for byte."""
    sent: list[str] = []
    good = FakeVllm()

    def handler(request: httpx.Request) -> httpx.Response:
        for part in json.loads(request.content)["messages"][0]["content"]:
            if part["type"] == "video_url" and part["video_url"]["url"].startswith("data:"):
                sent.append(part["video_url"]["url"])
        return good(request)

    video.probe(context(httpx.MockTransport(handler)))
    assert sent == [MEDIA["square.avi"].data_uri]
    assert sent[0].startswith("data:video/x-msvideo;base64,")


# --- the vision zoo members ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vision_zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from harness.zoo.vision import MEMBERS

    root = tmp_path_factory.mktemp("vision-zoo")
    built = {}
    for name, member in MEMBERS.items():
        (root / name).mkdir()
        member.build(root / name)
        built[name] = root / name
    return built


def _header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header: dict[str, Any] = json.loads(data[8 : 8 + length])
    header.pop("__metadata__")
    return header


def test_vision_members_are_small_deterministic_and_in_hub_layout(vision_zoo: dict[str, Path], tmp_path: Path) -> None:
    """Each member is under 5 MB, rebuilt byte for byte, with llava-hf weight names vLLM's loaders read."""
    from harness.zoo.vision import MEMBERS

    for name, directory in vision_zoo.items():
        files = sorted(p for p in directory.iterdir())
        assert sum(p.stat().st_size for p in files) < 5 * 1024 * 1024, name
        (tmp_path / name).mkdir()
        MEMBERS[name].build(tmp_path / name)
        for path in files:
            assert (tmp_path / name / path.name).read_bytes() == path.read_bytes(), (name, path.name)
        prefixes = {key.split(".")[0] for key in _header(directory / "model.safetensors")}
        assert prefixes <= {"vision_tower", "multi_modal_projector", "language_model", "image_newline"}, prefixes
        assert "vision_tower.vision_model.embeddings.patch_embedding.weight" in _header(directory / "model.safetensors")


def test_vision_members_token_ids_match_config_and_fit_the_vocabulary(vision_zoo: dict[str, Path]) -> None:
    """The <image> / <video> ids in config.json are the tokenizer's, special, and below the text model's vocab size."""
    from tokenizers import Tokenizer

    for name, directory in vision_zoo.items():
        config = json.loads((directory / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        vocab = config["text_config"]["vocab_size"]
        for key, token in (("image_token_index", "<image>"), ("video_token_index", "<video>")):
            if key in config:
                assert tokenizer.token_to_id(token) == config[key] < vocab, (name, key)
        embed = _header(directory / "model.safetensors")["language_model.model.embed_tokens.weight"]
        assert embed["shape"][0] == vocab, name


def test_vision_members_templates_place_the_media_placeholders(vision_zoo: dict[str, Path]) -> None:
    """The chat templates write <image> (and <video>) where the content parts are, then the text."""
    import jinja2.sandbox

    env = jinja2.sandbox.ImmutableSandboxedEnvironment()
    for name, directory in vision_zoo.items():
        template = json.loads((directory / "chat_template.json").read_text())["chat_template"]
        parts = [{"type": "image"}, {"type": "video"}, {"type": "text", "text": "What is it?"}]
        text = env.from_string(template).render(
            messages=[{"role": "user", "content": parts}], add_generation_prompt=True
        )
        expected = "<image>\n<video>\nWhat is it?" if "video" in name else "<image>\nWhat is it?"
        assert f"<|im_start|>user\n{expected}<|im_end|>\n<|im_start|>assistant\n" in text, (name, text)
