"""The use cases a matrix cell can ask for, and the families the pipeline treats alike."""

from __future__ import annotations

from enum import StrEnum


class UseCase(StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    STOP_TOKENS = "stop_tokens"
    TOOLS = "tools"
    VISION = "vision"
    VIDEO = "video"
    AUDIO = "audio"  # speech to text through /v1/audio/transcriptions
    AUDIO_CHAT = "audio_chat"  # input_audio content parts in chat
    EMBEDDINGS = "embeddings"
    TTS = "tts"  # vLLM cannot serve these: reported as NOT_SERVABLE, never silently dropped
    IMAGE_GENERATION = "image_generation"
    STRUCTURED_OUTPUT = "structured_output"  # response_format json_schema / json_object, guided choice and regex
    LONG_CONTEXT = "long_context"  # the served max-model-len: at it accepted, past it refused; a needle recalled
    CONCURRENCY = "concurrency"  # N simultaneous streams, independent and complete
    REASONING = "reasoning"  # --reasoning-parser: the reasoning apart from the content, plain and streamed
    RERANK = "rerank"  # /rerank and /score of a cross-encoder (or embedding) model
    LORA = "lora"  # --enable-lora --lora-modules: the adapter listed, answering as itself; an unknown name refused


# Use cases that go through the chat template: a model without one cannot do them (HTTP 400 from vLLM).
CHAT_LIKE: frozenset[UseCase] = frozenset(
    {
        UseCase.CHAT,
        UseCase.STOP_TOKENS,
        UseCase.TOOLS,
        UseCase.VISION,
        UseCase.VIDEO,
        UseCase.AUDIO_CHAT,
        UseCase.STRUCTURED_OUTPUT,
        UseCase.REASONING,
    }
)
# long_context asks /v1/completions with token ids (no template), and concurrency asks chat only where pre-flight found
# a chat template (else /v1/completions): a base model can do both. lora asks chat likewise, else /v1/completions.
# Use cases whose inputs need the model's processor (preprocessor_config.json / processor_config.json).
MULTIMODAL: frozenset[UseCase] = frozenset({UseCase.VISION, UseCase.VIDEO, UseCase.AUDIO, UseCase.AUDIO_CHAT})
# Use cases no vLLM version serves: the cell is NOT_SERVABLE unless the matrix points it at an external endpoint.
UNSERVABLE: frozenset[UseCase] = frozenset({UseCase.TTS, UseCase.IMAGE_GENERATION})

ALL_USE_CASES: tuple[str, ...] = tuple(u.value for u in UseCase)
