"""Who is who: the committed labels that join tracklets into identities.

The tracker knows tracks, not people: a person who leaves the view and comes back, or who is
lost behind the lamp post for more than a second, starts a new track. ``assets/campus/labels.json``
gives each track of the full video its identity, made by hand from contact
sheets of the tracklets (``scripts/build_campus_assets.py --contact-sheets DIR``; how it was
made and checked is written in the file's ``method``). Layout::

    {"video": {"file": "vtest.avi", "sha256": "...", "frames": 795},
     "method": "...",
     "people": {"1001": "what they wear", ...},
     "tracklets": {"7": {"frames": [67, 99], "pid": 1003},
                   "9": {"frames": [102, 148], "segments": [[102, 130, 1004],
                                                             [131, 148, -1]]}, ...}}

``frames`` is the track's first and last observed frame in the full video (the labels are
checked against the tracker's output with it); ``pid`` -1 drops a track (a false detection,
two people in one blob all along, a fragment of someone's body); ``segments`` label parts of a
track ``[first, last, pid]`` when the tracker swapped two people.
"""

from __future__ import annotations

import json
from pathlib import Path

from ognet.assets import CAMPUS_LABELS as LABELS_FILE
from ognet.campus.video import CampusError


class Labels:
    """Tracklet -> identity map read from a labels file (see the module docstring)."""

    def __init__(self, data: dict, source: str = "labels"):
        self.data = data
        self.source = source
        self.tracklets = {int(k): v for k, v in data.get("tracklets", {}).items()}
        self.people = {int(k): v for k, v in data.get("people", {}).items()}

    @classmethod
    def load(cls, path: str | Path | None = None) -> Labels:
        path = Path(path) if path is not None else LABELS_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise CampusError(f"{path}: cannot read the labels ({e})") from None
        return cls(data, str(path))

    def pid(self, track_id: int, frame: int) -> int:
        """The identity of track ``track_id`` at ``frame`` (-1: dropped)."""
        entry = self.tracklets.get(track_id)
        if entry is None:
            return -1
        for first, last, pid in entry.get("segments", ()):
            if first <= frame <= last:
                return int(pid)
        return int(entry.get("pid", -1))

    def check_video(self, sha256: str) -> None:
        """Refuse a video the labels were not made on (its tracks would be other tracks)."""
        expected = self.data.get("video", {}).get("sha256")
        if expected and expected != sha256:
            raise CampusError(
                f"{self.source} labels tracklets of the video with SHA-256 {expected[:12]}..., "
                f"this one is {sha256[:12]}...: its tracks are other tracks (label them anew)")

    def check_covers(self, tracklets, limit: int = 0) -> None:
        """Every tracklet has a label whose first frame matches (and whose last frame
        matches too on a full run; on a ``limit``-frame run the track may end earlier)."""
        problems = []
        for tr in tracklets:
            entry = self.tracklets.get(tr.track_id)
            if entry is None:
                problems.append(f"track {tr.track_id} (frames {tr.first_frame}-"
                                f"{tr.last_frame}) has no label")
                continue
            first, last = entry["frames"]
            truncated = bool(limit) and last >= limit  # the full track goes on past the limit
            if tr.first_frame != first or (tr.last_frame != last and not truncated):
                problems.append(f"track {tr.track_id} spans frames {tr.first_frame}-"
                                f"{tr.last_frame}, its label {first}-{last}")
        if problems:
            shown = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            raise CampusError(
                f"{self.source} does not fit this tracker output ({len(problems)} tracks: "
                f"{shown}); the detector or tracker changed: make contact sheets "
                "(scripts/build_campus_assets.py --contact-sheets DIR) and label them anew")
