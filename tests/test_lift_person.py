"""The ``"person"`` lifting: the person's own pixels in 3D, a body fitted to this person.

Held to the generator's truth (``Synthesizer.render_truth``) on crops of a world that neither
the shape regressor's training (seeds 100-143) nor the truth benchmark uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from ognet.lift import CROP_SIZE, Lifter, LiftError
from ognet.lift.fit import lean
from ognet.lift.person import continue_depth, nearest_parts, person_mask

#: The world and crops (pid, cam, index) lifted against their truth.
SEED = 5
CROPS = ((1, 1, 0), (2, 2, 0), (3, 3, 1), (4, 4, 0), (5, 5, 2), (6, 6, 0), (8, 2, 1),
         (9, 4, 3))


def lean_error(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between the pelvis -> neck lines of two (24, 3) joint sets."""
    return float(np.degrees(np.arccos(np.clip(lean(a) @ lean(b), -1.0, 1.0))))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def truths():
    from ognet.synth import Synthesizer

    synth = Synthesizer(SEED)
    return [synth.render_truth(*key) for key in CROPS]


@pytest.fixture(scope="module")
def lifters():
    return {name: Lifter(lifting=name) for name in ("person", "mean_body")}


@pytest.fixture(scope="module")
def lifted(truths, lifters):
    return {name: [lifter(t.image) for t in truths] for name, lifter in lifters.items()}


# ----------------------------------------------------------------------------- pieces


def test_continue_depth_is_the_harmonic_fill():
    """Known depth on a frame around an unknown window: the fill of a linear depth is that
    linear depth (a harmonic function); a piece touching no known pixel takes the nearest
    known depth; pixels outside the foreground stay NaN."""
    h, w = 40, 30
    rows, cols = np.mgrid[0:h, 0:w]
    ramp = 0.02 * rows - 0.01 * cols + 5.0
    depth = np.where((rows < 5) | (rows >= 35) | (cols < 5) | (cols >= 25), ramp, np.nan)
    filled = continue_depth(depth, np.ones((h, w), bool))
    inside = np.isnan(depth)
    np.testing.assert_allclose(filled[inside], ramp[inside], atol=1e-3)

    body = np.full((h, w), np.nan)
    body[10:20, 10:20] = 2.0
    person = np.zeros((h, w), bool)
    person[8:22, 8:22] = True          # a coat around the body
    person[30:33, 2:5] = True          # a bag strap apart from it
    filled = continue_depth(body, person)
    assert np.isfinite(filled[person]).all()
    assert np.isnan(filled[~person & np.isnan(body)]).all()
    np.testing.assert_allclose(filled[person], 2.0, atol=1e-6)


def test_person_mask_keeps_this_person_and_fills_holes():
    prob = np.zeros((30, 20))
    prob[5:25, 5:12] = 0.9             # the person, with a hole
    prob[12:14, 8:10] = 0.1
    prob[2:8, 15:19] = 0.8             # another person's arm at the edge
    seed = np.zeros((30, 20), bool)
    seed[10:20, 6:10] = True
    mask = person_mask(prob, seed=seed)
    assert mask[12:14, 8:10].all()     # hole filled
    assert not mask[2:8, 15:19].any()  # the other piece dropped
    assert mask[5:25, 5:12].all()
    # without a seed, the largest piece
    assert (person_mask(prob) == mask).all()


def test_nearest_parts_label_the_whole_person():
    parts = np.full((10, 10), -1, np.int8)
    parts[2:8, 2:5] = 1
    parts[2:8, 5:8] = 3
    fg = np.zeros((10, 10), bool)
    fg[1:9, 1:9] = True
    out = nearest_parts(parts, fg)
    assert (out[fg] >= 0).all() and (out[~fg] == -1).all()
    assert out[1, 1] == 1 and out[8, 8] == 3


# ----------------------------------------------------------------------------- lifting


