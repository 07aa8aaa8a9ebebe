"""Cells served by a server this run did not start: a model entry's live ``endpoint:`` (any use case, one or several
models behind one URL) or an ``endpoints:`` use case vLLM cannot serve (tts, image_generation). The same probes,
with the same checks and verdicts, run against that server; nothing boots and every result says "live endpoint (not
started by this run)".

Identity first: before a model is probed, the endpoint's /v1/models must list it (harness.probes.identity: an
unreachable server is ENDPOINT_UNREACHABLE, a refused key ENDPOINT_AUTH, an unlisted model WRONG_MODEL, each with its
evidence); /version and /metrics are recorded where the server has them. Asked once per endpoint and key per run.
Several models behind one URL are also sent the swap sequence (harness.probes.swaps) once, before their first cell.

The API key is read from the environment variable the endpoint names at run time, never from the matrix, sent as a
bearer token, and registered with harness.redact so that no record, report or line printed can show it; the openai
client is built so that nothing from OPENAI_* in the environment reaches a third party.

``probe_endpoint`` is the surface for a caller that holds one endpoint rather than matrix cells (``vllm-compat
probe``, a deployment's service that is already running): identity, swaps and each model x use case, as typed
outcomes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness import redact
from harness.matrix import LIVE_LABEL, NO_KEY, Cell, Endpoint
from harness.probes import (
    PROBES,
    EngineUnreachable,
    Identity,
    ProbeContext,
    SwapTiming,
    check_identity,
    measure_swaps,
    request_kind,
)
from harness.results import CellServer
from harness.runner.outcome import Outcome
from harness.usecases import UseCase
from harness.verdicts import Verdict

if TYPE_CHECKING:
    import openai

# What a live endpoint's record says about pre-flight, instead of pretending one ran.
PREFLIGHT_NOT_APPLICABLE = "not applicable: a live endpoint has no checkpoint files here to pre-flight"
IDENTITY_TIMEOUT_S = 15.0


class EndpointKeyMissing(RuntimeError):
    """The endpoint names an API key variable that is unset or empty at run time."""


def endpoint_api_key(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> str:
    """The key from the environment variable the endpoint names (NO_KEY when it names none), registered for
    masking: the variable's name need not say it holds a secret."""
    if endpoint.api_key_env is None:
        return NO_KEY
    value = (os.environ if environ is None else environ).get(endpoint.api_key_env, "")
    if not value.strip():
        raise EndpointKeyMissing(
            f"the {endpoint.use_case.value} endpoint {endpoint.base_url} needs an API key in ${endpoint.api_key_env}, "
            f"which is unset or empty; fix: export {endpoint.api_key_env}=... before the run"
        )
    redact.register(value.strip())
    return value.strip()


def endpoint_client(
    endpoint: Endpoint, *, timeout: float, environ: Mapping[str, str] | None = None, http_client: Any = None
) -> openai.OpenAI:
    """An OpenAI client for the endpoint: no retries (a failure is seen as it happened), nothing from OPENAI_* env."""
    import openai

    # The client would otherwise add OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment to every request.
    omitted: dict[str, Any] = {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()}
    return openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint_api_key(endpoint, environ),
        timeout=timeout,
        max_retries=0,
        default_headers=omitted,
        http_client=http_client,
    )


