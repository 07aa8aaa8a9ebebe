"""Benchmark of `diagnose`: seconds per real log, and time and peak memory on a generated 100 MB log read from a file.

Run: ``PYTHONPATH=$PWD python tests/bench_diagnose.py [--megabytes 100]``. Prints figures, asserts nothing: timings
depend on the machine. The big log is a long server's chatter (INFO records, an access log, a progress bar line with
carriage returns), each line's numbers changing as a real log's do (times, ports, counters), and a real failure log
(gpustack-lora-rank-64) near the end; a second one has the failure in the middle and chatter after it. Each is written
to a temporary file and diagnosed from the open file, as `vllm-compat diagnose` does.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from harness.diagnose import SiteIndex, diagnose, load_sites
from harness.diagnose.releases import with_releases
from tests.diagnose_accuracy import REAL, newest_engine_site_packages

CHATTER = (
    "(APIServer pid=1) INFO 01-01 00:{m:02d}:{s:02d} [loggers.py:123] Engine 000: Avg prompt throughput: {a}.3 "
    "tokens/s, Avg generation throughput: {b}.6 tokens/s, Running: {r} reqs, Waiting: 0 reqs, GPU KV cache usage: "
    "{r}.2%\n"
    '(APIServer pid=1) INFO:     10.0.0.1:{port} - "POST /v1/chat/completions HTTP/1.1" 200 OK\n'
    "Loading safetensors checkpoint shards:  {r}% Completed | 1/2 [00:{s:02d}<00:01,  1.{a}s/it]\r"
    "Loading safetensors checkpoint shards: 100% Completed | 2/2 [00:{m:02d}<00:00,  1.{b}s/it]\n"
)


def chatter(megabytes: float, seed: int = 0) -> Iterator[str]:
    """About ``megabytes`` of chatter, in pieces of a hundred groups of lines, no two groups alike in their numbers."""
    written, k = 0, seed
    while written < megabytes * 1_000_000:
        piece = "".join(
            CHATTER.format(m=i % 60, s=(i * 7) % 60, a=i % 97, b=i % 89, r=i % 100, port=40000 + i % 20000)
            for i in range(k, k + 100)
        )
        k += 100
        written += len(piece)
        yield piece


def measure(path: Path, sites: SiteIndex | None, label: str) -> None:
    """Wall-clock and CPU time, then (a second pass: tracing slows Python down several times) peak traced memory, of
    one big log."""
    size = path.stat().st_size
    started, cpu_started = time.perf_counter(), time.process_time()
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        result = diagnose(stream, sites=sites)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    tracemalloc.start()
    with path.open(encoding="utf-8", errors="replace", newline="") as stream:
        diagnose(stream, sites=sites)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{size / 1e6:.0f} MB log, {label}: {seconds:.1f} s ({cpu:.1f} s CPU: a shared machine's wall clock waits "
        f"too), {size / 1e6 / seconds:.0f} MB/s, peak traced memory "
        f"{peak / 1e6:.1f} MB, process max RSS {rss:.0f} MB; answer {result.code} at line {result.line}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    args = parser.parse_args(argv)
    site_packages = newest_engine_site_packages()
    # as `vllm-compat diagnose` reads them: the engine's sites and the shipped releases' (their load is timed apart)
    started = time.perf_counter()
    sites = with_releases(load_sites(site_packages) if site_packages is not None else None)
    print(f"sites: {len(sites.sites)} loaded in {time.perf_counter() - started:.2f} s")
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
            out.writelines(chatter(args.megabytes))
            out.write(tail)
        measure(big, sites, "failure at the end")
        with big.open("w") as out:
            out.writelines(chatter(args.megabytes / 2))
            out.write(tail)
            out.writelines(chatter(args.megabytes / 2, seed=1 << 20))
        measure(big, sites, "failure in the middle")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
