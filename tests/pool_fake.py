"""A ServerPool over the fake engine (tests/fake_engine.py) for the pool's unit tests: a qwen2-shaped model directory,
a one-cell matrix for it, and the pool planned for that cell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.matrix import Cell, load_matrix
from harness.runner import Progress, ServerPool

FAKE = Path(__file__).with_name("fake_engine.py")


def fake_pool(
    tmp_path: Path, *, model_keys: str = "", wrapper_prelude: str = "", **pool_options: Any
) -> tuple[ServerPool, Cell]:
    """The pool and its one chat cell; ``model_keys`` adds matrix lines to the model's entry, ``wrapper_prelude``
    shell lines to the engine wrapper before it runs the fake engine, ``pool_options`` override ServerPool's."""
    wrapper = tmp_path / "engine" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\n{wrapper_prelude}exec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
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
