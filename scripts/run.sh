#!/usr/bin/env bash
# Sets up whatever is missing, then starts HeadTwin Studio (on the built-in sample head unless
# an image is given): bash scripts/run.sh [IMAGE]
set -euo pipefail
export PYTHONUTF8=1
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display found; starting on a virtual X display (Xvfb)" >&2
  exec xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python main.py "$@"
fi
exec .venv/bin/python main.py "$@"
