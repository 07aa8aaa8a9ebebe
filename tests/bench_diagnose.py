"""Benchmark of `diagnose`: seconds per real log, and time and peak memory on a generated 100 MB log read from a file.

Run: ``PYTHONPATH=$PWD python tests/bench_diagnose.py [--megabytes 100]``. Prints figures, asserts nothing: timings
depend on the machine. The big log is a real failure log's lines repeated (INFO chatter, tracebacks, a request log),
with the root cause near the end, as a long-running server's log has it; it is written to a temporary file and
diagnosed from the open file, as `vllm-compat diagnose` does.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from harness.diagnose import diagnose, load_sites
from tests.diagnose_accuracy import REAL, newest_engine_site_packages

CHATTER = (
    "(APIServer pid=1) INFO 01-01 00:00:00 [loggers.py:123] Engine 000: Avg prompt throughput: 12.3 tokens/s, "
    "Avg generation throughput: 45.6 tokens/s, Running: 3 reqs, Waiting: 0 reqs, GPU KV cache usage: 1.2%\n"
    '(APIServer pid=1) INFO:     10.0.0.1:40000 - "POST /v1/chat/completions HTTP/1.1" 200 OK\n'
    "Loading safetensors checkpoint shards:  50% Completed | 1/2 [00:01<00:01,  1.20s/it]\r"
    "Loading safetensors checkpoint shards: 100% Completed | 2/2 [00:02<00:00,  1.10s/it]\n"
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args(argv)
    site_packages = newest_engine_site_packages()
    sites = load_sites(site_packages) if site_packages is not None else None
    slowest, total = 0.0, 0.0
    logs = sorted(REAL.glob("*.log"))
    for path in logs:
        started = time.perf_counter()
        diagnose(path.read_text(), sites=sites)
        seconds = time.perf_counter() - started
        slowest, total = max(slowest, seconds), total + seconds
    print(f"real logs: {len(logs)}, mean {1000 * total / len(logs):.1f} ms, slowest {1000 * slowest:.1f} ms")

    tail = (REAL / "gpustack-lora-rank-64.log").read_text().split("\n", 1)[1]
    with tempfile.TemporaryDirectory() as directory:
        big = Path(directory) / "engine.log"
        with big.open("w") as out:
            written = 0
            while written < args.megabytes * 1_000_000:
                out.write(CHATTER * 100)
                written += len(CHATTER) * 100
            out.write(tail)
        size = big.stat().st_size
        started = time.perf_counter()
        with big.open(encoding="utf-8", errors="replace", newline="") as stream:
            result = diagnose(stream, sites=sites)
        seconds = time.perf_counter() - started
        tracemalloc.start()  # a second pass for the memory: tracing slows Python down several times
        with big.open(encoding="utf-8", errors="replace", newline="") as stream:
            diagnose(stream, sites=sites)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{size / 1e6:.0f} MB log: {seconds:.1f} s, {size / 1e6 / seconds:.0f} MB/s, peak traced memory "
        f"{peak / 1e6:.1f} MB, process max RSS {rss:.0f} MB; answer {result.code} at line {result.line}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
