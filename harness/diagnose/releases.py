"""The messages of every published vLLM release, and of the libraries whose errors it passes on, read from their
source once and shipped with the harness.

A log a user pastes comes from whatever vLLM they ran: often not the version installed here, sometimes one from two
years ago, sometimes a newer one; and a good part of what fails in it is raised by transformers or huggingface_hub,
whose wordings change with their own versions. The installed engine's sites (harness/diagnose/sites.py) only know
that vLLM's messages, and a machine without an engine environment knows none. So the harness ships the sites of each
minor line's last release on PyPI: vLLM's from its source distributions (0.0.1 ... the newest), transformers' and
huggingface_hub's from their wheels (without what vLLM never runs of them: transformers' per-model modules, except
the auto classes that resolve a model type, its trainer and pipelines; the hub's inference client and CLI). The same
AST reader extracts them; ``harness/diagnose/data/release-sites.json.gz`` keeps each distinct message once, with the
first and last release whose source has it. Its codes are given at load by today's SITE_RULES (cached per rules and
file), so a rule change reaches every release's messages without a rebuild. An installed engine's own site wins over
a release's with the same message.

Rebuild (needs PyPI; about 1.5 GB of downloads; each release's reading is cached under the cache root):
``python -m harness.diagnose.releases``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.diagnose.sites import RULES_KEY, Site, SiteIndex, classify, sites_of_module, write_json
from harness.paths import cache_root

SCHEMA = 2  # 2: several projects, each with its own releases
DATA_NAME = "release-sites.json.gz"
SIMPLE_INDEX = "https://pypi.org/simple/{project}/"
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_BUILD_CACHE = 1  # the layout of one release's cached reading (harness/diagnose/sites.py's reader too)


# What vLLM never runs of a library, by module path: transformers' per-model modules (but the auto classes that resolve
# a model type), training, pipelines, exporters, the CLIs; huggingface_hub's inference client, CLI, Spaces, jobs and
# buckets. What is left is what vLLM calls: the hub downloads, configs, tokenizers, processors, remote code.
_TRANSFORMERS_UNUSED = (
    r"^transformers/(models/(?!auto/)|pipelines/|commands/|cli/|onnx/|benchmark/|data/|sagemaker/|generation/|kernels/"
    r"|exporters/|loss/|distributed/|testing_utils|trainer|training_args|optimization|keras|modeling_tf_|modeling_flax_)"
)
_HUB_UNUSED = (
    r"^huggingface_hub/(cli/|commands/|inference/|serialization/|_sandbox|_buckets|_inference_endpoints|_space_api"
    r"|_webhooks|_jobs|_oauth|_login|keras_mixin|fastai_utils|repocard|community|_tensorboard|_upload_large_folder"
    r"|_commit_scheduler|hub_mixin|_local_folder)"
)


@dataclass(frozen=True)
class Project:
    """A PyPI project whose releases' messages are shipped."""

    name: str  # on PyPI: "huggingface-hub"
    package: str  # the import package its modules are under: "huggingface_hub"
    label: str  # as a site names it: "vLLM"
    oldest: str  # the oldest minor line read
    sdist: bool  # read from the source distribution (vLLM's wheels are GPU builds of 300 MB), else the pure wheel
    unused: str = r"^$"  # a regex of the module paths vLLM never runs: not read

    def modules(self, module: str) -> bool:
        return module.startswith(f"{self.package}/") and not re.search(self.unused, module)

    def wanted(self, filename: str) -> str | None:
        """The version of a distribution file of this project in the kind read, else None."""
        stem = re.escape(self.package)
        pattern = rf"^{stem}-(?P<v>[^-]+)\.tar\.gz$" if self.sdist else rf"^{stem}-(?P<v>[^-]+)-py3-none-any\.whl$"
        found = re.match(pattern, filename, re.IGNORECASE) or re.match(
            pattern.replace(stem, re.escape(self.name)), filename, re.IGNORECASE
        )
        return found.group("v") if found else None


PROJECTS: tuple[Project, ...] = (
    Project("vllm", "vllm", "vLLM", "0.0", sdist=True),
    Project("transformers", "transformers", "transformers", "4.30", sdist=False, unused=_TRANSFORMERS_UNUSED),
    Project("huggingface-hub", "huggingface_hub", "huggingface_hub", "0.15", sdist=False, unused=_HUB_UNUSED),
)
_LABELS = {project.package: project.label for project in PROJECTS}


