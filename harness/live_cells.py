"""Cells answered by a server this run did not start (a live endpoint), as the report and the gate show them.

A record says so in ``CellRecord.server.external`` (harness.matrix.Endpoint.to_json, with the identity the endpoint
gave and the pre-flight note): such a cell's verdict is about that server as it ran when probed, not about a boot of
ours. The report labels it; the gate accepts it unless ``--require-boot`` asks for every cell to come from a boot of
ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.matrix import LIVE_LABEL
from harness.results import CellRecord, RunResults


def is_live(cell: CellRecord) -> bool:
    """True when the cell was answered by a server this run did not start."""
    return cell.live


def live_reason(cell: CellRecord) -> str:
    """Why ``--require-boot`` blocks the cell: one line naming the endpoint."""
    external: Mapping[str, Any] = (cell.server.external if cell.server else None) or {}
    where = f"{external.get('base_url', '?')} (model {external.get('model', '?')!r})"
    return (
        f"verified only on a {LIVE_LABEL} at {where}; --require-boot needs a boot of ours: run the model from its "
        "checkpoint, or drop --require-boot to accept live endpoints"
    )


@dataclass(frozen=True)
class LiveRow:
    """One live cell as the report's table shows it."""

    cell: CellRecord
    base_url: str
    model: str
    listed: str  # what /v1/models listed
    version: str  # /version's answer, or "absent"
    metrics: str  # "present" / "absent"
    preflight: str
    swap: str  # first request after a switch vs following (medians), for several models behind one URL


def live_rows(results: RunResults) -> list[LiveRow]:
    rows = []
    for cell in results.cells:
        if not is_live(cell) or cell.server is None or cell.server.external is None:
            continue
        external = cell.server.external
        listed = external.get("models_listed")
        rows.append(
            LiveRow(
                cell=cell,
                base_url=str(external.get("base_url", "?")),
                model=str(external.get("model", "?")),
                listed=_listed(listed, external.get("failure")),
                version=str(external.get("version") or "absent"),
                metrics="present" if external.get("metrics") else "absent",
                preflight=str(external.get("preflight") or "not applicable"),
                swap=_swap_text(external.get("swap")),
            )
        )
    return rows


def _listed(listed: Any, failure: Any) -> str:
    if failure:
        return f"no list ({failure})"
    if listed is None:
        return "not asked"
    return ", ".join(map(str, listed)) or "nothing"


def _swap_text(swap: Any) -> str:
    if not isinstance(swap, Mapping):
        return ""
    first, following = swap.get("first_median_s"), swap.get("following_median_s")
    text = (
        f"answered {swap.get('answered')}/{swap.get('asked')}; first after a switch {_s(first)}, next {_s(following)}"
    )
    return text + (f"; {swap['error']}" if swap.get("error") else "")


def _s(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f} s"


__all__ = ["LIVE_LABEL", "LiveRow", "is_live", "live_reason", "live_rows"]
