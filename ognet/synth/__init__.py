"""Synthetic pedestrians from the free body: a Market-1501-format re-id dataset generator."""

from ognet.synth.dataset import generate_dataset
from ognet.synth.people import Identity, dress, sample_identity
from ognet.synth.render import Camera, render_person, sample_camera

__all__ = ["Camera", "Identity", "dress", "generate_dataset", "render_person",
           "sample_camera", "sample_identity"]
