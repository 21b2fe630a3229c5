#!/usr/bin/env bash
# Sets up whatever is missing, then runs lint and the whole test suite (GUI tests in a real X
# window on Xvfb, started by pytest-xvfb): bash scripts/test.sh [PYTEST ARGS]
set -euo pipefail
export PYTHONUTF8=1
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HEADTWIN_CACHE="${HEADTWIN_CACHE:-$PWD/.cache/headtwin}"
export MPLBACKEND=Agg
echo "== ruff"
.venv/bin/ruff check headtwin_app tests benchmarks main.py
echo "== mypy (core)"
.venv/bin/mypy headtwin_app/core
echo "== pytest"
.venv/bin/python -m pytest -q "$@"
