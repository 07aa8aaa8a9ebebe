"""Cells served by an external OpenAI-compatible endpoint the matrix names (tts, image_generation): the same probe,
with the same checks and verdicts, against that server; no vLLM boots for them and the result names the endpoint.

The API key is read from the environment variable the endpoint names at run time, never from the matrix, and the
openai client is built so that nothing from OPENAI_* in the environment reaches a third party.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from harness.matrix import NO_KEY, Cell, Endpoint
from harness.probes import PROBES, EngineUnreachable, ProbeContext
from harness.results import CellServer
from harness.runner.outcome import Outcome
from harness.verdicts import Verdict

if TYPE_CHECKING:
    import openai


class EndpointKeyMissing(RuntimeError):
    """The endpoint names an API key variable that is unset or empty at run time."""


def endpoint_api_key(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> str:
    """The key from the environment variable the endpoint names (NO_KEY when it names none)."""
    if endpoint.api_key_env is None:
        return NO_KEY
    value = (os.environ if environ is None else environ).get(endpoint.api_key_env, "")
    if not value.strip():
        raise EndpointKeyMissing(
            f"the {endpoint.use_case.value} endpoint {endpoint.base_url} needs an API key in ${endpoint.api_key_env}, "
            f"which is unset or empty; fix: export {endpoint.api_key_env}=... before the run"
        )
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
) -> ProbeContext:
    """The ProbeContext of a cell served by ``endpoint``: its model name, its request options in ``flags``."""
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
    )


def probe_external(cell: Cell, endpoint: Endpoint, say: Callable[[str], None]) -> Outcome:
    """A use case vLLM cannot serve, probed at the server the matrix names: the local checkpoint's pre-flight does
    not decide it (another server's model answers), and no vLLM boots for it."""
    info = CellServer(key=cell.server_key, external=endpoint.to_json())
    probe = PROBES.get(cell.use_case.value)
    if probe is None:
        message = f"no probe for use case {cell.use_case.value!r} in this harness version"
        return Outcome(verdict=Verdict.SKIP, message=message, server=info)
    try:
        context = endpoint_context(endpoint, timeout=cell.model.timeouts.probe)
    except EndpointKeyMissing as error:
        return Outcome(verdict=Verdict.ERROR, message=str(error), server=info)
    say(f"[{cell.server_key}] probing {cell.use_case.value} at {endpoint.describe()}")
    try:
        result = probe(context)
    except EngineUnreachable as error:
        message = f"{endpoint.describe()} unreachable: {error}"
        return Outcome(verdict=Verdict.FAIL, code="HTTP_ERROR", message=message, evidence=str(error), server=info)
    return Outcome(
        verdict=Verdict.PASS if result.passed else Verdict.FAIL,
        code=None if result.passed else (result.code or "PROBE_FAILED"),
        message=f"{endpoint.describe()}: {result.message}",
        evidence=result.evidence,
        checks=tuple(result.checks),
        timings={k: round(float(v), 4) for k, v in result.timings.items()},
        server=info,
    )
