"""A toy control plane for runner tests: a JSON 'database', an API flag file and a log.

Usage: toycp.py DIR COMMAND [ARG]. Every call appends ``$HVROLL_STEP COMMAND`` to
DIR/calls.log; a step named in DIR/fail (one id a line) exits 3; DIR/hold/<step> makes the
step wait until that file is removed (to kill the runner in the middle of a step).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    root, command, *args = sys.argv[1:]
    d = Path(root)
    step = os.environ.get("HVROLL_STEP", "-")
    with (d / "calls.log").open("a") as log:
        log.write(f"{step} {command}\n")
    fail = d / "fail"
    if fail.exists() and step in fail.read_text().split():
        print(f"{command} failed on purpose", file=sys.stderr)
        return 3
    hold = d / "hold" / step
    while hold.exists():
        time.sleep(0.05)
    db = d / "db.json"
    if command == "servers":
        if not (d / "api.up").exists():
            print("API down", file=sys.stderr)
            return 1
        print(json.dumps(json.loads(db.read_text())["servers"]))
    elif command == "api":
        return 0 if (d / "api.up").exists() else 1
    elif command == "stop":
        (d / "api.up").unlink(missing_ok=True)
    elif command == "start":
        (d / "api.up").touch()
        release = json.loads(db.read_text())["release"]
        fmt = (d / "logformat").read_text().strip() if (d / "logformat").exists() else "INFO"
        with (d / "toy.log").open("a") as out:
            out.write(f"{fmt} toy started on {release}\n")
    elif command == "backup":
        target = Path(args[0])
        target.mkdir(parents=True, exist_ok=True)
        (target / "db.json").write_text(db.read_text())
    elif command == "restore":
        db.write_text((Path(args[0]) / "db.json").read_text())
    elif command == "hook":
        (d / "installed").write_text(args[0])
    elif command == "migrate":
        data = json.loads(db.read_text())
        data["release"] = args[0]
        if (d / "lose-addresses").exists():
            for server in data["servers"]:
                server["addresses"] = {}
        db.write_text(json.dumps(data))
    elif command == "online":
        counter = d / f"online-{step}"
        n = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(n + 1))
        return 1 if n < 2 else 0
    elif command == "check":
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
