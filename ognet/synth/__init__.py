"""Synthetic pedestrians from the free body: a Market-1501-format re-id dataset generator.

``generate_dataset(out, identities, seed)`` writes the dataset; ``Synthesizer(seed)``
renders any single crop of that world (``render(pid, cam, index)`` -> (128, 64, 3) uint8),
e.g. fresh example queries of gallery identities, and ``render_truth(pid, cam, index)`` the
same crop with its ground truth (:class:`RenderTruth`: mask, depth, joints, height, camera
pitch, betas).
"""

from ognet.synth.dataset import NAME_RE, generate_dataset, plan_dataset, save_jpeg
from ognet.synth.identity import Identity, sample_identity
from ognet.synth.pose import Gait, walking_pose
from ognet.synth.render import IMAGE_HW, Synthesizer
from ognet.synth.scene import NUM_CAMERAS, CameraSpec, sample_camera
from ognet.synth.truth import TRUTH_SUFFIX, RenderTruth, load_truth, save_truth

__all__ = ["IMAGE_HW", "NAME_RE", "NUM_CAMERAS", "TRUTH_SUFFIX", "CameraSpec", "Gait",
           "Identity", "RenderTruth", "Synthesizer", "generate_dataset", "load_truth",
           "plan_dataset", "sample_camera", "sample_identity", "save_jpeg", "save_truth",
           "walking_pose"]
