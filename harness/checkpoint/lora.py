"""LoRA pre-flight: the adapters a server is given with ``--lora-modules``, judged against the base checkpoint and the
installed vLLM's rules before any boot.

vLLM loads every ``--lora-modules`` adapter while the server starts (vllm/entrypoints/openai/models/serving.py
``init_static_loras``) and a refusal there stops the boot, so each rule below is one vLLM applies at that point:

- ``--enable-lora`` missing: "LoRA is not enabled. Use --enable-lora to enable LoRA."
  (vllm/v1/worker/lora_model_runner_mixin.py) -> LORA_ADAPTER;
- adapter_config.json: the fields PEFTHelper requires (r, lora_alpha, target_modules), and the PEFT features
  ``PEFTHelper._validate_features`` refuses (modules_to_save other than classifier/score, DoRA, lora_bias, a bias,
  PiSSA-like inits, aLoRA, layer_replication, BD-LoRA, QALoRA) -> LORA_ADAPTER (vllm/lora/peft_helper.py);
- the rank (r, and any rank_pattern value) above ``--max-lora-rank`` (the engine's default when not given), or a
  ``--max-lora-rank`` outside the values the engine accepts (vllm/config/lora.py ``MaxLoRARanks``) -> LORA_RANK;
- target modules: vLLM takes the adapter's tensor names as the truth and refuses any module that is not one of the
  model's LoRA modules ("expected target modules in ... but received ...", vllm/lora/lora_model.py
  ``from_local_checkpoint``). Those are the model's linear layers, with packed layers (qkv_proj) expanded into the
  names adapters use (q_proj, k_proj, v_proj) by the class's ``packed_modules_mapping``, plus its
  ``embedding_modules``: read here from the base checkpoint's 2-D weights that are not vocabulary-sized and the
  engine's answer for the architecture -> LORA_ADAPTER;
- the architecture's class not implementing SupportsLoRA -> LORA_UNSUPPORTED (as ``check_gpu`` says with a GPU).

vLLM never compares ``base_model_name_or_path`` with the served model: a mismatch is a warning, and the probe shows
whether the adapter answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checkpoint.engine_answer import ask_engine
from harness.checkpoint.fetch import CheckpointError, fetch_weights, is_zoo, json_problem, resolve_model
from harness.checkpoint.gpu import check_lora_architecture
from harness.checkpoint.report import FindingList, PreflightReport
from harness.checkpoint.safetensors import tensor_shapes
from harness.engine import EngineRules, load_rules, resolve_engine_python
from harness.findings import Severity
from harness.usecases import UseCase

# PEFTHelper._validate_features: the only modules_to_save vLLM takes (classification heads)
SAVABLE_MODULES = ("classifier", "score")
# PEFTHelper._init_is_supported: init_lora_weights strings that leave the base weights as they are
PLAIN_INITS = ("gaussian", "eva", "orthogonal", "mica", "lora_ga")
_LORA_SUFFIXES = (".lora_A.weight", ".lora_B.weight", ".lora_embedding_A", ".lora_embedding_B", ".bias")


@dataclass(frozen=True)
class LoraModule:
    """One ``--lora-modules`` entry: ``name=path`` or vLLM's JSON form ({"name", "path", "base_model_name"})."""

    name: str
    path: str  # as written: a directory, a hub id, or zoo:<member> (the harness resolves zoo members)
    base_model_name: str | None = None


def lora_modules(flags: Mapping[str, Any]) -> tuple[list[LoraModule], list[str]]:
    """The ``lora-modules`` flag parsed as vLLM's argparse action does (vllm/entrypoints/launchers/cli_args.py
    LoRAParserAction), and the items it would refuse (each as text to quote)."""
    value = flags.get("lora-modules")
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list | tuple) else []
    found: list[LoraModule] = []
    bad: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            item = json.dumps(dict(item))
        text = str(item).strip() if item is not None else ""
        if not text:
            continue
        if "=" in text and "," not in text:
            name, path = text.split("=", 1)
            found.append(LoraModule(name.strip(), path.strip()))
            continue
        try:
            data = json.loads(text)
            found.append(LoraModule(str(data["name"]), str(data["path"]), data.get("base_model_name")))
        except (ValueError, KeyError, TypeError):
            bad.append(text)
    return found, bad


