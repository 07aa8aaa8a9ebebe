"""Shards: the split by server (deterministic, balanced, costed), the plan's JSON, and merge's refusals."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from history_fake import make_run
from records_fake import cell, environment, server
from shards_fake import cells_of_shard, shard_runs, write_matrix

from harness.history import HistoryStore
from harness.matrix import demo_matrix_path, load_matrix
from harness.report import write_reports
from harness.results import RESULTS_FILE, GpuRecord, ServerOutcome, append_record, read_results
from harness.shards import (
    MergeError,
    ShardError,
    ShardId,
    estimate_costs,
    make_plan,
    merge_runs,
    parse_shard,
    partition,
    plan_json,
)
from harness.shards.costs import BOOT_OVERHEAD_S, LOAD_BYTES_PER_S, PREFLIGHT_S, PROBE_S
from harness.shards.partition import assignment_sha256
from harness.usecases import UseCase
from harness.verdicts import Verdict
from harness.zoo.writers import safetensors_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_parse_shard_reads_k_of_n_and_refuses_anything_else() -> None:
    """'2/4' is shard 2 of 4; 0/2, 3/2, 'x' and '' are refused with the form to use."""
    assert parse_shard("2/4") == ShardId(2, 4)
    assert str(parse_shard(" 1 / 1 ")) == "1/1"
    for bad in ("0/2", "3/2", "x", "", "1/0", "1-2"):
        with pytest.raises(ShardError, match=r"K/N|between 1 and N"):
            parse_shard(bad)


def test_partition_is_longest_first_into_the_lightest_shard() -> None:
    """7,5,4,3,1 into two shards: LPT gives 10 and 10 (a:7+d:3, b:5+c:4+e:1)."""
    shards = partition({"a": 7, "b": 5, "c": 4, "d": 3, "e": 1}, 2)
    assert [s.cost for s in shards] == [10, 10]
    assert [set(s.servers) for s in shards] == [{"a", "d"}, {"b", "c", "e"}]


def test_partition_is_the_same_whatever_the_order_of_the_costs() -> None:
    """Shuffled insertion order and equal costs (ties broken by name) give the same shards every time."""
    costs = {f"server-{i:02d}": float(i % 4) + 1.0 for i in range(23)}
    expected = partition(costs, 4)
    for seed in range(20):
        keys = list(costs)
        random.Random(seed).shuffle(keys)
        assert partition({k: costs[k] for k in keys}, 4) == expected


def test_partition_is_balanced_within_the_lpt_bound() -> None:
    """On random costs the heaviest shard is within LPT's 4/3 of the lower bound max(total / N, largest)."""
    rng = random.Random(7)
    for _ in range(200):
        costs = {f"s{i}": rng.uniform(1, 100) for i in range(rng.randint(1, 40))}
        total = rng.randint(1, 8)
        shards = partition(costs, total)
        bound = max(sum(costs.values()) / total, max(costs.values()))
        assert max(s.cost for s in shards) <= bound * 4 / 3 + 1e-9
        assert sorted(k for s in shards for k in s.servers) == sorted(costs)


def _checkpoint(directory: Path, weight_floats: int) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}', encoding="utf-8")
    if weight_floats:
        tensors = {"w": np.zeros((weight_floats,), dtype=np.float32)}
        (directory / "model.safetensors").write_bytes(safetensors_bytes(tensors))
    return directory


def _matrix(tmp_path: Path, sizes: dict[str, int]) -> Path:
    """A matrix of local checkpoints, two use cases and two profiles per model: four cells on two servers each."""
    entries = []
    for name, floats in sizes.items():
        _checkpoint(tmp_path / name, floats)
        entries.append(
            f"  - id: ./{name}\n    use_cases: [chat, completions]\n    profiles: {{eager: {{enforce-eager: true}}}}\n"
        )
    path = tmp_path / "matrix.yaml"
    path.write_text("models:\n" + "".join(entries), encoding="utf-8")
    return path


def test_plan_never_splits_a_server_and_covers_every_cell(tmp_path: Path) -> None:
    """Every server (model x profile) is in exactly one shard, with all its cells."""
    matrix = load_matrix(_matrix(tmp_path, {"a": 4096, "b": 1024, "c": 64, "d": 2048, "e": 16}))
    plan = make_plan(matrix, 3, estimate_costs(matrix))
    owners = [key for shard in plan.shards for key in shard.servers]
    assert sorted(owners) == sorted({c.server_key for c in matrix.cells}) and len(owners) == len(set(owners))
    listed = plan_json(plan, matrix)["include"]
    assert sum(entry["cells"] for entry in listed) == len(matrix.cells)


