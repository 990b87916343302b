"""The campus re-id set from OpenCV's vtest.avi: detector, tracker, labels, writer.

Tests that read the video skip, with the reason, when Debian's opencv-doc is not installed.
"""

import filecmp
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ognet.campus import DEFAULT_VIDEO, CampusError, Labels, build_campus, find_video
from ognet.campus.detect import background_model, foreground_boxes, hog_scores
from ognet.campus.track import track_video
from ognet.campus.video import iter_frames
from ognet.cli import main
from ognet.data import load_dataset, parse_name

needs_video = pytest.mark.skipif(
    not DEFAULT_VIDEO.is_file(),
    reason=f"{DEFAULT_VIDEO} is absent: apt-get install -y opencv-doc (scripts/setup.sh does)")

LIMIT = 180  # frames of the short runs: 18 s of video, 3 identities seen from two sides


def _intervals(labels: Labels):
    """(first, last, pid, track) of every labelled stretch."""
    for tid, entry in labels.tracklets.items():
        first, last = entry["frames"]
        for a, b, pid in entry.get("segments", [[first, last, entry.get("pid", -1)]]):
            yield a, b, int(pid), tid


def test_labels_are_consistent():
    """Each labelled stretch lies in its track and names a described person; no person is in
    two tracks at once; every described person has a track."""
    labels = Labels.load()
    assert len(labels.tracklets) == 50 and len(labels.people) == 10
    by_pid: dict[int, list] = {}
    for a, b, pid, tid in _intervals(labels):
        first, last = labels.tracklets[tid]["frames"]
        assert first <= a <= b <= last, (tid, a, b)
        assert pid == -1 or pid in labels.people, (tid, pid)
        if pid != -1:
            by_pid.setdefault(pid, []).append((a, b, tid))
    assert set(by_pid) == set(labels.people)
    for pid, spans in by_pid.items():
        spans.sort()
        for (_, b0, t0), (a1, _, t1) in zip(spans, spans[1:], strict=False):
            assert a1 > b0, f"person {pid} is in tracks {t0} and {t1} at frame {a1}"
    # Segments of one track cover it without gaps or overlaps.
    for entry in labels.tracklets.values():
        segments = entry.get("segments")
        if segments:
            assert segments[0][0] == entry["frames"][0] and segments[-1][1] == entry["frames"][1]
            assert all(s[1] + 1 == t[0] for s, t in zip(segments, segments[1:], strict=False))
    assert labels.pid(2, 10) == 1001 and labels.pid(2, 50) == -1 and labels.pid(999, 0) == -1


def test_missing_video_and_other_videos_are_clear_errors(tmp_path, monkeypatch, capsys):
    with pytest.raises(CampusError, match="video not found"):
        find_video(tmp_path / "nope.avi")
    monkeypatch.setattr("ognet.campus.video.DEFAULT_VIDEO", tmp_path / "vtest.avi")
    with pytest.raises(CampusError, match="apt-get install -y opencv-doc"):
        find_video()
    with pytest.raises(CampusError, match="label them anew"):
        Labels.load().check_video("0" * 64)
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    assert main(["campus", "--out", str(tmp_path / "out"), "--video", str(bad)]) == 2
    assert capsys.readouterr().out.startswith("error:")


@pytest.mark.slow
@needs_video
def test_detector_finds_the_people_of_a_frame():
    """Frame 200 (looked at): five people 60-110 pixels tall, apart, and a pair walking
    together by the van (one blob, which HOG rejects). The empty background has no box."""
    background = background_model(DEFAULT_VIDEO)
    frame = [f for i, f in iter_frames(DEFAULT_VIDEO, limit=201) if i == 200][0]
    boxes = foreground_boxes(frame, background)
    heights = boxes[:, 3] - boxes[:, 1]
    assert len(boxes) == 6 and ((heights > 50) & (heights < 120)).all()
    scores = hog_scores(frame, boxes)
    pair = (boxes[:, 1] < 120)  # the two people by the van, one blob
    assert pair.sum() == 1 and scores[pair][0] < 0 and (scores[~pair] > 0).all()
    assert len(foreground_boxes(background, background)) == 0


