"""The estimated build in words a person reads: trunk proportions against the population's.

``LiftResult.betas`` are the body model's shape parameters; what they say about the person is
the trunk's proportions (a crop has no absolute size): chest, waist and hip breadth and depth
as ratios to the standing height (``ognet.body.body_measurements``). :func:`describe_build`
gives each with its percentile among the body model's population (its shape prior,
``ognet.body.sample_betas``: for the free body, anny's calibrated adult phenotype prior).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: People drawn from the prior to place a build among (seeded: the same reference each run).
POPULATION = 1000


@dataclass(frozen=True)
class BuildMeasure:
    """One trunk proportion of an estimated build.

    Attributes:
        name: one of ``ognet.body.BUILD_MEASURES`` (e.g. ``"waist_width"``).
        ratio: the measure divided by the standing height.
        percentile: where it lies in the population, 0-100 (50: the median person).
    """

    name: str
    ratio: float
    percentile: float


@functools.lru_cache(maxsize=2)
def _population(body_model_dir: str | None) -> dict[str, np.ndarray]:
    from ognet.body import body_measurements, load_body_model, sample_betas

    body = load_body_model(body_model_dir)
    betas = sample_betas(body, np.random.default_rng(0), POPULATION)
    return {k: np.sort(v) for k, v in body_measurements(body, betas).items()}


def describe_build(betas: np.ndarray, body_model_dir: str | None = None) -> list[BuildMeasure]:
    """The trunk proportions of the body of shape ``betas`` (10,), each with its percentile
    among :data:`POPULATION` people drawn from the body model's prior (computed once per
    process, about a second)."""
    from ognet.body import BUILD_MEASURES, body_measurements, load_body_model

    measures = body_measurements(load_body_model(body_model_dir), betas)
    population = _population(body_model_dir)
    out = []
    for name in BUILD_MEASURES:
        value = float(measures[name][0])
        rank = np.searchsorted(population[name], value)
        out.append(BuildMeasure(name, value, round(100.0 * float(rank) / len(population[name]), 1)))
    return out
