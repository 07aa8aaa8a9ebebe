"""The wheel, installed with its dependencies into a fresh virtualenv outside the checkout, runs a real cell on the CPU
engine from a directory that is neither the checkout nor the matrix's, and its pytest plugin collects the suites there.

The virtualenv is made without --system-site-packages and the wheel is installed with its dependencies from the index
(pip's cache makes that ~20 s): nothing of the checkout or of the harness's own environment is visible to it, which
the fixture checks. A conftest.py that raises is planted in its site-packages, where a badly packaged dependency could
put one, and the user's project the commands run from has a configuration and a conftest of its own that would break
the run if pytest applied them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
# What a fresh clone does not have: the wheel is built from the sources alone (setuptools never empties a stale build/,
# whose modules from before a move would otherwise ship).
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "reports", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache",
    ".pytest_cache",
)  # fmt: skip
MATRIX = """
defaults:
  # enforce-eager: the compile is not under test here, and costs ~7.5 s of a ~43 s boot on 2 cores
  flags: {max-model-len: 512, gpu-memory-utilization: 0.2, enforce-eager: true}
  env: {VLLM_CPU_KVCACHE_SPACE: "1"}
  timeouts: {boot: 600, probe: 60}
  semantic: false
models:
  - id: zoo:chat-ok
    use_cases: [chat]
"""
CELL = "chat-ok-default-chat"
RAISES = 'raise RuntimeError("this conftest.py must never be loaded by a vllm-compat run")\n'


def _env() -> dict[str, str]:
    """The caller's environment without what would point the fresh virtualenv back at the checkout or the harness."""
    dropped = {"PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VLLM_COMPAT_ENGINE_PYTHON"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def _check(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel and its dependencies, and nothing of the checkout."""
    base = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, base / "src", ignore=NOT_SOURCES)
    _check([sys.executable, "-m", "pip", "wheel", str(base / "src"), "--no-deps", "-q", "-w", str(base / "dist")], base)
    (wheel,) = (base / "dist").glob("vllm_compat-*.whl")
    venv = base / "venv"
    _check([sys.executable, "-m", "venv", str(venv)], base)
    python = str(venv / "bin" / "python")
    _check([python, "-m", "pip", "install", "-q", str(wheel)], base)
    site = Path(_check([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], base).stdout.strip())
    where = _check([python, "-c", "import harness; print(harness.__file__)"], base).stdout.strip()
    assert Path(where).is_relative_to(site), f"the harness is not the installed wheel's: {where}"
    assert Path(sysconfig.get_path("purelib")) != site
    (site / "conftest.py").write_text(RAISES)
    return venv


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A user's repository with a pytest configuration and a conftest of its own; the matrix lives somewhere else."""
    (tmp_path / "matrices").mkdir()
    (tmp_path / "matrices" / "matrix.yaml").write_text(MATRIX)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_own.py").write_text("def test_own() -> None:\n    pass\n")
    (project / "conftest.py").write_text(RAISES)
    return project


def test_vllm_compat_run_passes_a_real_cell_from_the_installed_wheel(
    venv: Path, project: Path, engine_python: Path
) -> None:
    """`vllm-compat run --matrix <elsewhere>/matrix.yaml` from the user's repository boots the CPU engine, the cell is
    PASS, and the run directory and STATUS.md land under ./reports of the directory it was run from."""
    # Settings that would break the suites if the run read them: the run passes its own -c.
    (project / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\npython_files = check_*.py\n")
    matrix = project.parent / "matrices" / "matrix.yaml"
    argv = [str(venv / "bin" / "vllm-compat"), "run", "--matrix", str(matrix), "--engine-python", str(engine_python)]
    done = _check([*argv, "--offline"], project, timeout=1200)
    (results,) = (project / "reports" / "runs").glob("*/results.jsonl")
    records = [json.loads(line) for line in results.read_text().splitlines()]
    cells = {r["cell_id"]: r for r in records if r["kind"] == "cell"}
    assert list(cells) == [CELL], done.stdout[-3000:]
    assert cells[CELL]["verdict"] == "PASS", cells[CELL]
    assert (project / "reports" / "STATUS.md").is_file()


def test_pytest_with_the_plugin_collects_the_shipped_suites_from_any_directory(venv: Path, project: Path) -> None:
    """`pytest -p vllm_compat --matrix FILE` with no path collects the cell from the package's suites, not the
    project's own tests, and loads neither the project's conftest nor the one planted in site-packages."""
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    matrix = project.parent / "matrices" / "matrix.yaml"
    done = _check(
        [str(venv / "bin" / "pytest"), "-p", "vllm_compat", "--matrix", str(matrix), "--collect-only", "-q"], project
    )
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected == [f"test_chat.py::test_chat[{CELL}]"], done.stdout


def test_diagnose_from_the_installed_wheel_knows_vllms_releases_without_an_engine(venv: Path, tmp_path: Path) -> None:
    """The shipped release sites travel in the wheel: with an empty cache and no engine environment, a message only
    vLLM 0.5.5 to 0.9.2 raised is coded and named with its releases."""
    log = tmp_path / "old.log"
    log.write_text("ValueError: Currently, MiniCPMV only supports versions 2.0, 2.5, and 2.6\n")
    env = {**_env(), "VLLM_COMPAT_CACHE": str(tmp_path / "empty-cache")}
    argv = [str(venv / "bin" / "vllm-compat"), "diagnose", str(log), "--json", "--explain"]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["code"] == "ARCH_UNSUPPORTED", answer
    assert answer["site"].endswith("(vLLM 0.5.5-0.9.2)"), answer
