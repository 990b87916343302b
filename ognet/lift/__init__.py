"""2D -> 3D lifting: ``lift_image(image) -> LiftResult`` (pose, body fit, raycast, colours)."""

from ognet.lift.build import BuildMeasure, describe_build
from ognet.lift.image import CROP_SIZE, LiftError, NoPersonError, load_image
from ognet.lift.lifter import DEFAULT_LIFTING, LIFTINGS, Lifter, LiftResult, get_lifter, lift_image
from ognet.lift.people import PersonBox, crop_person, find_people, is_wide

__all__ = ["CROP_SIZE", "DEFAULT_LIFTING", "LIFTINGS", "BuildMeasure", "LiftError", "LiftResult",
           "Lifter", "NoPersonError", "PersonBox", "crop_person", "describe_build", "find_people",
           "get_lifter", "is_wide", "lift_image", "load_image"]
