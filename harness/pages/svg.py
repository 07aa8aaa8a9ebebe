"""Trend plots as inline SVG: no script, no library, no network; the numbers are also in each point's tooltip and in
the page's tables, so a plot is never the only place a figure appears."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 70, 150, 24, 70  # room on the right for the last point's slanted label
MAX_LABELS = 12  # x labels beyond this are thinned so they stay readable


@dataclass(frozen=True)
class Point:
    label: str  # under the x axis: "vLLM 0.32.0 · rev 1a2b3c4"
    value: float
    tooltip: str  # run id, verdict, exact figure


def trend_plot(title: str, points: Sequence[Point], unit: str) -> str:
    """A line over runs, oldest left; each point labelled with its vLLM version and revision."""
    if not points:
        return f'<p class="noplot">{escape(title)}: no figures recorded yet.</p>'
    values = [p.value for p in points]
    low, high = min(values), max(values)
    if high - low <= 0.02 * abs(high):  # flat within 2%: a visible range around it, not a magnified wiggle
        middle = (high + low) / 2
        low, high = middle * 0.95, (middle * 1.05 if middle else 1.0)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (inner_w * i / (len(points) - 1) if len(points) > 1 else inner_w / 2)

    def y(value: float) -> float:
        return TOP + inner_h * (1 - (value - low) / (high - low))

    step = max(1, -(-len(points) // MAX_LABELS))
    parts = [
        f'<svg class="plot" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="15" class="ptitle">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" y2="{TOP + inner_h}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + inner_h}" class="axis"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" class="ylabel">{_num(high)} {escape(unit)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + inner_h}" class="ylabel">{_num(low)} {escape(unit)}</text>',
    ]
    if len(points) > 1:
        coords = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points))
        parts.append(f'<polyline points="{coords}" class="line"/>')
    for i, point in enumerate(points):
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(point.value):.1f}" r="4" class="pt">'
            f"<title>{escape(point.tooltip)}</title></circle>"
        )
        if i % step == 0 or i == len(points) - 1:
            lx, ly = x(i), TOP + inner_h + 12
            parts.append(
                f'<text x="{lx:.1f}" y="{ly:.1f}" class="xlabel" transform="rotate(30 {lx:.1f} {ly:.1f})">'
                f"{escape(point.label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:.3g}"
