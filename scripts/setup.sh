#!/usr/bin/env bash
# Installs whatever is missing for HeadTwin Studio: Debian packages (Xvfb, Qt's xcb libraries,
# Mesa), a virtual environment in .venv, and the Python dependencies pinned by constraints.txt
# (torch 2.13.0 CPU: without the pin pip would pull a multi-GB CUDA build). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(xvfb xauth libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 libxkbcommon0
  libxcb-shape0 libxcb-randr0 libegl1 libgl1 libglx-mesa0 libgl1-mesa-dri libosmesa6
  libxrender1 libdbus-1-3 libfontconfig1)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
  command -v python3.11 >/dev/null 2>&1 && PYTHON=python3.11
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi

# Re-install only when the dependency files changed since the last successful install.
stamp=.venv/.headtwin-deps
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python dependencies (first time: a few minutes)"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -c constraints.txt -e ".[dev]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed (full log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
