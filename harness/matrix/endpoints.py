"""External OpenAI-compatible endpoints for the use cases vLLM cannot serve (tts, image_generation).

vLLM generates text and embeddings. A team that also needs speech synthesis or image generation serves them with
something else; a matrix entry may point such a use case at that server. The harness then runs the same probe, with
the same checks and verdicts, against that server instead of reporting NOT_SERVABLE, and boots no vLLM for it::

    - id: hexgrad/Kokoro-82M
      use_cases: [tts]
      endpoints:
        tts: {base_url: "http://tts.internal:8880/v1", model: kokoro, api_key_env: TTS_API_KEY, voice: af_bella}

The rules:
- only the use cases in ``UNSERVABLE``: a use case vLLM serves is probed on the vLLM the harness boots, never on a
  server someone else runs (the harness is about what works on vLLM);
- ``base_url`` is the API root exactly as the openai client takes it (like OPENAI_BASE_URL, usually ending in /v1):
  http or https, a host, no credentials, query or fragment;
- the API key is read at run time from the environment variable ``api_key_env`` names; a key is never written in
  the matrix. Without ``api_key_env`` the client sends the placeholder key ``EMPTY`` (vLLM's own convention for a
  server without a key); OPENAI_API_KEY, OPENAI_ORG_ID and OPENAI_PROJECT_ID are never picked up from the
  environment by accident and sent to a third party;
- the cell's result names the endpoint, so a report never passes an external server's answer off as vLLM's.

A whole model entry may also be a live endpoint: a running OpenAI-compatible server someone else started (a
deployment's service), probed for any use case, vLLM's own included, instead of a checkpoint this run boots::

    - name: agent
      endpoint: {base_url: "http://10.0.0.5:8000/v1", model: qwen2.5-7b, api_key_env: AGENT_API_KEY}
      use_cases: [chat, tools]
    - name: router                                   # several models behind one base URL
      endpoint: {base_url: "http://10.0.0.5:9000/v1", models: [qwen-7b, llama-8b]}
      use_cases: [chat]

Such an entry has no checkpoint here: no ``id``, ``revision``, ``flags``, ``profiles``, ``env`` or ``dry_boot`` (the
server was started with its own), no pre-flight (no files to read), and every cell is labelled ``LIVE_LABEL``. With
``models:`` the entry becomes one model per name (``<name>.<model>``), probed in an order that makes the server switch
between them. The server's /v1/models must list each model before it is probed (WRONG_MODEL otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from harness.usecases import UNSERVABLE, UseCase

ENDPOINT_USE_CASES: frozenset[UseCase] = UNSERVABLE
# Request options a matrix may set per use case (a service's voices and sizes differ), with the values allowed.
OPTIONS: Mapping[UseCase, Mapping[str, str]] = {
    UseCase.TTS: {"voice": "a voice name, e.g. alloy", "response_format": "wav or mp3"},
    UseCase.IMAGE_GENERATION: {"size": "WIDTHxHEIGHT, e.g. 1024x1024, or auto", "response_format": "b64_json or url"},
}
ENDPOINT_KEYS: tuple[str, ...] = ("base_url", "model", "api_key_env", "semantic")
LIVE_KEYS: tuple[str, ...] = ("base_url", "model", "models", "api_key_env")
LIVE_LABEL = "live endpoint (not started by this run)"
NO_KEY = "EMPTY"  # sent when the endpoint needs no key: the openai client refuses to run without one
_CHOICES: Mapping[tuple[UseCase, str], tuple[str, ...]] = {
    (UseCase.TTS, "response_format"): ("wav", "mp3"),  # the formats the tts probe can verify byte by byte
    (UseCase.IMAGE_GENERATION, "response_format"): ("b64_json", "url"),
}
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIZE_RE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$|^auto$")
_SECRET_KEYS = frozenset({"api_key", "apikey", "key", "token", "password", "secret", "authorization"})


class EndpointError(ValueError):
    """A mistake in one endpoint entry; ``key`` names the field ('' for the entry itself) so the matrix can say
    which line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Endpoint:
    use_case: UseCase
    base_url: str  # the API root as the openai client takes it, without a trailing slash
    model: str  # the model name the endpoint serves, sent as "model" in each request
    api_key_env: str | None = None  # where the API key is at run time; None: the placeholder NO_KEY
    options: tuple[tuple[str, str], ...] = ()  # request options (voice, size, response_format), sorted by name
    semantic: bool = True  # the endpoint serves a real model: also check that the answer is right
    # A model entry's `endpoint:` (the whole model lives there, any use case); False: an `endpoints:` use case
    live: bool = False
    models: tuple[str, ...] = ()  # every model this entry probes behind base_url, in the order they alternate

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)

    def describe(self) -> str:
        if self.live:
            return f"live endpoint {self.base_url} (model {self.model!r}, not started by this run)"
        return f"external endpoint {self.base_url} (model {self.model!r})"

    def to_json(self) -> dict[str, Any]:
        """What results record about the endpoint (never the key, only where it is read from)."""
        return {
            "use_case": self.use_case.value,
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "options": dict(self.options),
            "semantic": self.semantic,
            "label": LIVE_LABEL,
            "live": self.live,
            "models": list(self.models or (self.model,)),
        }


