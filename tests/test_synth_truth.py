"""The generator's ground truth agrees with itself and with the image it describes."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation
from scipy.spatial import cKDTree

from ognet.body import SMPL_JOINT_NAMES
from ognet.data import load_dataset
from ognet.synth import TRUTH_SUFFIX, Synthesizer, generate_dataset, load_truth, save_truth

#: (pid, cam, index) of the crops checked: several cameras, people and takes (in world 11,
#: person 3 carries a shoulder bag, 7 a backpack).
CROPS = ((1, 1, 0), (2, 3, 1), (3, 2, 0), (5, 6, 2), (6, 4, 0), (7, 5, 0))


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(11)


@pytest.fixture(scope="module")
def truths(synth):
    return {key: synth.render_truth(*key) for key in CROPS}


def test_image_is_the_rendered_crop(synth, truths):
    for key, truth in truths.items():
        assert truth.image.dtype == np.uint8 and truth.image.shape == (128, 64, 3)
        assert np.array_equal(truth.image, synth.render(*key)), key
    # A fresh world renders the same truth: same mask, depth and joints, bit for bit.
    again = Synthesizer(11).render_truth(*CROPS[1])
    first = truths[CROPS[1]]
    assert np.array_equal(again.mask, first.mask)
    assert np.array_equal(again.depth, first.depth, equal_nan=True)
    assert np.array_equal(again.joints, first.joints)


def test_mask_is_where_the_depth_is(truths):
    for key, truth in truths.items():
        assert truth.mask.dtype == bool and truth.mask.shape == (128, 64)
        assert truth.depth.dtype == np.float32
        assert np.array_equal(truth.mask, np.isfinite(truth.depth)), key
        # A person, not a speck or the whole crop; in front of the camera, metres away.
        assert 0.1 < truth.mask.mean() < 0.7, key
        d = truth.depth[truth.mask]
        assert 3.0 < d.min() and d.max() < 20.0 and np.ptp(d) < 1.5, key


def test_mask_matches_the_person_in_the_image(truths):
    """The mask is the person's: pixels inside it differ from the background's colours, and
    the person's outline is where the image changes (mask edges carry strong gradients)."""
    for key, truth in truths.items():
        img = truth.image.astype(float)
        grad = np.abs(np.diff(img, axis=1)).sum(-1)
        edge = truth.mask[:, 1:] != truth.mask[:, :-1]
        assert grad[edge].mean() > 2 * grad[~edge].mean(), key


def test_the_bag_is_the_persons(synth, truths):
    """Rendered again without the bag, a crop changes only inside the mask: the bag's pixels
    are the person's (the rest of the crop's randomness does not depend on the bag)."""
    bare = Synthesizer(11)
    bare.identity = lambda pid: replace(Synthesizer.identity(bare, pid), bag="none")
    for key in ((3, 2, 0), (7, 5, 0)):
        assert synth.identity(key[0]).bag != "none"
        changed = np.abs(truths[key].image.astype(int) - bare.render(*key)).sum(-1) > 30
        assert changed.sum() > 20, key  # the bag shows
        assert binary_dilation(truths[key].mask, iterations=1)[changed].all(), key


def test_joints_project_inside_the_mask(truths):
    for key, truth in truths.items():
        assert truth.joints.shape == (24, 3) and truth.joints.dtype == np.float32
        assert (truth.joints[:, 2] < 0).all()  # in front of the camera (z towards it)
        uv = truth.project(truth.joints)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 64) & (uv[:, 1] >= 0) & (uv[:, 1] < 128)
        assert inside.sum() >= 20, key  # a clipped box may cut the feet or the crown
        mask = binary_dilation(truth.mask, iterations=1)
        rows, cols = uv[inside, 1].astype(int), uv[inside, 0].astype(int)
        assert mask[rows, cols].all(), (key, np.array(SMPL_JOINT_NAMES)[inside][
            ~mask[rows, cols]])
        # Joints lie inside the body: behind the surface seen at their pixel, not far behind.
        J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
        for name in ("pelvis", "spine2", "neck"):
            u, v = uv[J[name]]
            surface = truth.depth[int(v), int(u)]
            assert 0.0 < -truth.joints[J[name], 2] - surface < 0.35, (key, name)


