"""scripts/setup.sh: its modes, and its stamps (what makes a second `make run` do nothing)."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SETUP = REPO / "scripts" / "setup.sh"
VENV = REPO / ".venv"


def stamp_key() -> str:
    """The key setup.sh writes into its stamps: sha256 of requirements.txt + setup.sh."""
    data = (REPO / "requirements.txt").read_bytes() + SETUP.read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def test_an_unknown_mode_is_a_usage_error():
    proc = subprocess.run(["bash", str(SETUP), "install"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_the_script_parses():
    assert subprocess.run(["bash", "-n", str(SETUP)], timeout=60).returncode == 0


def _stamped() -> bool:
    stamp = VENV / ".installed"
    return stamp.is_file() and stamp.read_text().strip() == stamp_key()


@pytest.mark.skipif(not _stamped(), reason=".venv was not set up by this scripts/setup.sh "
                    "and requirements.txt (run `make test`)")
def test_stamps_after_setup_and_a_second_run_does_nothing():
    cluster = VENV / ".torch-cluster"
    if importlib.util.find_spec("torch_cluster") is not None and cluster.is_file():
        assert cluster.read_text().strip() == stamp_key()
    mode = "test" if cluster.is_file() else "run"
    proc = subprocess.run(["bash", str(SETUP), mode], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "", proc.stdout  # nothing installed, nothing built