def parse_endpoint(use_case: UseCase | str, fields: Mapping[str, Any]) -> Endpoint:
    """Validate one ``endpoints.<use_case>`` entry (plain values); raise EndpointError naming the field at fault."""
    use_case = UseCase(use_case)
    if use_case not in ENDPOINT_USE_CASES:
        allowed = ", ".join(sorted(u.value for u in ENDPOINT_USE_CASES))
        raise EndpointError(
            "",
            f"endpoints are only for use cases vLLM cannot serve ({allowed}), got {use_case.value!r}; "
            "fix: remove it (the harness probes this use case on the vLLM it boots)",
        )
    options_allowed = OPTIONS.get(use_case, {})
    allowed_keys = (*ENDPOINT_KEYS, *options_allowed)
    _refuse_unknown_keys(fields, allowed_keys, f"a {use_case.value} endpoint")
    for required in ("base_url", "model"):
        if required not in fields:
            example = "http://host:8000/v1" if required == "base_url" else "tts-1"
            raise EndpointError("", f"'{required}' is missing; fix: add e.g. '{required}: {example}'")
    base_url = _base_url(fields["base_url"])
    model = fields["model"]
    if not isinstance(model, str) or not model.strip():
        raise EndpointError("model", f"expected the served model's name, got {model!r}; fix: write e.g. 'model: tts-1'")
    api_key_env = fields.get("api_key_env")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not _ENV_RE.match(api_key_env)):
        raise EndpointError(
            "api_key_env",
            f"expected the NAME of an environment variable ([A-Za-z_][A-Za-z0-9_]*), got {api_key_env!r}; "
            "fix: write e.g. 'api_key_env: OPENAI_API_KEY' (the key itself never goes in the matrix)",
        )
    semantic = fields.get("semantic", True)
    if not isinstance(semantic, bool):
        raise EndpointError("semantic", f"expected true or false, got {semantic!r}; fix: write true or false")
    options: dict[str, str] = {}
    for name in options_allowed:
        if name in fields:
            options[name] = _option(use_case, name, fields[name])
    return Endpoint(use_case, base_url, model.strip(), api_key_env, tuple(sorted(options.items())), semantic)


def _base_url(value: Any) -> str:
    fix = "fix: write the API root, e.g. 'https://api.openai.com/v1' or 'http://10.0.0.5:8000/v1'"
    if not isinstance(value, str) or not value.strip():
        raise EndpointError("base_url", f"expected an http(s) URL, got {value!r}; {fix}")
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a malformed port
    except ValueError as error:
        raise EndpointError("base_url", f"not a URL ({error}); {fix}") from None
    # Errors show the URL without what may be a secret (user:password@, ?key=...): they end up in logs and reports.
    shown = re.sub(r"//[^/]*@", "//", url.split("?", 1)[0].split("#", 1)[0])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError("base_url", f"expected an http(s) URL with a host, got {shown!r}; {fix}")
    if parts.username is not None or parts.password is not None:
        raise EndpointError(
            "base_url",
            "credentials in the URL would be written in the matrix and in every report; "
            "fix: remove 'user:password@' and name the key's environment variable in 'api_key_env'",
        )
    if parts.query or parts.fragment:
        raise EndpointError("base_url", f"expected no query or fragment, got {shown + '?...'!r}; {fix}")
    del port
    return url.rstrip("/")


