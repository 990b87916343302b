"""The free SMPL-format body (assets/body/) loads through smplx and behaves like SMPL."""

import numpy as np
import pytest
import torch

from ognet.body import (
    PART_NAMES,
    SMPL_JOINT_NAMES,
    BodyModelError,
    body_measurements,
    load_body_model,
    rest_joints,
    sample_betas,
    vertex_parts,
)


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def test_loads_through_smplx_with_smpl_skeleton(body):
    import smplx

    assert isinstance(body, smplx.SMPL)
    out = body()
    V = body.v_template.shape[0]
    assert out.vertices.shape == (1, V, 3) and V > 6000
    # 24 SMPL joints + smplx's extra keypoints, taken from our own vertex ids.
    assert out.joints.shape == (1, 24 + 21, 3)
    assert len(SMPL_JOINT_NAMES) == 24


def test_plausible_adult_standing_upright_facing_plus_z(body):
    v = body().vertices[0]
    height = (v[:, 1].max() - v[:, 1].min()).item()
    assert 1.5 < height < 1.95
    j = rest_joints(body)
    name = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
    assert j[name["head"], 1] > j[name["neck"], 1] > j[name["pelvis"], 1] > j[name["left_knee"], 1]
    assert j[name["left_hip"], 0] > 0 > j[name["right_hip"], 0]  # the left side is +x
    nose = body().joints[0, 24]  # smplx puts the nose first among the extra keypoints
    assert nose[2] > j[name["head"], 2]  # the face looks towards +z


def test_joints_follow_pose_parameters(body):
    rest = body().joints[0]
    pose = torch.zeros(1, 69)
    knee = SMPL_JOINT_NAMES.index("left_knee")
    pose[0, 3 * (knee - 1)] = 1.2  # bend the left knee (body_pose skips the root)
    bent = body(body_pose=pose).joints[0]
    moved = (bent - rest).norm(dim=1)
    assert moved[SMPL_JOINT_NAMES.index("left_ankle")] > 0.2
    assert moved[SMPL_JOINT_NAMES.index("right_ankle")] < 1e-6
    assert moved[SMPL_JOINT_NAMES.index("left_knee")] < 1e-6  # it rotates about itself


def test_betas_change_the_shape(body):
    heights = []
    for b in (-2.0, 0.0, 2.0):
        betas = torch.zeros(1, 10)
        betas[0, 0] = b
        v = body(betas=betas).vertices[0]
        heights.append((v[:, 1].max() - v[:, 1].min()).item())
    assert max(heights) - min(heights) > 0.05


def test_betas_drawn_from_the_prior_give_plausible_adults(body):
    betas = torch.as_tensor(sample_betas(body, np.random.default_rng(0), 64))
    with torch.no_grad():
        v = body(betas=betas, body_pose=torch.zeros(64, 69), global_orient=torch.zeros(64, 3),
                 transl=torch.zeros(64, 3)).vertices
    heights = (v[..., 1].max(1).values - v[..., 1].min(1).values).numpy()
    assert 1.35 < heights.min() and heights.max() < 2.1
    assert 1.62 < np.median(heights) < 1.77  # adults of both sexes (anny's prior: 1.69 m)
    np.testing.assert_allclose(body_measurements(body, betas.numpy())["height_m"], heights,
                               atol=1e-5)


#: ANSUR II (Gordon et al. 2014, "2012 Anthropometric Survey of U.S. Army Personnel",
#: NATICK/TR-15/007), computed from its public data files (4,082 men, 1,986 women, pooled):
#: mean of each measure divided by stature.
ANSUR_II_RATIO_MEANS = {"chest_width": 0.165, "chest_depth": 0.147, "waist_width": 0.185,
                        "waist_depth": 0.134, "hip_width": 0.204, "hip_depth": 0.141}


def test_the_prior_mean_body_has_anthropometric_proportions(body):
    """Breadths and depths as anthropometry takes them: the population's mean body is within
    20% of ANSUR II's mean ratios (a lean army population; anny's prior is the general one).
    Arms in the chest's slice or breadth and depth swapped would be far off."""
    m = body_measurements(body, body.betas_mean)
    assert 1.62 < m["height_m"][0] < 1.76
    for name, ansur in ANSUR_II_RATIO_MEANS.items():
        assert abs(m[name][0] / ansur - 1) < 0.2, (name, m[name][0], ansur)


