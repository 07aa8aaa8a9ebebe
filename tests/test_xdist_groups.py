"""`vllm-compat run -- -n 2 --dist loadgroup` keeps every server's cells on one xdist worker, so each server boots
once: the group is what makes a parallel run cost what a serial one does in boots. A real inner pytest with two real
xdist workers, over cells pre-flight fails (nothing boots)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

MATRIX = """\
defaults:
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2}
models:
  - id: zoo:missing-config
    use_cases: [chat, completions, stop_tokens]
    expect: {chat: CONFIG_MISSING, completions: CONFIG_MISSING, stop_tokens: CONFIG_MISSING}
  - id: zoo:incomplete-shards
    use_cases: [chat, completions]
    expect: {chat: WEIGHTS_INCOMPLETE, completions: WEIGHTS_INCOMPLETE}
"""


def test_each_servers_cells_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "matrix.yaml").write_text(MATRIX, encoding="utf-8")
    argv = [sys.executable, "-m", "harness.cli", "run", "--matrix", "matrix.yaml", "--run-dir", "run"]
    argv += ["--latency-repeats", "0", "--", "-n", "2", "--dist", "loadgroup", "-v"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    workers: defaultdict[str, set[str]] = defaultdict(set)
    for worker, cell in re.findall(r"\[(gw\d+)\] .*?\[([a-z0-9-]+-default-[a-z_]+)\]", done.stdout):
        workers[cell.rsplit("-default-", 1)[0]].add(worker)
    assert set(workers) == {"missing-config", "incomplete-shards"}, done.stdout[-3000:]
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
    assert done.returncode == 0, done.stdout[-3000:]
