"""A read-only view of a control-plane upgrade run's state file (``hvroll controlplane run
--state FILE``): what the dashboard (``hvroll serve``) and the report (``hvroll report``) show
of it — the run's state, each hop with its elapsed time, API downtime and migration time, every
step with its runs, exit code and error, and every event.

The file is opened read-only (SQLite ``mode=ro``, one read transaction per call), so a page or
a report can be made while ``hvroll controlplane run`` writes it. The numbers are those of
``hvroll controlplane status`` (:func:`hvroll.controlplane.runner.hop_timings`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from hvroll.controlplane.journal import EventRow, RunRow, StepRow
from hvroll.controlplane.runner import hop_timings
from hvroll.domain.states import UpgradeStepState
from hvroll.errors import InputError
from hvroll.store.read import readonly_engine

ALERT_KINDS = ("step_failed", "run_rolling_back", "run_failed", "run_rolled_back", "step_lost",
               "run_aborted")
"""Event kinds an operator must see."""


def is_upgrade_state(target: str | os.PathLike[str]) -> bool:
    """Whether ``target`` is a control-plane run's state file (not a campaign's)."""
    text = os.fspath(target)
    if "://" not in text and not Path(text).is_file():
        return False
    engine = readonly_engine(text)
    try:
        return inspect(engine).has_table(RunRow.__tablename__)
    except DatabaseError:
        return False
    finally:
        engine.dispose()


class UpgradeSource:
    """A control-plane run's state file, read-only."""

    def __init__(self, target: str | os.PathLike[str]) -> None:
        self.target = os.fspath(target)
        if not is_upgrade_state(self.target):
            raise InputError(f"{self.target}: not a control-plane run's state file (expected "
                             f"one written by 'hvroll controlplane run PLAN --state "
                             f"{self.target}')")
        self.engine: Engine = readonly_engine(self.target)

    def close(self) -> None:
        self.engine.dispose()

    def marker(self) -> str:
        """Changes whenever the run does (a new event, a step's new state)."""
        with Session(self.engine) as s:
            last = s.scalar(select(EventRow.id).order_by(EventRow.id.desc()).limit(1))
            run = s.get(RunRow, 1)
            return f"{last or 0}:{run.state if run else ''}"

    def data(self) -> dict[str, Any]:
        """Everything shown of the run, as plain data (one read transaction)."""
        with Session(self.engine) as s:
            run = s.get(RunRow, 1)
            if run is None:
                raise InputError(f"{self.target}: holds no run yet")
            rows = list(s.scalars(select(StepRow).order_by(StepRow.position)))
            events = list(s.scalars(select(EventRow).order_by(EventRow.id)))
            return upgrade_data(run, rows, events, Path(self.target).name
                                if "://" not in self.target else self.target)


def upgrade_data(run: RunRow, rows: list[StepRow], events: list[EventRow],
                 name: str) -> dict[str, Any]:
    """The run as the pages and the report show it (pure over the rows)."""
    book = json.loads(run.runbook)
    plan = json.loads(run.plan)
    timings = {t["hop"]: t for t in hop_timings(rows)}
    titles = {step["id"]: step["title"] for hop in book["hops"]
              for step in (*hop["steps"], *hop["rollback"])}
    hops = []
    for hop in book["hops"]:
        mine = [r for r in rows if r.hop == hop["hop"]]
        hops.append({"hop": hop["hop"], "kind": hop["kind"], "title": hop["title"],
                     **{k: v for k, v in timings.get(hop["hop"], {}).items() if k != "hop"},
                     "steps": {s.value: sum(1 for r in mine if r.state == s.value)
                               for s in UpgradeStepState}})
    start = run.created_s
    return {
        "name": name, "state": run.state, "failed_hop": run.failed_hop, "error": run.error,
        "created_s": run.created_s, "finished_s": run.finished_s,
        "path": " → ".join([plan["path"][0]["from"]["release"],
                            *(h["to"]["release"] for h in plan["path"])])
        if plan.get("path") else "",
        "hops": hops,
        "steps": [{"id": r.id, "hop": r.hop, "phase": r.phase, "name": r.name,
                   "title": titles.get(r.id, r.name), "state": r.state, "runs": r.runs,
                   "exit_code": r.exit_code, "error": r.error,
                   "started_s": None if r.started_s is None else round(r.started_s - start, 3),
                   "elapsed_s": None if r.started_s is None or r.finished_s is None
                   else round(r.finished_s - r.started_s, 3)} for r in rows],
        "events": [{"t_s": round(e.t_s - start, 3), "kind": e.kind, "step": e.step,
                    "message": e.message, "alert": e.kind in ALERT_KINDS} for e in events],
    }


def render_upgrade(data: dict[str, Any], *, inline_css: bool, marker: str = "",
                   refresh_s: float = 0.0, generated: str = "") -> str:
    """The run's page: the dashboard's (``inline_css=False``: the served style sheet and live
    updates) or the report's (everything inline, no script, no request)."""
    from markupsafe import Markup

    from hvroll.telemetry.render import STYLE, environment

    env = environment(Path(__file__).resolve().parent / "templates")
    css = Markup(STYLE.read_text(encoding="utf-8")) if inline_css else ""
    return env.get_template("upgrade.html").render(data=data, css=css, marker=marker,
                                                   refresh_s=refresh_s, generated=generated)
