"""``hvroll run --engine temporal`` and ``hvroll worker``: what an operator sees before any
Temporal server is involved (bad options: one line, exit 2, no file written), and that
without ``--engine`` nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Cli

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.fixture
def plan_file(cli: Cli, tmp_path: Path) -> Path:
    out = tmp_path / "p.json"
    assert cli("plan", str(EXAMPLES / "tiny.yaml"), "--target", "CPv2", "--no-hold", "-o",
               str(out)).code == 0
    return out


@pytest.mark.parametrize(("extra", "message"), [
    ((), "error: --temporal-address: expected HOST:PORT (got None)"),
    (("--temporal-address", "localhost"),
     "error: --temporal-address: expected HOST:PORT (got 'localhost')"),
    (("--temporal-address", "127.0.0.1:7233", "--heartbeat-timeout-s", "1"),
     "error: Invalid value for '--heartbeat-timeout-s': Input should be greater than or equal "
     "to 2 (see 'hvroll run --help')"),
])
def test_bad_engine_options_write_nothing(cli: Cli, plan_file: Path, tmp_path: Path,
                                          extra: tuple[str, ...], message: str) -> None:
    state = tmp_path / "c.db"
    result = cli("run", str(plan_file), "--state", str(state), "--engine", "temporal", *extra)
    assert result.code == 2
    assert result.stderr.strip() == message
    assert not state.exists()


def test_an_unreachable_temporal_is_one_line_and_exit_1(cli: Cli, plan_file: Path,
                                                        tmp_path: Path) -> None:
    result = cli("run", str(plan_file), "--state", str(tmp_path / "c.db"), "--engine",
                 "temporal", "--temporal-address", "127.0.0.1:1")
    assert result.code == 1
    assert result.stderr.startswith("error: temporal: cannot reach 127.0.0.1:1 (namespace "
                                    "default)")
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_engine_run_drives_the_campaign_itself(cli: Cli, plan_file: Path,
                                                       tmp_path: Path) -> None:
    result = cli("run", str(plan_file), "--state", str(tmp_path / "c.db"), "--quiet", "--json")
    assert result.code == 0
    assert '"temporal"' not in result.stdout and '"state": "completed"' in result.stdout


def test_worker_help_teaches_queues_and_timeouts(cli: Cli) -> None:
    out = cli("worker", "--help").stdout
    for words in ("hvroll-REGION", "--regions", "--lease-ttl-s", "heartbeat"):
        assert words in out


DRIVER_OPTIONS = {"--driver", "--cloud", "--seed", "--known-issues", "--fail-migrations",
                  "--fail-reinstalls", "--crash-hosts", "--poll-s"}
"""What a region's executor needs from ``hvroll run``'s options: a worker takes them too (the
journal: ``--journal-dir``, one per region)."""


def test_worker_takes_every_driver_option_of_run(cli: Cli) -> None:
    import typer

    from hvroll.cli import app
    from hvroll.drivers.settings import SETTINGS

    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    flags = {name: {o for p in command.commands[name].params for o in p.opts}
             for name in ("run", "worker")}
    wanted = DRIVER_OPTIONS | {s.flag for s in SETTINGS.values()}
    assert wanted <= flags["run"]
    assert wanted - flags["worker"] == set()
    out = cli("worker", "--help").stdout
    assert "--crash-hosts" in out and "crashes" in out


def test_worker_and_run_ask_the_simulator_for_the_same_faults() -> None:
    from hvroll.cli.common import sim_faults
    from hvroll.drivers.sim import Faults

    faults = sim_faults(known_issues=False, crash_hosts=0.002, fail_migrations=0.1,
                        fail_reinstalls=0.2)
    made = Faults(**faults)
    assert (made.known_issues, made.host_crash_rate_per_h, made.migration_failure_rate,
            made.reinstall_failure_rate) == (False, 0.002, 0.1, 0.2)
