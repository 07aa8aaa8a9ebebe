"""Accuracy of `diagnose` on the real logs in tests/data/logs_real, per split and per code.

Run: ``PYTHONPATH=$PWD python tests/diagnose_accuracy.py [--misses [--burned]] [--site-packages DIR | --no-sites]``.
``--misses`` lists the dev set's wrong answers; ``--burned`` adds those of the held-out sets that have been scored and
opened for tuning (BURNED). A set still blind is never listed: only its figures are printed. The corpora:
tests/data/logs_real (dev and held-out, split by hash), tests/data/logs_heldout2 (a second blind set, every log held
out, labelled and committed before diagnose ever read it), and tests/data/logs_heldout3 to logs_heldout15 (blind sets
from new threads, each collected by a session that never ran diagnose on it, its labels committed first; each
README.md has the figure it got when scored once, on frozen rules). The source sites come from the engine
environment's vLLM (``--site-packages``, default: the newest installed engine) and the shipped releases'
(``--no-releases`` leaves those out), as ``vllm-compat diagnose`` reads them. Each log's first line (its thread, for
the reader) is blanked so that line numbers stay those of the file.

A *confidently wrong* answer names a code other than the label and other than OTHER: worse than an honest OTHER.
Beside it: how many wrong answers named the label as their line's alternative (harness/diagnose/boundaries.py), and
how often the answers of each confidence grade are right (harness/diagnose/confidence.py).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.diagnose import SiteIndex, diagnose, load_sites
from harness.diagnose.releases import with_releases
from harness.paths import cache_root

REAL = Path(__file__).parent / "data" / "logs_real"
HELDOUT2 = Path(__file__).parent / "data" / "logs_heldout2"
HELDOUT3 = Path(__file__).parent / "data" / "logs_heldout3"
HELDOUT4 = Path(__file__).parent / "data" / "logs_heldout4"
HELDOUT5 = Path(__file__).parent / "data" / "logs_heldout5"
HELDOUT6 = Path(__file__).parent / "data" / "logs_heldout6"
HELDOUT7 = Path(__file__).parent / "data" / "logs_heldout7"
HELDOUT8 = Path(__file__).parent / "data" / "logs_heldout8"
HELDOUT9 = Path(__file__).parent / "data" / "logs_heldout9"
HELDOUT10 = Path(__file__).parent / "data" / "logs_heldout10"
HELDOUT11 = Path(__file__).parent / "data" / "logs_heldout11"
HELDOUT12 = Path(__file__).parent / "data" / "logs_heldout12"
HELDOUT13 = Path(__file__).parent / "data" / "logs_heldout13"
HELDOUT14 = Path(__file__).parent / "data" / "logs_heldout14"
HELDOUT15 = Path(__file__).parent / "data" / "logs_heldout15"
SPLITS = (
    "dev",
    "heldout",
    "heldout2",
    "heldout3",
    "heldout4",
    "heldout5",
    "heldout6",
    "heldout7",
    "heldout8",
    "heldout9",
    "heldout10",
    "heldout11",
    "heldout12",
    "heldout13",
    "heldout14",
    "heldout15",
)
# scored and opened for tuning: no longer blind (heldout, heldout2: tests/data/logs_heldout2/README.md; heldout3:
# scored once at 151a669, tests/data/logs_heldout3/README.md; heldout4: once at e75e336; heldout5: once at e19ef26; each
# README.md has its figure)
BURNED = ("heldout", *(f"heldout{number}" for number in range(2, 16)))  # held-out-2 to -15


@dataclass(frozen=True)
class Outcome:
    name: str
    split: str
    label: str
    code: str
    line: int | None
    evidence: str
    fixture_thread: bool = False  # the thread also gave a unit-test fixture (tests/data/logs): not new to the rules
    alternative: str | None = None  # the other cause the answer's line proves too (harness/diagnose/boundaries.py)
    confidence: str | None = None  # high, medium, low (harness/diagnose/confidence.py); None for OTHER

    @property
    def right(self) -> bool:
        return self.code == self.label

    @property
    def confidently_wrong(self) -> bool:
        return not self.right and self.code != "OTHER"


def labels(corpus: Path = REAL) -> dict[str, dict[str, str]]:
    """File name -> {"code", "split"}, from the corpus's labels.yaml."""
    data = yaml.safe_load((corpus / "labels.yaml").read_text())
    return dict(data["logs"])


