"""Why it matched (``ognet.explain``) and what if (``ognet.whatif``): the exact split of the
similarity over points and body parts, the lifting's part labels, and re-run queries that leave
the original result alone. Real models (untrained ones on random clouds; the bundled demo
model, or an untrained one when it does not load, on real lifted photos), real lifting, a
real gallery."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_app import build_synthetic_gallery

from ognet import create_model
from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR
from ognet.body import PART_NAMES
from ognet.explain import (
    PART_KEYS,
    REGIONS,
    coverage_matrix,
    explain,
    part_labels,
    query_labels,
    run_model,
    split,
    sum_parts,
)
from ognet.whatif import VARIATIONS, WhatIfError, what_if, yaw_curve


def small_model(seed: int = 0, num_points: int = 1024, stage_points=(256, 128, 64, 32)):
    """An untrained ognet_small whose head batch norm has non-trivial statistics (as a
    trained one has), in eval mode."""
    torch.manual_seed(seed)
    model = create_model("ognet_small", num_points=num_points, stage_points=stage_points)
    bn = model.embedding_norm
    with torch.no_grad():
        bn.running_mean.normal_(0, 0.5)
        bn.running_var.uniform_(0.2, 3.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_(0, 0.3)
    return model.eval()


def model_cosine(model, points: np.ndarray, target) -> float:
    """The cosine of ``model.extract(points)`` with a unit ``target`` (D,): what a split of
    ``points``' forward pass against ``target`` must add up to."""
    with torch.no_grad():
        e = model.extract(torch.from_numpy(np.asarray(points, np.float32))[None])[0]
    return float(e.double() @ torch.as_tensor(np.asarray(target)).double())


def model_embedding(model, points: np.ndarray) -> np.ndarray:
    """``model.extract`` of one (N, 6) cloud: (D,) unit feature."""
    with torch.no_grad():
        return model.extract(torch.from_numpy(np.asarray(points, np.float32))[None])[0].numpy()


def random_cloud(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)) * [0.25, 0.5, 0.1]
    return np.concatenate([xyz, rng.random((n, 3))], axis=1).astype(np.float32)


@pytest.mark.parametrize("variant", ["ognet_small", "ognet_deep"])
def test_terms_add_up_to_the_similarity_on_random_clouds(variant):
    model = small_model(1) if variant == "ognet_small" else create_model(
        "ognet_deep", num_points=1024, stage_points=(256, 128, 0, 64, 0, 32, 0)).eval()
    for seed in range(3):
        q, g = random_cloud(1024, seed), random_cloud(1024, 100 + seed)
        forward = run_model(model, q)
        with torch.no_grad():
            fq, fg = model.extract(torch.from_numpy(np.stack([q, g])))
        assert torch.allclose(forward.trace.embedding, fq, atol=1e-6)
        side = split(forward, fg.numpy())
        reference = float(fq @ fg)  # what the search computes, at float32
        assert side.similarity == pytest.approx(reference, abs=1e-4)
        # the input points' shares add up to the last module's points' shares
        assert side.point_contributions.sum() == pytest.approx(
            side.last_contributions.sum(), abs=1e-9)
        assert len(side.point_contributions) == 1024
        # parts (here: unlabelled body and the background) + bias == similarity
        labels = part_labels(None, np.arange(1024) % 3 > 0, 1024)
        parts = sum_parts(side.point_contributions, labels)
        assert set(parts) == {*PART_KEYS, "unlabelled"}
        assert sum(parts.values()) + side.bias == pytest.approx(reference, abs=1e-4)


