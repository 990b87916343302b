"""Figures and images of ognet data for the app (``ognet`` never imports ``viz``)."""

from viz.figures import (
                          CAMERAS,
                          LANDMARKS,
                          cloud_figure,
                          hint_figure,
                          landmark_point,
                          layer_centre,
                          layer_figure,
                          nearest_point,
                          query_figure,
)
from viz.overlay import framed, lifting_overlay

__all__ = ["CAMERAS", "LANDMARKS", "cloud_figure", "framed", "hint_figure", "landmark_point",
           "layer_centre", "layer_figure", "lifting_overlay", "nearest_point", "query_figure"]
