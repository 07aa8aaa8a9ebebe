"""The token ids vLLM stops generation on, predicted from the checkpoint's files with vLLM 0.32's rule, and the same
ids computed by vLLM itself in the engine python (the test that keeps the prediction honest).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checkpoint.fetch import read_json
from harness.checkpoint.tokenizer import load_vocabulary, special_tokens
from harness.engine import answer_line, run_engine_script


def _as_ids(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    return []


@dataclass(frozen=True)
class EosIds:
    ids: frozenset[int]
    tokenizer_eos: str | None
    tokenizer_eos_id: int | None
    generation_ids: tuple[int, ...]
    generation_source: str | None  # "generation_config.json: eos_token_id", "config.json: eos_token_id", ...
    unknown: str | None = None  # why the set may be incomplete (e.g. no tokenizer.json to map the eos token)


def vllm_eos_ids(path: Path, read: Callable[[Path], Any] = read_json) -> EosIds:
    """The token ids vLLM 0.32 stops generation on (without request-level stop_token_ids).

    vllm/v1/engine/input_processor.py calls ``SamplingParams.update_from_generation_config(
    model_config.try_get_generation_config(), renderer.get_eos_token_id())``: the tokenizer's ``eos_token_id`` plus
    ``eos_token_id`` of ``GenerationConfig.from_pretrained(model).to_diff_dict()``. When generation_config.json is
    absent (OSError), vllm/transformers_utils/config.py ``try_get_generation_config`` falls back to
    ``GenerationConfig.from_model_config(config)``: config.json's top-level ``eos_token_id``, else the one in its
    ``text_config`` / ``decoder`` / ``generator`` sub-config. A generation_config.json without ``eos_token_id``
    contributes nothing: config.json is then NOT consulted."""
    tokens = special_tokens(path)
    eos = tokens.get("eos_token")
    vocab = load_vocabulary(path)
    eos_id = vocab.id_of(eos) if isinstance(eos, str) else None
    unknown = None
    if isinstance(eos, str) and eos_id is None:
        unknown = f"eos_token {eos!r} has no id in tokenizer.json / tokenizer_config.json added_tokens_decoder"
    generation = read(path / "generation_config.json")
    gen_ids: list[int] = []
    source: str | None = None
    if (path / "generation_config.json").is_file():
        if isinstance(generation, dict) and "eos_token_id" in generation:
            gen_ids, source = _as_ids(generation["eos_token_id"]), "generation_config.json: eos_token_id"
    else:
        config = read(path / "config.json")
        if isinstance(config, dict):
            if config.get("eos_token_id") is not None:
                gen_ids, source = _as_ids(config["eos_token_id"]), "config.json: eos_token_id"
            else:
                for sub in ("decoder", "generator", "text_config"):
                    inner = config.get(sub)
                    if isinstance(inner, dict) and inner.get("eos_token_id") is not None:
                        gen_ids, source = _as_ids(inner["eos_token_id"]), f"config.json: {sub}.eos_token_id"
                        break
    ids = set(gen_ids)
    if eos_id is not None:
        ids.add(eos_id)
    return EosIds(frozenset(ids), eos, eos_id, tuple(gen_ids), source, unknown)


# Runs in the engine python: vLLM's own code path for the stop ids (input_processor.py), without booting a server.
_ENGINE_EOS_SCRIPT = """
import sys
from vllm import SamplingParams
from vllm.tokenizers import get_tokenizer
from vllm.transformers_utils.config import try_get_generation_config
out = {}
for path in sys.argv[1:]:
    config = try_get_generation_config(path, trust_remote_code=False)
    fields = {} if config is None else config.to_diff_dict()
    params = SamplingParams(max_tokens=16)
    params.update_from_generation_config(fields, get_tokenizer(path).eos_token_id)
    out[path] = sorted(params.all_stop_token_ids)
""" + answer_line("out")


def engine_eos_ids(paths: Sequence[Path], python: Path, *, timeout: float = 300.0) -> dict[Path, frozenset[int]]:
    """The stop ids vLLM itself computes for each checkpoint directory (its tokenizer + generation config code,
    run in the engine python; one process for all paths, since importing vLLM takes seconds). EngineError when the
    engine cannot answer."""
    answer = run_engine_script(
        python,
        _ENGINE_EOS_SCRIPT,
        *(str(p) for p in paths),
        purpose="compute vLLM's eos ids",
        timeout=timeout,
        env={"HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "ERROR"},
    )
    return {Path(k): frozenset(int(i) for i in v) for k, v in answer.items()}
