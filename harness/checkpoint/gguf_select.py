"""Which GGUF file a checkpoint means, and reading it whole: ``gguf_file`` / ``quant`` / the only one, split files'
shards, and the plugin's own ``DIR:QUANT`` / ``REPO:QUANT`` references with its file rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.checkpoint.checks import gguf_only
from harness.checkpoint.fetch import Listing, list_local
from harness.checkpoint.gguf import GgufError, GgufFile, read_gguf
from harness.checkpoint.report import FindingList
from harness.findings import Severity

_SHARD = re.compile(r"^(?P<stem>.*)-(?P<number>\d{5})-of-(?P<count>\d{5})\.gguf$")
MAX_HEADER_PROBES = 32  # GGUF headers read to match a quant tag against general.file_type when no name matches


@dataclass(frozen=True)
class GgufChoice:
    """The GGUF file pre-flight judges: its path in the listing and every shard of it (one for a single file)."""

    name: str
    shards: tuple[str, ...]
    how: str  # "the only GGUF file", "gguf_file", "quant Q4_K_M (file name)", ...


def is_split_part(name: str) -> bool:
    return _SHARD.match(name.rsplit("/", 1)[-1]) is not None


def gguf_files(listing: Listing) -> list[str]:
    """The model GGUF files of a listing (multimodal projectors, mmproj*.gguf, are the plugin's business)."""
    return sorted(f for f in listing.files if f.endswith(".gguf") and "mmproj" not in f.rsplit("/", 1)[-1].lower())


def _group(name: str, names: list[str]) -> tuple[str, ...]:
    """``name`` and its sibling shards (``x-00001-of-00003.gguf``), in order; just ``name`` for a single file."""
    match = _SHARD.match(name)
    if match is None:
        return (name,)
    stem, count = match["stem"], match["count"]
    return tuple(sorted(n for n in names if (m := _SHARD.match(n)) and m["stem"] == stem and m["count"] == count))


def _first_shards(names: list[str]) -> list[str]:
    """One name per file: single files, and the first-listed shard of each split."""
    seen: set[tuple[str, ...]] = set()
    out = []
    for name in names:
        group = _group(name, names)
        if group not in seen:
            seen.add(group)
            out.append(group[0])
    return out


def _tag_in_name(name: str, quant: str) -> bool:
    """The quant tag as a whole word of the file name: -Q4_K_M., .Q4_1., _q8_0- ... (case-insensitive)."""
    base = name.rsplit("/", 1)[-1]
    return re.search(rf"(?:^|[-._]){re.escape(quant)}(?:[-._]|$)", base, flags=re.IGNORECASE) is not None


def choose_gguf(
    listing: Listing, path: Path, gguf_file: str | None, quant: str | None, out: FindingList
) -> GgufChoice | None:
    """The GGUF file to judge, by ``gguf_file`` (a name in the directory), else ``quant`` (a tag in the file name,
    else general.file_type of the local files), else the only one; None with an ERROR finding when there is none or
    the choice is ambiguous."""
    names = gguf_files(listing)
    listed = ", ".join(names[:8]) + (f" +{len(names) - 8}" if len(names) > 8 else "") or "none"
    if gguf_file is not None:
        wanted = gguf_file.strip("/")
        hits = [n for n in names if n == wanted] or [n for n in names if n.rsplit("/", 1)[-1] == wanted]
        if len(hits) != 1:
            out.add(
                "WEIGHTS_MISSING",
                Severity.ERROR,
                f"gguf_file {gguf_file!r} is {'ambiguous' if hits else 'not'} in {listing.source} (GGUF files: "
                f"{listed}); fix: name one of them",
                f"gguf_file: {gguf_file}",
            )
            return None
        return GgufChoice(hits[0], _group(hits[0], names), "gguf_file")
    candidates = _first_shards(names)
    if quant is not None:
        hits = [n for n in candidates if _tag_in_name(n, quant)]
        how = f"quant {quant} (file name)"
        if not hits and listing.local:
            hits = [n for n in candidates[:MAX_HEADER_PROBES] if _file_type(path / n) == quant.upper()]
            how = f"quant {quant} (general.file_type)"
        if len(hits) != 1:
            found = f"{len(hits)} match ({', '.join(hits[:8])})" if hits else "none matches"
            out.add(
                "WEIGHTS_MISSING" if not hits else "NOT_SERVABLE",
                Severity.ERROR,
                f"quant {quant!r}: {found} among the GGUF files of {listing.source} ({listed}), by file name or "
                "general.file_type; fix: name the file with gguf_file",
                f"quant: {quant}",
            )
            return None
        return GgufChoice(hits[0], _group(hits[0], names), how)
    if len(candidates) == 1:
        return GgufChoice(candidates[0], _group(candidates[0], names), "the only GGUF file")
    out.add(
        "NOT_SERVABLE",
        Severity.ERROR,
        f"{len(candidates)} GGUF files in {listing.source} ({listed}) and none chosen: vLLM serves one GGUF file "
        "(its path, or DIR:QUANT with vllm-gguf-plugin); fix: choose one with gguf_file: or quant: (e.g. Q4_K_M)",
        "*.gguf",
    )
    return None


# A quant tag as the plugin accepts one after a colon (gguf_utils.is_valid_gguf_quant_type, roughly): a llama.cpp
# file type or ggml type name, with _M/_S/_L/_XL/_XS/_XXS suffixes and dash-separated prefixes (UD-Q4_K_XL).
_QUANT_REFERENCE = re.compile(r"^(?P<model>.+):(?P<quant>(?:[A-Za-z0-9]+-)*(?:I?Q\d\w*|[BF]F?16|F32|MXFP4\w*|TQ\d_0))$")


def split_quant_reference(model: str) -> tuple[str, str] | None:
    """``DIR:QUANT`` / ``REPO:QUANT`` (the plugin's references, e.g. ``Qwen/Qwen3-0.6B-GGUF:Q8_0``) as (model, quant);
    None for anything else (``zoo:member`` included: its right side is no quant tag)."""
    match = _QUANT_REFERENCE.match(model)
    return (match["model"], match["quant"]) if match else None


def plugin_local_pick(names: list[str], quant: str) -> str | None:
    """The file the plugin's ``DIR:QUANT`` resolves to (weight_utils.resolve_local_gguf): ``*-QUANT.gguf`` or
    ``*-QUANT-*.gguf`` (case-sensitive, dash only), fewest dashes first; None when it finds none and raises."""
    hits = [
        n
        for n in names
        if "/" not in n and (n.endswith(f"-{quant}.gguf") or re.search(rf"-{re.escape(quant)}-.*\.gguf$", n))
    ]
    return min(hits, key=lambda n: (n.count("-"), n)) if hits else None


def check_quant_reference(listing: Listing, quant: str, chosen: str, out: FindingList) -> None:
    """A ``DIR:QUANT`` reference: the file the plugin will load, against the one pre-flight judged."""
    picked = plugin_local_pick(gguf_files(listing), quant)
    if picked is None:
        out.add(
            "WEIGHTS_MISSING",
            Severity.ERROR,
            f"DIR:{quant}: vllm-gguf-plugin looks for *-{quant}.gguf or *-{quant}-*.gguf (case-sensitive) and finds "
            f"none in {listing.source} (it raises 'No GGUF file matching quant_type'); {chosen} matches only by "
            "pre-flight's looser rule; fix: name the file itself (its path) instead of DIR:QUANT",
            f"quant: {quant}",
        )
    elif picked != chosen:
        out.add(
            "WEIGHTS_MISSING",
            Severity.WARNING,
            f"DIR:{quant}: vllm-gguf-plugin loads {picked} (fewest dashes first), pre-flight judged {chosen}; fix: "
            "name the file itself",
            f"quant: {quant}",
        )


def _file_type(path: Path) -> str | None:
    try:
        return read_gguf(path).file_type if path.is_file() else None
    except (GgufError, OSError):
        return None


@dataclass(frozen=True)
class GgufRead:
    """The chosen file's header (the first shard's), and the parameters and bytes over every shard."""

    gguf: GgufFile
    parameters: int
    weight_bytes: int


def read_choice(choice: GgufChoice, listing: Listing, path: Path, out: FindingList) -> GgufRead | None:
    """Every shard present and whole, read without tensor data; None with a WEIGHTS_* finding when not."""
    missing = [s for s in choice.shards if s not in listing.files]
    first = _SHARD.match(choice.name.rsplit("/", 1)[-1])
    expected = int(first["count"]) if first else 1
    if len(choice.shards) < expected or missing:
        out.add(
            "WEIGHTS_INCOMPLETE",
            Severity.ERROR,
            f"split GGUF {choice.name}: {len(choice.shards)} of {expected} shards present in {listing.source}; "
            "the plugin loads every shard: download the missing ones",
            choice.name,
        )
        return None
    if not listing.local or not (path / choice.name).is_file():
        size = listing.files.get(choice.name)
        out.add(
            "WEIGHTS_MISSING",
            Severity.WARNING,
            f"{choice.name} ({size if size is not None else 'unknown'} bytes) is not downloaded, so its GGUF header "
            f"was not read: architecture, context, quantisation and tokens unknown; fix: download it (`hf download "
            f"REPO {choice.name}`) and check again",
            choice.name,
        )
        return None
    header: GgufFile | None = None
    parameters = 0
    weight_bytes = 0
    for name in choice.shards:
        try:
            gguf = read_gguf(path / name)
        except GgufError as error:
            out.add(
                error.code,
                Severity.ERROR,
                f"{name}: {error}; vLLM cannot load it: re-download the file",
                f"{name}: GGUF header",
            )
            return None
        except OSError as error:
            out.add(
                "WEIGHTS_INCOMPLETE",
                Severity.ERROR,
                f"{name} cannot be read ({error.strerror or error}); re-download it",
                f"{name}: GGUF header",
            )
            return None
        header = header or gguf
        parameters += gguf.parameters
        weight_bytes += gguf.file_size
    assert header is not None  # shards is never empty
    return GgufRead(header, parameters, weight_bytes)


__all__ = [
    "GgufChoice",
    "GgufRead",
    "check_quant_reference",
    "choose_gguf",
    "gguf_files",
    "is_split_part",
    "plugin_local_pick",
    "read_choice",
    "split_quant_reference",
]


def boot_gguf_file(path: Path, gguf_file: str | None = None, quant: str | None = None) -> Path | None:
    """The GGUF file vLLM is given as ``--model`` for the fetched checkpoint at ``path`` (what pre-flight judged:
    the file itself, the one ``gguf_file`` / ``quant`` chooses, or the only one of a GGUF-only directory); None for a
    transformers checkpoint, or when no single file can be chosen (pre-flight has failed those cells already)."""
    if path.is_file():
        return path
    listing = list_local(path)  # the same walk pre-flight's listing makes (hidden .cache/.git left out)
    if not gguf_files(listing) or (gguf_file is None and quant is None and not gguf_only(listing)):
        return None
    choice = choose_gguf(listing, path, gguf_file, quant, FindingList())
    return path / choice.name if choice is not None else None
