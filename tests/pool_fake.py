"""A ServerPool over the fake engine (tests/fake_engine.py) for the pool's unit tests: a qwen2-shaped model directory,
a one-cell matrix for it, and the pool planned for that cell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.fleet import Allocator, Inventory, NodeScheduler, describe_inventory, described_memory
from harness.matrix import Cell, load_matrix
from harness.runner import CellRunner, Progress, ServerPool

FAKE = Path(__file__).with_name("fake_engine.py")


def described_scheduler(tmp_path: Path, text: str, kind: type[NodeScheduler] = NodeScheduler) -> NodeScheduler:
    """A scheduler over the node ``text`` describes (``VLLM_COMPAT_GPUS``' syntax), its leases under ``tmp_path``."""
    inventory = Inventory(describe_inventory(text), "described", described=text)
    return kind(inventory, Allocator(tmp_path / "leases"), described_memory, poll_s=0.01)


def fake_engine_python(directory: Path, prelude: str = "") -> Path:
    """An engine python under ``directory`` that runs the fake engine (``prelude``: shell lines before it)."""
    wrapper = directory / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\n{prelude}exec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def fake_runner(tmp_path: Path, **options: Any) -> CellRunner:
    """A CellRunner over the fake engine, writing under ``tmp_path / "run"``; ``options`` add to or override its own."""
    defaults: dict[str, Any] = {
        "run_id": "r1",
        "run_dir": tmp_path / "run",
        "engine_python": fake_engine_python(tmp_path / "engine"),
        "offline": True,
        "boot_timeout": 30,
        "progress": Progress(),
    }
    return CellRunner(**{**defaults, **options})


def fake_pool(
    tmp_path: Path, *, model_keys: str = "", wrapper_prelude: str = "", **pool_options: Any
) -> tuple[ServerPool, Cell]:
    """The pool and its one chat cell; ``model_keys`` adds matrix lines to the model's entry, ``wrapper_prelude``
    shell lines to the engine wrapper before it runs the fake engine, ``pool_options`` override ServerPool's."""
    wrapper = fake_engine_python(tmp_path / "engine", wrapper_prelude)
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text('{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}')
    (tmp_path / "matrix.yaml").write_text(f"models:\n  - id: {model}\n    use_cases: [chat]\n{model_keys}")
    (cell,) = load_matrix(tmp_path / "matrix.yaml").cells
    run_dir = tmp_path / "run"
    options: dict[str, Any] = {
        "run_id": "r1",
        "run_dir": run_dir,
        "results_path": run_dir / "results.jsonl",
        "engine_python": wrapper,
        "offline": True,
        "boot_timeout": 30,
        "progress": Progress(),
        "extra_env": {},
    }
    pool = ServerPool(**{**options, **pool_options})
    pool.plan([cell])
    return pool, cell
