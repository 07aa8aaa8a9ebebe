"""The GGUF reader: header, metadata and tensor infos of files the test writer makes, and clear errors -- never a
traceback or a huge allocation -- for truncated, corrupt and hostile files."""

from __future__ import annotations

import struct
import time
import tracemalloc
from pathlib import Path

import pytest
from gguf_fake import TOKENS, gguf_bytes, llama_metadata, write_gguf

from harness.checkpoint.gguf import GgufCorrupt, GgufTruncated, gguf_facts, is_gguf_file, read_gguf


def test_reads_metadata_tensors_and_facts(tmp_path: Path) -> None:
    """A written GGUF gives back its metadata, tensor shapes and types, parameters and the facts pre-flight prints."""
    path = write_gguf(
        tmp_path / "m.gguf",
        tensors=(("token_embd.weight", (256, 6), "Q4_K"), ("output_norm.weight", (64,), "F32")),
    )
    gguf = read_gguf(path)
    assert gguf.version == 3 and gguf.architecture == "llama"
    assert [(t.name, t.shape, t.type_name) for t in gguf.tensors] == [
        ("token_embd.weight", (256, 6), "Q4_K"),
        ("output_norm.weight", (64,), "F32"),
    ]
    assert gguf.parameters == 256 * 6 + 64
    assert gguf.expected_size == path.stat().st_size
    assert gguf.tokens() == TOKENS
    assert gguf.special_tokens() == {"<|im_start|>": 1, "<|im_end|>": 2, "<|endoftext|>": 3}
    facts = gguf_facts(gguf)
    assert (facts.file_type, facts.context_length, facts.head_dim, facts.vocab_size) == ("Q4_K_M", 2048, 32, 6)
    assert (facts.eos_token, facts.eos_token_id, facts.bos_token_id, facts.chat_template) == ("<|im_end|>", 2, 1, True)
    assert facts.tensor_types == {"Q4_K": 1, "F32": 1}


def test_without_file_type_the_dominant_quantized_type_names_the_file(tmp_path: Path) -> None:
    """Without general.file_type the quantized ggml type holding most bytes is the file type."""
    meta = llama_metadata()
    del meta["general.file_type"]
    path = write_gguf(tmp_path / "m.gguf", meta, tensors=(("a", (512, 8), "Q4_0"), ("b", (64,), "F32")))
    assert read_gguf(path).file_type == "Q4_0"


def test_a_truncated_file_is_incomplete_with_the_sizes(tmp_path: Path) -> None:
    """A file cut inside its tensor data is GgufTruncated naming its size and the size the header promises."""
    data = gguf_bytes(llama_metadata())
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:-100])
    with pytest.raises(GgufTruncated, match=rf"the file is {len(data) - 100} bytes but its tensors need {len(data)}"):
        read_gguf(path)


@pytest.mark.parametrize("keep", [7, 24, 200, 400])
def test_a_file_cut_inside_its_header_is_incomplete(tmp_path: Path, keep: int) -> None:
    """A file cut anywhere in the header (counts, a key, the token list, a tensor info) is GgufTruncated."""
    path = tmp_path / "cut.gguf"
    path.write_bytes(gguf_bytes(llama_metadata())[:keep])
    with pytest.raises(GgufTruncated) as raised:
        read_gguf(path)
    assert raised.value.code == "WEIGHTS_INCOMPLETE"


def test_wrong_magic_and_version_are_corrupt(tmp_path: Path) -> None:
    """A file without the GGUF magic, or of version 1, is GgufCorrupt (WEIGHTS_CORRUPT) saying which."""
    path = tmp_path / "x.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    with pytest.raises(GgufCorrupt, match="not the GGUF magic") as raised:
        read_gguf(path)
    assert raised.value.code == "WEIGHTS_CORRUPT"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 1, 0, 0))
    with pytest.raises(GgufCorrupt, match="GGUF version 1"):
        read_gguf(path)


def test_hostile_counts_and_lengths_are_refused_without_allocating(tmp_path: Path) -> None:
    """Counts and lengths of 2**63 (tensor count, a string, an array) are refused at once with a clear error,
    allocating nothing like their size."""
    head = b"GGUF" + struct.pack("<I", 3)
    cases = {
        "counts": head + struct.pack("<QQ", 2**63, 1),
        "string": head + struct.pack("<QQ", 0, 1) + struct.pack("<Q", 2**63) + b"k",
        "array": head
        + struct.pack("<QQ", 0, 1)
        + struct.pack("<Q", 1)
        + b"k"
        + struct.pack("<IIQ", 9, 8, 2**62)
        + bytes(64),
        "dims": head + struct.pack("<QQ", 1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<I", 2**31) + bytes(64),
    }
    tracemalloc.start()
    try:
        for name, data in cases.items():
            path = tmp_path / f"{name}.gguf"
            path.write_bytes(data)
            started = time.monotonic()
            with pytest.raises((GgufCorrupt, GgufTruncated)):
                read_gguf(path)
            assert time.monotonic() - started < 1.0, name
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


def test_an_unknown_value_type_is_corrupt(tmp_path: Path) -> None:
    """A metadata value type outside GGUF's 0-12 is GgufCorrupt naming the key and the type."""
    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 3) + b"odd" + struct.pack("<I", 99))
    with pytest.raises(GgufCorrupt, match=r"'odd' has value type 99"):
        read_gguf(path)


def test_gguf_file_rule_follows_the_plugin(tmp_path: Path) -> None:
    """A *.gguf file or a file starting with the GGUF magic is a GGUF (the plugin's check_gguf_file); a directory or
    another file is not."""
    named = write_gguf(tmp_path / "a.gguf")
    unnamed = tmp_path / "weights.bin"
    unnamed.write_bytes(named.read_bytes())
    other = tmp_path / "config.json"
    other.write_text("{}")
    assert is_gguf_file(named) and is_gguf_file(unnamed)
    assert not is_gguf_file(other) and not is_gguf_file(tmp_path)


def test_random_damage_gives_a_gguf_error_or_a_file_never_a_traceback(tmp_path: Path) -> None:
    """300 copies of a GGUF with random bytes overwritten or cut read either as a GGUF or as GgufCorrupt /
    GgufTruncated, each within a second: no other exception escapes the reader."""
    import random

    data = gguf_bytes(llama_metadata(), tensors=(("a", (256, 4), "Q4_K"), ("b", (64,), "F32")))
    rng = random.Random(18)
    path = tmp_path / "damaged.gguf"
    outcomes = {"read": 0, "error": 0}
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(damaged))
            damaged[at : at + 8] = rng.randbytes(8)
        if rng.random() < 0.3:
            damaged = damaged[: rng.randrange(len(damaged))]
        path.write_bytes(bytes(damaged))
        started = time.monotonic()
        try:
            read_gguf(path)
            outcomes["read"] += 1
        except (GgufCorrupt, GgufTruncated):
            outcomes["error"] += 1
        assert time.monotonic() - started < 1.0
    assert outcomes["error"] > 100 and sum(outcomes.values()) == 300
