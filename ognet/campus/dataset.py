"""Tracklets -> a Market-1501-format re-id set: crop filters, walking direction, writer.

**Crop filters** (each observation of a tracklet, first failing reason counted):

- ``border``: the box is within 2 pixels of the frame's edge (a body cut off by the frame).
- ``small``: the box is less than ``MIN_HEIGHT`` = 64 pixels tall.
- ``two_people``: another box of that frame (a detection, or the Kalman estimate of a person
  merged into this blob) covers more than 10% of its own area inside this crop's window, or
  the box is wider than 0.6 of its height (two people side by side in one blob).
- ``not_person``: the HOG people detector scores the box below 0 (two people in one blob, a
  body with a part hidden, a shadow or a car).
- ``bad_height``: the box is less than 0.85 or more than 1.15 times the height a person has
  at its foot row. The camera is static and people stand on one ground plane, so a person's
  height in pixels is close to linear in the image row of their feet, ``h = a * y2 + b``
  (fitted to the run's HOG-confirmed boxes by least squares, trimmed four times to the boxes
  within 20%; on vtest.avi ``h = 0.237 y2 + 17.7``, 97% of them within 20%). Shorter: a
  body part hidden or lost against the ground; taller: a blob that merged two people one
  behind the other, or a person and the tripod.
- ``occluded``: a third of the box (head, torso or legs band) is less than 25% foreground: a
  static object, the sign or the lamp post, stands in front of the person.
- ``standing``, ``turning``: the walking direction is undefined (the foot point moves less
  than 0.015 body heights per frame) or differs between +-``DIRECTION_WINDOW`` frames and
  +-2x that (the person is turning: neither view).
- ``unlabelled``: the labels give the tracklet (or that part of it) no identity (pid -1).
- ``sampled_out``: a kept crop of the same tracklet lies less than ``SAMPLE_STEP`` frames
  before (consecutive frames are near duplicates).

**Camera = walking direction.** The camera is static, so the Market ``c`` field carries the
direction the person walks in, which decides the side of the body the camera sees:
``c1`` towards the camera (front), ``c2`` away (back), ``c3`` to the image's left, ``c4`` to
its right (a side each). The direction is the foot point's (box bottom centre) displacement
over +-``DIRECTION_WINDOW`` frames, in body heights per frame, the vertical part multiplied by
``DEPTH_GAIN`` = 2 (the camera looks down: a step in depth moves the feet fewer pixels than a
step across), then the larger axis wins. The Market-1501 protocol ignores gallery items of the
query's identity *and* camera, so a query's true matches show that person from another side.

**Files.** ``query/`` holds, for each identity seen in at least two directions, one crop per
direction (the middle one in time); ``bounding_box_test/`` holds every other kept crop,
including identities seen in one direction only (distractors). Names are
``PPPP_cCs1_FFFFFF_00.jpg``: the identity from the labels (1001, 1002, ...), the direction,
the frame index. Crops are the box's height plus 4% above and below, twice as tall as wide,
centred on the box, resized to 128x64 (``cv2.INTER_AREA`` when shrinking, linear when
enlarging; edges replicated outside the frame) and saved by Pillow as JPEG quality 95 (4:2:0):
the same video gives byte-identical files. ``campus.json`` beside them records each crop's
tracklet, box, HOG score, direction and height relative to the crowd, the height model and
the filter counts.

**Height: relative, not metres.** The height model gives each kept crop's height relative to
the crowd's at its foot row (``height_vs_crowd``, the same ratio the ``bad_height`` filter
reads); averaged over a person's crops it ranks the people by height (their spread between
people against within a person is in ``assets/campus/summary.json``). It has no metric
reference: the video gives neither the camera's height and focal length nor a person of
known height, so turning the ratio into metres would mean assuming the crowd's mean height,
an invented scale. ognet does not; it reports the ratio.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ognet.campus.detect import background_model
from ognet.campus.labels import Labels
from ognet.campus.track import Tracklet, track_video
from ognet.campus.video import CampusError, file_sha256, find_video, iter_frames

MIN_HEIGHT = 64
BORDER = 2
OVERLAP = 0.10
MAX_ASPECT = 0.6
HEIGHT_RATIO = (0.85, 1.15)
MIN_FILL = 0.25
DIRECTION_WINDOW = 5
DEPTH_GAIN = 2.0
MIN_SPEED = 0.015
SAMPLE_STEP = 3
CROP_SIZE = (128, 64)
CROP_MARGIN = 0.04
JPEG_QUALITY = 95

#: Market camera id (1-based) of each walking direction.
DIRECTIONS = {"towards": 1, "away": 2, "left": 3, "right": 4}
SPLITS = ("query", "bounding_box_test")
REPORT = "campus.json"


@dataclass(frozen=True)
class Crop:
    """One kept crop: who, where, which way, and its file name in its split folder."""

    pid: int
    track_id: int
    frame: int
    box: tuple[int, int, int, int]
    hog: float
    direction: str
    split: str = "bounding_box_test"
    #: The box's height over the height model's at its foot row: the person's height relative
    #: to the crowd's at the same spot (1.05: 5% taller than usual there).
    height_vs_crowd: float = 1.0

    @property
    def camid(self) -> int:
        return DIRECTIONS[self.direction]

    @property
    def name(self) -> str:
        return f"{self.pid:04d}_c{self.camid}s1_{self.frame:06d}_00.jpg"


def crop_window(box) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` float window of a box's crop: its height plus ``CROP_MARGIN`` above
    and below, half as wide as tall, centred on the box."""
    x1, y1, x2, y2 = (float(v) for v in box)
    height = (y2 - y1) * (1 + 2 * CROP_MARGIN)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return cx - height / 4, cy - height / 2, cx + height / 4, cy + height / 2