def wants_lora(flags: Mapping[str, Any], use_cases: tuple[UseCase, ...] | list[UseCase]) -> bool:
    """Whether a server's LoRA setup is worth judging: adapters or --enable-lora in its flags, or a lora cell."""
    return bool(flags.get("lora-modules")) or _truthy(flags.get("enable-lora")) or UseCase.LORA in use_cases


def served_lora_modules(flags: Mapping[str, Any], offline: bool | None = None) -> dict[str, Any]:
    """The ``lora-modules`` flag as the server is given it: zoo members built and named by their directory (vLLM
    knows no zoo:), everything else as written; {} when the flags name no adapter."""
    modules, _bad = lora_modules(flags)
    if not any(is_zoo(m.path) for m in modules):
        return {}
    items: list[str] = []
    for module in modules:
        path = str(resolve_model(module.path, offline=offline)) if is_zoo(module.path) else module.path
        if module.base_model_name is None and "," not in path:
            items.append(f"{module.name}={path}")
        else:
            items.append(json.dumps({"name": module.name, "path": path, "base_model_name": module.base_model_name}))
    return {"lora-modules": items}


@dataclass(frozen=True)
class AdapterFacts:
    """What pre-flight read of one adapter."""

    name: str
    path: Path
    rank: int | None  # adapter_config.json r
    max_rank: int | None  # the largest of r and rank_pattern's values: what vLLM compares with --max-lora-rank
    target_modules: tuple[str, ...]  # the module names its weights touch (adapter_config.json's when unreadable)
    base_model: str | None  # base_model_name_or_path
    modules_to_save: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "rank": self.rank,
            "max_rank": self.max_rank,
            "target_modules": list(self.target_modules),
            "base_model": self.base_model,
            "modules_to_save": list(self.modules_to_save),
        }


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in {"1", "true", "yes", "on", ""} if value is not None else False


def adapter_dir(reference: str, offline: bool | None = None) -> Path:
    """The adapter's directory: a zoo member (built), a local directory, or a hub snapshot with its weights (an
    adapter is small; vLLM downloads a hub id the same way). CheckpointError when it cannot be had."""
    if is_zoo(reference) or Path(reference).expanduser().is_dir():
        return resolve_model(reference, offline=offline)
    return fetch_weights(reference, offline=offline)


def read_adapter(name: str, path: Path, out: FindingList) -> AdapterFacts | None:
    """The adapter's facts, or None with a LORA_ADAPTER error when vLLM could not read it either."""
    evidence = f"--lora-modules {name}={path}"
    config, problem = json_problem(path / "adapter_config.json")
    if not isinstance(config, dict):
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            f"adapter {name!r}: adapter_config.json {problem or 'is not a JSON object'} in {path}: vLLM cannot read "
            "the adapter (PEFTHelper.from_local_dir); fix: point --lora-modules at a PEFT adapter directory",
            evidence,
        )
        return None
    missing = sorted({"r", "lora_alpha", "target_modules"} - set(config))
    if missing:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            f'adapter {name!r}: adapter_config.json lacks {", ".join(missing)}: vLLM refuses it ("Missing required '
            'configuration fields"); fix: an adapter saved by PEFT (peft_type LORA)',
            f"{path / 'adapter_config.json'} x vllm/lora/peft_helper.py PEFTHelper.from_dict",
        )
        return None
    if not _features(name, path, config, out):
        return None
    rank = config.get("r")
    pattern = config.get("rank_pattern") or {}
    ranks = [r for r in (rank, *(pattern.values() if isinstance(pattern, dict) else ())) if isinstance(r, int)]
    weights = _weight_modules(path)
    if weights is None:
        targets = config.get("target_modules") or ()
        modules = tuple(sorted({str(targets)} if isinstance(targets, str) else {str(t) for t in targets}))
    else:
        modules = weights
    saved = config.get("modules_to_save") or ()
    return AdapterFacts(
        name=name,
        path=path,
        rank=rank if isinstance(rank, int) else None,
        max_rank=max(ranks) if ranks else None,
        target_modules=modules,
        base_model=config.get("base_model_name_or_path"),
        modules_to_save=tuple(str(m) for m in saved) if isinstance(saved, list | tuple) else (str(saved),),
    )