def test_coverage_is_row_stochastic_and_follows_the_groups():
    model = small_model()
    forward = run_model(model, random_cloud(1024, 7))
    a = forward.coverage
    m_last = forward.trace.modules[-1].out_xyz.shape[0]
    assert a.shape == (m_last, 1024)
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    assert (a.data > 0).all()
    # a last-module point covers input points near it, not the whole cloud
    xyz = forward.points[:, :3]
    row = a.getrow(0)
    covered = xyz[row.indices]
    centre = forward.last_xyz[0]
    far = np.linalg.norm(xyz - centre, axis=1)
    assert np.linalg.norm(covered - centre, axis=1).max() < np.quantile(far, 0.9)
    assert coverage_matrix(forward.trace).nnz == a.nnz


def test_eval_mode_is_required():
    model = small_model().train()
    with pytest.raises(RuntimeError, match="eval mode"):
        run_model(model, random_cloud(1024, 0))


# ------------------------------------------------------------------- a real pipeline
def build_assets(root):
    """An ognet_small on 2048 points (head batch norm with trained-like statistics), and a
    gallery of 4 synthetic identities x 3 cameras lifted by the real lifter (image paths kept,
    so a match's cloud is re-lifted)."""
    from ognet.engine.checkpoint import save_checkpoint

    model = small_model(0, num_points=2048, stage_points=(384, 192, 96, 48))
    ckpt = save_checkpoint(root / "model.safetensors", model)
    return ckpt, build_synthetic_gallery(root, model, (1, 2, 3, 4))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    """The bundled demo model and gallery when they load, else :func:`build_assets`."""
    from ognet.pipeline import PipelineError, ReIDPipeline

    try:
        return ReIDPipeline(DEFAULT_CHECKPOINT, DEFAULT_GALLERY, device="cpu")
    except PipelineError:
        ckpt, gallery = build_assets(tmp_path_factory.mktemp("explain_assets"))
        return ReIDPipeline(ckpt, gallery, device="cpu")


def first_posed_example(pipe):
    """The first example query that MediaPipe finds a pose in, and its QueryResult."""
    for path in sorted(EXAMPLES_DIR.glob("*.jpg")):
        result = pipe.run(path)
        if result.lift.method == "pose":
            return path, result
    pytest.fail("no example query was lifted with a pose")


@pytest.fixture(scope="module")
def example(pipe):
    return first_posed_example(pipe)


@pytest.fixture(scope="module")
def example_result(example):
    return example[1]


def lifted_queries(real_dir) -> list:
    paths = sorted(EXAMPLES_DIR.glob("*.jpg"))[:3]
    if real_dir.is_dir():
        paths += sorted(real_dir.glob("market1501_query_*.png"))
    return paths


def test_lifting_labels_every_point_with_its_body_part(pipe, example_result):
    lift = example_result.lift
    parts = lift.parts
    assert parts.shape == (8192,) and parts.dtype == np.int8
    fg = lift.foreground.reshape(-1)
    np.testing.assert_array_equal(parts >= 0, fg)  # background = not on the body
    assert parts.max() < len(PART_NAMES)
    y = lift.points[:, 1]
    height = {name: y[parts == i].mean() for i, name in enumerate(PART_NAMES)
              if (parts == i).sum() > 20}
    assert height["head"] > height["torso"] > height["upper_legs"] > height["feet"]


def test_parts_plus_bias_equal_the_search_similarity_on_lifted_crops(pipe, repo_root):
    """Every rank of real lifted crops: the explanation adds up to /search's similarity."""
    for path in lifted_queries(repo_root.parent / "shared" / "real-queries"):
        result = pipe.run(path)
        for match in result.matches:
            ex = pipe.explain(result, match.rank, with_match=False)
            total = sum(ex.parts.values()) + ex.bias
            assert total == pytest.approx(match.similarity, abs=1e-4), path.name
            assert set(ex.parts) == set(PART_KEYS)  # a lifted photo: every point labelled


