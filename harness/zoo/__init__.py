"""The zoo: tiny checkpoints, built locally, that reproduce real vLLM failures (the canaries).

Every member is written from numpy, safetensors-format bytes and a tokenizer trained on a built-in corpus: no hub,
no torch, no transformers. The bytes are deterministic, so a member built twice is identical and ``ZOO_VERSION``
names its content. A matrix names a member as ``zoo:<member>``; pre-flight builds it on first use under the cache
root (``ensure_member``); ``vllm-compat zoo`` writes them all (``build_zoo``).

Modules, shared parts first:
  writers.py     JSON files, safetensors bytes, deterministic "random" weights
  bpe.py         the one BPE trainer, and the tokenizer-file helpers every member shares
  member.py      ZooMember, ZOO_VERSION, the cache directory, atomic and locked writing
  qwen2.py       the bigram Qwen2 text model (ChatML tokenizer, config, weights) chat-speaking members build on
  text.py        the text canaries: chat-ok and the broken checkpoints real downloads turn out to be
  tools.py       tool-call: a bigram whose answer is one hermes tool call
  reasoning.py   think (thinks in <think> tokens first), think-tags-unknown (tags no reasoning parser knows)
  vision.py      tiny-llava, tiny-llava-next-video
  audio.py       tiny-whisper
  embeddings.py  tiny-embed, tiny-rerank (a cross-encoder), and all-MiniLM-L6-v2 linked from its PyPI package
  lora.py        LoRA adapters for chat-ok (PEFT format): lora-canary (rank 8), lora-rank-32 (over the default limit)
  real.py        real language models from PyPI (SmolLM2-135M-Instruct, Gemma 3 270M): each as its GGUF and dequantized

Adding a member is one builder function and one ``ZooMember`` entry in its module's ``MEMBERS``; a new module joins
the zoo in ``MEMBERS`` below. Importing a module registers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.zoo import audio, embeddings, lora, real, reasoning, text, tools, vision
from harness.zoo.embeddings import MiniLMMissing
from harness.zoo.lora import ADAPTER_BASES
from harness.zoo.member import ZOO_VERSION, ZooMember, default_zoo_dir, ensure_written, write_member
from harness.zoo.real import REAL_MODELS, RealModelError, real_gguf_path

MEMBERS: dict[str, ZooMember] = {
    name: member
    for module in (text, tools, reasoning, vision, audio, embeddings, lora, real)
    for name, member in module.MEMBERS.items()
}

ZOO_PREFIX = "zoo:"


def zoo_member_name(model_id: str) -> str | None:
    """The member a ``zoo:<member>`` model id names; None for any other id (hub id, local path)."""
    return model_id[len(ZOO_PREFIX) :] if model_id.startswith(ZOO_PREFIX) else None


def _lookup(name: str) -> ZooMember:
    """The member called ``name``; KeyError naming the known members otherwise."""
    try:
        return MEMBERS[name]
    except KeyError:
        raise KeyError(f"unknown zoo member {name!r}: known members are {', '.join(MEMBERS)}") from None


def build_member(name: str, directory: Path) -> Path:
    """Write member ``name`` as ``directory/name``, replacing any previous one atomically; return its path."""
    return write_member(_lookup(name), directory)


def build_zoo(directory: Path, members: Iterable[str] | None = None) -> dict[str, Path]:
    """Build the named members (default: all) under ``directory``; unknown names fail before anything is written."""
    names = list(MEMBERS) if members is None else list(dict.fromkeys(members))
    chosen = [_lookup(name) for name in names]
    return {member.name: write_member(member, directory) for member in chosen}


def ensure_member(name: str) -> Path:
    """The member in the default zoo directory, built only if absent (parallel processes wait for one builder)."""
    return ensure_written(_lookup(name), default_zoo_dir())


__all__ = [
    "ADAPTER_BASES",
    "MEMBERS",
    "REAL_MODELS",
    "ZOO_PREFIX",
    "ZOO_VERSION",
    "MiniLMMissing",
    "RealModelError",
    "ZooMember",
    "build_member",
    "build_zoo",
    "default_zoo_dir",
    "ensure_member",
    "real_gguf_path",
    "zoo_member_name",
]