def test_prior_bodies_differ_in_build_as_people_do(body):
    """Drawn from the prior, people differ in build, not only in size: the width-to-height
    ratios spread by several per cent (ANSUR II: chest 6%, waist 10%, hip 8% of their means),
    and not along height alone."""
    m = body_measurements(body, sample_betas(body, np.random.default_rng(1), 300))
    assert 0.07 < m["height_m"].std() < 0.13  # ANSUR II, men and women: 0.09 m
    for name in ("chest_width", "waist_width", "hip_width", "waist_depth"):
        cv = m[name].std() / m[name].mean()
        assert 0.05 < cv < 0.3, (name, cv)
        assert abs(np.corrcoef(m[name], m["height_m"])[0, 1]) < 0.6, name


def test_every_part_has_vertices_where_it_belongs(body):
    parts = vertex_parts(body)
    assert parts.shape == (body.v_template.shape[0],)
    counts = np.bincount(parts, minlength=len(PART_NAMES))
    assert (counts > 100).all()
    y = body().vertices[0, :, 1].detach().numpy()
    height = {name: y[parts == i].mean() for i, name in enumerate(PART_NAMES)}
    assert height["head"] > height["torso"] > height["upper_legs"] > height["lower_legs"]
    assert height["lower_legs"] > height["feet"]
    assert y[parts == PART_NAMES.index("head")].max() == y.max()  # the head is the top
    lowest = np.argsort(y)[:50]  # the soles
    assert (parts[lowest] == PART_NAMES.index("feet")).all()


def test_missing_free_body_file_is_a_clear_error(tmp_path, monkeypatch):
    import ognet.body

    monkeypatch.setattr(ognet.body, "free_body_path", lambda: tmp_path / "gone.npz")
    with pytest.raises(BodyModelError, match="build_body_model.py"):
        load_body_model.__wrapped__()


def test_missing_official_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BodyModelError, match="no such folder"):
        load_body_model(str(tmp_path / "nope"))


def test_folder_without_smpl_files_or_a_foreign_file_is_a_clear_error(tmp_path, monkeypatch):
    import ognet.body

    with pytest.raises(BodyModelError, match="no SMPL model files"):
        load_body_model(str(tmp_path))
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, v_template=np.zeros((4, 3)))
    monkeypatch.setattr(ognet.body, "free_body_path", lambda: foreign)
    with pytest.raises(BodyModelError, match="not an ognet body model"):
        load_body_model.__wrapped__()


def _chumpy_pickle(path):
    """A pickle that refers to ``chumpy.ch.Ch``, as the original SMPL release's files do,
    written through a stand-in module (chumpy itself does not import under NumPy 2)."""
    import pickle
    import sys
    import types

    ch = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), ch
    try:
        data = {"v_template": np.zeros((4, 3)), "shapedirs": Ch(np.zeros((4, 3, 10)))}
        path.write_bytes(pickle.dumps(data, protocol=2))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def test_official_files_with_chumpy_objects_are_a_one_line_error(tmp_path):
    from ognet.body import pickle_modules

    (tmp_path / "smpl").mkdir()
    _chumpy_pickle(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    assert "chumpy" in pickle_modules(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    with pytest.raises(BodyModelError, match="chumpy objects") as info:
        load_body_model(str(tmp_path))
    assert "\n" not in str(info.value) and "clean_ch.py" in str(info.value)


def test_an_unreadable_official_file_is_a_one_line_error(tmp_path):
    (tmp_path / "smpl").mkdir()
    (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(BodyModelError, match="not a readable SMPL model file") as info:
        load_body_model(str(tmp_path))
    assert "\n" not in str(info.value)


def test_loading_the_free_body_prints_nothing(capfd):
    """smplx's 'You are using a SMPL model, with only 10 shape coefficients' is filtered."""
    load_body_model.__wrapped__()
    out, err = capfd.readouterr()
    assert "shape coefficients" not in out + err