def test_explanation_of_a_match_side_by_side(pipe, example_result):
    ex = pipe.explain(example_result, 1)
    m = ex.match
    assert m is not None
    assert len(m.points) == pipe.model.config.num_points
    # the match's own cloud splits its own similarity to the query: the cosine of the two
    # clouds' embeddings
    cosine = model_cosine(pipe.model, m.points, model_embedding(pipe.model, ex.query.points))
    assert m.similarity == pytest.approx(cosine, abs=1e-5)
    assert len(ex.pairs) == 8
    values = [v for _, _, v in ex.pairs]
    assert values == sorted(values, reverse=True) and values[0] > 0
    d = ex.to_dict()
    assert set(d["parts"]) == set(PART_KEYS)
    assert d["similarity"] == pytest.approx(example_result.matches[0].similarity, abs=1e-4)
    # the match (re-lifted from its photo or thumbnail) splits over its own body parts
    assert set(ex.match_parts) == set(PART_KEYS)
    assert sum(ex.match_parts.values()) + m.bias == pytest.approx(cosine, abs=1e-5)
    assert d["match"]["parts"] == pytest.approx(ex.match_parts, abs=1e-6)
    assert [(p["query_point"], p["match_point"]) for p in d["pairs"]] == [
        (i, j) for i, j, _ in ex.pairs]
    i, j, _ = ex.pairs[0]
    assert d["pairs"][0]["query_xyz"] == pytest.approx(ex.query.last_xyz[i], abs=1e-4)
    assert d["pairs"][0]["match_xyz"] == pytest.approx(m.last_xyz[j], abs=1e-4)
    assert "match" not in pipe.explain(example_result, 1, with_match=False).to_dict()


def test_a_prepared_match_cloud_splits_into_background_and_unlabelled(pipe, example_result,
                                                                       tmp_path):
    """A gallery item with a prepared cloud (points and person mask, no body parts): its
    person's share is ``unlabelled``, the rest ``background``, and they add up."""
    from ognet import explain as explain_module
    from ognet.pointcloud import save_cloud

    match = example_result.matches[-1]
    lifted, lifted_parts, lifted_foreground = pipe.match_cloud_parts(match)  # re-lifted
    assert lifted_parts is not None and lifted_foreground.shape == (len(lifted),)
    save_cloud(tmp_path / "match.npz", lifted, lifted_foreground.reshape(128, 64))
    paths = pipe.gallery.cloud_paths
    old = paths[match.index]
    paths[match.index] = str(tmp_path / "match.npz")
    explain_module._MATCHES.items.clear()
    try:
        cloud, parts, foreground = pipe.match_cloud_parts(match)
        assert parts is None and foreground.shape == (len(cloud),)
        assert (foreground == lifted_foreground).all()
        ex = pipe.explain(example_result, match.rank)
    finally:
        paths[match.index] = old
        explain_module._MATCHES.items.clear()
    assert set(ex.match_parts) == {*PART_KEYS, "unlabelled"}
    assert all(ex.match_parts[k] == 0 for k in REGIONS)
    assert ex.match_parts["background"] != 0 and ex.match_parts["unlabelled"] != 0
    # the prepared cloud (float16 on disk) is what the match side ran, and its parts add up
    # to the cosine of its embedding with the query's
    np.testing.assert_array_equal(ex.match.points, pipe.model_points(
        lifted.astype(np.float16).astype(np.float32)))
    cosine = model_cosine(pipe.model, ex.match.points, example_result.embedding)
    assert sum(ex.match_parts.values()) + ex.match.bias == pytest.approx(cosine, abs=1e-5)


