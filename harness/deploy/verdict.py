"""A deployment's verdict from its records: which services work, which fail on their own, and which fail only
because of their neighbours.

A service works when every cell it must serve PASSed while all services were up and every probe of the concurrent
phase passed too. A service fails because of its neighbours when
- its boot failed for memory (GPU_CONTENDED, KV_BUDGET, OOM, as its engine log says) after other services on the
  same GPU were already up and holding theirs (vLLM budgets each engine as total x its share, and the free memory
  check at start-up sees the neighbours' claim), or
- it passed alone and failed only in the concurrent phase, while its neighbours were probed at the same time.

A service whose every cell a live endpoint answered was not booted by the run: it is labelled so and never counted
as working, whatever its cells did (the run verified a server it did not start, not the stack).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.codes import Code
from harness.matrix import LIVE_LABEL
from harness.results import CellRecord, DeployedService, DeploymentRecord
from harness.verdicts import Verdict

# Boot failures whose cause can be memory another process holds: the engine log names them (harness/diagnose/).
NEIGHBOUR_CODES = frozenset({Code.GPU_CONTENDED, Code.KV_BUDGET, Code.OOM})


@dataclass(frozen=True)
class ServiceVerdict:
    service: DeployedService
    working: bool
    failures: tuple[str, ...] = ()  # "chat: XFAIL NO_CHAT_TEMPLATE", "boot: KV_BUDGET", "under load: chat FAIL ..."
    neighbours: tuple[str, ...] = ()  # the services it failed because of; empty: it fails (or works) on its own
    because: str = ""  # one sentence when its neighbours are the cause
    live: bool = False  # a live endpoint answered all its cells: the run booted nothing of it (never "working")

    @property
    def name(self) -> str:
        return self.service.name


def up_before(service: DeployedService, others: Iterable[DeployedService]) -> tuple[DeployedService, ...]:
    """The other services on one of its GPUs that were ready before its boot started and not yet stopped."""
    if service.boot_started_at is None:
        return ()
    started = service.boot_started_at  # ISO 8601 UTC stamps of one format: they order as text
    return tuple(
        other
        for other in others
        if other.name != service.name
        and set(other.devices) & set(service.devices)
        and other.ready_at is not None
        and other.ready_at <= started
        and (other.stopped_at is None or other.stopped_at > started)
    )


def _cell_failure(cell: CellRecord) -> str:
    code = f" {cell.code}" if cell.code else ""
    expected = " (as the matrix expects)" if cell.verdict is Verdict.XFAIL else ""
    return f"{cell.use_case}: {cell.verdict}{code}{expected}"


def service_verdict(
    service: DeployedService, deployment: DeploymentRecord, cells: Iterable[CellRecord]
) -> ServiceVerdict:
    """One service's verdict (see the module docstring for the rules)."""
    own = sorted((c for c in cells if c.model == service.cell_model), key=lambda c: c.use_case)
    others = [s for s in deployment.services if s.name != service.name]
    if own and all(c.live for c in own):
        return ServiceVerdict(
            service, False, tuple(_cell_failure(c) for c in own if c.verdict is not Verdict.PASS), live=True
        )
    if not service.booted and service.code in NEIGHBOUR_CODES:
        holders = up_before(service, deployment.services)
        boot = (f"boot: {service.code}" + (f" ({service.evidence})" if service.evidence else ""),)
        if holders:
            gpus = sorted(set().union(*(set(h.devices) & set(service.devices) for h in holders)))
            names = tuple(h.name for h in holders)
            when = "before its boot (the GPU's free memory, checked)" if service.stage == "schedule" else "at boot"
            because = (
                f"fails because of its neighbours: {service.code} {when} after {', '.join(names)} "
                f"already held memory on GPU {', '.join(str(g) for g in gpus)} (it booted {_ordinal(service.order)})"
            )
            return ServiceVerdict(service, False, boot, names, because)
        return ServiceVerdict(service, False, boot)
    failures = [_cell_failure(c) for c in own if c.verdict is not Verdict.PASS]
    if not service.booted and service.code is not None and not failures:
        failures.append(f"boot: {service.code}")
    alone = {c.use_case: c.verdict for c in own}
    load_failures = [p for p in service.under_load if p.verdict is not Verdict.PASS]
    failures += [f"under load: {p.use_case}: {p.verdict}" + (f" {p.code}" if p.code else "") for p in load_failures]
    ran = {c.use_case for c in own}
    failures += [f"{u}: not run (deselected, or the run stopped first)" for u in service.use_cases if u not in ran]
    working = bool(own) and not failures
    only_under_load = load_failures and all(alone.get(p.use_case) is Verdict.PASS for p in load_failures)
    if only_under_load and len(failures) == len(load_failures):
        names = tuple(o.name for o in others if o.under_load)
        because = (
            "fails because of its neighbours: it passed alone and failed only while "
            f"{', '.join(names) or 'the others'} were probed at the same time"
        )
        return ServiceVerdict(service, False, tuple(failures), names, because)
    return ServiceVerdict(service, working, tuple(failures))


def service_verdicts(deployment: DeploymentRecord, cells: Iterable[CellRecord]) -> tuple[ServiceVerdict, ...]:
    cells = list(cells)
    return tuple(service_verdict(s, deployment, cells) for s in sorted(deployment.services, key=lambda s: s.order))


def verdict_line(deployment: DeploymentRecord, verdicts: Iterable[ServiceVerdict]) -> str:
    """ "2 of 3 services working", then who fails and whether its neighbours are the cause."""
    verdicts = list(verdicts)
    working = sum(v.working for v in verdicts)
    parts = [f"**deployment `{deployment.name}`: {working} of {len(verdicts)} services working**"]
    neighbours = [v for v in verdicts if not v.working and v.neighbours]
    alone = [v for v in verdicts if not v.working and not v.neighbours and not v.live]
    live = [v for v in verdicts if v.live]
    if alone:
        parts.append(
            f"{len(alone)} failing on {'its' if len(alone) == 1 else 'their'} own: "
            + "; ".join(f"{v.name} ({', '.join(v.failures[:2])})" for v in alone)
        )
    if neighbours:
        parts.append(
            f"{len(neighbours)} failing because of {'its' if len(neighbours) == 1 else 'their'} neighbours: "
            + "; ".join(f"{v.name} (after {', '.join(v.neighbours)})" for v in neighbours)
        )
    if live:
        parts.append(
            f"{len(live)} answered by a {LIVE_LABEL}, not counted as working: "
            + "; ".join(f"{v.name} ({', '.join(v.failures[:2]) or 'its cells passed'})" for v in live)
        )
    return " · ".join(parts)


def _ordinal(order: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(order, f"{order}th")
