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


# Use cases that go through the chat template: a model without one cannot do them (HTTP 400 from vLLM).
CHAT_LIKE: frozenset[UseCase] = frozenset(
    {UseCase.CHAT, UseCase.STOP_TOKENS, UseCase.TOOLS, UseCase.VISION, UseCase.VIDEO, UseCase.AUDIO_CHAT}
)
# Use cases whose inputs need the model's processor (preprocessor_config.json / processor_config.json).
MULTIMODAL: frozenset[UseCase] = frozenset({UseCase.VISION, UseCase.VIDEO, UseCase.AUDIO, UseCase.AUDIO_CHAT})
# Use cases no vLLM version serves: the cell is NOT_SERVABLE unless the matrix points it at an external endpoint.
UNSERVABLE: frozenset[UseCase] = frozenset({UseCase.TTS, UseCase.IMAGE_GENERATION})

ALL_USE_CASES: tuple[str, ...] = tuple(u.value for u in UseCase)
