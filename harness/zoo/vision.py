"""Zoo members for the vision use case: a tiny LLaVA (CLIP vision tower + projector + the zoo's Qwen2 text model).

The text model is the chat-ok one (see harness.zoo.qwen2): its attention and MLP outputs are zeroed, so the next token
depends only on the last one and the greedy answer is ``CHAT_OK_ANSWER`` whatever the image. The image still goes
through the whole path vLLM serves -- fetch, processor, CLIP tower, projector, ``<image>`` placeholder expansion --
so every protocol check (HTTP 200, the image's tokens in usage.prompt_tokens, the multimodal limit) is real; only the
answer is not about the picture (semantic checks stay off for zoo members).

Weights use the hub layout of the llava-hf checkpoints (``vision_tower.vision_model.*``, ``multi_modal_projector.*``,
``language_model.model.*``, ``language_model.lm_head.*``), which vLLM 0.32's LLaVA loader reads as they are.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import bpe
from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import (
    CHAT_OK,
    CHAT_OK_ANSWER,
    IM_END,
    TextModel,
    chat_tokenizer_config,
    chat_tokenizer_json,
    generation_config,
    qwen2_config,
    qwen2_weights,
)
from harness.zoo.writers import TRANSFORMERS_VERSION, hash_uniform, safetensors_bytes, write_json

IMAGE_TOKEN = "<image>"
VIDEO_TOKEN = "<video>"
IMAGE_SIZE = 112  # small: 64 image tokens leave room for two images in a 512-token context
PATCH_SIZE = 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH_SIZE) ** 2  # "default" strategy: the CLS token is dropped
VISION_HIDDEN = 128
VISION_HEADS = 2  # head_dim 64: the CPU engine's attention wants >= 32
VISION_INTERMEDIATE = 256
VISION_LAYERS = 2
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
_SYSTEM_PROMPT = "You are a tiny vision test model from the vllm-compat zoo."

# ChatML that walks the OpenAI content parts (vLLM then sends image parts as {"type": "image"}) and writes the
# processor's <image> placeholder where each image goes, as LLaVA templates do.
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\n" + _SYSTEM_PROMPT + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string %}"
    "{{- message['content'] }}"
    "{%- else %}"
    "{%- for part in message['content'] %}"
    "{%- if part['type'] in ('image', 'image_url') %}"
    "{{- '" + IMAGE_TOKEN + "\\n' }}"
    "{%- elif part['type'] == 'text' %}"
    "{{- part['text'] }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


@dataclass(frozen=True)
class _WideText(TextModel):
    """The chat-ok text model with room for two more special tokens (<image>, <video>) in its embedding rows."""

    @property
    def vocab_size(self) -> int:
        return super().vocab_size + 64


VIDEO_TEXT = _WideText()


@functools.cache
def _llava_tokenizer_json(extra: tuple[str, ...] = (IMAGE_TOKEN,)) -> str:
    return str(bpe.extended(chat_tokenizer_json(), extra, special=True).to_str())


def token_id(token: str, extra: tuple[str, ...] = (IMAGE_TOKEN,), spec: TextModel = CHAT_OK) -> int:
    """The id of ``token`` in the chat tokenizer extended by ``extra``; it must fit the text model's rows."""
    found = bpe.token_id(bpe.load(_llava_tokenizer_json(extra)), token)
    if found >= spec.vocab_size:
        raise AssertionError(f"{token} got id {found}, outside the text model's {spec.vocab_size} rows")
    return found


def image_token_id() -> int:
    return token_id(IMAGE_TOKEN)


def _llava_config() -> dict[str, Any]:
    return _llava_like_config(CHAT_OK)


