"""A minimal Neutron on loopback: Nova only reads ports, networks and extensions.

``python hvlab_fake_neutron.py PORT`` answers every ``GET /v2.0/<collection>`` with an empty
list, quotas with -1 (unlimited) and anything else with 404. Servers booted with
``networks='none'`` never need more.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_QUOTA = dict.fromkeys(("network", "subnet", "port", "router", "floatingip",
                        "security_group", "security_group_rule"), -1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        if not parts:
            self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
                {"rel": "self", "href": f"http://{self.headers.get('Host')}/v2.0/"}]}]})
        elif parts[0] == "v2.0" and len(parts) >= 2 and parts[1] == "quotas":
            self._send(200, {"quota": _QUOTA})
        elif parts[0] == "v2.0" and len(parts) == 2:
            collection = parts[1].removesuffix(".json")
            self._send(200, {collection: []})
        elif parts == ["v2.0"]:
            self._send(200, {"resources": []})
        else:
            self._send(404, {"NeutronError": {"type": "NotFound", "message": self.path}})


def main() -> None:
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