def crop_image(frame: np.ndarray, box) -> np.ndarray:
    """(128, 64, 3) uint8 RGB crop of a BGR frame around ``box`` (see :func:`crop_window`)."""
    import cv2

    wx1, wy1, wx2, wy2 = (int(round(v)) for v in crop_window(box))
    h, w = frame.shape[:2]
    pad = max(0, -wx1, -wy1, wx2 - w, wy2 - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    patch = frame[wy1 + pad:wy2 + pad, wx1 + pad:wx2 + pad]
    shrink = patch.shape[0] > CROP_SIZE[0]
    patch = cv2.resize(patch, (CROP_SIZE[1], CROP_SIZE[0]),
                       interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.cvtColor(patch, cv2.COLOR_BGR2RGB)


def _overlap_fraction(window, box, others: np.ndarray) -> float:
    """Largest fraction of ``box``'s area that another box covers inside the crop window."""
    if len(others) == 0:
        return 0.0
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1)
    ox1 = np.clip(others[:, 0], window[0], window[2])
    oy1 = np.clip(others[:, 1], window[1], window[3])
    ox2 = np.clip(others[:, 2], window[0], window[2])
    oy2 = np.clip(others[:, 3], window[1], window[3])
    inside = np.clip(ox2 - ox1, 0, None) * np.clip(oy2 - oy1, 0, None)
    return float(inside.max() / area)


def walking_direction(frames: np.ndarray, feet: np.ndarray, heights: np.ndarray, i: int,
               window: int) -> str | None:
    """Walking direction at observation ``i`` from the foot points within +-``window``
    frames; ``None`` when the person barely moves (or is seen at one instant only)."""
    near = np.abs(frames - frames[i]) <= window
    idx = np.flatnonzero(near)
    first, last = idx[0], idx[-1]
    dt = frames[last] - frames[first]
    if dt < window:
        return None
    dx, dy = (feet[last] - feet[first]) / dt / float(np.median(heights[idx]))
    dy *= DEPTH_GAIN
    if np.hypot(dx, dy) < MIN_SPEED:
        return None
    if abs(dy) >= abs(dx):
        return "towards" if dy > 0 else "away"
    return "right" if dx > 0 else "left"


def fit_height_model(tracklets: list[Tracklet], frame_shape: tuple[int, int]
                     ) -> tuple[float, float]:
    """``(a, b)`` of ``height = a * foot_row + b`` over the HOG-confirmed (score > 0) boxes
    away from the frame's edges: least squares, refitted four times on the boxes within 20%
    of the fit. ``(0, median height)`` when fewer than 10 boxes qualify."""
    boxes = np.concatenate([t.boxes() for t in tracklets] or [np.zeros((0, 4))])
    hog = np.array([o.hog for t in tracklets for o in t.observations], dtype=np.float64)
    ok = (hog > 0) & (boxes[:, 1] >= BORDER) & (boxes[:, 3] <= frame_shape[0] - BORDER)
    foot, height = boxes[ok, 3], boxes[ok, 3] - boxes[ok, 1]
    if len(foot) < 10:
        return 0.0, float(np.median(height)) if len(height) else 1.0
    design = np.stack([foot, np.ones_like(foot)], axis=1)
    keep = np.ones(len(foot), dtype=bool)
    for _ in range(4):
        coef = np.linalg.lstsq(design[keep], height[keep], rcond=None)[0]
        keep = np.abs(height / (design @ coef) - 1) < 0.2
    return float(coef[0]), float(coef[1])


def select_crops(tracklets: list[Tracklet], labels: Labels, frame_shape: tuple[int, int]
                 ) -> tuple[list[Crop], Counter]:
    """The crops that pass every filter (module docstring), and the count of each reason a
    crop was dropped. Deterministic: tracklets and observations in order."""
    fh, fw = frame_shape
    slope, intercept = fit_height_model(tracklets, frame_shape)
    kept: list[Crop] = []
    reasons: Counter = Counter()
    for tr in tracklets:
        boxes = tr.boxes()
        frames = tr.frames()
        heights = boxes[:, 3] - boxes[:, 1]
        feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        last_kept = None
        for i, obs in enumerate(tr.observations):
            x1, y1, x2, y2 = (int(v) for v in obs.box)
            ratio = heights[i] / max(slope * y2 + intercept, 1.0)
            direction = walking_direction(frames, feet, heights, i, DIRECTION_WINDOW)
            pid = labels.pid(tr.track_id, obs.frame)
            if x1 < BORDER or y1 < BORDER or x2 > fw - BORDER or y2 > fh - BORDER:
                reason = "border"
            elif y2 - y1 < MIN_HEIGHT:
                reason = "small"
            elif (_overlap_fraction(crop_window(obs.box), obs.box, obs.others) > OVERLAP
                  or x2 - x1 > MAX_ASPECT * (y2 - y1)):
                reason = "two_people"
            elif obs.hog < 0:
                reason = "not_person"
            elif not HEIGHT_RATIO[0] <= ratio <= HEIGHT_RATIO[1]:
                reason = "bad_height"
            elif obs.fill < MIN_FILL:
                reason = "occluded"
            elif direction is None:
                reason = "standing"
            elif direction != walking_direction(frames, feet, heights, i, 2 * DIRECTION_WINDOW):
                reason = "turning"
            elif pid < 0:
                reason = "unlabelled"
            elif last_kept is not None and obs.frame - last_kept < SAMPLE_STEP:
                reason = "sampled_out"
            else:
                reason = None
                last_kept = obs.frame
                kept.append(Crop(pid, tr.track_id, obs.frame, (x1, y1, x2, y2),
                                 round(obs.hog, 3), direction,
                                 height_vs_crowd=round(float(ratio), 3)))
            if reason:
                reasons[reason] += 1
    return kept, reasons


def assign_splits(crops: list[Crop]) -> list[Crop]:
    """One query per (identity, direction) for identities seen in two or more directions:
    the middle crop in time; every other crop goes to the gallery. Sorted by split, name."""
    by_pid: dict[int, dict[int, list[Crop]]] = {}
    for c in crops:
        by_pid.setdefault(c.pid, {}).setdefault(c.camid, []).append(c)
    queries = set()
    for cams in by_pid.values():
        if len(cams) < 2:
            continue
        for group in cams.values():
            group = sorted(group, key=lambda c: c.frame)
            queries.add(group[len(group) // 2])
    out = [Crop(**{**asdict(c), "split": "query" if c in queries else "bounding_box_test"})
           for c in crops]
    names = Counter(c.name for c in out)
    clash = sorted(n for n, k in names.items() if k > 1)
    if clash:
        raise CampusError(f"the labels put one identity in two tracks at the same frame "
                          f"({', '.join(clash[:3])}): fix assets/campus/labels.json")
    return sorted(out, key=lambda c: (c.split, c.name))


def _prepare_out(out: Path) -> None:
    """Create ``out``, or empty the split folders of a previous campus build there; refuse to
    write into a non-empty folder that is not one."""
    if out.exists() and any(out.iterdir()) and not (out / REPORT).is_file():
        raise FileExistsError(f"{out} is not empty and holds no {REPORT}: choose a new folder")
    for split in SPLITS:
        if (out / split).exists():
            shutil.rmtree(out / split)
        (out / split).mkdir(parents=True)


def build_campus(out: str | Path, video: str | Path | None = None, limit: int = 0,
                 labels: Labels | None = None, progress: bool = True) -> dict:
    """Detect, track, filter and write the campus re-id set to ``out``; returns the report
    (``campus.json``'s content plus ``seconds`` per stage).

    Args:
        out: output folder (created; a previous campus build there is replaced).
        video: the video (default :data:`ognet.campus.video.DEFAULT_VIDEO`).
        limit: process only the first ``limit`` frames (0: all 795).
        labels: tracklet identities (default the committed ``labels.json``); every tracklet
            must have one, else :class:`ognet.campus.video.CampusError`.
    """
    import time

    from PIL import Image
    from tqdm import tqdm

    t0 = time.perf_counter()
    path = find_video(video)
    labels = labels if labels is not None else Labels.load()
    labels.check_video(file_sha256(path))
    background = background_model(path)
    t1 = time.perf_counter()
    tracklets, _ = track_video(path, limit, background=background, progress=progress)
    t2 = time.perf_counter()
    labels.check_covers(tracklets, limit)
    slope, intercept = fit_height_model(tracklets, background.shape[:2])
    crops, reasons = select_crops(tracklets, labels, background.shape[:2])
    crops = assign_splits(crops)
    out = Path(out)
    _prepare_out(out)
    by_frame: dict[int, list[Crop]] = {}
    for c in crops:
        by_frame.setdefault(c.frame, []).append(c)
    last = max(by_frame, default=-1)
    for index, frame in tqdm(iter_frames(path, last + 1), total=last + 1, desc="cropping",
                             unit="frame", disable=not progress, leave=False):
        for c in by_frame.get(index, []):
            Image.fromarray(crop_image(frame, c.box)).save(
                out / c.split / c.name, format="JPEG", quality=JPEG_QUALITY, subsampling=2)
    counts = {split: sum(c.split == split for c in crops) for split in SPLITS}
    report = {
        "video": path.name, "frames": int(limit) if limit else None,
        "tracklets": len(tracklets),
        "observations": sum(len(t.observations) for t in tracklets),
        "kept": len(crops), **counts,
        "identities": len({c.pid for c in crops}),
        "query_identities": len({c.pid for c in crops if c.split == "query"}),
        "directions": dict(sorted(Counter(c.direction for c in crops).items())),
        "dropped": dict(sorted(reasons.items())),
        "height_model": {"slope": round(slope, 5), "intercept_px": round(intercept, 3)},
        "crops": [{"file": f"{c.split}/{c.name}", "track": c.track_id, "frame": c.frame,
                   "box": list(c.box), "hog": c.hog, "direction": c.direction,
                   "height_vs_crowd": c.height_vs_crowd}
                  for c in crops],
    }
    (out / REPORT).write_text(json.dumps(report, indent=1) + "\n")
    # Seconds per stage: returned, not written (the files must not change between runs).
    report["seconds"] = {"background": t1 - t0, "tracking": t2 - t1,
                         "filters_and_writing": time.perf_counter() - t2}
    return report
