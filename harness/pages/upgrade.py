"""The upgrade check's page beside the status pages: the two vLLM versions side by side, changed cells first."""

from __future__ import annotations

from pathlib import Path

from harness.pages.site import page_environment, slug
from harness.upgrade import UpgradeReport


def upgrade_page_name(report: UpgradeReport) -> str:
    return f"upgrade-{slug(report.before_version)}-to-{slug(report.after_version)}.html"


def write_upgrade_page(report: UpgradeReport, out: Path) -> Path:
    """Write ``out/upgrade-<from>-to-<to>.html`` and return its path."""
    template = page_environment().get_template("upgrade.html.j2")
    path = out / upgrade_page_name(report)
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(
        template.render(
            report=report,
            run={"run_id": report.after_run_id},
            prefix="",
            changed=[c for c in report.cells if c.changed],
        ),
        encoding="utf-8",
    )
    return path


__all__ = ["upgrade_page_name", "write_upgrade_page"]