def endpoint_context(
    endpoint: Endpoint,
    *,
    timeout: float,
    client: openai.OpenAI | None = None,
    environ: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ProbeContext:
    """The ProbeContext of a cell served by ``endpoint``: its model name, its request options in ``flags``, the
    matrix's probe settings in ``options``."""
    key = endpoint_api_key(endpoint, environ)
    return ProbeContext(
        client=client or endpoint_client(endpoint, timeout=timeout, environ=environ),
        model=endpoint.model,
        semantic=endpoint.semantic,
        timeout=timeout,
        end_of_turn=None,
        eos_token_ids=(),
        eos_mismatch_predicted=False,
        flags=dict(endpoint.options),
        base_url=endpoint.base_url,
        api_key=key,
        options=dict(options or {}),
    )


class LiveEndpoints:
    """What is asked once per run of each endpoint: its identity (per base URL and key variable) and, for several
    models behind one URL, the swap sequence. Thread-safe: xdist workers each hold their own."""

    def __init__(
        self,
        say: Callable[[str], None] = lambda line: None,
        *,
        environ: Mapping[str, str] | None = None,
        transport: Any = None,
    ) -> None:
        self.say = say
        self.environ = environ
        self.transport = transport  # an httpx transport for the identity requests (tests)
        self._identities: dict[tuple[str, str | None], Identity] = {}
        self._swaps: dict[tuple[str, tuple[str, ...]], dict[str, SwapTiming]] = {}
        self._lock = threading.Lock()

    def identity(self, endpoint: Endpoint) -> Identity:
        key = (endpoint.base_url, endpoint.api_key_env)
        with self._lock:
            if key not in self._identities:
                self.say(f"[{endpoint.base_url}] asking /v1/models, /version, /metrics (identity first)")
                self._identities[key] = check_identity(
                    endpoint.base_url,
                    endpoint_api_key(endpoint, self.environ),
                    timeout=IDENTITY_TIMEOUT_S,
                    transport=self.transport,
                )
            return self._identities[key]

    def known_identity(self, endpoint: Endpoint) -> Identity | None:
        """The identity already asked of this endpoint, if any (nothing is sent)."""
        with self._lock:
            return self._identities.get((endpoint.base_url, endpoint.api_key_env))

    def swaps(self, endpoint: Endpoint, use_cases: Sequence[UseCase], timeout: float) -> dict[str, SwapTiming]:
        """The swap sequence over the endpoint's listed models (once per endpoint); {} for a single model."""
        if len(endpoint.models) < 2:
            return {}
        key = (endpoint.base_url, endpoint.models)
        with self._lock:
            if key not in self._swaps:
                identity = self._identities.get((endpoint.base_url, endpoint.api_key_env))  # lock held: no helper
                listed = [m for m in endpoint.models if identity is None or identity.refusal(m) is None]
                kind = request_kind([u.value for u in use_cases])
                timings: dict[str, SwapTiming] = {}
                if len(listed) >= 2:
                    order = ", ".join(listed)
                    self.say(f"[{endpoint.base_url}] switching between {order}: first request after a switch vs next")
                    client = endpoint_client(endpoint, timeout=timeout, environ=self.environ)
                    found = measure_swaps(client, dict.fromkeys(listed, kind), timeout=timeout)
                    timings = {timing.model: timing for timing in found}
                self._swaps[key] = timings
            return self._swaps[key]


def probe_live(
    endpoint: Endpoint,
    *,
    key: str,
    timeout: float,
    live: LiveEndpoints,
    say: Callable[[str], None],
    use_cases: Sequence[UseCase] = (),
    options: Mapping[str, Any] | None = None,
) -> Outcome:
    """One model x use case at an endpoint this run did not start: identity, then the use case's probe (with the
    matrix's ``options:`` for it, if any)."""
    info = CellServer(key=key, external={**endpoint.to_json(), "preflight": PREFLIGHT_NOT_APPLICABLE})
    probe = PROBES.get(endpoint.use_case.value)
    if probe is None:
        message = f"no probe for use case {endpoint.use_case.value!r} in this harness version"
        return Outcome(verdict=Verdict.SKIP, message=message, server=info)
    try:
        identity = live.identity(endpoint)
    except EndpointKeyMissing as error:
        return Outcome(verdict=Verdict.ERROR, message=str(error), server=info)
    info = _with_identity(info, identity, endpoint.model)
    refusal = identity.refusal(endpoint.model)
    if refusal is not None:
        return Outcome(
            verdict=Verdict.FAIL,
            code=refusal.code,
            message=f"{endpoint.describe()}: {refusal.message}",
            evidence=refusal.evidence,
            server=info,
            stage="identity",
        )
    swap = live.swaps(endpoint, use_cases or (endpoint.use_case,), timeout).get(endpoint.model)
    if swap is not None:
        info = replace(info, external={**(info.external or {}), "swap": swap.to_json()})
    context = endpoint_context(endpoint, timeout=timeout, environ=live.environ, options=options)
    say(f"[{key}] probing {endpoint.use_case.value} at {endpoint.describe()}")
    try:
        result = probe(context)
    except EngineUnreachable as error:
        message = f"{endpoint.describe()} unreachable: {error}"
        return Outcome(
            verdict=Verdict.FAIL, code="ENDPOINT_UNREACHABLE", message=message, evidence=str(error), server=info
        )
    return Outcome(
        verdict=Verdict.PASS if result.passed else Verdict.FAIL,
        code=None if result.passed else (result.code or "PROBE_FAILED"),
        message=f"{endpoint.describe()}: {result.message}",
        evidence=result.evidence,
        checks=tuple(result.checks),
        timings={k: round(float(v), 4) for k, v in result.timings.items()},
        server=info,
    )


def _with_identity(info: CellServer, identity: Identity, model: str) -> CellServer:
    return replace(info, vllm_version=identity.version, external={**(info.external or {}), **identity.to_json(model)})


def probe_external(cell: Cell, endpoint: Endpoint, say: Callable[[str], None], live: LiveEndpoints) -> Outcome:
    """A matrix cell at its endpoint: the local checkpoint's pre-flight does not decide it (another server's model
    answers), and no vLLM boots for it."""
    return probe_live(
        endpoint,
        key=cell.server_key,
        timeout=cell.model.timeouts.probe,
        live=live,
        say=say,
        use_cases=cell.model.use_cases,
        options=cell.options,
    )


@dataclass(frozen=True)
class ModelUseCase:
    """One model x use case probed at an endpoint, with its outcome."""

    model: str
    use_case: UseCase
    outcome: Outcome


@dataclass(frozen=True)
class EndpointReport:
    """Everything ``probe_endpoint`` learnt about one endpoint."""

    base_url: str
    identity: Identity
    results: tuple[ModelUseCase, ...]
    swaps: tuple[SwapTiming, ...]
    label: str = LIVE_LABEL

    @property
    def passed(self) -> bool:
        """True only when something was probed and every model x use case passed."""
        return bool(self.results) and all(r.outcome.verdict is Verdict.PASS for r in self.results)


def probe_endpoint(
    endpoint: Endpoint,
    use_cases: Sequence[UseCase],
    *,
    timeout: float,
    say: Callable[[str], None] = lambda line: None,
    live: LiveEndpoints | None = None,
) -> EndpointReport:
    """Probe each use case for each of the endpoint's models (``endpoint.models``; its ``model`` when empty), use case
    by use case and model after model, so that several models behind the URL alternate."""
    live = live or LiveEndpoints(say)
    models = endpoint.models or (endpoint.model,)
    results: list[ModelUseCase] = []
    for use_case in use_cases:
        for model in models:
            target = replace(endpoint, use_case=use_case, model=model, models=models)
            outcome = probe_live(target, key=model, timeout=timeout, live=live, say=say, use_cases=use_cases)
            results.append(ModelUseCase(model, use_case, outcome))
    identity = live.known_identity(endpoint) or Identity(endpoint.base_url)
    swaps = live.swaps(replace(endpoint, models=models), use_cases, timeout) if identity.listed else {}
    return EndpointReport(endpoint.base_url, identity, tuple(results), tuple(swaps.values()))