def _llava_like_config(spec: TextModel, size: int = IMAGE_SIZE, patch: int = PATCH_SIZE) -> dict[str, Any]:
    text = qwen2_config(spec)
    text.pop("transformers_version", None)
    config: dict[str, Any] = {
        "architectures": ["LlavaForConditionalGeneration"],
        "dtype": spec.dtype,
        "ignore_index": -100,
        "image_seq_length": (size // patch) ** 2,
        "image_token_index": image_token_id(),
        "model_type": "llava",
        "multimodal_projector_bias": True,
        "projector_hidden_act": "gelu",
        "text_config": text,
        "tie_word_embeddings": False,
        "torch_dtype": spec.dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "vision_config": {
            "attention_dropout": 0.0,
            "hidden_act": "quick_gelu",
            "hidden_size": VISION_HIDDEN,
            "image_size": size,
            "intermediate_size": VISION_INTERMEDIATE,
            "layer_norm_eps": 1e-05,
            "model_type": "clip_vision_model",
            "num_attention_heads": VISION_HEADS,
            "num_channels": 3,
            "num_hidden_layers": VISION_LAYERS,
            "patch_size": patch,
            "projection_dim": VISION_HIDDEN,
        },
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
    }
    return config


def _vision_weights(size: int = IMAGE_SIZE, patch: int = PATCH_SIZE) -> dict[str, np.ndarray]:
    h, i = VISION_HIDDEN, VISION_INTERMEDIATE
    text_h = CHAT_OK.hidden
    positions = (size // patch) ** 2 + 1
    prefix = "vision_tower.vision_model."
    ones, zeros = np.ones(h, dtype=np.float32), np.zeros(h, dtype=np.float32)
    tensors: dict[str, np.ndarray] = {
        prefix + "embeddings.class_embedding": 0.05 * hash_uniform(2001, (h,)),
        prefix + "embeddings.patch_embedding.weight": 0.05 * hash_uniform(2002, (h, 3, patch, patch)),
        prefix + "embeddings.position_embedding.weight": 0.05 * hash_uniform(2003, (positions, h)),
        prefix + "pre_layrnorm.weight": ones,  # sic: CLIP's own spelling
        prefix + "pre_layrnorm.bias": zeros,
        prefix + "post_layernorm.weight": ones,
        prefix + "post_layernorm.bias": zeros,
        "multi_modal_projector.linear_1.weight": 0.05 * hash_uniform(2004, (text_h, h)),
        "multi_modal_projector.linear_1.bias": np.zeros(text_h, dtype=np.float32),
        "multi_modal_projector.linear_2.weight": 0.05 * hash_uniform(2005, (text_h, text_h)),
        "multi_modal_projector.linear_2.bias": np.zeros(text_h, dtype=np.float32),
    }
    for layer in range(VISION_LAYERS):
        base = f"{prefix}encoder.layers.{layer}."
        seed = 3000 + 100 * layer
        shapes: dict[str, tuple[int, ...]] = {
            "self_attn.q_proj.weight": (h, h),
            "self_attn.k_proj.weight": (h, h),
            "self_attn.v_proj.weight": (h, h),
            "self_attn.out_proj.weight": (h, h),
            "mlp.fc1.weight": (i, h),
            "mlp.fc2.weight": (h, i),
        }
        for index, (name, shape) in enumerate(shapes.items()):
            tensors[base + name] = 0.05 * hash_uniform(seed + index, shape)
        for name, size in (
            ("self_attn.q_proj.bias", h),
            ("self_attn.k_proj.bias", h),
            ("self_attn.v_proj.bias", h),
            ("self_attn.out_proj.bias", h),
            ("mlp.fc1.bias", i),
            ("mlp.fc2.bias", h),
            ("layer_norm1.bias", h),
            ("layer_norm2.bias", h),
        ):
            tensors[base + name] = np.zeros(size, dtype=np.float32)
        tensors[base + "layer_norm1.weight"] = ones
        tensors[base + "layer_norm2.weight"] = ones
    return tensors


def _llava_weights(spec: TextModel = CHAT_OK, size: int = IMAGE_SIZE, patch: int = PATCH_SIZE) -> dict[str, np.ndarray]:
    tensors = _vision_weights(size, patch)
    for name, array in qwen2_weights(spec).items():
        tensors["language_model." + name] = array  # model.* -> language_model.model.*, lm_head.* likewise
    return tensors


def _clip_preprocessor(size: int = IMAGE_SIZE, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "crop_size": {"height": size, "width": size},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": _CLIP_MEAN,
        "image_std": _CLIP_STD,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"shortest_edge": size},
    }
    config.update(extra)
    return dict(sorted(config.items()))


def _tiny_llava(directory: Path) -> None:
    write_json(directory / "config.json", _llava_config())
    write_json(directory / "generation_config.json", generation_config(CHAT_OK))
    (directory / "tokenizer.json").write_text(_llava_tokenizer_json(), encoding="utf-8")
    tokenizer_config = chat_tokenizer_config(eos=IM_END, chat_template=False)
    tokenizer_config["added_tokens_decoder"][str(image_token_id())] = bpe.added_token_entry(IMAGE_TOKEN)
    tokenizer_config["processor_class"] = "LlavaProcessor"
    write_json(directory / "tokenizer_config.json", dict(sorted(tokenizer_config.items())))
    write_json(
        directory / "preprocessor_config.json",
        _clip_preprocessor(image_processor_type="CLIPImageProcessor", processor_class="LlavaProcessor"),
    )
    write_json(
        directory / "processor_config.json",
        {
            "image_token": IMAGE_TOKEN,
            "num_additional_image_tokens": 1,
            "patch_size": PATCH_SIZE,
            "processor_class": "LlavaProcessor",
            "vision_feature_select_strategy": "default",
        },
    )
    (directory / "chat_template.json").write_text(
        json.dumps({"chat_template": CHAT_TEMPLATE}, indent=2) + "\n", encoding="utf-8"
    )
    (directory / "model.safetensors").write_bytes(safetensors_bytes(_llava_weights(), CHAT_OK.dtype))


# ---------------------------------------------------------------------------------------------------------------------
# LLaVA-NeXT-Video: the same CLIP tower and projector, frames pooled 2x2, one <video> per prompt (vLLM: video only)

_VIDEO_EXTRA = (IMAGE_TOKEN, VIDEO_TOKEN)
# vLLM 0.32's LlavaNextVideoPooler divides by image_size // patch_size**2: a tower smaller than patch_size**2 pixels
# (112 px with 14 px patches) dies with ZeroDivisionError while profiling. 64 px with 8 px patches gives exactly 1.
VIDEO_IMAGE_SIZE = 64
VIDEO_PATCH_SIZE = 8
VIDEO_POOL_STRIDE = 2
VIDEO_FRAME_TOKENS = (VIDEO_IMAGE_SIZE // VIDEO_PATCH_SIZE // VIDEO_POOL_STRIDE) ** 2

VIDEO_CHAT_TEMPLATE = CHAT_TEMPLATE.replace(
    "{%- elif part['type'] == 'text' %}",
    "{%- elif part['type'] in ('video', 'video_url') %}{{- '"
    + VIDEO_TOKEN
    + "\\n' }}{%- elif part['type'] == 'text' %}",
)


def _llava_next_video_config() -> dict[str, Any]:
    config = _llava_like_config(VIDEO_TEXT, VIDEO_IMAGE_SIZE, VIDEO_PATCH_SIZE)
    config.update(
        {
            "architectures": ["LlavaNextVideoForConditionalGeneration"],
            "image_grid_pinpoints": [[VIDEO_IMAGE_SIZE, VIDEO_IMAGE_SIZE]],
            "image_token_index": token_id(IMAGE_TOKEN, _VIDEO_EXTRA, VIDEO_TEXT),
            "model_type": "llava_next_video",
            "spatial_pool_mode": "average",
            "spatial_pool_stride": VIDEO_POOL_STRIDE,
            "video_seq_length": VIDEO_FRAME_TOKENS * 8,
            "video_token_index": token_id(VIDEO_TOKEN, _VIDEO_EXTRA, VIDEO_TEXT),
        }
    )
    return dict(sorted(config.items()))


def _tiny_llava_next_video(directory: Path) -> None:
    write_json(directory / "config.json", _llava_next_video_config())
    write_json(directory / "generation_config.json", generation_config(VIDEO_TEXT))
    (directory / "tokenizer.json").write_text(_llava_tokenizer_json(_VIDEO_EXTRA), encoding="utf-8")
    tokenizer_config = chat_tokenizer_config(eos=IM_END, chat_template=False)
    for token in _VIDEO_EXTRA:
        tokenizer_config["added_tokens_decoder"][str(token_id(token, _VIDEO_EXTRA, VIDEO_TEXT))] = (
            bpe.added_token_entry(token)
        )
    tokenizer_config["processor_class"] = "LlavaNextVideoProcessor"
    write_json(directory / "tokenizer_config.json", dict(sorted(tokenizer_config.items())))
    write_json(
        directory / "preprocessor_config.json",
        _clip_preprocessor(
            VIDEO_IMAGE_SIZE,
            do_pad=True,
            image_grid_pinpoints=[[VIDEO_IMAGE_SIZE, VIDEO_IMAGE_SIZE]],
            image_processor_type="LlavaNextImageProcessor",
            processor_class="LlavaNextVideoProcessor",
        ),
    )
    write_json(
        directory / "video_preprocessor_config.json",
        _clip_preprocessor(
            VIDEO_IMAGE_SIZE,
            do_sample_frames=False,
            processor_class="LlavaNextVideoProcessor",
            video_processor_type="LlavaNextVideoVideoProcessor",
        ),
    )
    write_json(
        directory / "processor_config.json",
        {
            "image_token": IMAGE_TOKEN,
            "num_additional_image_tokens": 1,
            "patch_size": VIDEO_PATCH_SIZE,
            "processor_class": "LlavaNextVideoProcessor",
            "video_token": VIDEO_TOKEN,
            "vision_feature_select_strategy": "default",
        },
    )
    (directory / "chat_template.json").write_text(
        json.dumps({"chat_template": VIDEO_CHAT_TEMPLATE}, indent=2) + "\n", encoding="utf-8"
    )
    tensors = _llava_weights(VIDEO_TEXT, VIDEO_IMAGE_SIZE, VIDEO_PATCH_SIZE)
    tensors["image_newline"] = np.zeros(VIDEO_TEXT.hidden, dtype=np.float32)
    (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors, VIDEO_TEXT.dtype))


MEMBERS: dict[str, ZooMember] = {
    "tiny-llava": ZooMember(
        name="tiny-llava",
        description=(
            f"A healthy LLaVA (CLIP {IMAGE_SIZE}px/{PATCH_SIZE} tower, {IMAGE_TOKENS} image tokens, the zoo's Qwen2 "
            f"text model) in the llava-hf hub layout: images work, its answer is {CHAT_OK_ANSWER!r} whatever the "
            "image, and it takes no video."
        ),
        expected_codes=frozenset(),
        build=_tiny_llava,
        expected_answer=CHAT_OK_ANSWER,
    ),
    "tiny-llava-next-video": ZooMember(
        name="tiny-llava-next-video",
        description=(
            f"A healthy LLaVA-NeXT-Video (CLIP {VIDEO_IMAGE_SIZE}px/{VIDEO_PATCH_SIZE} tower, {VIDEO_FRAME_TOKENS} "
            "pooled tokens per frame, the zoo's Qwen2 text model): "
            f"one video per prompt works, its answer is {CHAT_OK_ANSWER!r} whatever the clip; vLLM serves it for "
            "video only."
        ),
        expected_codes=frozenset(),
        build=_tiny_llava_next_video,
        expected_answer=CHAT_OK_ANSWER,
    ),
}

__all__ = [
    "CHAT_TEMPLATE",
    "IMAGE_SIZE",
    "IMAGE_TOKEN",
    "IMAGE_TOKENS",
    "MEMBERS",
    "PATCH_SIZE",
    "VIDEO_CHAT_TEMPLATE",
    "VIDEO_FRAME_TOKENS",
    "VIDEO_IMAGE_SIZE",
    "VIDEO_PATCH_SIZE",
    "VIDEO_POOL_STRIDE",
    "VIDEO_TEXT",
    "VIDEO_TOKEN",
    "image_token_id",
    "token_id",
]
