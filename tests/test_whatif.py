"""What-if's cloud transforms (``ognet.whatif.vary_cloud``, ``yaw_matrix``) against independent
geometry: SciPy's rotations, distances kept, the mirror a reflection, BT.601 luminance. The
re-run queries themselves are tested in ``test_explain.py``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.spatial.transform import Rotation

from ognet.whatif import WhatIfError, vary_cloud, yaw_matrix


def person(n: int = 500, seed: int = 0) -> np.ndarray:
    """An (n, 6) person-sized cloud: xyz in metres, rgb in [0, 1]."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)) * [0.25, 0.5, 0.1]
    return np.concatenate([xyz, rng.random((n, 3))], axis=1).astype(np.float32)


@pytest.mark.parametrize("degrees", [-180, -90, -30, 0, 15, 45, 90, 137.5])
def test_yaw_matrix_is_scipys_rotation_about_the_vertical(degrees):
    r = yaw_matrix(degrees)
    np.testing.assert_allclose(r, Rotation.from_euler("y", degrees, degrees=True).as_matrix(),
                               atol=1e-6)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)


def test_a_quarter_turn_takes_the_camera_axis_to_the_right():
    """Right-handed about +y (up): +z (towards the camera) turns to +x (the image's right)."""
    turned = vary_cloud(np.array([[0, 0, 1, 0.1, 0.2, 0.3]], np.float32), "yaw", 90)
    np.testing.assert_allclose(turned[0, :3], [1, 0, 0], atol=1e-6)


@pytest.mark.parametrize("degrees", [-90, 30, 180])
def test_yaw_turns_the_points_keeps_distances_heights_and_colours(degrees):
    cloud = person()
    turned = vary_cloud(cloud, "yaw", degrees)
    want = Rotation.from_euler("y", degrees, degrees=True).apply(cloud[:, :3].astype(np.float64))
    np.testing.assert_allclose(turned[:, :3], want, atol=1e-5)
    np.testing.assert_allclose(pdist(turned[:, :3]), pdist(cloud[:, :3]), atol=1e-5)
    np.testing.assert_array_equal(turned[:, 1], cloud[:, 1])
    np.testing.assert_array_equal(turned[:, 3:], cloud[:, 3:])
    back = vary_cloud(turned, "yaw", -degrees)
    np.testing.assert_allclose(back, cloud, atol=1e-5)


def test_mirror_is_the_reflection_in_the_vertical_plane_facing_the_camera():
    """x -> -x: distances kept, orientation reversed (the signed volume of any tetrahedron
    changes sign), mirroring twice gives the cloud back, and the plane x = 0 stays put."""
    cloud = person()
    mirrored = vary_cloud(cloud, "mirror")
    np.testing.assert_array_equal(mirrored[:, :3], cloud[:, :3] @ np.diag([-1, 1, 1]))
    np.testing.assert_allclose(pdist(mirrored[:, :3]), pdist(cloud[:, :3]), atol=1e-6)
    a, b, c, d = cloud[:4, :3].astype(np.float64)
    ma, mb, mc, md = mirrored[:4, :3].astype(np.float64)
    volume = np.linalg.det(np.stack([b - a, c - a, d - a]))
    assert np.linalg.det(np.stack([mb - ma, mc - ma, md - ma])) == pytest.approx(-volume)
    np.testing.assert_array_equal(vary_cloud(mirrored, "mirror"), cloud)
    np.testing.assert_array_equal(mirrored[:, 3:], cloud[:, 3:])


def test_flat_depth_projects_onto_the_image_plane():
    cloud = person()
    flat = vary_cloud(cloud, "flat_depth")
    assert (flat[:, 2] == 0).all()
    np.testing.assert_array_equal(flat[:, [0, 1, 3, 4, 5]], cloud[:, [0, 1, 3, 4, 5]])


def test_colour_variations():
    cloud = person()
    grey = vary_cloud(cloud, "greyscale")
    luminance = cloud[:, 3:].astype(np.float64) @ [0.299, 0.587, 0.114]   # ITU-R BT.601
    for channel in (3, 4, 5):
        np.testing.assert_allclose(grey[:, channel], luminance, atol=1e-6)
    already_grey = cloud.copy()
    already_grey[:, 3:] = cloud[:, 3:4]
    np.testing.assert_allclose(vary_cloud(already_grey, "greyscale"), already_grey, atol=1e-6)
    assert (vary_cloud(cloud, "no_colour")[:, 3:] == 0.5).all()
    for name in ("greyscale", "no_colour"):
        np.testing.assert_array_equal(vary_cloud(cloud, name)[:, :3], cloud[:, :3])


def test_body_only_keeps_the_foreground_rows_in_order():
    cloud = person()
    foreground = np.random.default_rng(1).random(len(cloud)) < 0.4
    np.testing.assert_array_equal(vary_cloud(cloud, "body_only", foreground=foreground),
                                  cloud[foreground])
    with pytest.raises(WhatIfError, match="needs a lifted photo"):
        vary_cloud(cloud, "body_only")
    with pytest.raises(WhatIfError, match="no body points"):
        vary_cloud(cloud, "body_only", foreground=np.zeros(len(cloud), bool))


@pytest.mark.parametrize("variation, value", [("greyscale", None), ("no_colour", None),
                                              ("flat_depth", None), ("yaw", 30),
                                              ("mirror", None), ("k", 8), ("density", 0.5)])
def test_the_input_cloud_is_never_changed(variation, value):
    cloud = person()
    before = cloud.copy()
    out = vary_cloud(cloud, variation, value)
    np.testing.assert_array_equal(cloud, before)
    assert out is not cloud and out.dtype == np.float32
    if variation in ("k", "density"):  # model variations: the cloud as is
        np.testing.assert_array_equal(out, cloud)
