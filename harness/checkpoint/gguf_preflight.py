"""Pre-flight of a GGUF checkpoint: choose the file, read its header, ask the engine whether it serves GGUF, then
judge what vLLM will really read.

With GGUF support (``vllm-gguf-plugin``) vLLM reads config.json and the tokenizer -- so the chat template and the eos
ids -- from ``--tokenizer``, else from the GGUF's directory, and the transformers rules (``checks``) apply there.
Without it, the file is refused before anything is read (NOT_SERVABLE), and the GGUF's own metadata (its template,
rendered with its token list, against its eos/eot ids) is judged instead: what any tokenizer made from it inherits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from harness.checkpoint.checks import check_chat, check_tokenizer, context_length, dtype_of
from harness.checkpoint.engine_answer import ask_engine
from harness.checkpoint.fetch import CheckpointError, Listing, json_problem, list_files, offline_mode, resolve_model
from harness.checkpoint.gguf import gguf_facts
from harness.checkpoint.gguf_checks import (
    check_capability,
    check_context,
    check_engine,
    check_gguf_chat,
    check_plugin_config,
    check_tokenizer_match,
)
from harness.checkpoint.gguf_select import check_quant_reference, choose_gguf, read_choice
from harness.checkpoint.gpu import against_gpu, asked_max_len
from harness.checkpoint.report import FindingList, PreflightFacts, PreflightReport
from harness.checkpoint.tokenizer import load_vocabulary
from harness.engine import GGUF_PLUGIN as PLUGIN
from harness.engine import (
    EngineError,
    EngineRegistry,
    GgufSupport,
    GpuSpec,
    load_gguf_support,
    load_registry,
    resolve_engine_python,
)
from harness.findings import Severity
from harness.usecases import UseCase


@dataclass(frozen=True)
class GgufCheckpoint:
    """A GGUF reference as pre-flight was given it, with its directory resolved and listed."""

    model: str
    path: Path  # the directory holding the GGUF file(s)
    listing: Listing
    gguf_file: str | None
    quant: str | None
    tokenizer: str | None
    revision: str | None
    offline: bool | None
    quant_reference: bool = False  # the quant came from a DIR:QUANT / REPO:QUANT model reference


def _support(python: Path | None, out: FindingList) -> GgufSupport | None:
    return ask_engine(python, load_gguf_support, out, "whether the installed vLLM serves GGUF was not asked")


def _registry(python: Path | None) -> EngineRegistry | None:
    try:
        return load_registry(python) if python is not None else None
    except EngineError:
        return None  # _support already said the engine could not be asked


def _config_source(ref: GgufCheckpoint, out: FindingList) -> tuple[Path, Listing, str] | None:
    """Where vLLM reads config.json and the tokenizer: ``tokenizer`` (resolved like a model), else the GGUF's dir."""
    if ref.tokenizer is None:
        return ref.path, ref.listing, f"the GGUF's directory {ref.path}"
    try:
        path = resolve_model(ref.tokenizer, offline=ref.offline)
    except CheckpointError as error:
        out.add(error.code, Severity.ERROR, f"tokenizer {ref.tokenizer}: {error.message}", error.evidence)
        return None
    return path, list_files(ref.tokenizer, path, None, offline_mode(ref.offline)), f"tokenizer {ref.tokenizer}"