@pytest.mark.slow
@needs_video
def test_the_labels_cover_every_tracklet_of_the_video():
    """The tracker's tracks on the full video are exactly the labelled ones (ids and first
    and last frames), and a prefix run gives the same tracks cut at the limit."""
    labels = Labels.load()
    tracklets, _ = track_video(DEFAULT_VIDEO, progress=False)
    assert {t.track_id: [t.first_frame, t.last_frame] for t in tracklets} == \
        {tid: e["frames"] for tid, e in labels.tracklets.items()}
    labels.check_covers(tracklets)
    prefix, _ = track_video(DEFAULT_VIDEO, limit=LIMIT, progress=False)
    labels.check_covers(prefix, LIMIT)
    assert {t.track_id for t in prefix} == {tid for tid, e in labels.tracklets.items()
                                            if e["frames"][0] < LIMIT}


@needs_video
def test_campus_command_writes_identical_market_files(tmp_path):
    """Two runs (the command, then the function) give byte-identical crops and report; the
    names parse as Market-1501; every query has a true match seen from another side."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["campus", "--out", str(a), "--limit", str(LIMIT)]) == 0
    report = build_campus(b, limit=LIMIT, progress=False)
    for split in ("query", "bounding_box_test"):
        names = sorted(p.name for p in (a / split).iterdir())
        assert names == sorted(p.name for p in (b / split).iterdir()) and names
        match, mismatch, errors = filecmp.cmpfiles(a / split, b / split, names, shallow=False)
        assert not mismatch and not errors
    assert (a / "campus.json").read_bytes() == (b / "campus.json").read_bytes()

    data = load_dataset(b, splits=("query", "gallery"))
    assert data.format == "market1501"
    assert len(data.query) == report["query"] and len(data.gallery) == report[
        "bounding_box_test"]
    people = set(Labels.load().people)
    for item in data.query + data.gallery:
        assert item.pid in people and 0 <= item.camid <= 3
        assert parse_name(item.image_path.stem, "market1501") == (item.pid, item.camid)
    for q in data.query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in data.gallery)
    with Image.open(data.query[0].image_path) as im:
        assert im.format == "JPEG" and im.size == (64, 128)
    # Rebuilding into the same folder replaces it; a foreign non-empty folder is refused.
    build_campus(b, limit=LIMIT, progress=False)
    (tmp_path / "other" / "x").mkdir(parents=True)
    with pytest.raises(FileExistsError):
        build_campus(tmp_path / "other", limit=10, progress=False)
    assert np.isclose(sum(report["directions"].values()), report["kept"])
    # Each crop's height relative to the crowd: its box over the reported height model at its
    # foot row, inside the bad_height filter's bounds.
    model = report["height_model"]
    for c in report["crops"]:
        x1, y1, x2, y2 = c["box"]
        expected = (y2 - y1) / (model["slope"] * y2 + model["intercept_px"])
        assert 0.85 <= c["height_vs_crowd"] <= 1.15
        assert abs(c["height_vs_crowd"] - expected) < 2e-3


def test_shipped_campus_gallery_matches_the_shipped_checkpoint():
    """assets/campus: real gallery crops whose features are the shipped checkpoint's (on the
    stored model-ready clouds of a few of them), and example queries of gallery identities
    that are not gallery crops themselves."""
    import torch

    from ognet import load_model
    from ognet.assets import CAMPUS_DIR, CAMPUS_EXAMPLES, DEFAULT_CHECKPOINT
    from ognet.gallery import GalleryIndex

    gallery = GalleryIndex.load(CAMPUS_DIR)
    assert len(gallery) > 300 and gallery.thumbnail(0).shape[:2] == (128, 64)
    assert set(gallery.pids.tolist()) <= set(Labels.load().people)
    model = load_model(DEFAULT_CHECKPOINT, device="cpu")
    check = np.load(CAMPUS_DIR / "check.npz")
    with torch.no_grad():
        feats = model.extract(torch.from_numpy(check["points"].astype(np.float32))).numpy()
    stored = gallery.features[torch.from_numpy(check["index"])].float().numpy()
    assert np.abs(feats - stored).max() < 5e-3
    names = {Path(p).name for p in gallery.image_paths}
    examples = sorted(CAMPUS_EXAMPLES.glob("*.jpg"))
    assert len(examples) >= 4
    for path in examples:
        pid, camid = parse_name(path.stem, "market1501")
        assert path.name not in names
        assert ((gallery.pids == pid) & (gallery.camids != camid)).any()
