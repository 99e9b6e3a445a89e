#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite
# (real libvirt tests included). Exits non-zero on any failure, and when no test ran. The log
# ends with the 30 slowest setups, calls and teardowns (where the wall time goes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
set +e
# Two workers (CI has 2 cores; most real-component tests wait on their services): each module,
# or each folder of tests sharing a session testbed, runs on one worker, the most expensive
# first (tests/conftest.py: work_unit). `-n 0` after it runs everything in this process.
.venv/bin/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder --durations=30 "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "error: pytest selected no test" >&2
  exit 1
fi
exit $rc
