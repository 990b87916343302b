"""``python -m ognet prepare`` on a tiny generated Market-format folder: layout, report,
an interrupted run resumed gives the same clouds as one uninterrupted run."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_lift import render_body

from ognet.cli import main
from ognet.pointcloud import load_cloud

NAMES = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0007_c2s3_070952_01.jpg"],
    "bounding_box_test": ["-1_c1s1_000401_03.jpg", "0002_c3s1_001051_02.jpg"],
    "query": ["0007_c5s1_001526_00.jpg", "0002_c6s1_000726_01.jpg"],
}


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    """6 rendered pedestrians in the three splits, plus one file that is not an image."""
    root = tmp_path_factory.mktemp("market")
    yaws = iter(np.linspace(-0.6, 0.6, 6))
    for split, names in NAMES.items():
        (root / split).mkdir()
        for name in names:
            image, _ = render_body(yaw=float(next(yaws)))
            Image.fromarray(image).resize((64, 128)).save(root / split / name, quality=95)
    (root / "query" / "0009_c1s1_000001_00.jpg").write_text("not a picture")
    (root / "query" / "Thumbs.db").write_bytes(b"ignored")
    return root


def _clouds(root: Path) -> dict[str, dict]:
    return {str(p.relative_to(root)): load_cloud(p) for p in sorted(root.rglob("*.npz"))}


@pytest.fixture(scope="module")
def prepared(market, tmp_path_factory) -> tuple[Path, str]:
    """``market`` prepared in this process (``--workers 0``), and what it printed."""
    out = tmp_path_factory.mktemp("prepared") / "clouds"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["prepare", "--src", str(market), "--dst", str(out), "--workers", "0"]) == 0
    return out, printed.getvalue()


def test_prepare_layout_and_report(prepared):
    out, printed = prepared
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["images"] == 7 and report["lifted"] == 7
    assert report["pose"] + report["fallback"] == 6 and report["failed"] == 1
    assert any("0009_c1s1" in p["image"] and p["method"] == "failed"
               for p in report["problems"])
    assert "1 failed" in printed
    clouds = _clouds(out)
    assert sorted(clouds) == sorted(f"{s}/{Path(n).stem}.npz" for s, ns in NAMES.items()
                                    for n in ns)
    for cloud in clouds.values():
        assert cloud["points"].shape == (8192, 6) and cloud["mask"].shape == (128, 64)
    assert not list(out.rglob("*.tmp.npz"))


def test_prepare_interrupted_and_resumed(market, prepared, tmp_path, capsys):
    """Interrupted after 3 images, then resumed: the finished ones skipped, the same files as
    one uninterrupted run."""
    parts = tmp_path / "parts"
    assert main(["prepare", "--src", str(market), "--dst", str(parts), "--workers", "0",
                 "--limit", "3"]) == 0
    assert len(list(parts.rglob("*.npz"))) == 3
    first = {p: p.stat().st_mtime_ns for p in parts.rglob("*.npz")}
    capsys.readouterr()
    assert main(["prepare", "--src", str(market), "--dst", str(parts), "--workers", "0"]) == 0
    assert "3 already lifted, 4 to do" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())
    assert not list(parts.rglob("*.tmp.npz"))
    a, b = _clouds(prepared[0]), _clouds(parts)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key]["points"], b[key]["points"], err_msg=key)
        np.testing.assert_array_equal(a[key]["mask"], b[key]["mask"])
        assert a[key]["method"] == b[key]["method"]


@pytest.mark.slow
def test_worker_processes_lift_what_this_process_lifts(market, prepared, tmp_path):
    """``--workers 2``: two spawned processes (one torch thread each) lift every image, the
    one that is not a picture failing in a worker as it fails here; torch's thread count
    differs from this process's, so sums run in another order: equal up to float16
    rounding. The only test that starts a process pool."""
    pooled = tmp_path / "pooled"
    assert main(["prepare", "--src", str(market), "--dst", str(pooled), "--workers", "2"]) == 0
    report = json.loads((pooled / "prepare_report.json").read_text())
    assert report["workers"] == 2 and report["failed"] == 1 and report["lifted"] == 7
    a, b = _clouds(prepared[0]), _clouds(pooled)
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(b[key]["points"], a[key]["points"], atol=1e-3, err_msg=key)
        np.testing.assert_array_equal(a[key]["mask"], b[key]["mask"])
        assert a[key]["method"] == b[key]["method"]


def test_prepare_missing_splits(tmp_path):
    with pytest.raises(SystemExit, match="bounding_box_train"):
        main(["prepare", "--src", str(tmp_path), "--dst", str(tmp_path / "out")])


def test_prepare_bad_body_model_dir(market, tmp_path, capsys):
    code = main(["prepare", "--src", str(market), "--dst", str(tmp_path / "out"),
                 "--body-model-dir", str(tmp_path / "no-smpl-here")])
    assert code == 2 and "no such folder" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_shards_are_disjoint_and_together_give_the_unsharded_output(market, prepared, tmp_path,
                                                                   capsys):
    from ognet.commands.prepare import list_jobs, shard_of

    images = [image for image, _ in list_jobs(market, tmp_path)]
    for n in (1, 2, 3, 5):
        owners = [shard_of(image, n) for image in images]
        assert all(0 <= s < n for s in owners)        # each image in exactly one shard
    assert len({shard_of(image, 2) for image in images}) == 2   # both shards have work here

    whole, sharded = prepared[0], tmp_path / "sharded"
    seen: set[str] = set()
    for i in range(2):                                # two "machines", one output tree
        before = set(_clouds(sharded)) if sharded.exists() else set()
        expected = {f"{im.parent.name}/{im.stem}.npz" for im in images
                    if shard_of(im, 2) == i and im.stem != "0009_c1s1_000001_00"}
        code = main(["prepare", "--src", str(market), "--dst", str(sharded), "--workers", "0",
                     "--shard", f"{i}/2"])
        assert code == (0 if expected else 1)          # 1: everything it tried failed
        added = set(_clouds(sharded)) - before
        assert added == expected and not added & seen  # its own slice only, disjoint
        seen |= added
        report = json.loads((sharded / f"prepare_report.shard-{i}-of-2.json").read_text())
        assert report["shard"] == [i, 2]
        assert report["images"] == sum(shard_of(im, 2) == i for im in images)
    a, b = _clouds(whole), _clouds(sharded)
    assert sorted(a) == sorted(b) == sorted(seen)     # union == the unsharded output
    for key in a:
        np.testing.assert_array_equal(a[key]["points"], b[key]["points"], err_msg=key)
        assert a[key]["method"] == b[key]["method"]

    # a shard run again (resumed) finds its slice done, except the image that cannot be
    # lifted (which fails again: exit code 1, all it tried failed)
    capsys.readouterr()
    bad_shard = shard_of(market / "query" / "0009_c1s1_000001_00.jpg", 2)
    assert main(["prepare", "--src", str(market), "--dst", str(sharded), "--workers", "0",
                 "--shard", f"{bad_shard}/2"]) == 1
    assert "already lifted, 1 to do" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_prepare_bad_shard(market, tmp_path, capsys, bad):
    with pytest.raises(SystemExit):
        main(["prepare", "--src", str(market), "--dst", str(tmp_path / "o"), "--shard", bad])
    assert "argument --shard" in capsys.readouterr().err
