"""The zoo's one BPE trainer, and what every member that writes a tokenizer shares.

Tokenizers are trained with ``tokenizers`` on a built-in corpus (no hub): byte-level BPE in one of two styles, the
way the real families split text before merging -- ``"qwen2"`` (NFC, then Qwen2's split pattern, then bytes: the
chat members) and ``"gpt2"`` (GPT-2's own byte-level split, no normalizer: Whisper's). From the same corpus the
result is the same file on every build (tests/test_zoo.py builds the zoo in two processes and compares the bytes);
the WordPiece trainer's is not, which is why the embeddings member writes its vocabulary instead of training it.

``tokenizers`` is imported inside the functions: it is only needed when a member is built, not when the zoo's
catalogue is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Qwen2's pre-tokenizer split pattern, so a "qwen2" tokenizer.json looks like (and behaves like) a real Qwen2 one.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BpeStyle = Literal["qwen2", "gpt2"]


def train_bpe(corpus: Sequence[str], *, style: BpeStyle, vocab_size: int, special_tokens: Sequence[str]) -> str:
    """A byte-level BPE tokenizer.json trained on ``corpus`` (three passes), then ``special_tokens`` added after the
    learned vocabulary, in order."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tokenizer = Tokenizer(models.BPE(byte_fallback=False))
    if style == "qwen2":
        tokenizer.normalizer = normalizers.NFC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
            ]
        )
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(list(corpus) * 3, trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens])
    return str(tokenizer.to_str())


def load(tokenizer_json: str) -> Tokenizer:
    """The ``tokenizers`` object of a tokenizer.json text."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(tokenizer_json)


def extended(tokenizer_json: str, tokens: Iterable[str], *, special: bool) -> Tokenizer:
    """The tokenizer with ``tokens`` appended as added tokens (as Qwen2.5 appends <tool_call>, LLaVA <image>): the
    base ids, and so every member built on the base tokenizer, stay as they are."""
    from tokenizers import AddedToken

    tokenizer = load(tokenizer_json)
    added = [AddedToken(token, special=special, normalized=False) for token in tokens]
    if special:
        tokenizer.add_special_tokens(added)
    else:
        tokenizer.add_tokens(added)
    return tokenizer


def token_id(tokenizer: Tokenizer, token: str) -> int:
    """The id of ``token``, which the member needs to exist."""
    found = tokenizer.token_to_id(token)
    if found is None:
        raise AssertionError(f"{token!r} is not in the trained tokenizer")
    return int(found)


def chain_ids(tokenizer: Tokenizer, text: str) -> tuple[int, ...]:
    """The ids of ``text`` for a bigram chain: each token of the answer names its successor, so all must differ, and
    decoding them must give the text back."""
    ids = tuple(tokenizer.encode(text, add_special_tokens=False).ids)
    if len(set(ids)) != len(ids):
        raise AssertionError(f"the answer's tokens must be distinct for an unambiguous bigram chain: {ids}")
    if tokenizer.decode(list(ids), skip_special_tokens=True) != text:
        raise AssertionError(f"decoding the answer's ids does not give {text!r}")
    return ids


def vocab_size(tokenizer: Tokenizer) -> int:
    """The vocabulary size including added tokens (the rows a model's embedding needs at least)."""
    return int(tokenizer.get_vocab_size(with_added_tokens=True))


def added_token_entry(content: str, *, special: bool = True) -> dict[str, Any]:
    """One ``added_tokens_decoder`` entry of a tokenizer_config.json, as transformers writes them."""
    return {
        "content": content,
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": special,
    }


__all__ = [
    "QWEN2_SPLIT",
    "BpeStyle",
    "added_token_entry",
    "chain_ids",
    "extended",
    "load",
    "token_id",
    "train_bpe",
    "vocab_size",
]
