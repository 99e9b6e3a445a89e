"""The SHA-256 of each table a campaign run writes: the proof that a change to the executor or
the store writes the same rows (``docs/performance.md``).

    .venv/bin/python bench/digest.py STATE [STATE ...]

``STATE``: a state file (or a ``postgresql://`` URL), e.g. the one ``bench/campaign.py
--state DIR`` leaves in ``DIR/campaign.db``. For each table (events, transitions, migrations,
host steps, attempts) the rows are read in id order and the ``repr`` of each row is hashed
(:func:`hvroll.store.read.table_digests`); the first 16 hex digits are printed.
"""

from __future__ import annotations

import argparse

from hvroll.store.read import table_digests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state", nargs="+")
    args = parser.parse_args()
    for target in args.state:
        found = table_digests(target)
        print(f"{target}: " + ", ".join(f"{k} {v}" for k, v in found.items()))


if __name__ == "__main__":
    main()
