"""Sampling a cloud to the model's point count (issue 23, point 1): along the cloud's
Hilbert curve, a function of the points, covering the person evenly in the image and in 3D."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ognet.pointcloud import (
    LIFTED_POINTS,
    curve_order,
    hilbert_codes,
    sample_points,
    sample_rows,
)


@pytest.fixture(scope="module")
def lifted(repo_root):
    """An example query lifted to (8192, 6), one point per pixel of the 128 x 64 crop in
    row-major order (so a row's index tells its pixel)."""
    from ognet.lift import lift_image

    cloud = lift_image(sorted((repo_root / "assets" / "examples").glob("*.jpg"))[0]).points
    assert cloud.shape == (LIFTED_POINTS, 6)
    return cloud


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_hilbert_curve_visits_every_cell_once_each_next_to_the_last(bits):
    side = 2**bits
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    codes = hilbert_codes(grid.astype(np.float32) * 0.01 + 5.0, bits)  # any box, any offset
    assert np.array_equal(np.sort(codes), np.arange(side**3))
    steps = np.abs(np.diff(grid[np.argsort(codes)], axis=0)).sum(1)
    assert (steps == 1).all()  # each cell a face-neighbour of the one before


@pytest.mark.parametrize("mode", ["stride", "random", "train"])
def test_sampling_is_a_function_of_the_points(lifted, mode):
    """The same points, in the same order, however the cloud's rows are ordered (a lifted
    cloud has exact ties: its background is a grid at one depth)."""
    perm = np.random.default_rng(0).permutation(len(lifted))
    for seed in (0, 1, 2):
        a = sample_points(lifted, 1024, mode, rng=np.random.default_rng(seed))
        b = sample_points(lifted[perm], 1024, mode, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(a, b)
    rows = sample_rows(lifted, 1024)
    assert len(np.unique(rows)) == 1024
    assert np.array_equal(lifted[curve_order(lifted)][::8], lifted[rows])


def test_sampling_covers_the_person_evenly_in_the_image_and_in_3d(lifted):
    """1024 of the 8192 pixels: every pixel near a kept one (a stride through the rows keeps
    every 8th pixel column: pixels up to 4 columns from a kept one), and every point near a
    kept one in 3D."""
    pixels = np.stack(np.divmod(np.arange(LIFTED_POINTS), 64), axis=1).astype(float)

    def gaps(rows):  # distances to the nearest kept point: in pixels, in metres
        return (cKDTree(pixels[rows]).query(pixels)[0], cKDTree(lifted[rows, :3]).query(
            lifted[:, :3])[0])

    along_rows = np.arange(1024) * LIFTED_POINTS // 1024
    image, space = gaps(sample_rows(lifted, 1024))
    image_rows, space_rows = gaps(along_rows)
    assert np.percentile(image, 99) <= 3 and np.percentile(image_rows, 99) >= 6
    assert image.mean() < 0.7 * image_rows.mean()
    assert space.mean() < 0.7 * space_rows.mean()
    assert np.percentile(space, 99) < 0.06  # metres


def test_sampling_edge_cases():
    pts = np.random.default_rng(0).random((100, 6)).astype(np.float32)
    small = sample_points(pts, 256)  # fewer points than asked: points repeat
    assert small.shape == (256, 6) and len(np.unique(small[:, 0])) == 100
    assert sample_points(pts, 256, "random").shape == (256, 6)
    one = sample_points(pts[:1], 4)  # a single point (no extent) is still a cloud
    assert (one == pts[0]).all()
    with pytest.raises(ValueError, match="mode"):
        sample_points(pts, 10, mode="fps")
    with pytest.raises(ValueError, match="empty"):
        sample_points(pts[:0], 10)
    bad = pts.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        sample_points(bad, 10)
