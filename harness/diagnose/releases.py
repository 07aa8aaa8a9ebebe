"""The messages of every published vLLM release, read from their source once and shipped with the harness.

A log a user pastes comes from whatever vLLM they ran: often not the version installed here, sometimes one from two
years ago, sometimes a newer one. The installed engine's sites (harness/diagnose/sites.py) only know that version's
messages, and a machine without an engine environment knows none. So the harness ships the sites of each minor
line's last release on PyPI (0.1.7 ... the newest), extracted from the source distributions by the same AST reader:
``harness/diagnose/data/release-sites.json.gz`` keeps each distinct message once, with the first and last release
whose source has it. Its codes are given at load by today's SITE_RULES (cached per rules and file), so a rule change
reaches every release's messages without a rebuild. An installed engine's own site wins over a release's with the
same message.

Rebuild (needs PyPI; about 1 GB of downloads, a few minutes): ``python -m harness.diagnose.releases``.
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
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.diagnose.sites import RULES_KEY, Site, SiteIndex, classify, sites_of_module
from harness.paths import cache_root

SCHEMA = 1
DATA_NAME = "release-sites.json.gz"
INDEX_URL = "https://pypi.org/simple/vllm/"
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_SDIST = re.compile(r"^vllm-(?P<version>[^-]+)\.tar\.gz$")
_SOURCE_MEMBER = re.compile(r"^[^/]+/(?P<module>vllm/.+\.py)$")  # "vllm-0.6.3/vllm/config.py" -> "vllm/config.py"


def data_path() -> Path:
    """The shipped file (inside the installed package: a wheel has it too)."""
    return Path(str(files("harness.diagnose") / "data" / DATA_NAME))


@dataclass(frozen=True)
class ReleaseSites:
    """Each distinct message of the releases read, with the first and last of them whose source has it."""

    releases: tuple[str, ...]  # oldest first
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
            return ReleaseSites((), ())
        releases = tuple(str(release) for release in data["releases"])
        rows = data["sites"]
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return ReleaseSites((), ())
    codes = _codes(rows, hashlib.sha256(raw).hexdigest()[:16])
    sites = tuple(
        Site(str(module), str(function), str(kind), str(template), code, _span(releases, int(first), int(last)))
        for (module, function, kind, template, first, last), code in zip(rows, codes, strict=True)
    )
    return ReleaseSites(releases, sites)


def _span(releases: tuple[str, ...], first: int, last: int) -> str:
    return releases[first] if first == last else f"{releases[first]}-{releases[last]}"


def _codes(rows: list[list[object]], data_key: str) -> list[str | None]:
    """Each row's code under today's SITE_RULES: classified once per rules and file, then read from the cache."""
    path = cache_root() / "diagnose" / f"release-codes-{data_key}-{RULES_KEY}.json"
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text())
        if isinstance(cached, list) and len(cached) == len(rows):
            return [None if code is None else str(code) for code in cached]
    codes = [classify(str(row[0]), str(row[3])) for row in rows]
    with contextlib.suppress(OSError):  # a read-only cache classifies on each read: slower, same answers
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps(codes))
        tmp.replace(path)
    return codes


def with_releases(primary: SiteIndex | None, path: Path | None = None) -> SiteIndex:
    """``primary`` (an installed engine's sites, or None) plus the messages of the published releases it lacks."""
    shipped = release_sites(path)
    if primary is None:
        return SiteIndex("vllm", "releases", list(shipped.sites))
    seen = {site.template for site in primary.sites}
    extra = [site for site in shipped.sites if site.template not in seen]
    return SiteIndex(primary.distribution, primary.version, [*primary.sites, *extra])


# --- building the shipped file (needs PyPI) ---------------------------------------------------------------------------


def sdists(index_url: str = INDEX_URL) -> dict[str, tuple[str, str]]:
    """Version -> (url, sha256) of every vLLM source distribution the package index lists."""
    request = urllib.request.Request(index_url, headers={"Accept": _SIMPLE_JSON})
    with urllib.request.urlopen(request, timeout=120) as response:
        listing = json.load(response)
    found: dict[str, tuple[str, str]] = {}
    for entry in listing["files"]:
        matched = _SDIST.match(entry["filename"])
        if matched and not entry.get("yanked"):
            found[matched.group("version")] = (entry["url"], entry["hashes"]["sha256"])
    return found


def last_of_each_minor(versions: Iterable[str]) -> list[str]:
    """The newest final release of each minor line, oldest line first (release candidates and dev builds left out)."""
    newest: dict[tuple[int, int], Version] = {}
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        line = (version.major, version.minor)
        if line not in newest or version > newest[line]:
            newest[line] = version
    return [str(newest[line]) for line in sorted(newest)]


def sites_of_sdist(archive: bytes) -> list[Site]:
    """The sites of the ``vllm`` package inside a source distribution (read from the tarball, nothing unpacked)."""
    found: list[Site] = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            matched = _SOURCE_MEMBER.match(member.name)
            if not matched or not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            source = handle.read().decode("utf-8", errors="replace")
            found.extend(sites_of_module(matched.group("module"), source))
    return found


def build(versions: list[str], out: Path, say: Callable[[str], None] = print, index_url: str = INDEX_URL) -> int:
    """Download each release's sdist, read its sites, write the shipped file; the number of distinct messages."""
    listed = sdists(index_url)
    missing = [version for version in versions if version not in listed]
    if missing:
        raise SystemExit(f"no sdist on PyPI for vLLM {', '.join(missing)}")
    merged: dict[str, list[object]] = {}  # template -> [module, function, kind, template, first, last]
    for number, version in enumerate(versions):
        url, sha256 = listed[version]
        with urllib.request.urlopen(url, timeout=600) as response:
            archive = response.read()
        if hashlib.sha256(archive).hexdigest() != sha256:
            raise SystemExit(f"vLLM {version}'s sdist does not match the sha256 PyPI lists: not used")
        sites = sites_of_sdist(archive)
        for site in sites:
            row = merged.get(site.template)
            if row is None:
                merged[site.template] = [site.module, site.function, site.kind, site.template, number, number]
            else:  # the newest release's place for the message: where today's reader of the source finds it
                row[:3] = [site.module, site.function, site.kind]
                row[5] = number
        say(f"vLLM {version}: {len(sites)} sites, {len(merged)} distinct messages so far")
    data = {"schema": SCHEMA, "source": "PyPI sdists", "releases": versions, "sites": list(merged.values())}
    out.parent.mkdir(parents=True, exist_ok=True)
    # no name, mtime 0: the same releases give the same bytes, so a rebuild shows no change in git
    with (
        tempfile.NamedTemporaryFile(dir=out.parent, delete=False, suffix=".tmp") as tmp,
        gzip.GzipFile(filename="", fileobj=tmp, mode="wb", mtime=0) as compressed,
    ):
        compressed.write(json.dumps(data, separators=(",", ":")).encode())
    Path(tmp.name).replace(out)
    return len(merged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rebuild the shipped sites of vLLM's published releases from PyPI")
    parser.add_argument("--versions", nargs="*", help="releases to read (default: the last of each minor line)")
    parser.add_argument("--out", type=Path, default=None, help=f"where to write (default: the package's {DATA_NAME})")
    args = parser.parse_args(argv)
    versions = args.versions or last_of_each_minor(sdists())
    count = build(versions, args.out or data_path(), say=lambda line: print(line, file=sys.stderr))
    print(f"{count} distinct messages from {len(versions)} releases ({versions[0]} to {versions[-1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