def test_every_person_pixel_is_lifted(truths, lifted):
    """The foreground is the person's silhouette (IoU with the true mask 0.90 in the median,
    0.7 at worst: in crop (3, 3, 1) a brown backpack against a brown wall escapes
    MediaPipe's mask): the person's pixels leave the background plane; background pixels lie
    on it; each foreground pixel has a finite depth and a body part."""
    for name in ("person",):
        ious, covered = [], []
        for t, r in zip(truths, lifted[name], strict=True):
            ious.append(iou(r.foreground, t.mask))
            covered.append((r.foreground & t.mask).sum() / t.mask.sum())
            z = r.points[:, 2].reshape(CROP_SIZE)
            assert np.isfinite(r.points).all()
            np.testing.assert_array_equal(z[~r.foreground], 0.0)
            parts = r.parts.reshape(CROP_SIZE)
            assert (parts[r.foreground] >= 0).all() and (parts[~r.foreground] == -1).all()
            assert r.body_pixels.shape == CROP_SIZE and (r.body_pixels & r.foreground).any()
        assert min(ious) >= 0.7 and np.median(ious) >= 0.90, ious
        assert min(covered) >= 0.7 and np.median(covered) >= 0.95, covered


def test_mean_body_loses_the_person(truths, lifted):
    """The baseline the issue measured: its foreground is the mean body's outline (IoU
    about 0.6), so the thresholds of the test above tell the two liftings apart."""
    ious = [iou(r.foreground, t.mask) for t, r in zip(truths, lifted["mean_body"], strict=True)]
    assert np.median(ious) < 0.75, ious
    for r in lifted["mean_body"]:
        assert r.lifting == "mean_body" and r.camera_pitch_deg is None and r.lean_deg is None
        assert not r.betas.any()
        np.testing.assert_array_equal(r.foreground, r.body_pixels)


def test_lean_and_depth_follow_the_truth(truths, lifted):
    """The fitted body leans as the person does in the camera frame (the camera looks down
    15-40 degrees): median error under 5 degrees, none over 12; the lifted depth of the
    person's pixels correlates with the true depth (median r > 0.85); the mean body's
    lean misses the camera's pitch (median error over 8 degrees)."""
    errors = {name: [lean_error(t.joints, r.joints) for t, r in zip(truths, rs, strict=True)]
              for name, rs in lifted.items()}
    assert np.median(errors["person"]) < 5 and max(errors["person"]) < 12, errors["person"]
    assert np.median(errors["mean_body"]) > 8, errors["mean_body"]
    corr = []
    for t, r in zip(truths, lifted["person"], strict=True):
        both = r.foreground & t.mask
        z = r.points[:, 2].reshape(CROP_SIZE)[both]
        corr.append(np.corrcoef(z, -t.depth[both])[0, 1])
    assert np.median(corr) > 0.85, corr


def test_estimates_are_reported(truths, lifted):
    """Build, camera pitch, lean and facing are filled in; the pitch is within 10 degrees of
    the truth in the median; no height is invented from a crop."""
    pitch_errors = []
    for t, r in zip(truths, lifted["person"], strict=True):
        assert r.lifting == "person"
        assert r.betas.shape == (10,) and np.isfinite(r.betas).all()
        assert 0 <= r.camera_pitch_deg <= 60
        pitch_errors.append(abs(r.camera_pitch_deg - t.camera_pitch_deg))
        up = lean(r.joints)
        assert abs(r.lean_deg - np.degrees(np.arcsin(up[2]))) < 0.1
        assert -180 <= r.yaw_deg <= 180
        assert r.height_m is None
        if r.method == "pose":
            assert r.lean_correction_deg is not None and not r.flip_repaired
    assert np.median(pitch_errors) < 10, pitch_errors


def test_flipped_mediapipe_pose_is_repaired(truths, lifters, monkeypatch):
    """MediaPipe's world landmarks tipped over in depth (the front/back ambiguity of a
    single view): the body still leans as the person does, and the result says that the
    3D pose was repaired."""
    from scipy.spatial.transform import Rotation

    lifter = lifters["person"]
    estimate = lifter.pose.estimate
    tip = Rotation.from_rotvec([np.radians(100), 0, 0]).as_matrix().astype(np.float32)

    def tipped(rgb, pad=0):
        pose, mask = estimate(rgb, pad=pad)
        if pose is not None:
            pose.world = pose.world @ tip.T
        return pose, mask

    monkeypatch.setattr(lifter.pose, "estimate", tipped)
    t = truths[0]
    r = lifter(t.image)
    assert r.method == "pose"
    assert r.flip_repaired and r.lean_correction_deg > 45
    assert lean_error(t.joints, r.joints) < 10


