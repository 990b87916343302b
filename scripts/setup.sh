#!/usr/bin/env bash
# Installs everything ognet needs into .venv/ at the repository root. Idempotent: a second run
# with nothing changed returns in about a second (a stamp keyed on requirements.txt and this
# script). Called by `make setup`, `make run` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.installed"
KEY=$(cat requirements.txt scripts/setup.sh | sha256sum | cut -c1-16)

# System packages: libusb for Open3D's import, Chromium for the browser tests.
need=()
dpkg -s libusb-1.0-0 >/dev/null 2>&1 || need+=(libusb-1.0-0)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$KEY" ]; then
    exit 0
fi

[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip wheel setuptools
# torch first: the CPU wheel of 2.13.0 (a plain `torch` would pull a multi-GB CUDA build).
$PIP install -q "torch==2.13.0"
# torch-cluster is published as source only; it builds against the installed torch (about
# 14 minutes on 2 cores the first time). pip caches the built wheel, so later installs reuse it.
$PIP install -q --no-build-isolation "torch-cluster==1.6.3"
$PIP install -q -r requirements.txt
# The editable install of ognet itself (setuptools warns at length; show it only on failure).
$PIP install -q --no-deps -e . >/dev/null 2>&1 || $PIP install --no-deps -e .
echo "$KEY" > "$STAMP"
