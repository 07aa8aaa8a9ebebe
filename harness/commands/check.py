"""`vllm-compat check MODEL`: pre-flight one checkpoint without a GPU (files, tokenizer, chat template, eos, arch)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.findings import Severity
from harness.usecases import ALL_USE_CASES, UseCase

if TYPE_CHECKING:
    from harness.checkpoint import PreflightFacts, PreflightReport

HELP = "pre-flight a checkpoint (hub id, local directory, .gguf file or zoo:<member>) without a GPU"

EPILOG = """\
Without --use-case, chat is assumed: a missing or broken chat template is then an error. Pass the use cases the
model is meant for (e.g. --use-case embeddings) to judge it for those only; tts and image_generation are never
servable by vLLM. Only small files are downloaded (configs, tokenizer, templates, indexes), into the normal HF cache;
HF_HUB_OFFLINE=1 or --offline reads the cache only. Exit status: 0 no error finding, 1 error findings, 2 usage error.

With --gpu the checkpoint is also judged against that GPU and the --flag values, by the installed vLLM's own rules
(read from the engine, cached per vLLM version): dtype, quantisation capability, tensor-parallel divisibility,
weights and KV cache against total memory x gpu-memory-utilization, max-model-len, parser names, LoRA, kernels.

A GGUF checkpoint is a .gguf file, or a directory / hub repository holding GGUF files (choose one with --gguf-file or
--quant); --tokenizer names the transformers tokenizer vLLM would get. Its header is read without tensor data; whether
the installed vLLM serves GGUF at all (vllm-gguf-plugin) is asked of the engine.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "model", metavar="MODEL_OR_PATH", help="hub id (org/name), local directory, .gguf file, or zoo:<member>"
    )
    parser.add_argument("--gguf-file", help="the GGUF file to judge in a directory or repository holding several")
    parser.add_argument("--quant", help="choose the GGUF file by its quant tag, e.g. Q4_K_M")
    parser.add_argument("--tokenizer", help="the transformers tokenizer (directory or hub id) vLLM gets with a GGUF")
    parser.add_argument(
        "--use-case",
        dest="use_cases",
        action="append",
        default=[],
        choices=ALL_USE_CASES,
        metavar="USE_CASE",
        help=f"a use case to judge the model for; repeatable ({', '.join(ALL_USE_CASES)}); default: chat",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--revision", help="hub revision (branch, tag or commit)")
    parser.add_argument("--offline", action="store_true", default=None, help="read the HF cache only (no network)")
    parser.add_argument("--engine-python", help="the engine environment's python (default: the built one, if any)")
    parser.add_argument(
        "--gpu",
        metavar="auto|NAME|SPEC",
        help="also judge the checkpoint against a GPU: auto (ask NVML), a known name (T4, L4, A100-80GB, H100, "
        "RTX 5090, ...) or sm_<capability>:<memory> such as sm_89:24GiB",
    )
    parser.add_argument(
        "--flag",
        dest="flags",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a vLLM flag the server would get, for the GPU-side checks; repeatable "
        "(e.g. --flag tensor-parallel-size=2 --flag dtype=bfloat16 --flag enable-lora)",
    )


def run(args: argparse.Namespace) -> int:
    from harness import zoo
    from harness.checkpoint import preflight, split_quant_reference
    from harness.cli import UsageError
    from harness.engine import GpuSpecError, resolve_engine_python, resolve_gpu

    model: str = args.model
    member = zoo.zoo_member_name(model)
    if member is not None:
        if member not in zoo.MEMBERS:
            raise UsageError(f"{model}: unknown zoo member; known: {', '.join(zoo.MEMBERS)}")
    elif (
        model.startswith(("/", ".", "~"))
        and not Path((split_quant_reference(model) or (model,))[0]).expanduser().exists()
    ):
        raise UsageError(
            f"{model}: no such directory or file (a local model is a directory holding config.json, or a .gguf file)"
        )
    engine = resolve_engine_python(args.engine_python)
    if args.engine_python and (engine is None or not engine.exists()):
        raise UsageError(f"--engine-python {args.engine_python}: no such file")
    gpu = None
    if args.gpu:
        try:
            gpu = resolve_gpu(args.gpu)
        except GpuSpecError as error:
            raise UsageError(str(error)) from None
    flags = parse_flags(args.flags)
    if flags and gpu is None:
        raise UsageError("--flag only informs the GPU-side checks: pass --gpu too (e.g. --gpu L4)")
    report = preflight(
        model,
        use_cases=[UseCase(u) for u in args.use_cases],
        revision=args.revision,
        engine_python=engine,
        offline=args.offline,
        gpu=gpu,
        flags=flags,
        gguf_file=args.gguf_file,
        quant=args.quant,
        tokenizer=args.tokenizer,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=False))
    else:
        _print(report)
    return 0 if report.verdict == "ok" else 1


