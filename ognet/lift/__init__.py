"""2D -> 3D lifting: ``lift_image(image) -> LiftResult`` (pose, body fit, raycast, colours)."""

from ognet.lift.image import CROP_SIZE, LiftError, load_image
from ognet.lift.lifter import Lifter, LiftResult, get_lifter, lift_image

__all__ = ["CROP_SIZE", "LiftError", "LiftResult", "Lifter", "get_lifter", "lift_image",
           "load_image"]
