"""The text canaries: one healthy chat model and the broken checkpoints real downloads turn out to be.

Each member is ``qwen2.CHAT_OK`` changed in one way -- no chat template, eos lists without the end-of-turn token, no
config.json, missing and truncated shards, an architecture vLLM lacks, remote code, a head_dim the CPU engine
cannot serve -- plus a diffusers pipeline, which is no transformers checkpoint at all. A member's ``expected_codes``
are what ``vllm-compat check`` must report for it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import (
    CHAT_OK,
    CHAT_OK_ANSWER,
    ENDOFTEXT,
    IM_END,
    chat_tokenizer_config,
    chat_tokenizer_json,
    qwen2_weights,
    write_text_model,
)
from harness.zoo.writers import safetensors_parts, write_json

SENTINEL = "EXECUTED"  # what remote-code's shipped .py files write next to themselves if they are ever run
SENTINEL_ENV = "VLLM_COMPAT_ZOO_SENTINEL"  # ...and also to this path when set (transformers runs a copy elsewhere)


def _chat_ok(directory: Path) -> None:
    write_text_model(directory, CHAT_OK)


def _no_chat_template(directory: Path) -> None:
    spec = replace(
        CHAT_OK,
        chat_template=False,
        end_token=ENDOFTEXT,
        config_eos=ENDOFTEXT,
        generation_eos=(ENDOFTEXT,),
        tokenizer_eos=ENDOFTEXT,
    )
    write_text_model(directory, spec)


def _runaway_eos(directory: Path) -> None:
    spec = replace(CHAT_OK, config_eos=ENDOFTEXT, generation_eos=(ENDOFTEXT,), tokenizer_eos=ENDOFTEXT)
    write_text_model(directory, spec)


def _missing_config(directory: Path) -> None:
    write_text_model(directory, CHAT_OK)
    (directory / "config.json").unlink()


def _incomplete_shards(directory: Path) -> None:
    write_text_model(directory, CHAT_OK, weights=False)
    tensors = qwen2_weights(CHAT_OK)
    names = sorted(tensors)
    shards = [names[0::3], names[1::3], names[2::3]]
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map: dict[str, str] = {}
    total = 0
    for file, shard in zip(files, shards, strict=True):
        head, data = safetensors_parts({n: tensors[n] for n in shard}, CHAT_OK.dtype)
        total += len(data)
        weight_map.update(dict.fromkeys(shard, file))
        if file == files[0]:
            (directory / file).write_bytes(head + data)  # complete
        elif file == files[1]:
            (directory / file).write_bytes(head + data[: len(data) // 2])  # truncated
        # files[2] is absent: the download stopped before it
    write_json(
        directory / "model.safetensors.index.json",
        {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))},
    )


def _unsupported_arch(directory: Path) -> None:
    spec = replace(CHAT_OK, config_overrides={"architectures": ["TinyZooForCausalLM"], "model_type": "tiny_zoo"})
    write_text_model(directory, spec)


_REMOTE_SENTINEL_CODE = """
import os as _os
from pathlib import Path as _Path

# Proof of execution: whoever runs this file leaves a trace (the zoo's tests check pre-flight never does).
for _target in (_Path(__file__).with_name("EXECUTED"), _os.environ.get("VLLM_COMPAT_ZOO_SENTINEL")):
    if _target:
        with open(_target, "a", encoding="utf-8") as _f:
            _f.write(__name__ + "\\n")
"""

_REMOTE_CONFIGURATION = (
    '"""TinyZoo configuration: Qwen2 under a model type transformers does not know (needs trust_remote_code)."""\n'
    + _REMOTE_SENTINEL_CODE
    + """
from transformers import Qwen2Config


class TinyZooConfig(Qwen2Config):
    model_type = "tiny_zoo_remote"
"""
)

_REMOTE_MODELING = (
    '"""TinyZoo model: Qwen2 with its remote configuration."""\n'
    + _REMOTE_SENTINEL_CODE
    + """
from transformers import Qwen2ForCausalLM

from .configuration_tiny_zoo import TinyZooConfig


class TinyZooForCausalLM(Qwen2ForCausalLM):
    config_class = TinyZooConfig
