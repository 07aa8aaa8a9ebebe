"""`vllm-compat probe --base-url URL --model NAME --use-case U ...`: a quick check of one running server this run did
not start, with the matrix's probes and verdicts: identity first (/v1/models must list each model), then every use
case for every model. ``--model`` twice or more: several models behind one URL, probed alternately, with the swap
sequence's timings.

Exit code 0 only when every model x use case passed; 1 otherwise; 2 for a usage mistake (a bad URL, an unset key
variable). The key is read from the variable ``--api-key-env`` names, sent as a bearer token, and masked in all
that is printed.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from harness.cli import UsageError
from harness.matrix import EndpointError, parse_live_endpoint
from harness.redact import redact
from harness.usecases import ALL_USE_CASES, UseCase

HELP = "probe a running OpenAI-compatible server (a live endpoint, not started by this run) for use cases"
DEFAULT_TIMEOUT_S = 120.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", required=True, help="the API root, e.g. http://10.0.0.5:8000/v1")
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="NAME",
        help="the served model name as /v1/models lists it; repeat for several models behind one URL",
    )
    parser.add_argument(
        "--use-case",
        action="append",
        required=True,
        choices=ALL_USE_CASES,
        metavar="U",
        help=f"a use case to probe, repeatable: {', '.join(ALL_USE_CASES)}",
    )
    parser.add_argument("--api-key-env", metavar="VAR", help="the environment variable holding the server's API key")
    parser.add_argument(
        "--no-semantic",
        action="store_true",
        help="protocol checks only (a model with random weights cannot answer right)",
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per request (default 120)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")


def run(args: argparse.Namespace) -> int:
    from harness.runner import EndpointKeyMissing, LiveEndpoints, probe_endpoint

    use_cases = [UseCase(value) for value in dict.fromkeys(args.use_case)]
    models: list[str] = list(dict.fromkeys(args.model))
    fields: dict[str, Any] = {"base_url": args.base_url}
    fields |= {"model": models[0]} if len(models) == 1 else {"models": models}
    if args.api_key_env is not None:
        fields["api_key_env"] = args.api_key_env
    try:
        endpoints = parse_live_endpoint(fields, use_cases, semantic=not args.no_semantic)
    except EndpointError as error:
        flag = f"--{error.key.replace('_', '-')}: " if error.key else ""
        raise UsageError(f"{flag}{error}") from None
    if args.api_key_env and not os.environ.get(args.api_key_env, "").strip():
        raise UsageError(f"--api-key-env {args.api_key_env}: the variable is unset or empty; fix: export it first")
    endpoint = endpoints[models[0]][use_cases[0]]
    say = (lambda line: None) if args.json else (lambda line: print(redact(line), flush=True))
    try:
        report = probe_endpoint(endpoint, use_cases, timeout=args.timeout, say=say, live=LiveEndpoints(say))
    except EndpointKeyMissing as error:
        raise UsageError(str(error)) from None
    if args.json:
        print(redact(json.dumps(_to_json(report), indent=2)))
    else:
        print(redact(_text(report)))
    return 0 if report.passed else 1


def _to_json(report: Any) -> dict[str, Any]:
    return {
        "base_url": report.base_url,
        "label": report.label,
        "passed": report.passed,
        "identity": report.identity.to_json(),
        "results": [
            {
                "model": r.model,
                "use_case": r.use_case.value,
                "verdict": r.outcome.verdict.value,
                "code": r.outcome.code,
                "message": r.outcome.message,
                "evidence": r.outcome.evidence,
                "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in r.outcome.checks],
            }
            for r in report.results
        ],
        "swaps": [swap.to_json() for swap in report.swaps],
    }


def _text(report: Any) -> str:
    identity = report.identity
    lines = [
        f"{report.base_url}: {report.label}",
        f"  /v1/models lists: {', '.join(identity.names) or '(nothing)'}",
        f"  /version: {identity.version or 'absent'}; /metrics: "
        + (
            "absent"
            if identity.metrics_models is None
            else f"present (model_name labels: {', '.join(identity.metrics_models) or 'none'})"
        ),
    ]
    for result in report.results:
        outcome = result.outcome
        code = f" {outcome.code}" if outcome.code else ""
        lines.append(f"{outcome.verdict.value}{code}  {result.model}  {result.use_case.value}: {outcome.message}")
    for swap in report.swaps:
        lines.append(
            f"  swap {swap.model}: answered {swap.answered}/{swap.asked}; first request after a switch "
            f"{_seconds(swap.first_median_s)}, following {_seconds(swap.following_median_s)} (median)"
            + (f"; error: {swap.error}" if swap.error else "")
        )
    passed = sum(r.outcome.verdict.value == "PASS" for r in report.results)
    lines.append(f"{passed} of {len(report.results)} model x use case passed")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"
