"""Start-up checks: a gallery file missing a field, a gallery built by another checkpoint,
official SMPL files holding chumpy objects: each a one-line error, in the library and as
``python app.py``'s single ``error:`` line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from test_pipeline import small_assets

from ognet.gallery import GalleryError, GalleryIndex
from ognet.pipeline import PipelineError, ReIDPipeline

REPO = Path(__file__).resolve().parent.parent


def _small_index(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return GalleryIndex(rng.normal(size=(6, 8)), [1, 1, 2, 2, 3, 3], [0, 1, 0, 1, 0, 1],
                        meta={"num_points": 2048, "z_zero": False}).save(tmp_path / "g")


def _rewrite(file: Path, drop_array: str | None = None, drop_field: str | None = None):
    import json

    with safe_open(str(file), framework="numpy") as f:
        header = json.loads(f.metadata()["ognet_gallery"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    arrays.pop(drop_array, None)
    header.pop(drop_field, None)
    save_file(arrays, str(file), metadata={"ognet_gallery": json.dumps(header)})


@pytest.mark.parametrize("drop", [{"drop_array": "camids"}, {"drop_array": "thumb_offsets"},
                                  {"drop_field": "cloud_paths"}, {"drop_field": "meta"}])
def test_a_gallery_missing_a_field_is_a_gallery_error(tmp_path, drop):
    file = _small_index(tmp_path)
    _rewrite(file, **drop)
    missing = next(iter(drop.values()))
    with pytest.raises(GalleryError, match=f"without {missing}"):
        GalleryIndex.load(file)


def test_check_model():
    index = GalleryIndex(np.eye(4, 8), [1, 2, 3, 4], [0, 0, 1, 1],
                         meta={"num_points": 2048, "z_zero": False, "model": "ognet_small"})
    index.check_model(8, 2048, False, "ognet_small")
    for args, words in [((16, 2048, False), "8-d features"),
                        ((8, 4096, False), "2048-point clouds"),
                        ((8, 2048, True), "the checkpoint is a 2D control"),
                        ((8, 2048, False, "ognet"), "variant ognet_small")]:
        with pytest.raises(GalleryError, match=words):
            index.check_model(*args)
    GalleryIndex(np.eye(4, 8), [1, 2, 3, 4], [0, 0, 1, 1]).check_model(8, 4096, True, "x")


@pytest.mark.parametrize("meta, words", [
    ({"num_points": 4096}, "4096-point clouds, the checkpoint reads 1024"),
    ({"z_zero": True}, "z = 0"),
    ({"model": "ognet_deep"}, "variant ognet_deep"),
])
def test_a_gallery_of_another_checkpoint_is_refused(tmp_path, meta, words):
    ReIDPipeline(*small_assets(tmp_path / "same"), device="cpu")  # its own gallery loads
    with pytest.raises(PipelineError, match=words):
        ReIDPipeline(*small_assets(tmp_path / "other", **meta), device="cpu")


def _app(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "app.py"), *args, "--port", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def _app_here(capfd, *args) -> subprocess.CompletedProcess:
    """``app.main`` in this process, its exit code and console (file descriptors 1 and 2) as a
    subprocess would give them; the start-up stops before anything is launched."""
    spec = importlib.util.spec_from_file_location("app_under_test", REPO / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    capfd.readouterr()
    code = app.main([*args, "--port", "0"])
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["app.py", *args], code, out, err)


def _one_error_line(proc) -> str:
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert proc.stdout == "", proc.stdout
    return lines[0]


@pytest.mark.slow
def test_the_app_stops_on_a_gallery_of_another_checkpoint(tmp_path):
    """``python app.py`` in a fresh process (its imports' console output included): the one
    start-up test that needs a process of its own."""
    ckpt, gallery = small_assets(tmp_path, num_points=4096)
    line = _one_error_line(_app("--checkpoint", str(ckpt), "--gallery", str(gallery)))
    assert "built by another checkpoint" in line


def test_the_app_stops_on_a_gallery_missing_a_field(tmp_path, capfd):
    ckpt, gallery = small_assets(tmp_path)
    _rewrite(gallery / "index.safetensors", drop_array="pids")
    line = _one_error_line(_app_here(capfd, "--checkpoint", str(ckpt), "--gallery", str(gallery)))
    assert "without pids" in line


def test_the_app_stops_on_chumpy_smpl_files(tmp_path, capfd):
    from test_body import _chumpy_pickle

    ckpt, gallery = small_assets(tmp_path)
    (tmp_path / "smpl").mkdir()
    _chumpy_pickle(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    line = _one_error_line(_app_here(capfd, "--checkpoint", str(ckpt), "--gallery", str(gallery),
                                     "--body-model-dir", str(tmp_path)))
    assert "chumpy" in line