def parse_flags(items: list[str]) -> dict[str, object]:
    """``--flag k=v`` values as a flags mapping; a bare ``k`` is a switch (True)."""
    from harness.cli import UsageError

    flags: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise UsageError(f"--flag {item!r}: expected KEY=VALUE (e.g. tensor-parallel-size=2) or a switch KEY")
        flags[key] = value.strip() if sep else True
    return flags


def _fact(value: object) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, tuple):
        return "{" + ", ".join(str(v) for v in value) + "}"
    return str(value)


def _token(text: str | None, token_id: int | None) -> str:
    return "none" if token_id is None else f"{token_id} {text!r}" if text is not None else str(token_id)


def _gpu_lines(report: PreflightReport) -> list[tuple[str, str]]:
    gpu = report.gpu
    if gpu is None:
        return []
    gib = 1 << 30
    rows = [("gpu", f"{gpu.gpu.label} [{gpu.gpu.source}]"), ("gpu_dtype", _fact(gpu.dtype))]
    if gpu.weight_bytes_per_gpu is not None:
        rows.append(("weights_per_gpu", f"{gpu.weight_bytes_per_gpu / gib:.2f} GiB of {gpu.budget_bytes / gib:.2f}"))
    if gpu.kv_bytes_per_token is not None:
        rows.append(("kv_bytes_per_token", str(gpu.kv_bytes_per_token)))
    rows.append(("max_model_len", _fact(gpu.max_model_len)))
    return rows


def _lines(facts: PreflightFacts) -> list[tuple[str, str]]:
    rows = [
        ("architecture", _fact(facts.architecture)),
        ("dtype", _fact(facts.dtype)),
        ("parameters", _fact(facts.parameters)),
        ("weight_bytes", _fact(facts.weight_bytes)),
        ("context_length", _fact(facts.context_length)),
        ("eos_token_ids", _fact(facts.eos_token_ids)),
    ]
    gguf = facts.gguf
    if gguf is not None:
        types = ", ".join(f"{name} x{count}" for name, count in gguf.tensor_types.items())
        rows += [
            ("gguf", f"{gguf.file} v{gguf.version} {_fact(gguf.architecture)} {_fact(gguf.file_type)} ({types})"),
            (
                "gguf_shape",
                f"layers={_fact(gguf.block_count)} heads={_fact(gguf.head_count)}/{_fact(gguf.head_count_kv)} "
                f"head_dim={_fact(gguf.head_dim)} sliding_window={_fact(gguf.sliding_window)}",
            ),
            (
                "gguf_tokens",
                f"{_fact(gguf.tokenizer_model)} vocab={_fact(gguf.vocab_size)} "
                f"bos={_token(gguf.bos_token, gguf.bos_token_id)} eos={_token(gguf.eos_token, gguf.eos_token_id)} "
                f"eot={_token(gguf.eot_token, gguf.eot_token_id)} "
                f"chat_template={'yes' if gguf.chat_template else 'no'}",
            ),
        ]
    if facts.config_source is not None:
        rows.append(("config_source", facts.config_source))
    template = facts.chat_template
    if template is not None:
        rows.append(
            (
                "chat_template",
                f"source={_fact(template.source)} renders={template.renders} "
                f"end_of_turn={_fact(template.end_of_turn)} system={_fact(template.supports_system)} "
                f"tools={_fact(template.supports_tools)}",
            )
        )
    return rows


def _print(report: PreflightReport) -> None:
    verdict = report.verdict
    findings = report.findings
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        console = Console()
        colour = "green" if verdict == "ok" else "red"
        console.print(f"[bold]{report.model}[/bold]  verdict: [{colour}]{verdict}[/{colour}]")
        table = Table(show_header=True, header_style="bold")
        for column in ("severity", "code", "message", "evidence"):
            table.add_column(column, overflow="fold")
        styles = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
        for f in findings:
            table.add_row(f"[{styles[f.severity]}]{f.severity.value}[/]", f.code, f.message, f.evidence)
        if findings:
            console.print(table)
        facts = Table(show_header=False, box=None)
        for key, value in _lines(report.facts) + _gpu_lines(report):
            facts.add_row(key, value)
        console.print(facts)
        return
    print(f"{report.model}: {verdict}")
    for f in findings:
        print(f"{f.severity.value:<7} {f.code}: {f.message} [{f.evidence}]")
    for key, value in _lines(report.facts) + _gpu_lines(report):
        print(f"  {key}: {value}")