def _option(use_case: UseCase, name: str, value: Any) -> str:
    allowed = OPTIONS[use_case][name]
    if not isinstance(value, str) or not value.strip():
        raise EndpointError(name, f"expected {allowed}, got {value!r}; fix: write {allowed}")
    text: str = value.strip()
    choices = _CHOICES.get((use_case, name))
    if choices is not None and text not in choices:
        raise EndpointError(name, f"expected {allowed}, got {text!r}; fix: write one of {', '.join(choices)}")
    if name == "size" and not _SIZE_RE.match(text):
        raise EndpointError(name, f"expected {allowed}, got {text!r}; fix: write e.g. 512x512")
    return text


def parse_live_endpoint(
    fields: Mapping[str, Any], use_cases: Sequence[UseCase], semantic: bool
) -> dict[str, dict[UseCase, Endpoint]]:
    """Validate a model entry's ``endpoint:`` (plain values): served model -> use case -> Endpoint, models in the
    order written; raise EndpointError naming the field at fault."""
    options_allowed = {name for use_case in use_cases for name in OPTIONS.get(use_case, {})}
    allowed_keys = (*LIVE_KEYS, *sorted(options_allowed))
    _refuse_unknown_keys(fields, allowed_keys, "a live endpoint")
    if "base_url" not in fields:
        raise EndpointError("", "'base_url' is missing; fix: add e.g. 'base_url: http://host:8000/v1'")
    if ("model" in fields) == ("models" in fields):
        raise EndpointError(
            "",
            "expected exactly one of 'model' (one served name) or 'models' (several behind one URL); fix: write "
            "e.g. 'model: qwen2.5-7b' or 'models: [qwen-7b, llama-8b]'",
        )
    base_url = _base_url(fields["base_url"])
    models = _served_models(fields)
    api_key_env = fields.get("api_key_env")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not _ENV_RE.match(api_key_env)):
        raise EndpointError(
            "api_key_env",
            f"expected the NAME of an environment variable ([A-Za-z_][A-Za-z0-9_]*), got {api_key_env!r}; "
            "fix: write e.g. 'api_key_env: AGENT_API_KEY' (the key itself never goes in the matrix)",
        )
    out: dict[str, dict[UseCase, Endpoint]] = {}
    for model in models:
        out[model] = {}
        for use_case in use_cases:
            options = {
                name: _option(use_case, name, fields[name]) for name in OPTIONS.get(use_case, {}) if name in fields
            }
            template = Endpoint(use_case, base_url, model, api_key_env, tuple(sorted(options.items())), semantic)
            out[model][use_case] = replace(template, live=True, models=models)
    return out


def _served_models(fields: Mapping[str, Any]) -> tuple[str, ...]:
    if "model" in fields:
        value = fields["model"]
        if not isinstance(value, str) or not value.strip():
            fix = "fix: write e.g. 'model: qwen2.5-7b'"
            raise EndpointError("model", f"expected the served model's name, got {value!r}; {fix}")
        return (value.strip(),)
    value = fields["models"]
    if not isinstance(value, list) or len(value) < 2:
        raise EndpointError(
            "models",
            f"expected a list of two or more served model names, got {value!r}; fix: write e.g. 'models: [a, b]', or "
            "'model: a' for one",
        )
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            fix = "fix: write each name as a string"
            raise EndpointError("models", f"expected served model names, got {item!r}; {fix}")
        if item.strip() in names:
            raise EndpointError("models", f"{item.strip()!r} is listed twice; fix: list each model once")
        names.append(item.strip())
    return tuple(names)


def _refuse_unknown_keys(fields: Mapping[str, Any], allowed_keys: Sequence[str], what: str) -> None:
    """A key in the matrix's secrets list, or one the endpoint kind does not take, is an error naming it."""
    for name in fields:
        if name.lower() in _SECRET_KEYS:
            raise EndpointError(
                name,
                "secrets never go in the matrix; fix: export the key in an environment variable and write "
                "'api_key_env: ITS_NAME'",
            )
        if name not in allowed_keys:
            allowed = ", ".join(allowed_keys)
            raise EndpointError(name, f"unknown key for {what}; allowed: {allowed}; fix: remove it")