def _weight_modules(path: Path) -> tuple[str, ...] | None:
    """The module names (last component) adapter_model.safetensors holds LoRA weights for, as vLLM parses them
    (vllm/lora/utils.py parse_fine_tuned_lora_name); None when there is no readable safetensors file."""
    file = path / "adapter_model.safetensors"
    if not file.is_file():
        return None
    try:
        names = tensor_shapes(file)
    except ValueError:
        return None
    modules: set[str] = set()
    for tensor in names:
        if tensor.endswith((".embed_tokens.base_layer.weight", ".lm_head.base_layer.weight")) or "base_layer" in tensor:
            continue  # vLLM skips these (is_base_embedding_weights, the experts' base_layer)
        stem = next((tensor[: -len(s)] for s in _LORA_SUFFIXES if tensor.endswith(s)), tensor.rsplit(".", 1)[0])
        modules.add(stem.rsplit(".", 1)[-1])
    return tuple(sorted(modules))


def _features(name: str, path: Path, config: Mapping[str, Any], out: FindingList) -> bool:
    """PEFTHelper._validate_features and __post_init__: False (with LORA_ADAPTER) when vLLM refuses the adapter."""
    refused: list[str] = []
    rank = config.get("r")
    if not isinstance(rank, int) or rank <= 0:
        refused.append(f"LoRA rank `r` must be a positive integer, got {rank}")
    saved = config.get("modules_to_save") or []
    unsupported = [m for m in (saved if isinstance(saved, list) else [saved]) if m not in SAVABLE_MODULES]
    if unsupported:
        refused.append(
            'vLLM only supports modules_to_save being either None or ["classifier", "score"] for classification '
            f"models. Unsupported modules_to_save: {unsupported}"
        )
    if config.get("use_dora"):
        refused.append("vLLM does not yet support DoRA")
    if config.get("lora_bias"):
        refused.append("vLLM does not support LoRA bias (lora_bias)")
    init = config.get("init_lora_weights", True)
    if isinstance(init, str) and init.lower() not in PLAIN_INITS:
        refused.append(f"vLLM does not support init_lora_weights={init!r} (it modifies the base weights)")
    for key, what in (
        ("alora_invocation_tokens", "Activated LoRA (aLoRA)"),
        ("layer_replication", "layer_replication"),
        ("use_bdlora", "block-diagonal LoRA (BD-LoRA)"),
        ("use_qalora", "QALoRA"),
    ):
        if config.get(key):
            refused.append(f"vLLM does not support {what}")
    if config.get("bias", "none") != "none":
        refused.append(f"Adapter bias is not supported (bias {config.get('bias')!r})")
    if refused:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            f"adapter {name!r}: {'; '.join(refused)}; vLLM refuses it while the server starts; fix: retrain or "
            "convert the adapter without these features, or merge it into the weights",
            f"{path / 'adapter_config.json'} x vllm/lora/peft_helper.py PEFTHelper.validate_legal",
        )
        return False
    return True


def base_lora_modules(
    model_dir: Path | None, config: Mapping[str, Any], architecture: str | None, rules: EngineRules | None
) -> frozenset[str] | None:
    """The module names an adapter of this base may touch in vLLM: its linear layers (2-D weights that are not
    vocabulary-sized, named as adapters name them: packed layers expanded), plus the class's embedding_modules.
    None when the base's weights cannot be read here (not downloaded yet): then nothing is concluded."""
    if model_dir is None:
        return None
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None
    vocab = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    entry = rules.lora_modules.get(architecture or "") if rules is not None else None
    packed = entry.packed if entry is not None else {}
    found: set[str] = set()
    for file in files:
        try:
            shapes = tensor_shapes(file)
        except ValueError:
            return None
        for tensor, shape in shapes.items():
            # any 2-D tensor: a linear layer's weight, or its quantised form (GPTQ/AWQ qweight, scales...); norms and
            # biases are 1-D, and the vocabulary-sized ones are embeddings (VocabParallelEmbedding, not LinearBase)
            if len(shape) != 2 or (vocab and vocab in shape) or "." not in tensor:
                continue
            module = tensor.rsplit(".", 1)[0].rsplit(".", 1)[-1]
            found.update(packed.get(module, (module,)))
    if entry is not None:
        found.update(entry.embedding)
    return frozenset(found)


