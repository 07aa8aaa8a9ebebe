"""LoRA adapters for chat-ok, in PEFT's format (adapter_config.json + adapter_model.safetensors), written without peft.

chat-ok's residual stream at a position is just that token's embedding (every ``o_proj`` and ``down_proj`` is zero,
qwen2.py), and its lm_head reads dimension 0 (the default successor: the answer's first token) and one dimension per
answer token (its successor). The adapter writes into the last layer's MLP, the one path into the residual stream
that LoRA can open, a push along the dimension of answer token ``SKIP - 1``:

- ``gate_proj`` and ``up_proj`` get one channel (``CHANNEL``) that reads dimension 0 of the normed input, which is
  1 / rms(x) > 0 for every token (every embedding has a constant 1 there), so that channel's activation
  silu(g) * u is positive for every token;
- ``down_proj``'s LoRA copies that channel into residual dimension ``SKIP``, scaled so that after any token outside
  the answer the push (about 2x the default's weight) beats the default successor, while after an answer token it
  stays below the successor that token's own dimension (4) names.

So the adapter's greedy answer is the base answer without its first ``SKIP`` tokens (" from the tiny zoo model."
against "Hello from the tiny zoo model."); ``adapter_answer`` computes it with numpy from the very weights written
(chat-ok's, rounded to bfloat16 as stored), so a weight change that breaks it fails a unit test, not a boot.

Only rank 1 carries weight; the rest of rank ``r`` is zero. ``r`` is what vLLM checks against ``--max-lora-rank``
(vllm/lora/peft_helper.py validate_legal): ``lora-canary`` has r=8, within the default 16 (vllm/config/lora.py
LoRAConfig.max_lora_rank); ``lora-rank-32`` is the same adapter at r=32, which vLLM refuses unless served with
``--max-lora-rank 32`` or more.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import bpe
from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import CHAT_OK, IM_END, chat_tokenizer_json, chat_vocab, qwen2_weights
from harness.zoo.writers import safetensors_bytes, write_json

BASE_MEMBER = "chat-ok"
WITHIN_RANK = 8  # within vLLM 0.32.0's default --max-lora-rank 16
OVER_RANK = 32  # the smallest rank vLLM 0.32.0 allows above its default (MaxLoRARanks: 1, 8, 16, 32, ...)
SKIP = 1  # the adapter's answer starts at the base answer's token SKIP
CHANNEL = 0  # the MLP channel the adapter opens
GATE = 4.0  # gate/up LoRA weight on dimension 0 of the normed input: silu(g) ~ g, g ~ 11-14 for every token
TARGET_MODULES = ("down_proj", "gate_proj", "up_proj")
_EPS = 1e-6  # chat-ok's rms_norm_eps


def _bf16(array: np.ndarray) -> np.ndarray:
    """float32 rounded to bfloat16 (nearest even), as safetensors stores chat-ok's weights and vLLM computes."""
    bits = array.astype(np.float32).view(np.uint32)
    bits = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)) << np.uint32(16)
    return bits.astype(np.uint32).view(np.float32)


def _rms_norm(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + _EPS))


def _silu(x: np.ndarray) -> np.ndarray:
    return np.asarray(x / (1.0 + np.exp(-x)))


@functools.cache
def _base() -> dict[str, np.ndarray]:
    return {name: _bf16(value) for name, value in qwen2_weights(CHAT_OK).items()}


def _last_layer() -> str:
    return f"model.layers.{CHAT_OK.layers - 1}.mlp."


def _channel(weights: dict[str, np.ndarray], gate: float) -> np.ndarray:
    """The opened channel's activation silu(g) * u for every token's embedding (the last layer's MLP input, since
    nothing before it writes into the residual stream)."""
    normed = _rms_norm(weights["model.embed_tokens.weight"])
    layer = _last_layer()
    g = normed @ weights[layer + "gate_proj.weight"][CHANNEL] + gate * normed[:, 0]
    u = normed @ weights[layer + "up_proj.weight"][CHANNEL] + gate * normed[:, 0]
    return np.asarray(_silu(g) * u)


@functools.cache
def _push() -> float:
    """down_proj's LoRA weight: the push along dimension SKIP is 2x the default's weight at the geometric middle of
    the channel's range (about 1.4-2.9x over the vocabulary, within the 1x-4x window that works)."""
    activation = _channel(_base(), GATE)
    return float(2.0 / np.sqrt(activation.min() * activation.max()))


