"""Real pedestrians: a Market-1501-format re-id set from OpenCV's campus video.

``python -m ognet campus --out DIR`` reads ``vtest.avi`` (:mod:`ognet.campus.video`), finds
people by background subtraction checked by a HOG people detector
(:mod:`ognet.campus.detect`), tracks them with norfair (:mod:`ognet.campus.track`), joins the
tracklets into identities with the committed labels (:mod:`ognet.campus.labels`), filters
the crops and writes them with the walking direction as the camera
(:mod:`ognet.campus.dataset`).
"""

from ognet.campus.dataset import DIRECTIONS, Crop, build_campus, crop_image
from ognet.campus.labels import LABELS_FILE, Labels
from ognet.campus.video import DEFAULT_VIDEO, CampusError, find_video

__all__ = ["DEFAULT_VIDEO", "DIRECTIONS", "LABELS_FILE", "CampusError", "Crop", "Labels",
           "build_campus", "crop_image", "find_video"]
