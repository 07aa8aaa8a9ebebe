"""The shipped sites of vLLM's published releases (harness/diagnose/releases.py): the file, its builder, its use."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.diagnose import diagnose, load_sites
from harness.diagnose.releases import (
    PROJECTS,
    build,
    data_path,
    last_of_each_minor,
    release_sites,
    sites_of_archive,
    with_releases,
)
from harness.diagnose.sites import RULES_KEY
from harness.paths import cache_root
from tests.test_diagnose_sites import _installed_engines


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VLLM_COMPAT_CACHE", str(tmp_path / "cache"))
    release_sites.cache_clear()
    yield tmp_path
    release_sites.cache_clear()


def test_the_shipped_file_covers_every_minor_line_from_the_first_releases_to_past_the_installed_engine() -> None:
    shipped = release_sites()
    assert set(shipped.releases) == {"vllm", "transformers", "huggingface_hub"}
    for package, releases in shipped.releases.items():
        lines = [tuple(int(part) for part in release.split(".")[:2]) for release in releases]
        assert lines == sorted(lines) and len(set(lines)) == len(lines), (package, releases)
        assert len(lines) >= 10, (package, releases)
    vllm = [tuple(int(part) for part in release.split(".")[:2]) for release in shipped.releases["vllm"]]
    assert vllm[0] <= (0, 2) and vllm[-1] >= (0, 33), vllm  # newer than the 0.32 engine we build
    vllm_sites = [site for site in shipped.sites if site.module.startswith("vllm/")]
    assert len(vllm_sites) > 8000
    assert len({site.template for site in vllm_sites}) == len(vllm_sites)  # each message once
    assert all(site.releases for site in shipped.sites)
    # transformers' per-model modules are not read (vLLM never runs them), its auto classes are
    modules = {site.module for site in shipped.sites}
    assert "transformers/models/auto/configuration_auto.py" in modules
    assert not [m for m in modules if m.startswith("transformers/models/") and "/auto/" not in m]
    assert data_path().is_relative_to(Path(__file__).parent.parent / "harness")  # inside the package: wheels ship it


def test_a_message_only_old_releases_raise_is_coded_and_named_with_its_releases(isolated_cache: Path) -> None:
    """MiniCPMV's version check read "2.0, 2.5, and 2.6" up to 0.9 (a site rule reads where it is raised, not its
    words): with no engine environment at all, the shipped releases still know it."""
    log = "ValueError: Currently, MiniCPMV only supports versions 2.0, 2.5, and 2.6\n"
    assert diagnose(log).code == "OTHER"  # the hand signatures do not know it
    found = diagnose(log, sites=with_releases(None))
    assert found.code == "ARCH_UNSUPPORTED"
    assert found.site is not None and found.site.startswith("vllm/model_executor/models/minicpmv.py:")
    assert found.site.endswith("(vLLM 0.5.5-0.9.2)")


def test_release_codes_come_from_todays_rules_and_are_cached_per_rules(isolated_cache: Path) -> None:
    shipped = release_sites()
    written = list((cache_root() / "diagnose").glob(f"release-codes-*-{RULES_KEY}.json"))
    assert len(written) == 1
    codes = json.loads(written[0].read_text())
    assert codes == [site.code for site in shipped.sites]
    release_sites.cache_clear()
    written[0].write_text(json.dumps(["OOM"] * len(codes)))  # what is cached is what is read: no second pass
    assert {site.code for site in release_sites().sites} == {"OOM"}


@pytest.mark.parametrize("site_packages", _installed_engines()[-1:] or [None])
def test_an_installed_engines_own_site_wins_over_a_releases(site_packages: Path | None) -> None:
    if site_packages is None:
        pytest.skip("no engine environment is built under the cache root")
    own = load_sites(site_packages)
    merged = with_releases(own)
    assert merged.sites[: len(own.sites)] == own.sites
    added = merged.sites[len(own.sites) :]
    assert added and all(site.releases for site in added)
    assert not {site.template for site in added} & {site.template for site in own.sites}


@pytest.mark.parametrize("site_packages", _installed_engines() or [None])
def test_the_shipped_releases_agree_with_the_installed_engines_source(site_packages: Path | None) -> None:
    """The sdist reader and the installed reader see the same messages: of the engine's own messages, those its
    release has are in the shipped file with that release in their span (a drift between the two readers, or a
    shipped file built wrong, shows here)."""
    if site_packages is None:
        pytest.skip("no engine environment is built under the cache root")
    index = load_sites(site_packages)
    shipped = release_sites()
    if index.version not in shipped.releases["vllm"]:
        pytest.skip(f"vLLM {index.version} is not one of the shipped releases")
    spans = {site.template: site.releases for site in shipped.sites}
    own = {site.template for site in index.sites}
    missing = [template for template in own if template not in spans]
    assert len(missing) <= 0.02 * len(own), missing[:10]  # the CPU wheel's few own files (a build's generated code)


def test_last_of_each_minor_skips_candidates_and_orders_lines_numerically() -> None:
    listed = ["0.6.3", "0.6.3.post1", "0.6.6.post1", "0.7.0rc1", "0.7.0", "0.10.0", "0.9.2", "0.11.0.dev3", "junk"]
    assert last_of_each_minor(listed) == ["0.6.6.post1", "0.7.0", "0.9.2", "0.10.0"]


def _sdist(version: str, modules: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, source in modules.items():
            data = textwrap.dedent(source).encode()
            member = tarfile.TarInfo(f"vllm-{version}/{name}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


OLD = {
    "vllm/lora/models.py": """
        def load(rank, limit):
            raise ValueError(f"LoRA rank {rank} is greater than max_lora_rank {limit}.")
    """,
    "tests/test_x.py": 'raise ValueError("a test module is no part of vLLM at all")\n',
    "setup.py": 'raise RuntimeError("the build script is no part of vLLM either")\n',
}
NEW = {
    "vllm/lora/lora_model.py": """
        def load(rank, limit):
            raise ValueError(f"LoRA rank {rank} is greater than max_lora_rank {limit}.")
    """,
    "vllm/config/cache.py": """
        def check(free):
            raise ValueError(f"No available memory for the cache blocks ({free})")
    """,
}


def test_the_sdist_reader_keeps_the_vllm_package_only() -> None:
    sites = sites_of_archive(_sdist("0.1.0", OLD), PROJECTS[0])
    assert [(site.module, site.code) for site in sites] == [("vllm/lora/models.py", "LORA_RANK")]


def test_the_wheel_reader_keeps_what_vllm_runs_of_a_library() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(
            "transformers/utils/hub.py",
            'raise OSError("x is not a local folder and is not a valid model identifier")\n',
        )
        wheel.writestr(
            "transformers/models/auto/configuration_auto.py",
            'raise ValueError("Unrecognized model in the folder: x")\n',
        )
        wheel.writestr(
            "transformers/models/llama/modeling_llama.py", 'raise ValueError("a per-model module vLLM never runs")\n'
        )
        wheel.writestr("transformers/trainer.py", 'raise ValueError("the trainer is never run by vLLM either")\n')
    (transformers,) = [project for project in PROJECTS if project.package == "transformers"]
    sites = sites_of_archive(buffer.getvalue(), transformers)
    assert [(site.module, site.code) for site in sites] == [
        ("transformers/utils/hub.py", "MODEL_NOT_FOUND"),
        ("transformers/models/auto/configuration_auto.py", "TRANSFORMERS_MISMATCH"),
    ]


def test_build_merges_releases_keeps_each_message_once_with_its_span_and_refuses_a_bad_hash(
    tmp_path: Path, isolated_cache: Path
) -> None:
    """Built from a local package index (the same JSON PyPI's simple API serves, file:// URLs): the code path that
    downloads from PyPI, with no network."""
    files = {"0.1.0": _sdist("0.1.0", OLD), "0.2.0": _sdist("0.2.0", NEW)}
    entries = []
    for version, archive in files.items():
        path = tmp_path / f"vllm-{version}.tar.gz"
        path.write_bytes(archive)
        digest = hashlib.sha256(archive).hexdigest()
        entries.append({"filename": path.name, "url": path.as_uri(), "hashes": {"sha256": digest}})
    index = tmp_path / "index.json"
    index.write_text(json.dumps({"files": entries}))
    out = tmp_path / "out" / "release-sites.json.gz"
    urls = {"vllm": index.as_uri()}
    assert build({"vllm": ["0.1.0", "0.2.0"]}, out, say=lambda _: None, index_urls=urls) == 2
    first = out.read_bytes()
    data = json.loads(gzip.decompress(first))
    assert data["packages"] == {"vllm": ["0.1.0", "0.2.0"]}
    shipped = release_sites(out)
    by_template = {site.template.split(" ")[0]: site for site in shipped.sites}
    lora = by_template["LoRA"]
    assert (lora.module, lora.releases, lora.code) == ("vllm/lora/lora_model.py", "vLLM 0.1.0-0.2.0", "LORA_RANK")
    assert by_template["No"].releases == "vLLM 0.2.0"
    assert lora.where == "vllm/lora/lora_model.py:load (vLLM 0.1.0-0.2.0)"
    build({"vllm": ["0.1.0", "0.2.0"]}, out, say=lambda _: None, index_urls=urls)
    assert out.read_bytes() == first  # the same releases give the same bytes: a rebuild shows no change in git

    entries[0]["hashes"]["sha256"] = "0" * 64
    index.write_text(json.dumps({"files": entries}))
    with pytest.raises(SystemExit, match="does not match the sha256"):
        build({"vllm": ["0.1.0"]}, tmp_path / "other.json.gz", say=lambda _: None, index_urls=urls)
    with pytest.raises(SystemExit, match=r"no sdist on PyPI for vLLM \['9\.9\.9'\]"):
        build({"vllm": ["9.9.9"]}, tmp_path / "other.json.gz", say=lambda _: None, index_urls=urls)


def test_a_missing_or_foreign_file_gives_no_sites_not_an_error(tmp_path: Path) -> None:
    assert release_sites(tmp_path / "absent.json.gz").sites == ()
    foreign = tmp_path / "foreign.json.gz"
    foreign.write_bytes(gzip.compress(b'{"schema": 99}'))
    assert release_sites(foreign).sites == ()
    torn = tmp_path / "torn.json.gz"
    torn.write_bytes(gzip.compress(b'{"schema": 2, "packages": {"vllm": ["0.1.0"]}, "sit')[:20])
    foreign_rows = tmp_path / "rows.json.gz"
    foreign_rows.write_bytes(
        gzip.compress(b'{"schema": 2, "packages": {}, "sites": [["vllm/x.py", "f", "E", "t", 0, 0]]}')
    )
    assert release_sites(foreign_rows).sites == ()
    assert release_sites(torn).sites == ()