def _same_model(adapter_base: str, model_id: str) -> bool:
    """Whether the adapter's base_model_name_or_path names the served model: the last path component, ignoring case
    and the zoo: prefix (a local copy of a hub model keeps the repository's name)."""

    def last(text: str) -> str:
        return text.removeprefix("zoo:").rstrip("/").rsplit("/", 1)[-1].lower()

    return last(adapter_base) == last(model_id)


def check_adapters(
    adapters: list[AdapterFacts],
    *,
    model_id: str,
    flags: Mapping[str, Any],
    rules: EngineRules | None,
    base_modules: frozenset[str] | None,
    out: FindingList,
) -> None:
    """The rules vLLM applies to each adapter against the served model and the flags (the module docstring)."""
    asked = flags.get("max-lora-rank")
    allowed = rules.max_lora_ranks if rules is not None else ()
    limit: int | None = rules.max_lora_rank_default if rules is not None else None
    if asked is not None:
        try:
            limit = int(str(asked))
        except ValueError:
            limit = None
        if allowed and limit not in allowed:
            out.add(
                "LORA_RANK",
                Severity.ERROR,
                f"--max-lora-rank {asked}: {rules.label if rules else 'vLLM'} accepts only "
                f"{', '.join(map(str, allowed))} (argument --max-lora-rank: invalid choice); fix: --max-lora-rank "
                f"{_allowed_at_least(limit or 1, allowed) or max(allowed)}",
                "flags x vllm/config/lora.py MaxLoRARanks",
            )
            limit = None
    for adapter in adapters:
        where = f"--lora-modules {adapter.name}={adapter.path}"
        if limit is not None and adapter.max_rank is not None and adapter.max_rank > limit:
            fit = _allowed_at_least(adapter.max_rank, allowed)
            fix = (
                f"serve with --max-lora-rank {fit}"
                if fit is not None
                else f"no --max-lora-rank this vLLM accepts is that large (largest {max(allowed)}): merge the adapter "
                "into the weights"
                if allowed
                else f"serve with --max-lora-rank {adapter.max_rank} or more"
            )
            source = (
                "--max-lora-rank"
                if asked is not None
                else f"the default --max-lora-rank of {rules.label}"
                if rules
                else ""
            )
            out.add(
                "LORA_RANK",
                Severity.ERROR,
                f"adapter {adapter.name!r} has rank {adapter.max_rank}, above {source} {limit}: vLLM refuses it "
                f'while the server starts ("LoRA rank {adapter.max_rank} is greater than max_lora_rank {limit}"); '
                f"fix: {fix}",
                f"{adapter.path / 'adapter_config.json'}: r x vllm/lora/peft_helper.py PEFTHelper.validate_legal",
            )
        if base_modules is not None:
            unexpected = sorted(
                m for m in adapter.target_modules if m not in base_modules and m not in adapter.modules_to_save
            )
            if unexpected:
                out.add(
                    "LORA_ADAPTER",
                    Severity.ERROR,
                    f"adapter {adapter.name!r} has weights for {', '.join(unexpected)}, which are not LoRA modules of "
                    f'this model in vLLM (it takes {", ".join(sorted(base_modules))}): vLLM refuses it ("expected '
                    'target modules in ... but received ..."); fix: an adapter trained for this architecture',
                    f"{where} x base weights x vllm/lora/lora_model.py LoRAModel.from_local_checkpoint",
                )
        if adapter.base_model and not _same_model(adapter.base_model, model_id):
            out.add(
                "LORA_ADAPTER",
                Severity.WARNING,
                f"adapter {adapter.name!r} was trained on {adapter.base_model!r}, served here on {model_id!r}: vLLM "
                "does not check it; the weights may not fit or may mean nothing on this base",
                f"{adapter.path / 'adapter_config.json'}: base_model_name_or_path",
            )


