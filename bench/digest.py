"""The SHA-256 of each table a campaign run writes: the proof that a change to the executor or
the store writes the same rows (``docs/performance.md``).

    .venv/bin/python bench/digest.py STATE [STATE ...]

``STATE``: a state file (or a ``postgresql://`` URL), e.g. the one ``bench/campaign.py
--state DIR`` leaves in ``DIR/campaign.db``. For each table (events, transitions, migrations,
host steps, attempts) the rows are read in id order and the ``repr`` of each row is hashed;
the first 16 hex digits are printed. Two states give the same digests when every row is the
same, column by column: the values as stored (a state as its string), read with plain SQL.
"""

from __future__ import annotations

import argparse
import hashlib

from hvroll.store.read import readonly_engine

TABLES = {"events": "event", "transitions": "transition", "migrations": "migration",
          "host steps": "host_step", "attempts": "attempt"}


def digests(target: str) -> dict[str, str]:
    """The digest of each table of the state ``target`` (16 hex digits each)."""
    engine = readonly_engine(target)
    try:
        out = {}
        with engine.connect() as conn:
            for name, table in TABLES.items():
                h = hashlib.sha256()
                for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id"):
                    h.update(repr(tuple(row)).encode())
                out[name] = h.hexdigest()[:16]
        return out
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", nargs="+")
    args = parser.parse_args()
    for target in args.state:
        found = digests(target)
        print(f"{target}: " + ", ".join(f"{k} {v}" for k, v in found.items()))


if __name__ == "__main__":
    main()
