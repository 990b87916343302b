"""Synthetic people: body shape, skin, hair and an outfit, painted onto the body's parts.

An :class:`Identity` is a handful of numbers drawn from a seeded generator. Its look is a
function of the point on the *unposed* body (the canonical point, in the rest frame of the
identity's own shape) and of the body part there (``ognet.body.vertex_parts``), so patterns
stay put on the body whatever the pose, and are evaluated per pixel (crisp stripes and logos
although the torso has only ~1400 vertices):

* head: skin, hair on the top and back (short or long; long hair reaches the upper back),
  sometimes a cap;
* torso and arms: the upper garment (sleeveless, short or long sleeves; solid, horizontal
  stripes, a chest logo, two-tone with contrasting sleeves, or an open jacket over a shirt);
  a coat reaches the thighs;
* hips and legs: the lower garment (trousers, three-quarter, shorts or a skirt length);
* feet: shoes; hands and uncovered limbs: skin;
* optionally a backpack (a box on the back and two straps on the chest) or a shoulder bag
  (a box at the hip and a diagonal strap).

Identities differ by clothing, as in real re-identification data, and by build: the body's
shape is drawn from the body model's prior, for the free body anny's calibrated adult
phenotype prior (sex, height, weight, muscle, proportions; ``scripts/build_body_model.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ognet.body import PART_NAMES, SMPL_JOINT_NAMES, sample_betas

_P = {name: i for i, name in enumerate(PART_NAMES)}
_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

UPPER_PATTERNS = ("solid", "stripes", "logo", "two_tone", "jacket")
SLEEVES = ("none", "short", "long")
LOWER_LENGTHS = ("trousers", "three_quarter", "shorts", "skirt")
BAGS = ("none", "backpack", "shoulder")
HAIR_STYLES = ("short", "long", "cap")

#: Clothing colours (rgb in [0, 1]), common ones repeated so they are drawn more often.
CLOTHING_PALETTE = np.array([
    [0.08, 0.08, 0.09], [0.08, 0.08, 0.09], [0.92, 0.92, 0.90], [0.92, 0.92, 0.90],
    [0.50, 0.50, 0.52], [0.28, 0.28, 0.30], [0.10, 0.14, 0.32], [0.10, 0.14, 0.32],
    [0.20, 0.35, 0.70], [0.45, 0.62, 0.85], [0.75, 0.12, 0.12], [0.55, 0.08, 0.15],
    [0.15, 0.45, 0.22], [0.35, 0.42, 0.22], [0.72, 0.64, 0.45], [0.42, 0.28, 0.16],
    [0.92, 0.78, 0.15], [0.92, 0.55, 0.68], [0.45, 0.22, 0.55], [0.95, 0.45, 0.10],
    [0.20, 0.55, 0.58], [0.85, 0.80, 0.70],
], dtype=np.float32)
#: Trouser colours lean towards dark, blue (denim), grey and khaki.
LOWER_PALETTE = np.array([
    [0.08, 0.08, 0.09], [0.08, 0.08, 0.09], [0.16, 0.22, 0.38], [0.22, 0.32, 0.52],
    [0.30, 0.30, 0.32], [0.55, 0.55, 0.56], [0.62, 0.55, 0.40], [0.38, 0.30, 0.22],
    [0.90, 0.90, 0.88], [0.28, 0.34, 0.22], [0.55, 0.10, 0.12], [0.12, 0.12, 0.25],
], dtype=np.float32)
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.90, 0.72, 0.60], [0.80, 0.60, 0.46], [0.68, 0.48, 0.34],
    [0.52, 0.36, 0.25], [0.36, 0.24, 0.16],
], dtype=np.float32)
HAIR_COLORS = np.array([
    [0.05, 0.04, 0.04], [0.05, 0.04, 0.04], [0.18, 0.11, 0.07], [0.32, 0.20, 0.11],
    [0.62, 0.48, 0.28], [0.52, 0.24, 0.10], [0.55, 0.55, 0.55],
], dtype=np.float32)
SHOE_COLORS = np.array([
    [0.06, 0.06, 0.06], [0.90, 0.90, 0.90], [0.32, 0.20, 0.12], [0.45, 0.45, 0.47],
    [0.15, 0.20, 0.40], [0.75, 0.20, 0.15],
], dtype=np.float32)


@dataclass(frozen=True)
class Identity:
    """One synthetic person (all colours rgb in [0, 1]).

    Attributes:
        pid: identity number (1-based, the ``PPPP`` of a Market-1501 name).
        betas: (10,) body shape coefficients.
        skin, hair: (3,) colours; ``hair_style`` in :data:`HAIR_STYLES` (``cap``: a cap
            of colour ``cap``).
        upper: (3,) main colour of the top; ``upper2`` (3,) its second colour (stripes,
            logo, sleeves, or the shirt under a jacket); ``pattern`` in
            :data:`UPPER_PATTERNS`; ``sleeves`` in :data:`SLEEVES`; ``stripe_period``
            metres; ``coat``: the top reaches mid-thigh.
        lower: (3,) colour of the bottom; ``lower_length`` in :data:`LOWER_LENGTHS`.
        shoes: (3,) colour.
        bag: in :data:`BAGS`; ``bag_color`` (3,); ``bag_size`` (3,) width, height, depth.
        gait: (stride, arm_swing, arm_out, elbow_bend) personal walking style.
    """

    pid: int
    betas: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    hair_style: str
    cap: np.ndarray
    upper: np.ndarray
    upper2: np.ndarray
    pattern: str
    sleeves: str
    stripe_period: float
    coat: bool
    lower: np.ndarray
    lower_length: str
    shoes: np.ndarray
    bag: str
    bag_color: np.ndarray
    bag_size: np.ndarray
    gait: tuple[float, float, float, float] = field(default=(0.35, 0.3, 0.12, 0.3))


def _pick(rng: np.random.Generator, palette: np.ndarray, jitter: float = 0.08) -> np.ndarray:
    color = palette[int(rng.integers(0, len(palette)))]
    return np.clip(color * rng.uniform(1 - jitter, 1 + jitter, 3) + rng.normal(0, 0.02, 3),
                   0.02, 0.98).astype(np.float32)


def _contrasting(rng: np.random.Generator, palette: np.ndarray, other: np.ndarray) -> np.ndarray:
    for _ in range(20):
        color = _pick(rng, palette)
        if np.abs(color - other).sum() > 0.45:
            return color
    return np.clip(1.0 - other, 0.05, 0.95).astype(np.float32)


def sample_identity(rng: np.random.Generator, pid: int, body) -> Identity:
    """Draw identity ``pid`` from ``rng``: an adult body of ``body``'s shape prior
    (:func:`ognet.body.sample_betas`), skin, hair, outfit, bag, gait."""
    betas = sample_betas(body, rng)
    skin = _pick(rng, SKIN_TONES, 0.05)
    hair = _pick(rng, HAIR_COLORS, 0.1)
    hair_style = HAIR_STYLES[int(rng.choice(3, p=[0.55, 0.33, 0.12]))]
    cap = _pick(rng, CLOTHING_PALETTE)
    upper = _pick(rng, CLOTHING_PALETTE)
    upper2 = _contrasting(rng, CLOTHING_PALETTE, upper)
    pattern = UPPER_PATTERNS[int(rng.choice(5, p=[0.4, 0.15, 0.15, 0.15, 0.15]))]
    sleeves = SLEEVES[int(rng.choice(3, p=[0.1, 0.45, 0.45]))]
    if pattern == "jacket":
        sleeves = "long"
    stripe_period = float(rng.uniform(0.05, 0.12))
    coat = bool(sleeves == "long" and rng.random() < 0.2)
    lower = _contrasting(rng, LOWER_PALETTE, upper)
    lower_length = LOWER_LENGTHS[int(rng.choice(4, p=[0.6, 0.1, 0.2, 0.1]))]
    shoes = _pick(rng, SHOE_COLORS, 0.1)
    bag = BAGS[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
    bag_color = _pick(rng, CLOTHING_PALETTE)
    bag_size = np.array([rng.uniform(0.26, 0.34), rng.uniform(0.34, 0.45),
                         rng.uniform(0.12, 0.18)], np.float32)
    if bag == "shoulder":
        bag_size = bag_size * np.float32([0.9, 0.65, 0.6])
    gait = (float(rng.uniform(0.28, 0.45)), float(rng.uniform(0.15, 0.4)),
            float(rng.uniform(0.08, 0.18)), float(rng.uniform(0.15, 0.45)))
    return Identity(pid, betas, skin, hair, hair_style, cap, upper, upper2, pattern, sleeves,
                    stripe_period, coat, lower, lower_length, shoes, bag, bag_color, bag_size,
                    gait)


def albedo(ident: Identity, canon: np.ndarray, part: np.ndarray,
           rest_joints: np.ndarray) -> np.ndarray:
    """Surface colour of ``ident`` at points of its unposed body.

    Args:
        ident: the person.
        canon: (P, 3) points on the unposed body (rest frame of ``ident.betas``: y up,
            facing ``+z``, the left side at ``+x``).
        part: (P,) body part of each point (index into ``ognet.body.PART_NAMES``).
        rest_joints: (24, 3) joints of the unposed body.

    Returns:
        (P, 3) float32 rgb in [0, 1].
    """
    J = rest_joints
    x, y, z = canon[:, 0], canon[:, 1], canon[:, 2]
    out = np.broadcast_to(ident.skin, canon.shape).copy()

    def joint(name):
        return J[_J[name]]

    neck_y, head = joint("neck")[1], joint("head")
    pelvis_y, spine1_y = joint("pelvis")[1], joint("spine1")[1]
    knee_y, ankle_y = joint("left_knee")[1], joint("left_ankle")[1]
    waist_y = pelvis_y + 0.55 * (spine1_y - pelvis_y)

    # Distance along the arm from the shoulder (arms are not vertical in the rest pose).
    arm_t = np.zeros(len(canon), np.float32)
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        sh = joint(f"{side}_shoulder")
        el = joint(f"{side}_elbow")
        wr = joint(f"{side}_wrist")
        on = (x * sgn) > 0
        upper_len = np.linalg.norm(el - sh)
        d_up = (canon - sh) @ ((el - sh) / upper_len)
        d_lo = upper_len + (canon - el) @ ((wr - el) / np.linalg.norm(wr - el))
        arm_t = np.where(on & (part == _P["lower_arms"]), d_lo, np.where(on, d_up, arm_t))
    forearm_end = float(np.linalg.norm(joint("left_elbow") - joint("left_shoulder"))
                        + np.linalg.norm(joint("left_wrist") - joint("left_elbow")))

    is_torso = part == _P["torso"]
    upper_arm = part == _P["upper_arms"]
    lower_arm = part == _P["lower_arms"]
    legs = (part == _P["upper_legs"]) | (part == _P["lower_legs"])

    # Lower garment: hips (the torso below the waist) and the legs down to the hem.
    hem = {"trousers": ankle_y + 0.04, "three_quarter": 0.5 * (knee_y + ankle_y),
           "shorts": knee_y + 0.12, "skirt": knee_y + 0.04}[ident.lower_length]
    lower_region = (is_torso & (y < waist_y)) | (legs & (y > hem))
    out[lower_region] = ident.lower

    # Upper garment: torso above the waist (a coat: down to mid-thigh) and the sleeves.
    sleeve_len = {"none": -1.0, "short": 0.12, "long": forearm_end - 0.02}[ident.sleeves]
    top = is_torso & (y >= waist_y)
    if ident.coat:
        top |= (is_torso | legs) & (y > knee_y + 0.18)
    sleeve = (upper_arm | lower_arm) & (arm_t < sleeve_len)
    if ident.sleeves == "none":  # a vest: the shoulders' caps stay covered
        sleeve = upper_arm & (arm_t < 0.03)
    garment = top | sleeve
    colour = np.broadcast_to(ident.upper, canon.shape).copy()
    second = ident.upper2
    if ident.pattern == "stripes":
        band = np.floor((y - waist_y) / ident.stripe_period) % 2 == 1
        colour[band] = second
    elif ident.pattern == "logo":
        chest_y = 0.5 * (joint("spine3")[1] + joint("spine2")[1])
        logo = (z > joint("spine3")[2] + 0.02) & (np.abs(x) < 0.07) & (np.abs(y - chest_y) < 0.06)
        colour[logo & top] = second
    elif ident.pattern == "two_tone":
        colour[sleeve] = second
        colour[top & (y > joint("spine3")[1] + 0.03)] = second
    elif ident.pattern == "jacket":
        opening = top & (z > joint("spine2")[2]) & (np.abs(x) < 0.05 + 0.1 * (y > neck_y - 0.12))
        colour[opening] = second
    out[garment] = colour[garment]

    # Bag straps on the chest.
    if ident.bag == "backpack":
        strap = top & (z > 0) & (np.abs(np.abs(x) - 0.09) < 0.022) & (y > waist_y + 0.05)
        out[strap] = ident.bag_color * 0.6
    elif ident.bag == "shoulder":
        strap = top & (np.abs(x + 0.55 * (y - joint("spine3")[1])) < 0.025)
        out[strap] = ident.bag_color * 0.6

    # Shoes.
    out[part == _P["feet"]] = ident.shoes

    # Hair (or a cap) on the head: above a line that is high at the face, low at the back.
    on_head = part == _P["head"]
    rel_z = (z - head[2]) / 0.1
    line = np.clip(0.09 - 0.08 * (1 - np.clip(rel_z, -1, 1)), -0.1, 0.09)
    if ident.hair_style == "long":
        line = np.where(rel_z < 0.2, line - 0.08, line)
    hair = on_head & (y > head[1] + line)
    out[hair] = ident.hair
    if ident.hair_style == "long":
        back = (is_torso | on_head) & (z < joint("spine3")[2] - 0.02) & (np.abs(x) < 0.11)
        out[back & (y > joint("spine3")[1] + 0.02)] = ident.hair
    if ident.hair_style == "cap":
        out[on_head & (y > head[1] + 0.075)] = ident.cap
    return out