def test_known_height_scales_the_cloud(truths, lifters):
    lifter = lifters["person"]
    t = truths[1]
    plain = lifter(t.image)
    tall = lifter(t.image, height_m=2.0)
    assert plain.height_m is None and tall.height_m == 2.0
    rest = lifter.poser.shaped(plain.betas).template
    factor = 2.0 / np.ptp(rest[:, 1])
    np.testing.assert_allclose(tall.points[:, :3], plain.points[:, :3] * factor, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tall.joints, plain.joints * factor, rtol=1e-5, atol=1e-6)
    for bad in (0.0, -1.0, float("nan"), 9.0):
        with pytest.raises(LiftError, match="height"):
            lifter(t.image, height_m=bad)


def test_real_queries_person_pixels_leave_the_plane(real_queries, lifters):
    """On real Market-1501 crops, the person's pixels (MediaPipe's mask above 0.5, or its
    segmenter's without a pose) are lifted: at least 90% of them are foreground."""
    for path in real_queries:
        r = lifters["person"](path)
        assert r.mask is not None, path.name
        person = r.mask > 0.5
        assert (r.foreground & person).sum() >= 0.9 * person.sum(), path.name


def test_mirror_features_are_the_mirrored_crops_features():
    """The shape regressor's test-time mirroring: the features of a crop mirrored left to
    right are those :func:`mirror_features` makes, and mirroring the outputs twice is the
    identity."""
    from ognet.lift.shape import (
        MIRROR_LANDMARKS,
        TARGETS,
        features,
        mirror_features,
        mirror_targets,
    )

    rng = np.random.default_rng(0)
    h, w = CROP_SIZE
    image = np.stack([rng.uniform(0, w, 33), rng.uniform(0, h, 33), rng.uniform(0, 1, 33)], 1)
    world = rng.normal(0, 0.3, (33, 3))
    silhouette = rng.random(CROP_SIZE) > 0.6
    mirrored_image = image[MIRROR_LANDMARKS].copy()
    mirrored_image[:, 0] = w - mirrored_image[:, 0]
    mirrored_world = world[MIRROR_LANDMARKS] * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        mirror_features(features(image, world, silhouette)[None])[0],
        features(mirrored_image, mirrored_world, silhouette[:, ::-1]), atol=1e-6)
    assert not np.allclose(mirror_features(features(image, world, silhouette)[None])[0],
                           features(image, world, silhouette))
    y = rng.normal(size=(4, len(TARGETS))).astype(np.float32)
    np.testing.assert_array_equal(mirror_targets(mirror_targets(y)), y)


def test_describe_build_places_a_build_in_the_population():
    """The population's mean build sits near the median of every trunk proportion, and a
    body two standard deviations along the third shape direction (slimmer or stouter
    everywhere) in its tails; the ratios are ``body_measurements``'."""
    from ognet.body import BUILD_MEASURES, body_measurements, load_body_model
    from ognet.lift import describe_build

    body = load_body_model()
    mean = np.asarray(body.betas_mean, np.float32)
    middle = describe_build(mean)
    assert [m.name for m in middle] == list(BUILD_MEASURES)
    assert all(35 <= m.percentile <= 65 for m in middle), middle
    truth = body_measurements(body, mean)
    for m in middle:
        assert m.ratio == pytest.approx(float(truth[m.name][0]))
    direction = 2.0 * np.eye(10, dtype=np.float32)[2]
    slim, stout = describe_build(mean + direction), describe_build(mean - direction)
    assert all(m.percentile < 15 for m in slim), slim
    assert all(m.percentile > 85 for m in stout), stout


def test_without_a_pose_the_body_is_posed_from_the_silhouette(truths, lifters, monkeypatch):
    """When MediaPipe Pose finds nobody, the selfie segmenter's mask is the person and the
    regressor poses the body from that silhouette alone: the foreground still covers the
    person, the result says how it was made, and the body still leans about as the person
    does; a photo without a person gets the crop-box body and says so."""
    lifter = lifters["person"]
    monkeypatch.setattr(lifter.pose, "estimate", lambda rgb, pad=0: (None, None))
    errors, ious = [], []
    for t in truths[:4]:
        r = lifter(t.image)
        assert r.method == "fallback" and "silhouette" in r.message, r.message
        assert r.landmarks_2d is None and r.mask is not None
        assert r.lean_correction_deg is None and not r.flip_repaired
        errors.append(lean_error(t.joints, r.joints))
        ious.append(iou(r.foreground, t.mask))
    assert np.median(ious) > 0.75, ious
    assert np.median(errors) < 15, errors
    blank = lifter(np.full((128, 64, 3), 128, np.uint8))
    assert not blank.person_found and "crop box" in blank.message