def head_share(model, points: np.ndarray, in_set, target: np.ndarray) -> dict[str, float]:
    """The cosine of ``model``'s embedding of ``points`` with the unit ``target``, and the part
    of it that the last module's points selected by ``in_set(xyz)`` give the head, computed
    here set-wise from the model's own layers (not by ``ognet.explain``).

    The head is ``e = BN(L([max_i h_i, mean_i h_i]))`` with L linear without a bias and BN
    affine at inference, so ``e = sum_S (BN(L(pooled_S)) - BN(0)) + BN(0)`` over a partition
    of the points, where ``pooled_S`` keeps the max-pooled channels that a point of S wins and the
    sum of S's features over M. Returns ``cosine``, ``share`` (S's part) and ``bias``
    (``BN(0) . target / |e|``)."""
    caught = {}
    hook = model.blocks[-1].register_forward_hook(
        lambda _m, _inp, out: caught.__setitem__("out", out))
    try:
        with torch.no_grad():
            e = model.forward_features(torch.from_numpy(points)[None])[0].double()
    finally:
        hook.remove()
    xyz, h = (t[0].double() for t in caught["out"])
    inside = torch.as_tensor(in_set(xyz.numpy()))
    winner_inside = inside[h.argmax(dim=0)]  # per channel: is the max's point in S?
    pooled = torch.cat([torch.where(winner_inside, h.amax(dim=0), 0.0),
                        h[inside].sum(dim=0) / len(h)])
    head = copy.deepcopy(model).double()
    with torch.no_grad():
        zero = head.embedding_norm(torch.zeros(1, head.embedding.out_features,
                                               dtype=torch.float64))[0]
        x_s = head.embedding_norm(head.embedding(pooled[None]))[0] - zero
    t = torch.as_tensor(target, dtype=torch.float64)
    norm = e.norm()
    return {"cosine": float(e @ t / norm), "share": float(x_s @ t / norm),
            "bias": float(zero @ t / norm)}


@pytest.mark.parametrize("change", ["legs copied 2 m in front", "background moved 2 m back"])
def test_points_far_from_the_rest_are_credited_exactly_their_own_share(pipe, example_result,
                                                                        change):
    """An invariant of the split, true of any checkpoint. The query's input changed so that a
    set of points lies further from all the others than the largest ball (0.4 m): a copy of
    its legs 2 m in front (labelled ``unlabelled``), or its background moved 2 m back. No
    group spans the gap, so the last-module points there cover that set alone, and split
    against the top match's gallery feature the set's part is exactly what those last-module
    points give the head; the parts plus the bias are the cosine of the model's own embedding
    of the changed cloud, so the parts' change, summed, is the change of that cosine. Both
    sides computed by :func:`head_share`, not by ``ognet.explain``."""
    result = example_result
    labels = query_labels(pipe, result)
    points = result.points.copy()
    if change.startswith("legs"):
        legs = labels == list(REGIONS).index("legs")
        assert legs.sum() > 30
        second = points[legs].copy()
        second[:, 2] += 2.0
        points = np.concatenate([points, second])
        changed_labels = np.concatenate([labels, part_labels(None, None, len(second))])
        key, far = "unlabelled", lambda xyz: xyz[:, 2] > 1.0
    else:
        background = labels == PART_KEYS.index("background")
        assert background.sum() > 30
        points[background, 2] -= 2.0
        changed_labels = labels
        key, far = "background", lambda xyz: xyz[:, 2] < -1.0
    g = pipe.gallery.features[result.matches[0].index].float().numpy()

    before = explain(run_model(pipe.model, result.points), labels, g, 1, 0.0)
    after = explain(run_model(pipe.model, points), changed_labels, g, 1, 0.0)
    truth_before = head_share(pipe.model, result.points, lambda xyz: np.zeros(len(xyz), bool), g)
    truth = head_share(pipe.model, points, far, g)

    assert truth["share"] != 0  # the far set holds last-module points that matter
    assert after.parts[key] == pytest.approx(truth["share"], abs=1e-5)
    assert after.bias == pytest.approx(truth["bias"], abs=1e-5)
    assert sum(after.parts.values()) + after.bias == pytest.approx(truth["cosine"], abs=1e-5)
    assert after.similarity == pytest.approx(truth["cosine"], abs=1e-5)
    change_of_parts = sum(after.parts[k] - before.parts.get(k, 0.0) for k in after.parts)
    assert change_of_parts + after.bias - before.bias == pytest.approx(
        truth["cosine"] - truth_before["cosine"], abs=1e-5)
    if key == "background":
        assert after.to_dict()["background_share"] == pytest.approx(
            truth["share"] / truth["cosine"], abs=1e-4)


