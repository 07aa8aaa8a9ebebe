"""The zoo's LoRA adapters for chat-ok (harness/zoo/lora.py): PEFT's format, the ranks either side of vLLM's
default limit, and an answer that differs from the base's, computed from the weights written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checkpoint.safetensors import tensor_shapes
from harness.zoo import MEMBERS, build_zoo
from harness.zoo.lora import OVER_RANK, WITHIN_RANK, adapter_answer, greedy_answer
from harness.zoo.qwen2 import CHAT_OK_ANSWER, chat_vocab
from tests import gpu_configs as cfg


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_zoo(tmp_path_factory.mktemp("zoo"), ["lora-canary", "lora-rank-32"])


def test_the_numpy_model_is_chat_oks() -> None:
    """Without the adapter the weights' greedy walk gives chat-ok's own answer (what vLLM answers for chat-ok), so
    the simulation the adapter is judged by is the model's."""
    assert greedy_answer(adapter=False) == CHAT_OK_ANSWER == MEMBERS["chat-ok"].expected_answer


def test_adapter_answer_differs_from_the_base_after_any_prompt() -> None:
    """With the adapter, the answer after any token outside the answer (any prompt's last token) is the base answer
    without its first word, as the members declare."""
    assert adapter_answer() == " from the tiny zoo model." == MEMBERS["lora-canary"].expected_answer
    assert MEMBERS["lora-rank-32"].expected_answer == adapter_answer()
    answer_ids = set(chat_vocab().answer_ids)
    starts = [t for t in range(chat_vocab().size) if t not in answer_ids]
    assert {greedy_answer(adapter=True, start=t) for t in starts} == {adapter_answer()}


def test_adapters_are_peft_directories_with_their_ranks(built: dict[str, Path]) -> None:
    """adapter_config.json + adapter_model.safetensors; r 8 (within vLLM 0.32.0's default 16) and 32 (over it, and a
    value --max-lora-rank accepts); lora_A is r x in, lora_B out x r, for the last layer's MLP."""
    rules = cfg.cpu_rules()
    for name, rank in (("lora-canary", WITHIN_RANK), ("lora-rank-32", OVER_RANK)):
        config = json.loads((built[name] / "adapter_config.json").read_text())
        assert (config["r"], config["lora_alpha"], config["peft_type"]) == (rank, rank, "LORA")
        assert config["base_model_name_or_path"] == "zoo:chat-ok"
        shapes = tensor_shapes(built[name] / "adapter_model.safetensors")
        assert shapes == {
            "base_model.model.model.layers.1.mlp.down_proj.lora_A.weight": (rank, 256),
            "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight": (128, rank),
            "base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight": (rank, 128),
            "base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight": (256, rank),
            "base_model.model.model.layers.1.mlp.up_proj.lora_A.weight": (rank, 128),
            "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight": (256, rank),
        }
    assert rules.max_lora_rank_default is not None
    assert WITHIN_RANK <= rules.max_lora_rank_default < OVER_RANK
    assert OVER_RANK in rules.max_lora_ranks
