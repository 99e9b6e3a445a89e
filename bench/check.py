"""``hvroll check`` on the ``enterprise`` preset: wall time of the whole command (loading the
inventory included) and of the verdicts alone, in one run.

    .venv/bin/python bench/check.py [--seed 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hvroll.compat.report import check_upgrade
from hvroll.compat.verdict import Checker
from hvroll.inventory import load_fleet, save_fleet
from hvroll.synthetic.generate import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enterprise.yaml"
        save_fleet(generate("enterprise", args.seed), path)
        t0 = time.perf_counter()
        fleet = load_fleet(path)
        t1 = time.perf_counter()
        report = check_upgrade(fleet, fleet.profile_by_name["CPv2"], Checker(fleet))
        t2 = time.perf_counter()
    data = report.data()
    print(f"enterprise: {data['vms']} VMs: {data['ok']} ok, {data['workaround']} workaround, "
          f"{data['blocked']} blocked")
    print(f"load {t1 - t0:.2f} s, verdicts {t2 - t1:.2f} s, whole check {t2 - t0:.2f} s "
          f"(the issue's bound: 10 s); verdicts per second {data['vms'] / (t2 - t1):,.0f}")


if __name__ == "__main__":
    main()