def test_the_person_stands_upright_below_a_camera_that_looks_down(truths):
    for key, truth in truths.items():
        J = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
        assert 1.4 < truth.height_m < 2.2
        assert 0.0 < truth.camera_pitch_deg < 60.0, key
        # The world's up seen from a camera pitched down by p is (0, cos p, sin p): the
        # pelvis -> neck direction of a person walking upright is within a few degrees of it.
        p = np.radians(truth.camera_pitch_deg)
        spine = truth.joints[J["neck"]] - truth.joints[J["pelvis"]]
        up = np.array([0.0, np.cos(p), np.sin(p)])
        angle = np.degrees(np.arccos(spine @ up / np.linalg.norm(spine)))
        assert angle < 12.0, (key, angle)


def test_truth_rebuilds_the_posed_body_on_the_depth(synth, truths):
    """betas, global_orient, body_pose and joints give the body model's posed mesh in the
    camera frame, and the pixels' depths, unprojected through the crop's pinhole, lie on it."""
    body = synth.body
    for key, truth in truths.items():
        if synth.identity(key[0]).bag != "none":
            continue  # the bag is no part of the body mesh
        with torch.no_grad():
            out = body(betas=torch.as_tensor(truth.betas[None]),
                       body_pose=torch.as_tensor(truth.body_pose[None]),
                       global_orient=torch.as_tensor(truth.global_orient[None]))
        shift = truth.joints[0] - out.joints[0, 0].numpy()
        joints = out.joints[0, :24].numpy() + shift
        np.testing.assert_allclose(joints, truth.joints, atol=2e-3)
        verts = out.vertices[0].numpy() + shift
        rows, cols = np.nonzero(truth.mask)
        d = truth.depth[rows, cols].astype(np.float64)
        a = (cols + 0.5 - truth.principal_px[0]) / truth.focal_px[0]
        b = -(rows + 0.5 - truth.principal_px[1]) / truth.focal_px[1]
        points = np.stack([a * d, b * d, -d], axis=1)
        dist, _ = cKDTree(verts).query(points)
        assert np.median(dist) < 0.015 and np.percentile(dist, 90) < 0.04, (
            key, np.median(dist), np.percentile(dist, 90))


def test_truth_file_round_trip(truths, tmp_path):
    truth = truths[CROPS[0]]
    path = tmp_path / ("0001_c1s1_000001_01" + TRUTH_SUFFIX)
    save_truth(truth, path)
    assert path.is_file() and path.stat().st_size < 40_000
    back = load_truth(path)
    assert back.image is None
    assert np.array_equal(back.mask, truth.mask)
    assert np.array_equal(back.depth, truth.depth, equal_nan=True)
    np.testing.assert_array_equal(back.joints, truth.joints)
    np.testing.assert_array_equal(back.betas, truth.betas)
    assert back.height_m == truth.height_m and back.camera_pitch_deg == truth.camera_pitch_deg
    assert (back.pid, back.cam, back.index, back.seed) == (1, 1, 0, 11)
    np.testing.assert_allclose(back.project(back.joints), truth.project(truth.joints))


