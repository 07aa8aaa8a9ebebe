"""Status pages: a static site from the history file, readable from file:// with no network and without colour.

Modules:

- ``site``: ``write_site()``: index (headline, model x use case grid, "since the previous run", environment), a page
  per cell (checks, message, evidence, findings, log tail, latency, VRAM, history strip, trend plots), a page per run,
  per use case and per model.
- ``grid``: the index's compact grid: grouped use case columns, (model, profile) rows, tallies per use case and row.
- ``figures``: a cell's latency and memory as one labelled table, each figure once with its unit and meaning.
- ``logview``: the engine log tail in view: teardown folded under a working cell, centred on the decisive line of a
  failing one.
- ``upgrade``: ``write_upgrade_page()``: the upgrade check's two vLLM versions side by side, beside the site.
- ``svg``: trend plots as inline SVG, each point labelled with its vLLM version and revision.
- ``scrub``: no secret reaches a page.
- ``templates/``: the jinja2 templates, shipped inside the package.
"""

from __future__ import annotations

from harness.pages.scrub import scrub
from harness.pages.site import SYMBOL, Site, slug, write_site
from harness.pages.svg import Point, trend_plot
from harness.pages.upgrade import upgrade_page_name, write_upgrade_page

__all__ = [
    "SYMBOL",
    "Point",
    "Site",
    "scrub",
    "slug",
    "trend_plot",
    "upgrade_page_name",
    "write_site",
    "write_upgrade_page",
]
