#!/usr/bin/env bash
# Installs everything ognet needs into .venv/ at the repository root.
#
#   scripts/setup.sh run    (make run, make setup): torch-cluster only where torch sees a GPU
#   scripts/setup.sh test   (make test): torch-cluster always, so CI runs its backend tests
#
# torch-cluster is published as source only: building it takes about 11 minutes on 2 cores, and
# on the CPU ognet.ops picks Open3D's FPS and SciPy's KD-tree, which are faster there (see
# BENCHMARKS.md), so a CPU-only `make run` skips it; on a GPU it is the fastest backend.
# Idempotent: stamps keyed on requirements.txt and this script; a second run with nothing
# changed returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-run}
case "$MODE" in run|test) ;; *) echo "usage: $0 [run|test]" >&2; exit 2 ;; esac
VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.installed"
CLUSTER_STAMP="$VENV/.torch-cluster"
KEY=$(cat requirements.txt scripts/setup.sh | sha256sum | cut -c1-16)

apt_install() {  # apt_install PACKAGE... : install those not installed yet
    local need=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
    [ ${#need[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install:" \
            "${need[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    echo "setup: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# What a minimal Debian/Ubuntu lacks: venv (ensurepip), libusb for Open3D's import, libGL and
# GLib for OpenCV's (MediaPipe's) import, and opencv-doc for its sample video (vtest.avi, the
# campus demo).
apt_install python3-venv libusb-1.0-0 libgl1 libglib2.0-0 opencv-doc
# Chromium for the browser tests, where the distribution packages it (Debian does; elsewhere
# the browser tests skip with the reason).
if ! dpkg -s chromium >/dev/null 2>&1 && apt-cache show chromium >/dev/null 2>&1; then
    apt_install chromium || echo "setup: no chromium package installed: the browser tests" \
        "will be skipped" >&2
fi

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$KEY" ]; then
    [ -x "$PY" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    PIP="$PY -m pip"
    # torch first, through pip and its configuration: the CPU wheel of 2.13.0 (a plain `torch`
    # would pull a multi-GB CUDA build).
    $PIP install -q "torch==2.13.0"
    # The rest with uv (from PyPI): parallel downloads and installs, 45 s against pip's 5+
    # minutes for this list on 2 busy cores with an empty cache; torch stays as installed.
    $PIP install -q "uv==0.13.9"
    "$VENV/bin/uv" pip install -q --python "$PY" -r requirements.txt
    # The editable install of ognet itself (setuptools warns at length; show it only on failure).
    $PIP install -q --no-deps -e . >/dev/null 2>&1 || $PIP install --no-deps -e .
    echo "$KEY" > "$STAMP"
fi

gpu() {  # does the installed torch see a CUDA GPU? (a driver is looked for first: cheap)
    { [ -e /dev/nvidiactl ] || command -v nvidia-smi >/dev/null 2>&1; } &&
        "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null
}
if [ "$MODE" = test ] || gpu; then
    if [ ! -f "$CLUSTER_STAMP" ] || [ "$(cat "$CLUSTER_STAMP")" != "$KEY" ]; then
        apt_install g++ python3-dev  # the build's compiler and Python headers
        echo "setup: building torch-cluster against the installed torch (about 11 minutes on 2" \
            "cores the first time; pip caches the wheel for later installs)"
        "$PY" -m pip install -q --upgrade setuptools wheel  # the build runs in this venv
        # Its setup.py turns ninja off, so setuptools compiles its nine extensions one after
        # another; setuptools' own `build_ext --parallel`, set through an extra config file
        # (DIST_EXTRA_CONFIG), builds them on every core: 11 against 22 minutes on 2 cores
        # (README.md, "Set up and run").
        BUILD_CFG=$(mktemp)
        printf '[build_ext]\nparallel = %s\n' "$(nproc)" > "$BUILD_CFG"
        DIST_EXTRA_CONFIG="$BUILD_CFG" "$PY" -m pip install -q --no-build-isolation \
            "torch-cluster==1.6.3"
        rm -f "$BUILD_CFG"
        echo "$KEY" > "$CLUSTER_STAMP"
    fi
fi
