"""Structured logs of a running campaign (structlog), on standard error.

The executor records each event in the state file and logs the same event through the
logger it is given (:attr:`hvroll.executor.context.Context.event` is the one path), bound
with the campaign and, where they apply, the wave, host and VM. ``hvroll run`` builds the
logger with :func:`make_logger`:

* ``console``: one readable line per event (the default on a terminal);
* ``json``: one JSON object per line (the default otherwise: for journald, Loki, …).

Progress of a running migration is logged at debug level on every poll and at info level at
most every 30 s of campaign time per migration (:class:`hvroll.executor.context.Throttle`, on
the executor's clock). Without a logger (library use, tests) nothing is logged.

structlog is imported by :func:`make_logger`: the formats and levels alone (``hvroll run``'s
options) do not load it.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TextIO, cast

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger, Processor


class LogFormat(StrEnum):
    AUTO = "auto"
    """console on a terminal, json otherwise."""
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class _Stderr:
    """Standard error as it is when written to (a progress display may replace it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def resolve(fmt: LogFormat, *, tty: bool) -> LogFormat:
    """The format ``auto`` stands for: console on a terminal, json otherwise."""
    if fmt is LogFormat.AUTO:
        return LogFormat.CONSOLE if tty else LogFormat.JSON
    return fmt


def make_logger(fmt: LogFormat = LogFormat.AUTO, level: str = "info",
                stream: Any = None) -> FilteringBoundLogger:
    """A logger writing ``fmt`` lines at ``level`` and above to ``stream`` (standard error)."""
    import structlog

    out = cast(TextIO, stream if stream is not None else _Stderr())
    tty = bool(getattr(stream if stream is not None else sys.stderr, "isatty", lambda: False)())
    chosen = resolve(fmt, tty=tty)
    renderer: Processor = (structlog.processors.JSONRenderer(sort_keys=False)
                           if chosen is LogFormat.JSON
                           else structlog.dev.ConsoleRenderer(colors=tty))
    processors: list[Processor] = [structlog.processors.add_log_level,
                                   structlog.processors.TimeStamper(fmt="iso", utc=True),
                                   renderer]
    logger: FilteringBoundLogger = structlog.wrap_logger(
        structlog.PrintLogger(out), processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True)
    return logger