def preflight_gguf(
    ref: GgufCheckpoint,
    asked: tuple[UseCase, ...],
    out: FindingList,
    engine_python: Path | None,
    gpu: GpuSpec | None,
    flags: Mapping[str, object],
) -> PreflightReport:
    """Every pre-flight check of a GGUF checkpoint (see the module's docstring)."""
    cases = frozenset(asked)
    facts = PreflightFacts(files_source=ref.listing.source)
    choice = choose_gguf(ref.listing, ref.path, ref.gguf_file, ref.quant, out)
    if choice is None:
        return PreflightReport(ref.model, ref.path, tuple(out.items), facts, asked)
    if ref.quant_reference and ref.quant is not None and ref.listing.local:
        check_quant_reference(ref.listing, ref.quant, choice.name, out)
    facts = replace(facts, gguf_path=str(ref.path / choice.name) if ref.listing.local else choice.name)
    read = read_choice(choice, ref.listing, ref.path, out)
    python = engine_python if engine_python is not None else resolve_engine_python(None)
    if read is None:
        if not any(f.severity is Severity.ERROR for f in out.items):  # not downloaded: the engine still decides
            support = _support(python, out)
            if support is not None:
                check_engine(support, None, ref.model, out)
        return PreflightReport(ref.model, ref.path, tuple(out.items), facts, asked)
    gguf = read.gguf
    facts = replace(
        facts,
        gguf=gguf_facts(gguf, read.parameters),
        parameters=read.parameters,
        weight_bytes=read.weight_bytes,
        weight_files=len(choice.shards),
        context_length=gguf.arch_int("context_length"),
    )
    support = _support(python, out)
    served = support is not None and check_engine(support, gguf, str(ref.path / choice.name), out)
    chat_assumed = not asked
    max_len = asked_max_len(flags)
    if support is None or not served:
        # No vLLM here reads the file: judge the GGUF's own tokenizer metadata, what any tokenizer made from it
        # (transformers' GGUF loader, llama.cpp) inherits.
        note = "read from the GGUF metadata: no vLLM here serves the file" if support else "read from the GGUF"
        own = check_gguf_chat(gguf, cases, chat_assumed, out, scope_note=note)
        facts = replace(
            facts,
            eos_token_ids=own.eos_token_ids,
            eos_source=f"{gguf.path.name}: tokenizer.ggml.eos_token_id / eot_token_id",
            chat_template=own.chat_template,
            end_of_turn_id=own.end_of_turn_id,
            vllm=support.label if support is not None else None,
        )
        check_context(gguf, None, max_len, out)
        return PreflightReport(ref.model, ref.path, tuple(out.items), facts, asked)
    assert support is not None
    if gpu is not None:
        check_capability(support, gpu, out)
    source = _config_source(ref, out)
    if source is None:
        return PreflightReport(ref.model, ref.path, tuple(out.items), facts, asked)
    path, listing, label = source
    facts = replace(facts, config_source=label, vllm=support.label)
    config, problem = json_problem(path / "config.json")
    if not isinstance(config, dict):
        out.add(
            "CONFIG_MISSING",
            Severity.ERROR,
            f"config.json {problem or 'is not a JSON object'} in {label}: {PLUGIN} reads the model's config.json "
            "from --tokenizer, else from the GGUF's directory (the GGUF's own metadata is not turned into one), so "
            f"vLLM refuses it: 'Unrecognized model in {path}. Should have a `model_type` key in its config.json'; "
            "fix: tokenizer: the original transformers repository of the model",
            f"{label}: config.json",
        )
        return PreflightReport(ref.model, path, tuple(out.items), facts, asked)
    registry = _registry(python)
    arch = check_plugin_config(config, label, gguf, registry, out)
    if arch is not None and registry is not None and registry.support(arch) == "unsupported":
        out.add(
            "ARCH_UNSUPPORTED",
            Severity.ERROR,
            f"{PLUGIN} sets the architecture {arch!r}, which is not in {registry.label}'s registry: vLLM cannot "
            "load it",
            f"{label}: config.json model_type",
        )
    facts = replace(facts, architecture=arch, model_type=config.get("model_type"), dtype=dtype_of(config))
    if check_tokenizer(listing, out):
        check_tokenizer_match(gguf, load_vocabulary(path), label, out)
        chat = check_chat(path, config, cases, chat_assumed, registry, out)
        facts = chat.into(facts)
        if out.has("NO_CHAT_TEMPLATE") and gguf.string("tokenizer.chat_template"):
            out.add(
                "NO_CHAT_TEMPLATE",
                Severity.INFO,
                f"the GGUF carries a chat template (tokenizer.chat_template) that vLLM does not read with {PLUGIN}: "
                "save it as chat_template.jinja beside the tokenizer, or pass it with --chat-template",
                f"{gguf.path.name}: tokenizer.chat_template",
            )
    check_context(gguf, context_length(config), max_len if gpu is None else None, out)
    report = PreflightReport(ref.model, path, tuple(out.items), facts, asked)
    return against_gpu(report, gpu, flags, engine_python) if gpu is not None else report


__all__ = ["GgufCheckpoint", "preflight_gguf"]