def outcomes(sites: SiteIndex | None, corpus: Path = REAL) -> list[Outcome]:
    """Diagnose every labelled log of one corpus."""
    results = []
    for name, label in sorted(labels(corpus).items()):
        text = (corpus / name).read_text(encoding="utf-8", errors="replace")
        text = "\n" + text.split("\n", 1)[1]  # the first line (the thread) is for the reader, not part of the log
        result = diagnose(text, sites=sites)
        results.append(
            Outcome(
                name,
                label["split"],
                label["code"],
                result.code,
                result.line,
                result.evidence,
                fixture_thread="thread_in" in label,
                alternative=result.alternative.code if result.alternative else None,
                confidence=result.confidence,
            )
        )
    return results


def newest_engine_site_packages() -> Path | None:
    """The site-packages of the newest engine environment under the cache root, if any."""
    found = sorted(cache_root().glob("engines/*/lib/python3*/site-packages"), key=lambda path: path.stat().st_mtime)
    return found[-1] if found else None


def report(results: list[Outcome]) -> str:
    """Per split: accuracy, confidently-wrong rate, and right/total per labelled code."""
    lines = []
    views = [(split, [outcome for outcome in results if outcome.split == split]) for split in SPLITS]
    views.append(
        (
            "heldout2, new threads only",
            [outcome for outcome in results if outcome.split == "heldout2" and not outcome.fixture_thread],
        )
    )
    for split, chosen in views:
        if not chosen:
            continue
        right = sum(outcome.right for outcome in chosen)
        wrong = sum(outcome.confidently_wrong for outcome in chosen)
        named = sum(outcome.alternative == outcome.label for outcome in chosen if not outcome.right)
        lines.append(
            f"{split}: {right}/{len(chosen)} right ({100 * right / len(chosen):.0f} %), "
            f"{wrong} confidently wrong ({100 * wrong / len(chosen):.1f} %)"
            + (f"; {named} of the wrong named the label as the line's alternative" if named else "")
        )
        totals = Counter(outcome.label for outcome in chosen)
        hits = Counter(outcome.label for outcome in chosen if outcome.right)
        misnamed = Counter(outcome.label for outcome in chosen if outcome.confidently_wrong)
        lines.append(
            "  "
            + ", ".join(
                f"{code} {hits[code]}/{totals[code]}" + (f" ({misnamed[code]} wrong)" if misnamed[code] else "")
                for code in sorted(totals)
            )
        )
    return "\n".join(lines)


def by_confidence(results: list[Outcome]) -> str:
    """How often the answers of each confidence grade are right, over the sets scored."""
    parts = []
    for grade in ("high", "medium", "low"):
        graded = [outcome for outcome in results if outcome.confidence == grade]
        if graded:
            right = sum(outcome.right for outcome in graded)
            parts.append(f"{grade} {right}/{len(graded)} ({100 * right / len(graded):.0f} %)")
    others = [outcome for outcome in results if outcome.code == "OTHER"]
    parts.append(f"OTHER {sum(outcome.right for outcome in others)}/{len(others)}")
    return "right by confidence: " + ", ".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the dev set's wrong answers")
    parser.add_argument("--burned", action="store_true", help="with --misses: also the burned held-out sets' misses")
    parser.add_argument("--site-packages", type=Path, help="the engine's site-packages to read vLLM's source from")
    parser.add_argument("--no-sites", action="store_true", help="hand-written signatures and structure only")
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS,
        default=SPLITS,
        help="score only these (a blind set is left out till its one scoring)",
    )
    parser.add_argument(
        "--no-releases", action="store_true", help="the engine's sites only, not the published releases' shipped ones"
    )
    args = parser.parse_args(argv)
    site_packages = None if args.no_sites else (args.site_packages or newest_engine_site_packages())
    sites = load_sites(site_packages) if site_packages is not None else None
    if not args.no_sites and not args.no_releases:
        sites = with_releases(sites)  # as `vllm-compat diagnose` reads them
    print(f"sources: {f'{sites.distribution} {sites.version} ({len(sites.sites)} sites)' if sites else 'none'}")
    corpora = {split: REAL.parent / f"logs_{split}" for split in SPLITS[2:]}  # heldout2, heldout3, ...
    results = [
        *outcomes(sites),
        *(outcome for split, corpus in corpora.items() if split in args.splits for outcome in outcomes(sites, corpus)),
    ]
    results = [outcome for outcome in results if outcome.split in args.splits]
    print(report(results))
    print(by_confidence(results))
    held_out = [outcome for outcome in results if outcome.split != "dev"]
    if held_out and len(held_out) < len(results):
        print("held-out sets only: " + by_confidence(held_out))
    if args.misses:
        listed = {"dev", *(BURNED if args.burned else ())}
        for outcome in results:
            if outcome.split in listed and not outcome.right:
                print(
                    f"  MISS {outcome.split} {outcome.name}: want {outcome.label}, got {outcome.code} "
                    f"(line {outcome.line}): {outcome.evidence[:140]}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