# ------------------------------------------------------------------- what if
def test_what_if_leaves_the_original_untouched(pipe, example):
    result = example[1]
    cloud, emb = result.cloud.copy(), result.embedding.copy()
    matches = copy.deepcopy(result.matches)
    params = {k: v.clone() for k, v in pipe.model.state_dict().items()}
    ks = [b.k for b in pipe.model.blocks]
    runs = {name: what_if(pipe, result, name, (VARIATIONS[name][2] or [None])[0])
            for name in VARIATIONS}
    np.testing.assert_array_equal(result.cloud, cloud)
    np.testing.assert_array_equal(result.embedding, emb)
    assert [(m.index, m.similarity) for m in result.matches] == [
        (m.index, m.similarity) for m in matches]
    assert [b.k for b in pipe.model.blocks] == ks
    assert all(torch.equal(v, params[k]) for k, v in pipe.model.state_dict().items())
    again = pipe.run(example[0])
    assert [m.index for m in again.matches] == [m.index for m in matches]
    for name, w in runs.items():
        assert len(w.matches) == 5 and len(w.moves) == 5, name
        assert [mv.old_rank for mv in w.moves] == [1, 2, 3, 4, 5]
        for mv in w.moves:
            assert mv.new_rank >= 1
            if mv.new_rank <= 5:
                assert w.matches[mv.new_rank - 1].index == mv.index
    assert runs["no_colour"].cosine_to_original < 0.999  # colour matters to this model
    assert len(runs["density"].points) == round(0.25 * pipe.model.config.num_points)


def expected_input(pipe, result, variation: str, value) -> np.ndarray:
    """The points the model should see under a variation, from independent geometry
    (scipy's rotation, a reflection matrix, ITU-R BT.601 luminance), strided as the pipeline
    strides every query (``pipe.model_points``)."""
    from scipy.spatial.transform import Rotation

    cloud = result.cloud.astype(np.float64)
    xyz, rgb = cloud[:, :3], cloud[:, 3:]
    num_points = pipe.model.config.num_points
    if variation == "greyscale":
        rgb = np.repeat(rgb @ [[0.299], [0.587], [0.114]], 3, axis=1)
    elif variation == "no_colour":
        rgb = np.full_like(rgb, 0.5)
    elif variation == "flat_depth":
        xyz = xyz * [1, 1, 0]
    elif variation == "yaw":
        xyz = Rotation.from_euler("y", value, degrees=True).apply(xyz)
    elif variation == "mirror":
        xyz = xyz @ np.diag([-1.0, 1.0, 1.0])
    elif variation == "density":
        num_points = round(value * num_points)
    out = np.concatenate([xyz, rgb], axis=1).astype(np.float32)
    if variation == "body_only":
        out = out[result.foreground]
    return pipe.model_points(out, num_points)