def adapter_tensors(rank: int) -> dict[str, np.ndarray]:
    """PEFT's tensors of the adapter at ``rank`` (lora_A: rank x in, lora_B: out x rank; rank 1 used)."""
    hidden, inter = CHAT_OK.hidden, CHAT_OK.intermediate
    prefix = "base_model.model." + _last_layer()
    tensors: dict[str, np.ndarray] = {}
    for module in ("gate_proj", "up_proj"):
        a = np.zeros((rank, hidden), dtype=np.float32)
        b = np.zeros((inter, rank), dtype=np.float32)
        a[0, 0] = 1.0
        b[CHANNEL, 0] = GATE
        tensors[f"{prefix}{module}.lora_A.weight"] = a
        tensors[f"{prefix}{module}.lora_B.weight"] = b
    a = np.zeros((rank, inter), dtype=np.float32)
    b = np.zeros((hidden, rank), dtype=np.float32)
    a[0, CHANNEL] = 1.0
    b[SKIP, 0] = _push()
    tensors[f"{prefix}down_proj.lora_A.weight"] = a
    tensors[f"{prefix}down_proj.lora_B.weight"] = b
    return tensors


def adapter_config(rank: int) -> dict[str, Any]:
    """adapter_config.json as PEFT writes it for a LoRA; lora_alpha = r, so the scaling vLLM applies is 1."""
    return {
        "base_model_name_or_path": f"zoo:{BASE_MEMBER}",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": rank,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "target_modules": list(TARGET_MODULES),
        "task_type": "CAUSAL_LM",
        "use_dora": False,
        "use_rslora": False,
    }


def write_adapter(directory: Path, rank: int) -> None:
    write_json(directory / "adapter_config.json", adapter_config(rank))
    (directory / "adapter_model.safetensors").write_bytes(safetensors_bytes(adapter_tensors(rank), "float32"))


def greedy_answer(*, adapter: bool, start: int | None = None, limit: int = 16) -> str:
    """chat-ok's greedy answer after token ``start`` (default: a newline, as the chat template's generation prompt
    ends), computed from the weights: with the adapter (its rank-1 delta at scaling 1) or without."""
    weights = _base()
    embed, head = weights["model.embed_tokens.weight"], weights["lm_head.weight"]
    push: np.ndarray = np.zeros(embed.shape[0], dtype=np.float32)
    if adapter:
        push = _push() * _channel(weights, GATE)
    tokenizer = bpe.load(chat_tokenizer_json())
    token = start if start is not None else tokenizer.encode("\n").ids[-1]
    end = chat_vocab().special[IM_END]
    out: list[int] = []
    for _ in range(limit):
        x = embed[token].copy()
        x[SKIP] += push[token]
        token = int(np.argmax(head @ _rms_norm(x)))
        if token == end:
            break
        out.append(token)
    return str(tokenizer.decode(out))


@functools.cache
def adapter_answer() -> str:
    """The adapter's greedy answer (" from the tiny zoo model.")."""
    return greedy_answer(adapter=True)


def _lora_canary(directory: Path) -> None:
    write_adapter(directory, WITHIN_RANK)


def _lora_rank_32(directory: Path) -> None:
    write_adapter(directory, OVER_RANK)


# each adapter's base member: the probe holds an adapter to its exact answer only on the base it was built for
ADAPTER_BASES: dict[str, str] = {"lora-canary": BASE_MEMBER, "lora-rank-32": BASE_MEMBER}
_NOT_A_MODEL = frozenset({"LORA_ADAPTER"})  # `vllm-compat check` on an adapter: serve its base with --lora-modules

MEMBERS: dict[str, ZooMember] = {
    "lora-canary": ZooMember(
        "lora-canary",
        f"a rank-{WITHIN_RANK} LoRA adapter for chat-ok that drops the first word of its answer (served with "
        "--enable-lora --lora-modules NAME=DIR on chat-ok)",
        _NOT_A_MODEL,
        _lora_canary,
        expected_answer=" from the tiny zoo model.",
    ),
    "lora-rank-32": ZooMember(
        "lora-rank-32",
        f"the same adapter at rank {OVER_RANK}, over vLLM's default --max-lora-rank 16: refused unless served with "
        f"--max-lora-rank {OVER_RANK}",
        _NOT_A_MODEL,
        _lora_rank_32,
        expected_answer=" from the tiny zoo model.",
    ),
}

__all__ = [
    "ADAPTER_BASES",
    "BASE_MEMBER",
    "MEMBERS",
    "OVER_RANK",
    "TARGET_MODULES",
    "WITHIN_RANK",
    "adapter_answer",
    "adapter_config",
    "adapter_tensors",
    "greedy_answer",
    "write_adapter",
]
