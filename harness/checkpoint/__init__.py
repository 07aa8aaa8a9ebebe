"""Stage 2: fetch a checkpoint and pre-flight it without a GPU -- what vLLM will refuse or get wrong, said before any
boot, with the evidence and the fix.

Pre-flight reads only small files (configs, tokenizer, templates, indexes, safetensors headers), never runs anything
shipped with a checkpoint, and reports ``Finding``s scoped to the use cases whose cells they fail, plus typed
``PreflightFacts``. Modules, in pipeline order:

- ``fetch``: resolve a ``zoo:`` member, a local directory or a hub id through the HF cache; ``fetch_weights``.
- ``safetensors``: the one safetensors header parser (truncation, parameters, weight bytes).
- ``gguf``: the one GGUF reader (header, metadata, tensor infos; bounded, no tensor data) and ``GgufFacts``.
- ``tokenizer``: special tokens and the token -> id table, read from the tokenizer files.
- ``eos``: the eos ids vLLM stops on, predicted from the files and computed by vLLM in the engine python.
- ``template``: the chat template vLLM would use, rendered in a jinja2 sandbox; its end-of-turn token.
- ``sandbox``: run a stranger's code (the template renders) in a child bounded in time and memory.
- ``report``: ``PreflightReport``, ``PreflightFacts`` and the finding collector.
- ``checks``: the rules, one ``check_*`` per aspect (layout, config and architecture, task, weights, tokenizer, chat).
- ``gpu``: ``check_gpu``, the checkpoint x a GPU x the vLLM flags, judged by the installed vLLM's rules
  (``harness.engine.rules``): dtype, quantisation, tensor parallelism, weights and KV cache memory, max-model-len,
  parser names, LoRA, kernels.
- ``reasoning``: ``against_reasoning``, a reasoning cell's --reasoning-parser x the tokenizer and chat template,
  judged by building vLLM's parsers in the engine (PARSER_UNKNOWN, REASONING_TOKENS).
- ``lora``: ``against_lora``, the ``--lora-modules`` adapters of a server x its base checkpoint x the installed
  vLLM's LoRA rules (rank vs --max-lora-rank, target modules, PEFT features vLLM refuses, base model match).
- ``gguf_select``: which GGUF file a checkpoint means (gguf_file, quant, DIR:QUANT, shards) and reading it whole.
- ``gguf_checks``: the rules of a GGUF checkpoint (the engine's GGUF support, the config vLLM reads, its template).
- ``gguf_preflight``: ``preflight_gguf``, the GGUF branch of ``preflight()`` (vLLM reads config and tokenizer from
  ``--tokenizer``, else the GGUF's directory, once the plugin is installed).
- ``preflight``: ``preflight()``, composing the above.
- ``revision``: ``resolved_revision()``: the hub commit or a local directory's content hash (the history key).
"""

from __future__ import annotations

from harness.checkpoint.checks import index_total_size, listed_weight_bytes, loaded_weight_files
from harness.checkpoint.eos import EosIds, engine_eos_ids, vllm_eos_ids
from harness.checkpoint.fetch import (
    SMALL_FILES,
    CheckpointError,
    Listing,
    fetch_weights,
    list_files,
    local_gguf_file,
    resolve_model,
)
from harness.checkpoint.gguf import GgufCorrupt, GgufError, GgufFacts, GgufFile, GgufTruncated, gguf_facts, read_gguf
from harness.checkpoint.gguf_select import boot_gguf_file, split_quant_reference
from harness.checkpoint.gpu import GpuFacts, against_gpu, check_gpu, derived_max_len, kv_bytes_per_token, runs_on
from harness.checkpoint.lora import (
    AdapterFacts,
    LoraModule,
    against_lora,
    lora_modules,
    served_lora_modules,
    wants_lora,
)
from harness.checkpoint.preflight import preflight
from harness.checkpoint.reasoning import THINK_TAG, against_reasoning
from harness.checkpoint.report import FindingList, PreflightFacts, PreflightReport
from harness.checkpoint.revision import content_hash, resolved_revision
from harness.checkpoint.safetensors import Header, expected_weight_bytes, read_header
from harness.checkpoint.template import ChatTemplateFacts, FoundTemplate, find_chat_template, render_checks

__all__ = [
    "SMALL_FILES",
    "THINK_TAG",
    "AdapterFacts",
    "ChatTemplateFacts",
    "CheckpointError",
    "EosIds",
    "FindingList",
    "FoundTemplate",
    "GgufCorrupt",
    "GgufError",
    "GgufFacts",
    "GgufFile",
    "GgufTruncated",
    "GpuFacts",
    "Header",
    "Listing",
    "LoraModule",
    "PreflightFacts",
    "PreflightReport",
    "against_gpu",
    "against_lora",
    "against_reasoning",
    "boot_gguf_file",
    "check_gpu",
    "content_hash",
    "derived_max_len",
    "engine_eos_ids",
    "expected_weight_bytes",
    "fetch_weights",
    "find_chat_template",
    "gguf_facts",
    "index_total_size",
    "kv_bytes_per_token",
    "list_files",
    "listed_weight_bytes",
    "loaded_weight_files",
    "local_gguf_file",
    "lora_modules",
    "preflight",
    "read_gguf",
    "read_header",
    "render_checks",
    "resolve_model",
    "resolved_revision",
    "runs_on",
    "served_lora_modules",
    "split_quant_reference",
    "vllm_eos_ids",
    "wants_lora",
]
