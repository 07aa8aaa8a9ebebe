"""The shard plan's predicted seconds against measured wall time: the demo run as N shards, one after another.

    .venv/bin/python tests/bench_shards.py [N] [-- extra `vllm-compat run` arguments]     (make bench-shards)

Plans `vllm-compat plan --demo --shards N --json` (no history: the cost model alone), then runs `vllm-compat run --demo
--shard K/N` for K = 1..N sequentially, each from the same empty project directory (so no reports/history.sqlite
changes the split between shards), and prints each shard's predicted and measured seconds, and max/min of both.
It BOOTS vLLM (every booting server of the demo, once): ~15 min on 2 CPU cores. On a shared machine wrap it:
`flock /tmp/vllm-boot.lock .venv/bin/python tests/bench_shards.py 3`. Nothing is asserted: the figures are the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "vllm-compat")


def _plan(total: int, cwd: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [CLI, "plan", "--demo", "--shards", str(total), "--json", "--offline"],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    shards: list[dict[str, Any]] = json.loads(done.stdout)["include"]
    return shards


def main(total: int = 3, extra: list[str] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        project = Path(tmp)
        plan = _plan(total, project)
        measured: list[float] = []
        for entry in plan:
            run_dir = project / "runs" / f"shard{entry['index']}"
            started = time.monotonic()
            done = subprocess.run(
                [CLI, "run", "--demo", "--shard", str(entry["shard"]), "--run-dir", str(run_dir), *(extra or [])],
                cwd=project,
                capture_output=True,
                text=True,
            )
            measured.append(time.monotonic() - started)
            print(
                f"shard {entry['shard']}: predicted {entry['expected_cost']:.0f} s, measured {measured[-1]:.0f} s "
                f"(exit {done.returncode}); servers: {', '.join(map(str, entry['servers']))}",
                flush=True,
            )
        predicted = [float(e["expected_cost"]) for e in plan]
        print(f"cost model: {plan[0]['cost_source']}")
        print(f"predicted max/min: {max(predicted) / max(min(predicted), 1e-9):.2f}")
        print(f"measured max/min:  {max(measured) / max(min(measured), 1e-9):.2f}")
        print(f"measured total: {sum(measured):.0f} s; predicted total: {sum(predicted):.0f} s")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    rest = arguments[arguments.index("--") + 1 :] if "--" in arguments else []
    head = arguments[: arguments.index("--")] if "--" in arguments else arguments
    main(int(head[0]) if head else 3, rest)
