"""The order of a cloud's points never changes its embedding (issue 25, point 1).

Real lifted crops (the example queries lifted by ``ognet.lift``), the shipped checkpoint,
every graph backend: a lifted cloud is full of ties (its background is a pixel grid on one
plane), where index-based tie-breaks used to make the embedding depend on the order of the
points (cosine 0.73-0.97 before the model canonicalised its input).
"""

import numpy as np
import pytest
import torch

from ognet import load_model, ops
from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR
from ognet.pointcloud import read_point_cloud_file, sample_points, save_ply

#: One backend of one graph operation per case; the other operations keep ``auto``.
BACKEND_CASES = [("fps", b) for b in ("torch", "open3d", "cluster")] + \
    [("knn", b) for b in ("torch", "scipy", "cluster")] + \
    [("ball", b) for b in ("torch", "open3d", "scipy")]
AUTO = {"fps": "_auto_fps_backend", "knn": "_auto_knn_backend", "ball": "_auto_ball_backend"}


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_CHECKPOINT, device="cpu")


@pytest.fixture(scope="module")
def clouds():
    """Two example queries lifted to (8192, 6) clouds, in the lifting's (pixel) order."""
    from ognet.lift import lift_image

    return [lift_image(path).points for path in sorted(EXAMPLES_DIR.glob("*.jpg"))[:2]]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a * b).sum())


@pytest.mark.parametrize(("op", "backend"), BACKEND_CASES)
def test_shuffled_input_gives_the_same_embedding_on_every_backend(model, clouds, monkeypatch,
                                                                  op, backend):
    if not ops.available_backends()[backend]:
        pytest.skip(f"{backend} is not installed")
    monkeypatch.setattr(ops, AUTO[op], lambda *_args: backend)
    n = model.config.num_points
    for cloud in clouds:
        x = torch.from_numpy(sample_points(cloud, n))[None]
        assert (x[0, :, 2] == x[0, :, 2].mode().values).float().mean() > 0.5  # ties
        reference = model.extract(x)[0]
        for seed in (1, 2):
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
            assert cosine(reference, model.extract(x[:, perm])[0]) >= 0.9999


def test_a_cloud_shuffled_before_sampling_gives_the_same_embedding(model, clouds):
    """Sampling to the model's points is a function of the points too: the full lifted cloud
    in another order gives the same model input, hence the same embedding."""
    n = model.config.num_points
    for cloud in clouds:
        perm = np.random.default_rng(3).permutation(len(cloud))
        a = model.extract(torch.from_numpy(sample_points(cloud, n))[None])[0]
        b = model.extract(torch.from_numpy(sample_points(cloud[perm], n))[None])[0]
        assert cosine(a, b) >= 0.9999


def test_a_ply_written_in_another_order_gives_the_same_query(clouds, tmp_path):
    """The app's path for a cloud file: a .ply of a lifted crop and the same points written in
    another order are read, sampled and embedded by the pipeline to the same feature."""
    from ognet.pipeline import ReIDPipeline

    pipe = ReIDPipeline(DEFAULT_CHECKPOINT, DEFAULT_GALLERY, device="cpu")
    cloud = clouds[0]
    save_ply(tmp_path / "lifted.ply", cloud)
    save_ply(tmp_path / "shuffled.ply", cloud[np.random.default_rng(4).permutation(len(cloud))])
    assert not np.array_equal(read_point_cloud_file(tmp_path / "lifted.ply"),
                              read_point_cloud_file(tmp_path / "shuffled.ply"))
    a = pipe.run(str(tmp_path / "lifted.ply"))
    b = pipe.run(str(tmp_path / "shuffled.ply"))
    assert cosine(a.trace.embedding, b.trace.embedding) >= 0.9999
    assert [m.index for m in a.matches] == [m.index for m in b.matches]
