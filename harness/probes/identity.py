"""identity: who answers at a live endpoint, asked before any use case is probed on a server this run did not start.

A server someone else runs is trusted for nothing: its /health answering proves only that some process listens.
The identity probe asks ``GET {base_url}/models`` with the bearer key, and a model is probed only where that list
names it. What it tells apart, each with its evidence:

- no HTTP answer at all (connection refused, unknown host, timeout): ENDPOINT_UNREACHABLE;
- HTTP 401/403 (vLLM's ``--api-key`` middleware answers 401 ``{"error": "Unauthorized"}`` on every /v1 route):
  ENDPOINT_AUTH, a missing or wrong key;
- a list that does not name the model: WRONG_MODEL, with the names it did list (and vLLM's ``root``, the checkpoint
  path or hub id each name stands for, where the server says it);
- any other answer on /v1/models (404, 5xx, not a model list): HTTP_ERROR, not an OpenAI-compatible API there.

``/version`` (vLLM's ``{"version": ...}``) and ``/metrics`` (Prometheus text; the ``model_name`` labels vLLM puts on
its series) live at the server root, beside /v1, and are unauthenticated on vLLM; they are recorded where the server
has them and never decide anything (another OpenAI-compatible server may have neither).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from harness.probes.base import short

AUTH_STATUSES = (401, 403)


@dataclass(frozen=True)
class Listed:
    """One entry of /v1/models: the served name and, on vLLM, what it was loaded from (``root``)."""

    id: str
    root: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a model must not be probed at this endpoint: the code and its evidence."""

    code: str
    message: str
    evidence: str


@dataclass(frozen=True)
class Identity:
    """What the endpoint said about itself. ``failure`` is set when the model list could not be had at all."""

    base_url: str
    listed: tuple[Listed, ...] = ()
    failure: Refusal | None = None
    version: str | None = None  # /version's "version", where the server has one
    metrics_models: tuple[str, ...] | None = None  # model_name labels on /metrics; None: no /metrics
    models_s: float | None = None  # how long /v1/models took to answer

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.listed)

    def refusal(self, model: str) -> Refusal | None:
        """None when ``model`` may be probed here; else the code (ENDPOINT_*, HTTP_ERROR or WRONG_MODEL)."""
        if self.failure is not None:
            return self.failure
        if model in self.names:
            return None
        listing = ", ".join(f"{item.id!r}" + (f" (root {item.root})" if item.root else "") for item in self.listed)
        return Refusal(
            "WRONG_MODEL",
            f"GET {self.base_url}/models does not list {model!r}; it lists {listing or 'no model'}: the server "
            f"serves another model under other names; fix: point the entry at the service that serves {model!r}, "
            "or name the model as the server lists it",
            f"GET {self.base_url}/models -> {list(self.names)}",
        )

    def root_of(self, model: str) -> str | None:
        return next((item.root for item in self.listed if item.id == model), None)

    def to_json(self, model: str | None = None) -> dict[str, Any]:
        """What a record keeps: the list, version and metrics labels (never the key)."""
        data: dict[str, Any] = {
            "models_listed": list(self.names),
            "version": self.version,
            "metrics": self.metrics_models is not None,
        }
        if self.metrics_models:
            data["metrics_model_names"] = list(self.metrics_models)
        if model is not None and self.root_of(model):
            data["root"] = self.root_of(model)
        if self.failure is not None:
            data["failure"] = self.failure.code
        return data


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no HTTP answer
    text: str = ""
    error: str = ""
    seconds: float = 0.0


def server_root(base_url: str) -> str:
    """The server root (where /version and /metrics are) of an API root such as http://host:8000/v1."""
    return base_url.rstrip("/").removesuffix("/v1")


def check_identity(
    base_url: str, api_key: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
) -> Identity:
    """Ask the endpoint who it is: /v1/models (decides), /version and /metrics (recorded)."""
    base_url = base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(timeout=timeout, transport=transport, headers=headers, follow_redirects=False) as http:
        models = _get(http, f"{base_url}/models")
        failure = _models_failure(base_url, models)
        listed: tuple[Listed, ...] = ()
        if failure is None:
            listed, problem = _parse_models(models.text)
            if problem:
                failure = Refusal(
                    "HTTP_ERROR",
                    f"GET {base_url}/models answered HTTP 200 but not an OpenAI model list ({problem}); fix: point "
                    "base_url at the API root of an OpenAI-compatible server (usually ending in /v1)",
                    f"GET {base_url}/models -> HTTP 200 {short(models.text, 200)}",
                )
        if failure is not None and failure.code == "ENDPOINT_UNREACHABLE":
            return Identity(base_url, failure=failure)
        root = server_root(base_url)
        return Identity(
            base_url,
            listed=listed,
            failure=failure,
            version=_version(_get(http, f"{root}/version")),
            metrics_models=_metrics_models(_get(http, f"{root}/metrics")),
            models_s=round(models.seconds, 4) if models.status is not None else None,
        )


def _get(http: httpx.Client, url: str) -> _Answer:
    started = time.perf_counter()
    try:
        response = http.get(url)
    except httpx.TransportError as error:  # refused, unknown host, timeout, reset: no HTTP answer
        return _Answer(None, error=f"{type(error).__name__}: {error}", seconds=time.perf_counter() - started)
    return _Answer(response.status_code, response.text, seconds=time.perf_counter() - started)


def _models_failure(base_url: str, answer: _Answer) -> Refusal | None:
    url = f"{base_url}/models"
    if answer.status is None:
        return Refusal(
            "ENDPOINT_UNREACHABLE",
            f"GET {url}: no HTTP answer ({answer.error}); fix: check the host, the port and that the service runs",
            f"GET {url} -> {answer.error}",
        )
    if answer.status in AUTH_STATUSES:
        return Refusal(
            "ENDPOINT_AUTH",
            f"GET {url} -> HTTP {answer.status}: the server refused the key sent as a bearer token (missing or "
            "wrong); fix: export the right key in the variable 'api_key_env' names",
            f"GET {url} -> HTTP {answer.status} {short(answer.text, 200)}",
        )
    if answer.status != 200:
        return Refusal(
            "HTTP_ERROR",
            f"GET {url} -> HTTP {answer.status}: no model list there, so nothing says which model answers; fix: point "
            "base_url at the API root of an OpenAI-compatible server (usually ending in /v1)",
            f"GET {url} -> HTTP {answer.status} {short(answer.text, 200)}",
        )
    return None


def _parse_models(text: str) -> tuple[tuple[Listed, ...], str]:
    try:
        body = json.loads(text)
    except ValueError:
        return (), "not JSON"
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return (), "no 'data' list"
    listed = [
        Listed(str(item["id"]), str(item["root"]) if item.get("root") else None)
        for item in data
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]
    return tuple(listed), ""


def _version(answer: _Answer) -> str | None:
    if answer.status != 200:
        return None
    try:
        body = json.loads(answer.text)
    except ValueError:
        return None
    version = body.get("version") if isinstance(body, dict) else None
    return str(version) if version is not None else None


def _metrics_models(answer: _Answer) -> tuple[str, ...] | None:
    """The model_name labels of the server's Prometheus series; None when there is no /metrics to read."""
    # measure imports probes (the one stream reader), so its parser is imported when used
    from harness.measure import parse_metrics

    if answer.status != 200:
        return None
    try:
        return tuple(parse_metrics(answer.text).model_names)
    except ValueError:  # not Prometheus text: the server has no metrics we can read
        return None