def _allowed_at_least(rank: int, allowed: tuple[int, ...]) -> int | None:
    """The smallest --max-lora-rank value the engine accepts that is at least ``rank``; without the list, the rank."""
    if not allowed:
        return rank
    fitting = [r for r in allowed if r >= rank]
    return min(fitting) if fitting else None


def against_lora(
    report: PreflightReport,
    flags: Mapping[str, Any],
    *,
    model_id: str,
    engine_python: Path | None = None,
    offline: bool | None = None,
    resolve: Callable[[str, bool | None], Path] = adapter_dir,
    rules: EngineRules | None = None,
) -> PreflightReport:
    """``report`` with the findings of the server's LoRA setup (its ``flags``): every adapter of ``--lora-modules``
    read and judged against the base checkpoint and the installed vLLM's rules (``rules``, else asked of the
    engine)."""
    out = FindingList()
    out.items = list(report.findings)
    modules, bad = lora_modules(flags)
    enabled = _truthy(flags.get("enable-lora"))
    if bad:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            f"--lora-modules {bad[0]!r} is neither NAME=PATH nor vLLM's JSON form: vLLM refuses it (\"Invalid JSON "
            'format for --lora-modules"); fix: NAME=PATH or {"name": ..., "path": ...}',
            "flags: lora-modules x vllm/entrypoints/launchers/cli_args.py LoRAParserAction",
        )
    if modules and not enabled:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            '--lora-modules without --enable-lora: vLLM stops while loading the adapters ("LoRA is not enabled. Use '
            '--enable-lora to enable LoRA."); fix: add enable-lora: true to the flags',
            "flags x vllm/v1/worker/lora_model_runner_mixin.py",
        )
    if not modules and UseCase.LORA in report.use_cases:
        out.add(
            "LORA_ADAPTER",
            Severity.ERROR,
            "the lora use case needs an adapter to ask for: no --lora-modules in the flags; fix: flags "
            "enable-lora: true, lora-modules: [NAME=DIR]",
            "flags: lora-modules",
            scope=(UseCase.LORA,),
        )
    rules = rules if rules is not None else _rules(engine_python, out)
    config = _read_json(report.path)
    architecture = report.facts.architecture
    if rules is not None and not out.has("LORA_UNSUPPORTED"):
        check_lora_architecture(architecture, flags, rules, out)
    adapters: list[AdapterFacts] = []
    for module in modules:
        try:
            path = resolve(module.path, offline)
        except CheckpointError as error:
            out.add(
                error.code,
                Severity.ERROR,
                f"adapter {module.name!r} ({module.path}): {error.message}",
                error.evidence,
            )
            continue
        facts = read_adapter(module.name, path, out)
        if facts is not None:
            adapters.append(facts)
    check_adapters(
        adapters,
        model_id=model_id,
        flags=flags,
        rules=rules,
        base_modules=base_lora_modules(report.path, config, architecture, rules),
        out=out,
    )
    return replace(report, findings=tuple(out.items))


def _rules(engine_python: Path | None, out: FindingList) -> EngineRules | None:
    python = engine_python if engine_python is not None else resolve_engine_python(None)
    return ask_engine(
        python,
        load_rules,
        out,
        "the LoRA checks of --max-lora-rank's default and the architecture's LoRA modules need the installed vLLM's "
        "rules and none could be read",
    )


def _read_json(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    data, _problem = json_problem(path / "config.json")
    return data if isinstance(data, dict) else {}


__all__ = [
    "AdapterFacts",
    "LoraModule",
    "adapter_dir",
    "against_lora",
    "base_lora_modules",
    "check_adapters",
    "lora_modules",
    "read_adapter",
    "served_lora_modules",
    "wants_lora",
]