def test_costs_are_a_boot_its_weights_load_and_each_probe(tmp_path: Path) -> None:
    """No history: a server costs the boot overhead, its weight bytes at the load rate and its cells' probe seconds."""
    matrix = load_matrix(_matrix(tmp_path, {"big": 4096, "small": 16}))
    costs = estimate_costs(matrix)
    assert costs.source.startswith("model:") and costs.unit == "s" and not costs.no_boot
    probes = PROBE_S[UseCase.CHAT] + PROBE_S[UseCase.COMPLETIONS]
    assert costs.by_server["big-default"] == pytest.approx(BOOT_OVERHEAD_S + 4096 * 2 / LOAD_BYTES_PER_S + probes)
    assert costs.by_server["small-eager"] == pytest.approx(BOOT_OVERHEAD_S + 16 * 2 / LOAD_BYTES_PER_S + probes)


def test_a_server_whose_cells_pre_flight_fails_costs_almost_nothing(tmp_path: Path) -> None:
    """No config.json (known from the files), or every cell expected to fail with a pre-flight code: no boot, ~0 s."""
    path = _matrix(tmp_path, {"whole": 64, "broken": 64, "declared": 64})
    (tmp_path / "broken" / "config.json").unlink()
    text = path.read_text(encoding="utf-8").replace(
        "  - id: ./declared\n    use_cases: [chat, completions]\n",
        "  - id: ./declared\n    use_cases: [chat, completions]\n"
        "    expect: {chat: ARCH_UNSUPPORTED, completions: ARCH_UNSUPPORTED}\n",
    )
    path.write_text(text, encoding="utf-8")
    costs = estimate_costs(load_matrix(path))
    assert costs.no_boot == {"broken-default", "broken-eager", "declared-default", "declared-eager"}
    assert costs.by_server["broken-default"] == pytest.approx(2 * PREFLIGHT_S)
    assert costs.by_server["declared-eager"] == pytest.approx(2 * PREFLIGHT_S)
    assert costs.by_server["whole-default"] > BOOT_OVERHEAD_S


def test_the_demo_splits_into_three_shards_of_about_equal_predicted_seconds() -> None:
    """`plan --demo --shards 3`: the heaviest shard's predicted seconds are within 1.3 of the lightest's, and each
    shard boots at least three servers (bytes alone put one server in a shard and nine in another)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vllm-compat"), "plan", "--demo", "--shards", "3", "--json", "--offline"],
        capture_output=True,
        text=True,
        check=True,
    )
    shards = json.loads(done.stdout)["include"]
    costs = [entry["expected_cost"] for entry in shards]
    assert all(entry["cost_unit"] == "s" for entry in shards)
    assert max(costs) / min(costs) <= 1.3, costs
    matrix = load_matrix(demo_matrix_path())
    no_boot = estimate_costs(matrix).no_boot
    assert all(len([s for s in entry["servers"] if s not in no_boot]) >= 3 for entry in shards), shards


def test_costs_come_from_history_seconds_when_given(tmp_path: Path) -> None:
    """With a history file: its boot and probe seconds for the servers it knows, the model for the others."""
    matrix = load_matrix(_matrix(tmp_path, {"a": 4096, "b": 16}))
    run = make_run("r1", 60, {"a|default|chat": Verdict.PASS, "a|default|completions": Verdict.PASS})
    run.cells[:] = [c.__class__(**{**c.__dict__, "timings": {"boot_s": 40.0, "probe_s": 2.5}}) for c in run.cells]
    database = tmp_path / "history.sqlite"
    with HistoryStore.open(database) as store:
        store.add(run)
    costs = estimate_costs(matrix, history=database)
    assert costs.source.startswith("model:") and "history" in costs.source and "for 1 of 4 servers" in costs.source
    assert costs.by_server["a-default"] == pytest.approx(40.0 + 2.5 + 2.5)
    model = BOOT_OVERHEAD_S + 16 * 2 / LOAD_BYTES_PER_S + PROBE_S[UseCase.CHAT] + PROBE_S[UseCase.COMPLETIONS]
    assert costs.by_server["b-default"] == pytest.approx(model)


def test_a_server_the_history_saw_fail_before_booting_costs_no_boot(tmp_path: Path) -> None:
    """Every cell of a server in the history, none with a boot (pre-flight failed it, e.g. on the engine's registry):
    its cells' seconds, no boot."""
    matrix = load_matrix(_matrix(tmp_path, {"a": 4096}))
    run = make_run("r1", 60, {"a|default|chat": Verdict.FAIL, "a|default|completions": Verdict.FAIL})
    run.cells[:] = [c.__class__(**{**c.__dict__, "timings": {"cell_s": 0.4}}) for c in run.cells]
    database = tmp_path / "history.sqlite"
    with HistoryStore.open(database) as store:
        store.add(run)
    costs = estimate_costs(matrix, history=database)
    assert costs.by_server["a-default"] == pytest.approx(0.8) and "a-default" in costs.no_boot
    assert costs.by_server["a-eager"] > BOOT_OVERHEAD_S
    # A later run that never reached them (a missing shard, an interrupt) says nothing of their cost: still 0.8.
    later = make_run("r2", 120, {"a|default|chat": Verdict.NOT_RUN, "a|eager|chat": Verdict.NOT_RUN})
    with HistoryStore.open(database) as store:
        store.add(later)
    again = estimate_costs(matrix, history=database)
    assert again.by_server["a-default"] == pytest.approx(0.8) and again.by_server["a-eager"] > BOOT_OVERHEAD_S


def test_plan_json_is_a_github_actions_matrix(tmp_path: Path) -> None:
    """`vllm-compat plan --json` prints {"include": [...]}: one entry per shard with its servers, cost and source."""
    path = _matrix(tmp_path, {"a": 4096, "b": 1024, "c": 64})
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "vllm-compat"),
            "plan",
            "--matrix",
            str(path),
            "--shards",
            "2",
            "--json",
            "--offline",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    matrix = json.loads(done.stdout)
    assert list(matrix) == ["include"] and [e["shard"] for e in matrix["include"]] == ["1/2", "2/2"]
    first = matrix["include"][0]
    assert first["servers"] and first["cost_unit"] == "s" and first["cost_source"].startswith("model:")
    assert len({e["plan_sha256"] for e in matrix["include"]}) == 1


