"""Foreground boxes -> tracklets, with norfair's tracker.

``norfair`` (the maintained ``norfair-enough`` release: tryolabs' last ``norfair`` pins
numpy < 2) tracks each box as two points (its corners) with a constant-velocity Kalman filter
and matches detections to tracks by IoU distance ``1 - IoU`` (below 0.8 to match, greedily,
closest first). A track is reported after ``INIT_DELAY`` consecutive hits and dies
``HIT_COUNTER_MAX`` frames after its last hit, so a person hidden for a moment (behind the
lamp post, merged with a passer-by) keeps their track.

Only frames where the track's own box was detected become observations (the Kalman estimate
is never cropped). Each observation also records every other box of that frame: the other
detections, and the Kalman estimates of live tracks that were not detected (a person merged
into someone else's blob), so crops that hold two people can be dropped later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ognet.campus.detect import (
    background_model,
    fill_fractions,
    foreground_mask,
    hog_scores,
    mask_boxes,
)
from ognet.campus.video import iter_frames

IOU_DISTANCE = 0.8     # match when IoU > 0.2
HIT_COUNTER_MAX = 10   # frames (1 s) a track survives without a detection
INIT_DELAY = 3         # hits before a track is reported


@dataclass
class Observation:
    """One detected box of one track: its HOG people-detector score (``detect.hog_scores``),
    its least-filled band (``detect.fill_fractions``) and ``others``, the (M, 4) other boxes
    of that frame."""

    frame: int
    box: np.ndarray
    hog: float
    fill: float
    others: np.ndarray


@dataclass
class Tracklet:
    """A track's observations, in frame order."""

    track_id: int
    observations: list[Observation] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return self.observations[0].frame

    @property
    def last_frame(self) -> int:
        return self.observations[-1].frame

    def boxes(self) -> np.ndarray:
        """(T, 4) float64 boxes."""
        return np.array([o.box for o in self.observations], dtype=np.float64).reshape(-1, 4)

    def frames(self) -> np.ndarray:
        """(T,) int64 frame indices."""
        return np.array([o.frame for o in self.observations], dtype=np.int64)


def _corners(box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([[x1, y1], [x2, y2]], dtype=np.float64)


def track_video(path, limit: int = 0, background: np.ndarray | None = None,
                progress: bool = True) -> tuple[list[Tracklet], np.ndarray]:
    """Detect and track people in the first ``limit`` frames (0: all) of the video.

    Returns ``(tracklets, background)``: tracklets sorted by track id (norfair numbers them
    1, 2, ... in order of confirmation, which does not depend on ``limit`` for the frames both
    runs see), and the background model used.
    """
    from norfair import Detection, Tracker
    from tqdm import tqdm

    if background is None:
        background = background_model(path)
    tracker = Tracker(distance_function="iou", distance_threshold=IOU_DISTANCE,
                      hit_counter_max=HIT_COUNTER_MAX, initialization_delay=INIT_DELAY)
    # The Kalman estimate of a track unseen for several frames can turn inside out (x2 < x1);
    # its IoU is then 0 and it matches nothing, which is right: norfair's warning is noise.
    logging.getLogger("norfair.distances").setLevel(logging.ERROR)
    tracklets: dict[int, Tracklet] = {}
    for index, frame in tqdm(iter_frames(path, limit), desc="tracking", unit="frame",
                             disable=not progress, leave=False):
        mask = foreground_mask(frame, background)
        boxes = mask_boxes(mask)
        detections = [Detection(_corners(b), data={"frame": index, "box": b, "hog": s,
                                                   "fill": f})
                      for b, s, f in zip(boxes, hog_scores(frame, boxes),
                                         fill_fractions(mask, boxes), strict=True)]
        objects = tracker.update(detections=detections)
        seen, hidden = {}, []
        for obj in objects:
            data = obj.last_detection.data
            if data is not None and data["frame"] == index:
                seen[obj.id] = data
            else:
                hidden.append(np.round(obj.estimate.reshape(4)).astype(np.int64))
        for tid, data in sorted(seen.items()):
            others = [b for b in boxes if not np.array_equal(b, data["box"])] + hidden
            tracklets.setdefault(tid, Tracklet(tid)).observations.append(
                Observation(index, np.asarray(data["box"], dtype=np.int64), float(data["hog"]),
                            float(data["fill"]), np.array(others, dtype=np.int64).reshape(-1, 4)))
    return [tracklets[t] for t in sorted(tracklets)], background