def test_cli_truth_writes_one_file_per_crop_and_the_dataset_still_loads(tmp_path):
    from ognet.cli import main

    args = ["synth", "--identities", "2", "--seed", "1", "--images-per-camera", "1",
            "--cameras-per-identity", "2"]
    assert main([*args, "--out", str(tmp_path / "a"), "--truth"]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    jpgs = sorted((tmp_path / "a").rglob("*.jpg"))
    assert len(jpgs) == 4
    for jpg in jpgs:
        truth = load_truth(jpg.with_suffix(TRUTH_SUFFIX))
        pid, cam = int(jpg.name[:4]), int(jpg.name[6])
        assert (truth.pid, truth.cam, truth.seed) == (pid, cam, 1)
        # Same image bytes with or without the truth.
        twin = tmp_path / "b" / jpg.relative_to(tmp_path / "a")
        assert jpg.read_bytes() == twin.read_bytes()
    data = load_dataset(tmp_path / "a")  # the loader skips the truth files
    assert sum(len(data.split(s)) for s in ("train", "query", "gallery")) == 4


def test_truth_is_the_same_from_worker_processes(tmp_path):
    kwargs = dict(identities=2, seed=4, images_per_camera=1, cameras_per_identity=2,
                  progress=False, truth=True)
    generate_dataset(tmp_path / "one", **kwargs)
    generate_dataset(tmp_path / "pool", workers=1, **kwargs)
    files = sorted((tmp_path / "one").rglob("*" + TRUTH_SUFFIX))
    assert len(files) == 4
    for f in files:
        a, b = load_truth(f), load_truth(tmp_path / "pool" / f.relative_to(tmp_path / "one"))
        assert np.array_equal(a.depth, b.depth, equal_nan=True)
        assert np.array_equal(a.joints, b.joints)


# --------------------------------------------------------------------------- the benchmark


def _bench():
    """benchmarks/bench_lift_truth.py as a module."""
    import importlib.util

    from conftest import REPO_ROOT

    spec = importlib.util.spec_from_file_location(
        "bench_lift_truth", REPO_ROOT / "benchmarks" / "bench_lift_truth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _oracle(truth, turn: bool = False):
    """A lifting that returns the truth itself, in the cloud's frame: one point per pixel on an
    orthographic grid at the person's mean depth, z towards the camera (``turn``: the person
    turned about the vertical to face the other way: x and z negated)."""
    from types import SimpleNamespace

    H, W = truth.mask.shape
    d = float(np.nanmean(truth.depth))
    v, u = np.mgrid[0:H, 0:W] + 0.5
    x = (u - truth.principal_px[0]) / truth.focal_px[0] * d
    y = -(v - truth.principal_px[1]) / truth.focal_px[1] * d
    z = np.where(truth.mask, d - np.nan_to_num(truth.depth, nan=d), 0.0)
    joints = truth.joints + np.float32([0, 0, d])
    if turn:
        z, joints = -z, joints * np.float32([-1, 1, -1])
    points = np.concatenate([np.stack([x, y, z], -1).reshape(-1, 3), np.zeros((H * W, 3))], 1)
    return SimpleNamespace(method="pose", foreground=truth.mask.copy(), points=points,
                           joints=joints, betas=truth.betas, height_m=truth.height_m,
                           camera_pitch_deg=truth.camera_pitch_deg)


def test_the_truth_scores_perfectly_and_turned_around_does_not(synth, truths):
    """The benchmark's frames: the truth, lifted perfectly, scores as the truth; seen from the
    wrong side it is flagged (a sign error in depth or facing would swap the two)."""
    from ognet.body import body_measurements

    bench = _bench()
    truth = truths[(3, 2, 0)]
    build = {k: v[:1] for k, v in body_measurements(synth.body, truth.betas).items()}
    row = bench.score(_oracle(truth), truth, synth.body, build, build)
    assert row["pose_found"] == 1 and row["iou"] == 1.0
    assert row["depth_r"] > 0.999 and row["relief_r"] > 0.999 and row["depth_rmse_cm"] < 0.1
    assert row["depth_std_cm"] > 5  # the person's depth varies: r measures something
    assert row["lean_deg"] < 1e-3 and abs(row["tilt_deg"]) < 1e-3 and row["facing_deg"] < 1e-3
    assert row["pa_mpjpe_mm"] < 1e-3 and row["joints_2d_px"] < 3.0  # orthographic vs pinhole
    assert row["height_err_cm"] == 0 and row["pitch_err_deg"] == 0
    assert row["build_err_pct"] == 0 and row["pve_t_sc_mm"] < 1e-3
    assert not row["flipped"] and not row["back_to_front"]
    turned = bench.score(_oracle(truth, turn=True), truth, synth.body, build, build)
    assert turned["depth_r"] < -0.999 and turned["back_to_front"] == 1
    assert turned["tilt_deg"] < -10  # the true spine leans towards a camera looking down
    # A body with another build is told apart from the truth's.
    other = bench.pve_t_sc(synth.body, synth.body.betas_mean, truth.betas)
    assert other > 3.0


def test_lift_truth_benchmark_runs_tiny(tmp_path, capsys):
    """``bench_lift_truth.py --tiny``: 4 held-out crops lifted by every lifting, scored, the
    rows written and the tables printed."""
    import csv

    from ognet.lift import LIFTINGS

    bench = _bench()
    assert bench.main(["--tiny", "--csv", str(tmp_path / "rows.csv")]) == 0
    out = capsys.readouterr().out
    assert all(f"`{name}`" in out for name in LIFTINGS) and "ANSUR II" in out
    rows = list(csv.DictReader(open(tmp_path / "rows.csv")))
    assert len(rows) == 4 * len(LIFTINGS)
    assert {(r["pid"], r["cam"]) for r in rows} == {(str(p), str(c)) for p, c, _ in
                                                    bench.plan(4)}
    for r in rows:
        assert not r["error"], r
        assert 0.0 < float(r["iou"]) <= 1.0 and 0.0 <= float(r["lean_deg"]) <= 180.0
        assert float(r["lift_ms"]) > 0 and float(r["pa_mpjpe_mm"]) > 0
    for name in LIFTINGS:  # the lifting saw the crop the truth describes (mirrored: 0.34)
        assert np.median([float(r["iou"]) for r in rows if r["lifting"] == name]) > 0.45
