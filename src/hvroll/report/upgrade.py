"""The report of a control-plane upgrade run: one self-contained HTML file (inline styles, no
script, no request) with each hop's elapsed time, API downtime and migration time, every
step with its runs, exit code and error, and every event — for the change ticket."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from hvroll.inventory import write_atomic
from hvroll.telemetry.upgrade import UpgradeSource, render_upgrade


def write_upgrade_report(source: UpgradeSource, path: str | os.PathLike[str], *,
                         now: datetime | None = None) -> dict[str, Any]:
    """Write the run's report to ``path`` (atomically); what was written, as plain data."""
    data = source.data()
    html = render_upgrade(data, inline_css=True,
                          generated=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"))
    write_atomic(os.fspath(path), html)
    return {"output": os.fspath(path), "bytes": len(html.encode()), "state": data["state"],
            "hops": data["hops"], "events": len(data["events"])}
