"""Bad input and an unusable cloud for ``hvroll fleet discover`` and ``hvroll run --driver
nova``, before any cloud is touched or file written: a missing clouds.yaml, an unknown cloud,
an endpoint that does not answer, a Nova whose API is too old. One line each, exit 2 (input)
or 1 (the cloud), no traceback, no file. (Wrong credentials need a real Nova: see
test_discovery_lab.py.)"""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from clirun import Result, invoke

ROOT = Path(__file__).resolve().parents[3]
FACTS = """\
version: 1
profiles:
  - {name: CPv1, os_name: ubuntu, os_version: "14.04", qemu_version: 2.0.0,
     libvirt_version: 1.2.2, rank: 1,
     match: {hypervisor_type: QEMU, hypervisor_version: 2000000}}
  - {name: CPv2, os_name: ubuntu, os_version: "16.04", qemu_version: 2.11.1,
     libvirt_version: 4.0.0, rank: 2,
     match: {hypervisor_type: QEMU, hypervisor_version: 2011001}}
"""

Hv = Callable[..., Result]


@pytest.fixture
def hv(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Hv:
    """``hvroll ARGS`` in this process, with ``OS_CLIENT_CONFIG_FILE`` from ``clouds``."""

    def run(*args: str, clouds: Path | None = None) -> Result:
        with monkeypatch.context() as m:
            m.delenv("OS_CLOUD", raising=False)
            m.delenv("OS_CLIENT_CONFIG_FILE", raising=False)
            if clouds is not None:
                m.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
            return invoke(capsys, args)

    return run


def clouds_yaml(tmp_path: Path, endpoint: str) -> Path:
    facts = tmp_path / "host-facts.yaml"
    facts.write_text(FACTS)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"east": {
        "auth_type": "admin_token", "auth": {"endpoint": endpoint, "token": "admin:admin"},
        "compute_endpoint_override": endpoint, "region_name": "RegionOne",
        "hvroll_host_facts": str(facts)}}}))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def old_nova() -> Iterator[str]:
    """A compute endpoint on loopback whose version document says what a Nova of the Liberty
    release says: microversions 2.1 to 2.12. It answers nothing else."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            port = self.server.server_address[1]
            body = json.dumps({"version": {
                "id": "v2.1", "status": "CURRENT", "version": "2.12", "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"http://127.0.0.1:{port}/v2.1/"}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2.1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def plan_file(hv: Hv, tmp_path: Path) -> Path:
    inventory = tmp_path / "tiny.yaml"
    shutil.copy(ROOT / "docs" / "examples" / "tiny.yaml", inventory)
    out = tmp_path / "plan.json"
    assert hv("plan", str(inventory), "-t", "CPv2", "--no-hold", "-o", str(out)).code == 0
    return out


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def discover(hv: Hv, tmp_path: Path, cloud: str, clouds: Path | None) -> Result:
    return hv("fleet", "discover", "--cloud", cloud, "-o", str(tmp_path / "f.yaml"),
              clouds=clouds)


def run(hv: Hv, tmp_path: Path, plan: Path, cloud: str, clouds: Path | None) -> Result:
    return hv("run", str(plan), "--driver", "nova", "--cloud", cloud, "--quiet",
              "--state", str(tmp_path / "c.db"), clouds=clouds)


def one_line(result: Result) -> str:
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize("command", ["discover", "run"])
def test_a_missing_clouds_yaml_is_input_exit_2_and_nothing_written(
        hv: Hv, tmp_path: Path, plan_file: Path, command: str) -> None:
    before = files(tmp_path)
    missing = tmp_path / "nowhere" / "clouds.yaml"
    result = (discover(hv, tmp_path, "east", missing) if command == "discover"
              else run(hv, tmp_path, plan_file, "east", missing))
    assert result.code == 2
    assert one_line(result) == (f"error: OS_CLIENT_CONFIG_FILE={missing}: no such file (point "
                                "it at your clouds.yaml, or unset it to use ./clouds.yaml or "
                                "~/.config/openstack/clouds.yaml)\n")
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", ["discover", "run"])
def test_an_unknown_cloud_is_input_exit_2_naming_the_known_ones(
        hv: Hv, tmp_path: Path, plan_file: Path, command: str) -> None:
    clouds = clouds_yaml(tmp_path, "http://127.0.0.1:9/v2.1")
    before = files(tmp_path)
    result = (discover(hv, tmp_path, "west", clouds) if command == "discover"
              else run(hv, tmp_path, plan_file, "west", clouds))
    assert result.code == 2
    assert one_line(result).startswith(f"error: cloud 'west' is not in {clouds} (expected one "
                                       "of: east)")
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", ["discover", "run"])
def test_an_endpoint_that_does_not_answer_is_exit_1_and_nothing_written(
        hv: Hv, tmp_path: Path, plan_file: Path, command: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}/v2.1"
    clouds = clouds_yaml(tmp_path, endpoint)
    before = files(tmp_path)
    result = (discover(hv, tmp_path, "east", clouds) if command == "discover"
              else run(hv, tmp_path, plan_file, "east", clouds))
    assert result.code == 1
    line = one_line(result)
    assert line.startswith("error: cloud east: asking Nova's API version: the cloud's endpoint "
                           "does not answer (")
    assert line.endswith("): check the endpoint in clouds.yaml and that nova-api runs\n")
    assert endpoint in line
    assert files(tmp_path) == before


@pytest.mark.parametrize("command", ["discover", "run"])
def test_a_nova_whose_api_is_too_old_is_exit_1_saying_which_version(
        hv: Hv, tmp_path: Path, plan_file: Path, old_nova: str, command: str) -> None:
    clouds = clouds_yaml(tmp_path, old_nova)
    before = files(tmp_path)
    result = (discover(hv, tmp_path, "east", clouds) if command == "discover"
              else run(hv, tmp_path, plan_file, "east", clouds))
    assert result.code == 1
    needs = "discovery needs 2.53" if command == "discover" else \
        "hvroll's nova driver needs 2.24"
    assert one_line(result) == (
        f"error: cloud east: Nova's API offers microversions 2.1 to 2.12, {needs} or later: "
        "upgrade Nova's API services (nova-api) first, or check that the compute endpoint in "
        "clouds.yaml is the cloud's current one\n")
    assert files(tmp_path) == before