def test_pytest_shard_option_deselects_the_other_shards_cells(tmp_path: Path) -> None:
    """`pytest --shard K/N --collect-only`: each server's cells are collected in exactly one shard, all in all."""
    path = _matrix(tmp_path, {"a": 4096, "b": 1024, "c": 64})
    collected: list[set[str]] = []
    for index in (1, 2):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "vllm_compat",
                "--matrix",
                str(path),
                "--shard",
                f"{index}/2",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        collected.append({line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if "[" in line})
    assert collected[0] and collected[1] and not collected[0] & collected[1]
    assert len(collected[0] | collected[1]) == 12  # 3 models x 2 profiles x 2 use cases
    for ids in collected:
        servers = {i.rsplit("-", 1)[0] for i in ids}
        for key in servers:
            assert {f"{key}-chat", f"{key}-completions"} <= ids  # a server's cells stay together


# -- merge --------------------------------------------------------------------------------------------------------
def _shard_dir(root: Path, name: str, which: str, cells: list[str], **env: object) -> Path:
    run_dir = root / name
    fields: dict[str, object] = {
        "run_id": name,
        "matrix_sha256": "m1",
        "shard": which,
        "shard_plan_sha256": "p1",
        "hostname": f"host-{name}",
    }
    append_record(run_dir / RESULTS_FILE, environment(**(fields | env)))
    for key in cells:
        server_key = key.rsplit("|", 1)[0].replace("|", "-")
        log = run_dir / f"server-{server_key}.log"
        log.write_text(f"log of {server_key}\n", encoding="utf-8")
        append_record(run_dir / RESULTS_FILE, server(server_key, ServerOutcome.READY, run_id=name, log=str(log)))
        append_record(run_dir / RESULTS_FILE, cell(key, Verdict.PASS, run_id=name))
    return run_dir


