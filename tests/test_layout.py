"""The layout's rules, checked on the source: stages meet only through package surfaces, in the pipeline's order."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parents[1] / "harness"
PACKAGES = sorted(p.parent.relative_to(HARNESS).as_posix().replace("/", ".") for p in HARNESS.rglob("__init__.py"))
PACKAGES = [p for p in PACKAGES if p != "."]
# Which stage may not reach which: the pipeline flows one way, and the runner (or the plugin/CLI) composes.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "server": ("matrix", "runner", "probes", "checkpoint", "zoo", "fleet"),
    "matrix": ("probes", "runner", "checkpoint", "measure"),
    "checkpoint": ("runner", "server", "probes", "matrix", "fleet"),
    "probes": ("runner", "matrix", "server"),
    "measure": ("runner", "matrix", "fleet"),
    "engine": ("runner", "matrix", "server", "probes", "checkpoint", "fleet"),
    # after engine/checkpoint (GPU facts, weight sizes), before the runner that boots: knows no matrix or server
    "fleet": ("runner", "matrix", "server", "probes", "checkpoint", "zoo"),
    "zoo": ("runner", "matrix", "server", "probes"),
    # shards split a matrix and join runs: above the records and history, below the runner that runs a shard
    "shards": ("runner", "server", "probes", "zoo"),
    # composes the runner for a stack and is read by the report: never by the history, pages or gate
    "deploy": ("history", "pages"),
    # the upgrade gate compares two ordinary runs and two engines' answers: it never runs or boots anything itself
    "upgrade": ("runner", "server", "probes", "zoo", "pages"),
}
COMPOSERS = ("harness.plugin", "harness.cli", "harness.commands")
PROGRAMS = ("__main__", "bench")  # `python -m` entry points compose like the CLI does


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(HARNESS.rglob("*.py")):
        parts = path.relative_to(HARNESS.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return [(line, name) for line, name in out if name == "harness" or name.startswith("harness.")]


def _package_of(module: str) -> str | None:
    """The stage package a harness module belongs to ('probes.inputs' counts as 'probes'), or None at top level."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in {p.split(".")[0] for p in PACKAGES}) else None


def test_stages_meet_only_through_package_surfaces() -> None:
    """A module outside a package imports `harness.<package>`, never one of its modules (`harness.<package>.x`)."""
    wrong = []
    for module, path in _modules():
        for line, target in _imports(path):
            parts = target.split(".")
            if len(parts) < 3 or parts[1] not in {p.split(".")[0] for p in PACKAGES}:
                continue
            if _package_of(module) == parts[1] or module.startswith(COMPOSERS) or module.endswith(PROGRAMS):
                continue
            wrong.append(f"{path.relative_to(HARNESS.parent)}:{line}: imports {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_a_stage_never_imports_a_later_or_composing_stage(stage: str) -> None:
    """server/ never imports matrix/, matrix/ never imports probes/, nothing below the runner imports it."""
    wrong = []
    for module, path in _modules():
        if _package_of(module) != stage or module.endswith(PROGRAMS):
            continue
        for line, target in _imports(path):
            parts = target.split(".")
            if len(parts) >= 2 and (parts[1] in FORBIDDEN[stage] or target.startswith(COMPOSERS)):
                wrong.append(f"{path.relative_to(HARNESS.parent)}:{line}: imports {target}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_says_its_job_and_lists_its_surface(package: str) -> None:
    """Every package's __init__ has a docstring and an __all__ whose names all exist."""
    module = importlib.import_module(f"harness.{package}")
    assert (module.__doc__ or "").strip(), f"harness/{package.replace('.', '/')}/__init__.py has no docstring"
    surface = getattr(module, "__all__", None)
    assert surface is not None, f"harness.{package} has no __all__"
    missing = [name for name in surface if not hasattr(module, name)]
    assert not missing, f"harness.{package}.__all__ names what it does not define: {missing}"