def data_path() -> Path:
    """The shipped file (inside the installed package: a wheel has it too)."""
    return Path(str(files("harness.diagnose") / "data" / DATA_NAME))


@dataclass(frozen=True)
class ReleaseSites:
    """Each distinct message of the releases read, with the first and last of them whose source has it."""

    releases: Mapping[str, tuple[str, ...]]  # package -> its releases read, oldest first
    sites: tuple[Site, ...]


@cache
def release_sites(path: Path | None = None) -> ReleaseSites:
    """The shipped release sites, with codes from today's SITE_RULES. Empty when the file is missing or unreadable
    (a diagnosis without them is weaker, never wrong)."""
    path = path or data_path()
    try:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw))
        if data.get("schema") != SCHEMA:
            return ReleaseSites({}, ())
        releases = {str(package): tuple(map(str, versions)) for package, versions in data["packages"].items()}
        rows = data["sites"]
        codes = _codes(rows, hashlib.sha256(raw).hexdigest()[:16])
        sites = tuple(
            Site(str(module), str(function), str(kind), str(template), code, _span(releases, module, first, last))
            for (module, function, kind, template, first, last), code in zip(rows, codes, strict=True)
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError, IndexError, AttributeError):
        return ReleaseSites({}, ())
    return ReleaseSites(releases, sites)


def _span(releases: Mapping[str, tuple[str, ...]], module: str, first: int, last: int) -> str:
    """ "vLLM 0.5.5-0.9.2": the project and the first and last of its releases read whose source has the message."""
    package = module.split("/", 1)[0]
    versions = releases[package]
    span = versions[first] if first == last else f"{versions[first]}-{versions[last]}"
    return f"{_LABELS.get(package, package)} {span}"


def _codes(rows: list[list[object]], data_key: str) -> list[str | None]:
    """Each row's code under today's SITE_RULES: classified once per rules and file, then read from the cache."""
    path = cache_root() / "diagnose" / f"release-codes-{data_key}-{RULES_KEY}.json"
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text())
        if isinstance(cached, list) and len(cached) == len(rows):
            return [None if code is None else str(code) for code in cached]
    codes = [classify(str(row[0]), str(row[3])) for row in rows]
    with contextlib.suppress(OSError):  # a read-only cache classifies on each read: slower, same answers
        write_json(path, codes)
    return codes


def with_releases(primary: SiteIndex | None, path: Path | None = None) -> SiteIndex:
    """``primary`` (an installed engine's sites, or None) plus the messages of the published releases it lacks."""
    shipped = release_sites(path)
    return (primary or SiteIndex("vllm", "releases", [])).extended(shipped.sites)


# --- building the shipped file (needs PyPI) ---------------------------------------------------------------------------


