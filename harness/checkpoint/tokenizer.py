"""The checkpoint's tokenizer files read without a tokenizer library: special tokens and the token -> id table.

transformers passes the special tokens (bos/eos/... and the additional ones) to chat templates, and vLLM's stop ids
start from the tokenizer's eos token: both are read here from special_tokens_map.json, tokenizer_config.json and
tokenizer.json, the way transformers reads them, without loading (or running) anything of the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checkpoint.fetch import read_json

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")
# Any one of these is a tokenizer vLLM can load (tokenizer_config.json alone is not).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "vocab.txt",
    "tekken.json",
)


def _token_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return str(value["content"])  # an AddedToken serialised as a dict
    return None


def special_tokens(path: Path) -> dict[str, Any]:
    """bos/eos/unk/pad/... and additional_special_tokens as transformers passes them to the template."""
    out: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):  # tokenizer_config wins, as in transformers
        data = read_json(path / name)
        if not isinstance(data, dict):
            continue
        for key in SPECIAL_TOKEN_KEYS:
            text = _token_text(data.get(key))
            if text is not None:
                out[key] = text
        extra = data.get("additional_special_tokens") or data.get("extra_special_tokens")
        if isinstance(extra, list):
            out["additional_special_tokens"] = [t for t in (_token_text(x) for x in extra) if t is not None]
    return out


@dataclass
class Vocabulary:
    """Token text -> id from tokenizer.json and tokenizer_config.json, without loading a tokenizer."""

    ids: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)  # added / special tokens: the end-of-turn candidates

    def id_of(self, token: str) -> int | None:
        return self.added.get(token, self.ids.get(token))


def load_vocabulary(path: Path) -> Vocabulary:
    vocab = Vocabulary()
    data = read_json(path / "tokenizer.json")
    if isinstance(data, dict):
        model = data.get("model") or {}
        table = model.get("vocab") if isinstance(model, dict) else None
        if isinstance(table, dict):
            vocab.ids = {str(k): int(v) for k, v in table.items() if isinstance(v, int)}
        elif isinstance(table, list):  # Unigram: [[piece, score], ...], the id is the position
            vocab.ids = {str(item[0]): i for i, item in enumerate(table) if isinstance(item, list) and item}
        added = data.get("added_tokens")
        for token in added if isinstance(added, list) else []:
            if isinstance(token, dict) and isinstance(token.get("content"), str) and isinstance(token.get("id"), int):
                vocab.added[token["content"]] = token["id"]
    config = read_json(path / "tokenizer_config.json")
    decoder = config.get("added_tokens_decoder") if isinstance(config, dict) else None
    if isinstance(decoder, dict):
        for key, token in decoder.items():
            text = _token_text(token)
            if text is not None and str(key).isdigit():
                vocab.added.setdefault(text, int(key))
    return vocab
