"""Fixtures: campaign state files, a running ``hvroll serve``, and headless Chromium (the
Debian ``chromium``, see ``browsers``)."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from telemetry.statefiles import Campaign, campaign, copy
from web import browsers

with warnings.catch_warnings():
    # Starlette 1.x deprecates its TestClient on httpx in favour of the httpx2 fork; the client
    # works the same on httpx, which the other tests need anyway (and older Starlette only
    # knows httpx). Import it once here with that one warning silenced.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    import starlette.testclient  # noqa: F401

TOKEN = "test-token-0123456789abcdef"
URL = re.compile(r"at (http://127\.0\.0\.1:\d+)/")


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A finished campaign of the small fleet, with a failed migration."""
    return campaign(tmp_path_factory, "finished")


@pytest.fixture(scope="session")
def holding(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """A campaign of the small fleet holding after its canary wave."""
    return campaign(tmp_path_factory, "holding")


@dataclass
class Server:
    """A ``hvroll serve`` process on a free loopback port."""

    url: str
    state: Path
    process: subprocess.Popen[str]
    reader: threading.Thread
    output: list[str] = field(default_factory=list)
    """Every line it printed on standard error (its log)."""

    def stop(self) -> None:
        """Stop it, and read what it printed up to its end."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start_server(state: Path, *args: str, timeout_s: float = 30.0) -> Server:
    """Start ``hvroll serve --state STATE --port 0 ARGS…`` and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hvroll", "serve", "--state", str(state), "--port", "0", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"})
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            output.append(line.rstrip("\n"))
            lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    url = None
    while url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            Server("", state, process, reader, output).stop()
            raise AssertionError(f"hvroll serve did not start: {output}")
        try:
            found = URL.search(lines.get(timeout=remaining))
        except queue.Empty:
            continue
        url = found.group(1) if found else None
    server = Server(url, state, process, reader, output)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/marker", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"hvroll serve does not answer at {url}: {output}")


@pytest.fixture(scope="session")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secret") / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def served(finished: Campaign, token_file: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``hvroll serve`` on a copy of the finished campaign (controls write to it)."""
    made = copy(finished, tmp_path_factory.mktemp("served"))
    server = start_server(made.state, "--token-file", str(token_file), "--refresh", "1")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The module's headless Chromium (Playwright ``Browser``, :mod:`web.browsers`)."""
    yield browsers.acquire()
    browsers.release()