def test_what_if_runs_the_model_on_the_varied_input(pipe, example_result):
    """Each variation: the model saw the query's cloud changed as :func:`expected_input` says
    (a rotation for yaw, a reflection for mirror, ...), to float32 rounding; the embedding
    is the model's own of that input (for ``k``: of a copy of the model whose graphs take k
    neighbours); the cosine to the original and the moved items' new similarities and ranks
    follow from it and the gallery's stored features."""
    result = example_result
    gallery = pipe.gallery.features.float().numpy()
    for name, (_, _, values) in VARIATIONS.items():
        value = values[0] if values else None
        w = what_if(pipe, result, name, value)
        want = result.points if name == "k" else expected_input(pipe, result, name, value)
        np.testing.assert_allclose(w.points, want, atol=1e-5, err_msg=name)
        model = pipe.model
        if name == "k":
            model = copy.deepcopy(model)
            for block in model.blocks:
                block.k = value
        # the input checked above, embedded as is (float32 rounding of a rotation can move a
        # ball member, so the independent points would not give the same embedding to 1e-5)
        embedding = model_embedding(model, w.points)
        np.testing.assert_allclose(w.embedding, embedding, atol=1e-5, err_msg=name)
        assert w.cosine_to_original == pytest.approx(float(embedding @ result.embedding),
                                                     abs=1e-5), name
        sims = gallery @ embedding
        for move in w.moves:
            assert move.new_similarity == pytest.approx(sims[move.index], abs=1e-5), name
            assert move.new_rank == 1 + (sims > sims[move.index] + 1e-6).sum(), name
        assert [m.index for m in w.matches] == list(np.argsort(-sims, kind="stable")[:5])


def test_identity_variations_change_nothing(pipe, example_result):
    result = example_result
    for name, value in (("yaw", 0), ("k", pipe.model.config.k), ("density", 1.0)):
        w = what_if(pipe, result, name, value)
        assert w.cosine_to_original == pytest.approx(1.0, abs=1e-5), name
        assert [m.index for m in w.matches] == [m.index for m in result.matches]
        assert [mv.new_rank for mv in w.moves] == [1, 2, 3, 4, 5]
    w = what_if(pipe, result, "k", 8)
    assert w.cosine_to_original < 0.9999


def test_yaw_curve_peaks_at_zero(pipe, example_result):
    angles, cosines = yaw_curve(pipe, example_result, angles=(-90, -30, 0, 30, 90))
    assert cosines[2] == pytest.approx(1.0, abs=1e-5)
    assert cosines.argmax() == 2
    assert (np.delete(cosines, 2) < 1 - 1e-5).all()  # every turn moves the embedding


def test_bad_variations_are_clear_errors(pipe, example_result, tmp_path):
    with pytest.raises(WhatIfError, match="unknown variation"):
        what_if(pipe, example_result, "blur", 1)
    with pytest.raises(WhatIfError, match="k must be an integer"):
        what_if(pipe, example_result, "k", 2.5)
    with pytest.raises(WhatIfError, match="density must be in"):
        what_if(pipe, example_result, "density", 0)
    with pytest.raises(WhatIfError, match="needs a number"):
        what_if(pipe, example_result, "yaw", "left")
    with pytest.raises(WhatIfError, match="fewer than"):
        what_if(pipe, example_result, "density", 0.05)
    from ognet.pointcloud import save_ply

    save_ply(tmp_path / "q.ply", example_result.cloud)
    cloud_result = pipe.run(tmp_path / "q.ply")
    with pytest.raises(WhatIfError, match="body only needs a lifted photo"):
        what_if(pipe, cloud_result, "body_only")
    ex = pipe.explain(cloud_result, 1, with_match=False)
    assert "unlabelled" in ex.parts
    assert sum(ex.parts.values()) + ex.bias == pytest.approx(
        cloud_result.matches[0].similarity, abs=1e-4)


def test_the_split_target_is_used_as_is():
    """A unit target gives the cosine of the embedding with it; a target three times as long
    gives three times each term (nothing normalises it)."""
    model = small_model(3)
    cloud = random_cloud(1024, 3)
    forward = run_model(model, cloud)
    unit = F.normalize(torch.arange(512.0, dtype=torch.float64) - 200, dim=0).numpy()
    side = split(forward, unit)
    assert side.similarity == pytest.approx(model_cosine(model, cloud, unit), abs=1e-5)
    tripled = split(forward, 3 * unit)
    np.testing.assert_allclose(tripled.point_contributions, 3 * side.point_contributions,
                               rtol=1e-9, atol=1e-12)
    assert tripled.bias == pytest.approx(3 * side.bias, rel=1e-9)