"""
)


def _remote_code(directory: Path) -> None:
    # The architecture is one vLLM implements; only the model type (unknown to transformers) needs the shipped code,
    # as with InternLM2 or old DeepSeek checkpoints.
    spec = replace(
        CHAT_OK,
        config_overrides={
            "auto_map": {
                "AutoConfig": "configuration_tiny_zoo.TinyZooConfig",
                "AutoModelForCausalLM": "modeling_tiny_zoo.TinyZooForCausalLM",
            },
            "model_type": "tiny_zoo_remote",
        },
    )
    write_text_model(directory, spec)
    (directory / "configuration_tiny_zoo.py").write_text(_REMOTE_CONFIGURATION, encoding="utf-8")
    (directory / "modeling_tiny_zoo.py").write_text(_REMOTE_MODELING, encoding="utf-8")


def _diffusers_pipeline(directory: Path) -> None:
    write_json(
        directory / "model_index.json",
        {
            "_class_name": "QwenImageEditPipeline",
            "_diffusers_version": "0.35.0.dev0",
            "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
            "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
            "tokenizer": ["transformers", "Qwen2Tokenizer"],
            "transformer": ["diffusers", "QwenImageTransformer2DModel"],
            "vae": ["diffusers", "AutoencoderKLQwenImage"],
        },
    )
    write_json(
        directory / "transformer" / "config.json",
        {
            "_class_name": "QwenImageTransformer2DModel",
            "_diffusers_version": "0.35.0.dev0",
            "attention_head_dim": 16,
            "in_channels": 16,
            "num_attention_heads": 2,
            "num_layers": 1,
            "out_channels": 4,
            "patch_size": 2,
        },
    )
    write_json(
        directory / "vae" / "config.json",
        {"_class_name": "AutoencoderKLQwenImage", "_diffusers_version": "0.35.0.dev0", "base_dim": 16, "z_dim": 4},
    )
    write_json(
        directory / "text_encoder" / "config.json",
        {
            "architectures": ["Qwen2_5_VLForConditionalGeneration"],
            "hidden_size": 128,
            "model_type": "qwen2_5_vl",
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "vocab_size": CHAT_OK.vocab_size,
        },
    )
    (directory / "tokenizer").mkdir()
    (directory / "tokenizer" / "tokenizer.json").write_text(chat_tokenizer_json(), encoding="utf-8")
    write_json(
        directory / "tokenizer" / "tokenizer_config.json", chat_tokenizer_config(eos=IM_END, chat_template=False)
    )
    write_json(
        directory / "scheduler" / "scheduler_config.json",
        {
            "_class_name": "FlowMatchEulerDiscreteScheduler",
            "_diffusers_version": "0.35.0.dev0",
            "num_train_timesteps": 1000,
            "shift": 1.0,
        },
    )


def _tiny_head_dim(directory: Path) -> None:
    write_text_model(directory, replace(CHAT_OK, hidden=64, heads=4, kv_heads=2, head_dim=16, intermediate=128))


MEMBERS: dict[str, ZooMember] = {
    m.name: m
    for m in (
        ZooMember(
            name="chat-ok",
            description=f"A healthy Qwen2 chat model with a ChatML template whose greedy answer is {CHAT_OK_ANSWER!r} "
            "then <|im_end|>.",
            expected_codes=frozenset(),
            build=_chat_ok,
            expected_answer=CHAT_OK_ANSWER,
        ),
        ZooMember(
            name="no-chat-template",
            description="A base model with no chat template anywhere (the facebook/opt-125m case): chat requests get "
            "HTTP 400.",
            expected_codes=frozenset({"NO_CHAT_TEMPLATE"}),
            build=_no_chat_template,
            expected_answer=CHAT_OK_ANSWER,
        ),
        ZooMember(
            name="runaway-eos",
            description="The template ends turns with <|im_end|> but no eos list vLLM reads contains it: generation "
            "never stops.",
            expected_codes=frozenset({"EOS_MISMATCH"}),
            build=_runaway_eos,
        ),
        ZooMember(
            name="missing-config",
            description="An incomplete download: everything but config.json.",
            expected_codes=frozenset({"CONFIG_MISSING"}),
            build=_missing_config,
        ),
        ZooMember(
            name="incomplete-shards",
            description="Sharded weights where one shard named by the index is absent and another is shorter than "
            "its header.",
            expected_codes=frozenset({"WEIGHTS_INCOMPLETE"}),
            build=_incomplete_shards,
        ),
        ZooMember(
            name="unsupported-arch",
            description="An architecture (TinyZooForCausalLM) that vLLM does not implement.",
            expected_codes=frozenset({"ARCH_UNSUPPORTED"}),
            build=_unsupported_arch,
        ),
        ZooMember(
            name="remote-code",
            description="A config.json auto_map to code shipped with the checkpoint: it loads only with "
            "trust_remote_code.",
            expected_codes=frozenset({"REMOTE_CODE_REQUIRED"}),
            build=_remote_code,
        ),
        ZooMember(
            name="diffusers-pipeline",
            description="A diffusers pipeline (the Qwen/Qwen-Image-Edit case): model_index.json and components, no "
            "config.json.",
            expected_codes=frozenset({"NOT_SERVABLE"}),
            build=_diffusers_pipeline,
        ),
        ZooMember(
            name="tiny-head-dim",
            description="head_dim 16: the CPU engine boots healthy, then the first request gets HTTP 500 and the "
            "engine dies (pre-flight cannot see it).",
            expected_codes=frozenset(),
            build=_tiny_head_dim,
        ),
    )
}

__all__ = ["MEMBERS", "SENTINEL", "SENTINEL_ENV"]
