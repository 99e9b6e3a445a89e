"""The ``hvroll`` command line (typer + rich).

Exit codes: 0 success; 1 a runtime failure (a backend or a campaign step failed); 2 invalid
input (a file, an option); 3 a safety invariant stopped the command. Errors are printed as one
line each on standard error, ``FILE:LINE: what (expected …, got …)`` where a file is at fault;
never a traceback for bad input.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError
from typer._click import exceptions as click_errors  # the click typer runs on

from hvroll import __version__
from hvroll.cli import controlplane, demo, fleet, lab, plan, run, testbed
from hvroll.cli import report as report_cli
from hvroll.cli import scaleout as scaleout_cli
from hvroll.cli import serve as serve_cli
from hvroll.cli.common import err_console, exit_code_for
from hvroll.cli.compat import check, explain, matrix
from hvroll.errors import HvrollError, InventoryError

app = typer.Typer(
    name="hvroll",
    help="Upgrade the hosts of a KVM cloud wave by wave, without stopping a VM: inventory, "
         "check, plan, run and record a rolling upgrade by live migration.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(fleet.app, name="fleet")
app.command()(check)
app.command()(matrix)
app.command()(explain)
app.command()(plan.plan)
app.command()(run.run)
app.command()(run.status)
app.command()(run.pause)
app.command()(run.resume)
app.command()(run.abort)
app.command()(scaleout_cli.worker)
app.command()(demo.demo)
app.command()(serve_cli.serve)
app.command()(report_cli.report)
app.add_typer(testbed.app, name="testbed")
app.add_typer(controlplane.app, name="controlplane")
app.add_typer(lab.app, name="lab")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hvroll {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Upgrade the hosts of a KVM cloud without stopping a VM."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning hvroll errors into one line each and an exit code.

    Usage errors (an unknown option, a missing argument, a bad option value such as
    ``--computes abc``) are one line too, with exit code 2, for every command: click runs
    without its standalone mode here, so that its errors come to this one place instead of
    typer's multi-line box.
    """
    try:
        code = app(args=argv, prog_name="hvroll", standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(code) without standalone mode
            sys.exit(code)
    except click_errors.NoArgsIsHelpError as exc:
        exc.show()  # ``hvroll`` or a group alone: its help
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _error(exc.format_message() + hint)
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error("aborted")
        sys.exit(1)
    except HvrollError as exc:
        problems = exc.problems if isinstance(exc, InventoryError) else None
        for line in ([str(p) for p in problems] if problems else [str(exc)]):
            _error(line)
        sys.exit(exit_code_for(exc))
    except ValidationError as exc:  # a value that reached a model without its own check
        first = exc.errors(include_url=False)[0]
        where = ".".join(map(str, first["loc"])) or exc.title
        _error(f"invalid value: {where}: {first['msg']} (got {first.get('input')!r:.60})")
        sys.exit(2)
    except OSError as exc:
        _error(f"{exc.filename or 'I/O'}: {exc.strerror or exc}")
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("HVROLL_DEBUG"):
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (a bug in hvroll; run again with "
               f"HVROLL_DEBUG=1 for the traceback)")
        sys.exit(1)


def _error(line: str) -> None:
    err_console.print(f"error: {' '.join(line.splitlines())}", markup=False, highlight=False,
                      soft_wrap=True)
