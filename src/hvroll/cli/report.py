"""``hvroll report``: the campaign report as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer

from hvroll.cli.common import JSON_HELP, err_console, print_json
from hvroll.cli.outputs import FORCE_HELP, Kind, check_output

STATE_HELP = ("The campaign's state file (SQLite; or a SQLAlchemy URL), as given to 'hvroll "
              "run --state', or a control-plane run's, as given to 'hvroll controlplane run "
              "--state'. Read-only: a report can be made while the campaign runs.")


def report(
    state: str = typer.Option(..., "--state", "-s", help=STATE_HELP, show_default=False),
    output: Path = typer.Option(Path("report.html"), "--output", "-o",
                                help="Where to write the report (one HTML file). An existing "
                                     "report is replaced only with --force; a state file, an "
                                     "inventory or a plan never."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write the campaign report: one HTML file with inline styles and SVG plots, no
    external request, readable offline.

    Sections: summary, hosts' timeline per cluster, migrations per hour, elapsed time and
    downtime histograms (with percentiles per rung), progress per region, the verification
    matrix, and every failure with its reason. Times are campaign hours (virtual under the
    simulator).

    For a control-plane run's state file: each hop's elapsed time, API downtime and migration
    time, every step (runs, exit code, error) and every event.
    """
    from hvroll.report import write_report
    from hvroll.telemetry.snapshot import StateSource
    from hvroll.telemetry.upgrade import is_upgrade_state

    check_output(output, Kind.REPORT, inputs=[state], force=force)
    if is_upgrade_state(state):
        _upgrade_report(state, output, as_json)
        return
    source = StateSource(state)
    try:
        summary = write_report(source, output)
    finally:
        source.close()
    if as_json:
        print_json(summary)
    else:
        err_console.print(f"wrote {output}: {summary['bytes']:,} bytes, "
                          f"{summary['charts']} charts, campaign {summary['state']}",
                          markup=False, highlight=False, soft_wrap=True)


def _upgrade_report(state: str, output: Path, as_json: bool) -> None:
    """The report of a control-plane run (a state file of 'hvroll controlplane run')."""
    from hvroll.report.upgrade import write_upgrade_report
    from hvroll.telemetry.upgrade import UpgradeSource

    source = UpgradeSource(state)
    try:
        summary = write_upgrade_report(source, output)
    finally:
        source.close()
    if as_json:
        print_json(summary)
    else:
        err_console.print(f"wrote {output}: {summary['bytes']:,} bytes, control-plane run "
                          f"{summary['state']}, {len(summary['hops'])} hops, "
                          f"{summary['events']} events", markup=False, highlight=False,
                          soft_wrap=True)
