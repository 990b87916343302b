"""Start-up checks: a gallery file missing a field, a gallery built by another checkpoint,
official SMPL files holding chumpy objects: each a one-line error, in the library and as the
app's single ``error:`` line (``app.main`` called here: that the real process exits with it
is ``tests/test_app.py``'s one start-up subprocess)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from test_pipeline import small_assets

from ognet.gallery import GalleryError, GalleryIndex
from ognet.pipeline import PipelineError, ReIDPipeline


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


def _app_error(capsys, *args) -> str:
    """``app.main(args)``: it must return 2 with one ``error:`` line on stderr, no traceback
    and no server; returns that line."""
    from test_app import load_app_module

    code = load_app_module().main([*args, "--port", "0", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_the_app_stops_on_a_gallery_of_another_checkpoint(tmp_path, capsys):
    ckpt, gallery = small_assets(tmp_path, num_points=4096)
    line = _app_error(capsys, "--checkpoint", str(ckpt), "--gallery", str(gallery))
    assert "built by another checkpoint" in line


def test_the_app_stops_on_a_gallery_missing_a_field(tmp_path, capsys):
    ckpt, gallery = small_assets(tmp_path)
    _rewrite(gallery / "index.safetensors", drop_array="pids")
    line = _app_error(capsys, "--checkpoint", str(ckpt), "--gallery", str(gallery))
    assert "without pids" in line


def test_the_app_stops_on_a_gallery_of_another_lifting(tmp_path, capsys):
    """A second gallery made by a lifting this ognet does not have stops the app: it would
    be searched with queries lifted another way."""
    ckpt, gallery = small_assets(tmp_path / "a")
    _, other = small_assets(tmp_path / "b", lifting="photo_depth")
    line = _app_error(capsys, "--checkpoint", str(ckpt), "--gallery", str(gallery), str(other))
    assert "lifting 'photo_depth'" in line


def test_the_app_stops_on_chumpy_smpl_files(tmp_path, capsys):
    from test_body import _chumpy_pickle

    ckpt, gallery = small_assets(tmp_path)
    (tmp_path / "smpl").mkdir()
    _chumpy_pickle(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    line = _app_error(capsys, "--checkpoint", str(ckpt), "--gallery", str(gallery),
                      "--body-model-dir", str(tmp_path))
    assert "chumpy" in line