def distributions(project: Project, index_url: str | None = None) -> dict[str, tuple[str, str]]:
    """Version -> (url, sha256) of every file of the kind read (sdist or pure wheel) the package index lists."""
    url = index_url or SIMPLE_INDEX.format(project=project.name)
    request = urllib.request.Request(url, headers={"Accept": _SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=120) as response:
        listing = json.load(response)
    found: dict[str, tuple[str, str]] = {}
    for entry in listing["files"]:
        version = project.wanted(entry["filename"])
        if version is not None and not entry.get("yanked"):
            found[version] = (entry["url"], entry["hashes"]["sha256"])
    return found


def last_of_each_minor(versions: Iterable[str], oldest: str = "0.0") -> list[str]:
    """The newest final release of each minor line from ``oldest`` on, oldest line first (release candidates and dev
    builds left out)."""
    floor = Version(oldest)
    newest: dict[tuple[int, int], Version] = {}
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version.is_prerelease or version.is_devrelease or version < floor:
            continue
        line = (version.major, version.minor)
        if line not in newest or version > newest[line]:
            newest[line] = version
    return [str(newest[line]) for line in sorted(newest)]


def _sources(archive: bytes, sdist: bool) -> Iterator[tuple[str, str]]:
    """(path inside the archive, source text) of each Python file, read from the archive, nothing unpacked."""
    if sdist:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() and member.name.endswith(".py") else None
                if handle is not None:
                    # "vllm-0.6.3/vllm/config.py" -> "vllm/config.py"
                    yield member.name.split("/", 1)[-1], handle.read().decode("utf-8", errors="replace")
        return
    with zipfile.ZipFile(io.BytesIO(archive)) as wheel:
        for name in wheel.namelist():
            if name.endswith(".py"):
                yield name, wheel.read(name).decode("utf-8", errors="replace")


def sites_of_archive(archive: bytes, project: Project) -> list[Site]:
    """The sites of the project's package inside one of its distributions."""
    found: list[Site] = []
    for module, source in _sources(archive, project.sdist):
        if project.modules(module):
            found.extend(sites_of_module(module, source))
    return found


def _release(project: Project, version: str, url: str, sha256: str) -> list[Site]:
    """One release's sites: read once, then from the cache (a rebuild downloads only what is new)."""
    # keyed by the file and by what is read of it: another choice of modules reads the release again
    key = hashlib.sha256(f"{sha256} {project.unused} {_BUILD_CACHE}".encode()).hexdigest()[:16]
    kept = cache_root() / "diagnose" / "release-build" / f"{project.package}-{version}-{key}.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        return [Site(m, f, k, t, None) for m, f, k, t in json.loads(kept.read_text())]
    with urllib.request.urlopen(url, timeout=600) as response:
        archive = response.read()
    if hashlib.sha256(archive).hexdigest() != sha256:
        raise SystemExit(f"{project.label} {version}'s file does not match the sha256 PyPI lists: not used")
    sites = sites_of_archive(archive, project)
    with contextlib.suppress(OSError):
        write_json(kept, [[s.module, s.function, s.kind, s.template] for s in sites])
    return sites


def build(
    plan: Mapping[str, list[str]],
    out: Path,
    say: Callable[[str], None] = print,
    index_urls: Mapping[str, str] | None = None,
) -> int:
    """Read each planned release (project name -> versions, oldest first), write the shipped file; the number of
    distinct messages."""
    packages: dict[str, list[str]] = {}
    rows: list[list[object]] = []
    for project in PROJECTS:
        versions = plan.get(project.name)
        if not versions:
            continue
        listed = distributions(project, (index_urls or {}).get(project.name))
        missing = [version for version in versions if version not in listed]
        if missing:
            raise SystemExit(f"no {'sdist' if project.sdist else 'wheel'} on PyPI for {project.label} {missing}")
        merged: dict[str, list[object]] = {}  # template -> [module, function, kind, template, first, last]
        for number, version in enumerate(versions):
            sites = _release(project, version, *listed[version])
            for site in sites:
                row = merged.get(site.template)
                if row is None:
                    merged[site.template] = [site.module, site.function, site.kind, site.template, number, number]
                else:  # the newest release's place for the message: where today's reader of the source finds it
                    row[:3] = [site.module, site.function, site.kind]
                    row[5] = number
            say(f"{project.label} {version}: {len(sites)} sites, {len(merged)} distinct messages so far")
        packages[project.package] = versions
        rows.extend(merged.values())
    data = {"schema": SCHEMA, "source": "PyPI", "packages": packages, "sites": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    # no name, mtime 0: the same releases give the same bytes, so a rebuild shows no change in git
    with (
        tempfile.NamedTemporaryFile(dir=out.parent, delete=False, suffix=".tmp") as tmp,
        gzip.GzipFile(filename="", fileobj=tmp, mode="wb", mtime=0) as compressed,
    ):
        compressed.write(json.dumps(data, separators=(",", ":")).encode())
    Path(tmp.name).chmod(0o644)  # a temporary file is private: the shipped one is read by whoever installs it
    Path(tmp.name).replace(out)
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rebuild the shipped sites of vLLM's and its libraries' releases")
    parser.add_argument("--out", type=Path, default=None, help=f"where to write (default: the package's {DATA_NAME})")
    args = parser.parse_args(argv)
    plan = {project.name: last_of_each_minor(distributions(project), project.oldest) for project in PROJECTS}
    count = build(plan, args.out or data_path(), say=lambda line: print(line, file=sys.stderr))
    read = ", ".join(f"{name} {versions[0]} to {versions[-1]} ({len(versions)})" for name, versions in plan.items())
    print(f"{count} distinct messages from the releases of {read}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