def test_merge_joins_shards_into_one_run(tmp_path: Path) -> None:
    """Two shards become one results file: one environment naming both, every cell, logs copied beside it."""
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])
    two = _shard_dir(tmp_path, "two", "2/2", ["b|default|chat"])
    merged = merge_runs([two, one], tmp_path / "merged")
    results = read_results(tmp_path / "merged")
    assert results.environment is not None and results.environment.shard is None
    assert [m["shard"] for m in results.environment.merged_from] == ["1/2", "2/2"]
    assert results.environment.hostname == "host-one, host-two"
    assert sorted(c.cell_id for c in results.cells) == ["a-default-chat", "b-default-chat"]
    assert {c.run_id for c in results.cells} == {merged.run_id}
    logs = [Path(s.log or "") for s in results.servers]
    assert all(log.parent == tmp_path / "merged" and log.is_file() for log in logs)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"matrix_sha256": "m2"}, r"different matrices \(matrix sha256\): .*one: m1; .*two: m2"),
        ({"harness_version": "0.2.0"}, r"different harness versions: .*one: 0.1.0; .*two: 0.2.0"),
        ({"shard": "1/2"}, r"shard 1/2 given twice: .*one and .*two"),
        ({"shard": "2/3"}, r"different shard counts: .*one: 1/2; .*two: 2/3"),
        ({"shard_plan_sha256": "p2"}, r"different shard plans"),
        ({"shard": None}, r"two: run two is not a shard"),
    ],
)
def test_merge_refuses_runs_that_are_not_one_split(tmp_path: Path, second: dict[str, object], message: str) -> None:
    """Different matrix, harness version, shard count or plan, a shard twice, a non-shard run: refused, naming both."""
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])
    two = _shard_dir(tmp_path, "two", "2/2", ["b|default|chat"], **second)
    with pytest.raises(MergeError, match=message):
        merge_runs([one, two], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ({"engine_versions": {"vllm": "0.33.0"}}, r"different vLLM versions: .*one: 0.32.0; .*two: 0.33.0; run every"),
        (
            {"gpus": (GpuRecord(0, "NVIDIA L4", 24 * 2**30),), "driver": "550.54"},
            r"different machines \(GPUs and driver\): .*one: cpu; .*two: NVIDIA L4 \(driver 550.54\)",
        ),
    ],
)
def test_merge_refuses_shards_from_different_engines_or_machines(
    tmp_path: Path, second: dict[str, object], message: str
) -> None:
    """Shards on another vLLM version or another GPU are refused: the merged run keys every cell to one machine."""
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])
    two = _shard_dir(tmp_path, "two", "2/2", ["b|default|chat"], **second)
    with pytest.raises(MergeError, match=message):
        merge_runs([one, two], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_overlapping_cells(tmp_path: Path) -> None:
    """A cell in two shards is named with both run dirs."""
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])
    two = _shard_dir(tmp_path, "two", "2/2", ["a|default|chat"])
    with pytest.raises(MergeError, match=r"cell a-default-chat is in two shards: .*one \(1/2\) and .*two \(2/2\)"):
        merge_runs([one, two], tmp_path / "merged")


def test_merge_records_a_missing_shards_cells_not_run(tmp_path: Path) -> None:
    """Shard 2 of 3 left nothing: shards 1 and 3 are merged, shard 2's cells (its servers in the recorded split, its
    cells from the matrix) are NOT RUN, merged_from names it missing and STATUS.md says so first."""
    path = write_matrix(tmp_path / "project")
    runs = shard_runs(tmp_path / "shards", path, 3, (1, 3))
    (tmp_path / "shards" / "run-shard-2").mkdir()  # the crashed shard's upload: a directory with no results
    expected = cells_of_shard(path, 3, 2)
    assert expected
    merged = merge_runs([*runs, tmp_path / "shards" / "run-shard-2"], tmp_path / "merged", matrix=path)
    results = read_results(tmp_path / "merged")
    not_run = {c.cell_id for c in results.cells if c.verdict is Verdict.NOT_RUN}
    assert not_run == expected and len(results.cells) == 6  # three servers, two cells each
    assert [str(m.id) for m in merged.missing] == ["2/3"] and len(merged.skipped) == 1
    assert results.environment is not None
    missing = [m for m in results.environment.merged_from if m.get("missing")]
    assert [m["shard"] for m in missing] == ["2/3"] and missing[0]["cells"] == len(expected)
    assert all("shard 2/3" in c.message and "run it again" in c.message for c in results.cells if c.cell_id in not_run)
    write_reports(tmp_path / "merged")
    status = (tmp_path / "merged" / "STATUS.md").read_text(encoding="utf-8")
    assert status.splitlines()[2].startswith(f"**shard 2/3 MISSING: {len(expected)} cells not run**"), status[:300]
    assert "Not run (shard 2/3 of the split left no results to merge" in status


