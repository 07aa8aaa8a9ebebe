"""The verdict each demo cell must come out as: the zoo's truth, measured on the CPU engine.

Shared by the demo matrix's own test and the end-to-end run (a cell added to the demo is added here, once).
"""

from __future__ import annotations

# What each demo cell must come out as: (verdict, code). The zoo's truth, measured on the CPU engine.
DEMO_TRUTH: dict[str, tuple[str, str | None]] = {
    "chat-ok-default-chat": ("PASS", None),
    "chat-ok-default-completions": ("PASS", None),
    "chat-ok-default-stop_tokens": ("PASS", None),
    "chat-ok-default-tools": ("XFAIL", "TOOL_FLAGS"),
    "chat-ok-default-embeddings": ("XFAIL", "WRONG_TASK"),
    "chat-ok-default-structured_output": ("PASS", None),
    "chat-ok-default-long_context": ("PASS", None),
    "chat-ok-default-concurrency": ("PASS", None),
    "no-chat-template-default-chat": ("XFAIL", "NO_CHAT_TEMPLATE"),
    "no-chat-template-default-completions": ("PASS", None),
    "runaway-eos-default-chat": ("PASS", None),
    "runaway-eos-default-stop_tokens": ("XFAIL", "STOP_TOKEN"),
    "missing-config-default-chat": ("XFAIL", "CONFIG_MISSING"),
    "incomplete-shards-default-chat": ("XFAIL", "WEIGHTS_INCOMPLETE"),
    "unsupported-arch-default-chat": ("XFAIL", "ARCH_UNSUPPORTED"),
    "remote-code-default-chat": ("XFAIL", "REMOTE_CODE_REQUIRED"),
    "diffusers-pipeline-default-image_generation": ("XFAIL", "NOT_SERVABLE"),
    "tiny-head-dim-default-chat": ("XFAIL", "ENGINE_DIED"),
    "tiny-whisper-default-audio": ("PASS", None),
    "chat-ok-as-audio-default-audio": ("XFAIL", "WRONG_TASK"),
    "chat-ok-as-audio-default-audio_chat": ("XFAIL", "WRONG_TASK"),
    "chat-ok-as-audio-default-tts": ("XFAIL", "NOT_SERVABLE"),
    "tool-call-default-chat": ("PASS", None),
    "tool-call-default-tools": ("PASS", None),
    "tiny-llava-default-vision": ("PASS", None),
    "tiny-llava-default-video": ("XFAIL", "MM_LIMIT"),
    "tiny-llava-next-video-default-video": ("PASS", None),
    "tiny-llava-next-video-default-vision": ("XFAIL", "MM_LIMIT"),
    "tiny-embed-default-embeddings": ("PASS", None),
    "all-minilm-l6-v2-default-embeddings": ("PASS", None),
    "smollm2-135m-instruct-default-chat": ("PASS", None),
    "smollm2-135m-instruct-default-completions": ("PASS", None),
    "smollm2-135m-instruct-default-stop_tokens": ("PASS", None),
    "smollm2-135m-instruct-default-structured_output": ("PASS", None),
    "smollm2-135m-instruct-default-long_context": ("PASS", None),
    "smollm2-135m-instruct-default-concurrency": ("PASS", None),
    "gemma3-270m-default-completions": ("PASS", None),
    "gemma3-270m-default-chat": ("XFAIL", "NO_CHAT_TEMPLATE"),
    "gemma3-270m-default-long_context": ("PASS", None),
    "gemma3-270m-default-concurrency": ("PASS", None),
    "smollm2-135m-instruct-gguf-default-chat": ("XFAIL", "NOT_SERVABLE"),
    "gemma3-270m-gguf-default-completions": ("XFAIL", "NOT_SERVABLE"),
}
