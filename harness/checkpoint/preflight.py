"""Pre-flight: every check of a checkpoint for the use cases asked, without a GPU and without a boot.

Composes the stage: resolve the checkpoint's small files (``fetch``), list its files, then the rules of ``checks`` in
an order where a more specific finding can withdraw a misleading one, collecting ``PreflightFacts`` on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from harness.checkpoint.checks import (
    check_chat,
    check_config,
    check_layout,
    check_quantize_config,
    check_task,
    check_tokenizer,
    check_use_cases,
    check_weights,
    context_length,
    dtype_of,
    effective_architecture,
    gguf_only,
    is_cross_encoder,
    is_sentence_encoder,
    mistral_tokenizer_auto,
    model_type_of,
)
from harness.checkpoint.fetch import (
    CheckpointError,
    is_zoo,
    json_problem,
    list_files,
    local_gguf_file,
    offline_mode,
    resolve_model,
    top_level_listing,
    unsafe_links,
)
from harness.checkpoint.gguf_preflight import GgufCheckpoint, preflight_gguf
from harness.checkpoint.gguf_select import split_quant_reference
from harness.checkpoint.gpu import against_gpu
from harness.checkpoint.report import FindingList, PreflightFacts, PreflightReport
from harness.engine import EngineRegistry, GpuSpec, resolve_engine_python
from harness.findings import Severity
from harness.usecases import UseCase


def preflight(
    model: str,
    *,
    use_cases: Iterable[UseCase] = (),
    revision: str | None = None,
    engine_python: Path | None = None,
    offline: bool | None = None,
    base_dir: Path | None = None,
    gpu: GpuSpec | None = None,
    flags: Mapping[str, object] | None = None,
    gguf_file: str | None = None,
    quant: str | None = None,
    tokenizer: str | None = None,
    files_only: bool = False,
) -> PreflightReport:
    """Every pre-flight check of ``model`` for ``use_cases`` (none given: chat is assumed), without a GPU.

    ``engine_python`` None means the engine environment ``resolve_engine_python()`` finds, if any. With ``gpu``,
    the checkpoint is also judged against that GPU and the vLLM ``flags`` by the installed vLLM's rules.

    A GGUF checkpoint is ``model`` naming a ``.gguf`` file, or a directory / hub repository holding GGUF files and no
    transformers weights (or any model given ``gguf_file`` or ``quant``): ``gguf_file`` names one of its files,
    ``quant`` picks one by its quant tag (Q4_K_M: in the file name, else general.file_type), and ``tokenizer`` is
    the transformers tokenizer (directory or hub id) vLLM is given with ``--tokenizer``. The plugin's own references
    ``DIR:QUANT`` and ``REPO:QUANT`` are read as ``model`` + ``quant``. ``facts.gguf_path`` is the file judged.

    ``files_only``: only the rules that read the checkpoint's own files (use cases, layout, config.json, weight files
    and indexes, quantize_config) -- no engine registry, no template rendering, no GPU, no GGUF rules: the same
    answer on every node, in milliseconds, and every ERROR it gives the whole pre-flight gives too (shards' costs)."""
    asked = tuple(dict.fromkeys(UseCase(u) for u in use_cases))
    cases = frozenset(asked)
    out = FindingList()
    facts = PreflightFacts()
    file = local_gguf_file(model, base_dir) if not is_zoo(model) else None
    if file is not None:
        listing = top_level_listing(file.parent, keep=file)
        check_use_cases(listing, cases, out)
        if files_only:  # what vLLM makes of a GGUF file depends on the engine and its plugins
            return PreflightReport(model, file, tuple(out.items), facts, asked)
        return preflight_gguf(
            GgufCheckpoint(model, file.parent, listing, file.name, None, tokenizer, revision, offline),
            asked,
            out,
            engine_python,
            gpu,
            flags or {},
        )
    reference = split_quant_reference(model) if quant is None and not is_zoo(model) else None
    name = model
    if reference is not None:
        name, quant = reference
    try:
        path = resolve_model(name, revision=revision, offline=offline, base_dir=base_dir)
    except CheckpointError as error:
        out.add(error.code, Severity.ERROR, error.message, error.evidence)
        return PreflightReport(model, None, tuple(out.items), facts, asked)
    unsafe = unsafe_links(path)
    if unsafe:
        out.add(
            "UNSAFE_PATH",
            Severity.ERROR,
            f"{len(unsafe)}{'+' if len(unsafe) >= 5 else ''} entr{'y' if len(unsafe) == 1 else 'ies'} of the "
            f"checkpoint cannot be read safely ({'; '.join(unsafe)}): symlink loops, links to directories outside "
            "it and non-regular files (FIFOs, devices) could hang or walk out of pre-flight, so none of it is "
            "read; replace them with the files",
            str(path),
        )
        return PreflightReport(model, path, tuple(out.items), facts, asked)
    listing = list_files(name, path, revision, offline_mode(offline))
    facts = replace(facts, files_source=listing.source)
    check_use_cases(listing, cases, out)
    if gguf_file is not None or quant is not None or gguf_only(listing):
        if files_only:
            return PreflightReport(model, path, tuple(out.items), facts, asked)
        checkpoint = GgufCheckpoint(
            model, path, listing, gguf_file, quant, tokenizer, revision, offline, quant_reference=reference is not None
        )
        return preflight_gguf(checkpoint, asked, out, engine_python, gpu, flags or {})
    if check_layout(listing, out):
        return PreflightReport(model, path, tuple(out.items), facts, asked)
    config, config_problem = json_problem(path / "config.json")
    registry: EngineRegistry | None = None
    if not isinstance(config, dict):
        mistral = "params.json" in listing.files
        reason = config_problem or f"is not a JSON object (a {type(config).__name__})"
        out.add(
            "CONFIG_MISSING",
            Severity.WARNING if mistral else Severity.ERROR,
            f"config.json {reason} ({listing.source}): vLLM cannot tell the architecture; "
            + (
                "params.json found: a Mistral-native layout, served with --config-format mistral"
                if mistral
                else "the download is incomplete or this is not a transformers checkpoint; re-download it"
            ),
            "config.json",
        )
        config = {}
    elif not files_only:
        if engine_python is None:
            engine_python = resolve_engine_python(None)
        registry = check_config(config, engine_python, out)
        facts = replace(
            facts,
            architecture=effective_architecture(config, registry),
            model_type=model_type_of(config),
            dtype=dtype_of(config),
            context_length=context_length(config),
            vllm=registry.label if registry is not None else None,
        )
    index_files = sorted(f for f in listing.files if "/" not in f and f.endswith(".index.json"))
    check_task(config, cases, registry, out)
    check_quantize_config(listing, path, config, flags or {}, out)
    weights = check_weights(listing, path, index_files, out, model)
    facts = replace(
        facts,
        weight_bytes=weights.weight_bytes,
        weight_files=weights.weight_files,
        parameters=weights.parameters,
        dtype=facts.dtype or weights.dtype,  # config.json names it when it can; the headers say what is stored
    )
    if files_only:
        return PreflightReport(model, path, tuple(out.items), facts, asked)
    if check_tokenizer(listing, out):
        # With no use case asked, chat is assumed -- except for a sentence-transformers encoder (a Pooling module in
        # modules.json), which vLLM serves on /v1/embeddings, and a cross-encoder (a sequence classifier), which it
        # serves on /rerank and /score: neither has a reason to carry a chat template.
        chat = check_chat(
            path,
            config,
            cases,
            not asked and not is_sentence_encoder(path) and not is_cross_encoder(config),
            registry,
            out,
            mistral_tokenizer=mistral_tokenizer_auto(listing.files),
        )
        facts = chat.into(facts)
    report = PreflightReport(model, path, tuple(out.items), facts, asked)
    return against_gpu(report, gpu, flags or {}, engine_python) if gpu is not None else report