def test_the_gate_blocks_a_merged_run_with_a_missing_shard(tmp_path: Path) -> None:
    """`vllm-compat gate MERGED --matrix M` exits 1 and names the missing shard's required cells NOT RUN."""
    path = write_matrix(tmp_path / "project")
    runs = shard_runs(tmp_path / "shards", path, 3, (1, 3))
    merge_runs(runs, tmp_path / "merged", matrix=path)
    gone = sorted(c for c in cells_of_shard(path, 3, 2) if c.endswith("-chat"))  # chat is required
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vllm-compat"), "gate", str(tmp_path / "merged"), "--matrix", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert gone and all(cell_id in done.stdout for cell_id in gone) and "NOT RUN" in done.stdout


def test_merge_of_a_missing_shard_needs_the_matrix_and_the_recorded_split(tmp_path: Path) -> None:
    """No matrix to name the cells, another matrix, or shards that do not record their split: refused with the fix."""
    path = write_matrix(tmp_path / "project")
    runs = shard_runs(tmp_path / "shards", path, 3, (1, 3))
    path.rename(tmp_path / "elsewhere.yaml")  # the path the shards recorded is not on this machine
    with pytest.raises(MergeError, match=r"missing shard\(s\) 2/3: .*cannot be read .*pass --matrix PATH"):
        merge_runs(runs, tmp_path / "merged")
    other = write_matrix(tmp_path / "other", ("a", "b"))
    with pytest.raises(MergeError, match=r"--matrix .*other/matrix.yaml: sha256 .*but the shards ran"):
        merge_runs(runs, tmp_path / "merged", matrix=other)
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])  # no shard_plan in its environment
    with pytest.raises(MergeError, match=r"missing shard\(s\) 2/2, and .*one does not record the split"):
        merge_runs([one], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_merge_command_says_a_missing_shard_loudly_and_exits_0(tmp_path: Path) -> None:
    """`vllm-compat merge` with shard 2/3 absent: exit 0 (the gate decides), stderr names the shard in capitals."""
    path = write_matrix(tmp_path / "project")
    runs = shard_runs(tmp_path / "shards", path, 3, (1, 3))
    out = ["--out", str(tmp_path / "m"), "--matrix", str(path)]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vllm-compat"), "merge", *map(str, runs), *out],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "SHARD 2/3 MISSING" in done.stderr and "NOT RUN" in done.stderr and "Traceback" not in done.stderr
    assert "shard 2/3 MISSING" in done.stdout


def test_merge_command_says_why_in_one_line(tmp_path: Path) -> None:
    """`vllm-compat merge` of mismatched shards exits 2 with the reason and no traceback."""
    one = _shard_dir(tmp_path, "one", "1/2", ["a|default|chat"])
    two = _shard_dir(tmp_path, "two", "2/2", ["b|default|chat"], harness_version="9.9.9")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "vllm-compat"), "merge", str(one), str(two), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "different harness versions" in done.stderr and "9.9.9" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_empty_shard_still_writes_its_environment(tmp_path: Path) -> None:
    """With more shards than servers, shard 3/3 runs nothing but records itself (merge then finds every shard)."""
    path = _matrix(tmp_path, {"a": 64})  # one model, two profiles: two servers
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "vllm_compat",
            "--matrix",
            str(path),
            "--shard",
            "3/3",
            "--run-dir",
            str(tmp_path / "run3"),
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 5, done.stdout + done.stderr  # pytest: no tests ran
    results = read_results(tmp_path / "run3")
    assert results.environment is not None and results.environment.shard == "3/3" and not results.cells
    split = results.environment.shard_plan  # the split itself, for merge to name a missing shard's cells
    assert list(split) == ["1/3", "2/3", "3/3"] and split["3/3"] == ()
    assert assignment_sha256(split) == results.environment.shard_plan_sha256


def test_vllm_compat_run_passes_the_shard_and_history_to_pytest() -> None:
    """`vllm-compat run --shard 2/3 --history H` hands both options to the plugin."""
    from harness.cli import build_parser
    from harness.commands.run import pytest_argv

    args = build_parser().parse_args(["run", "--demo", "--shard", "2/3", "--history", "h.sqlite"])
    argv = pytest_argv(args, Path("/tmp"))
    assert argv[argv.index("--shard") + 1] == "2/3" and argv[argv.index("--history") + 1] == "h.sqlite"


def test_every_use_case_has_a_probe_cost() -> None:
    """A use case added to the vocabulary without its probe seconds would crash every plan that meets it."""
    from harness.shards.costs import PROBE_S
    from harness.usecases import UseCase

    assert set(PROBE_S) == set(UseCase)
