"""What ``OGNet.trace`` returns: per-module tensors a viewer needs, and nothing it does not."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch


@dataclass
class ModuleTrace:
    """One omni-scale module run on one cloud. ``N`` points in, ``M`` points out.

    Attributes:
        in_xyz: (N, 3) coordinates of the module's input points.
        out_xyz: (M, 3) coordinates of its output points (``in_xyz[sampled_idx]``).
        sampled_idx: (M,) long, indices into ``in_xyz`` of the points farthest point sampling
            kept, in the order of ``out_xyz``; ``None`` when the module does not downsample
            (M == N).
        knn_edges: (2, N*k) long edge index of the dynamic KNN graph on xyz, rows
            ``[neighbour j, centre i]`` (indices into ``in_xyz``); each point is its own
            nearest neighbour.
        nonlocal_edges: (2, N*k) long, the graph actually used by the last module, built on
            appearance features concatenated with xyz; ``None`` for the other modules.
        groups: ``{r: (M, r) long}`` group members (indices into ``in_xyz``) of each output
            point for each grouping rate r (8, 16, 32), nearest first (``ball_first``: in the
            cloud's canonical order); empty for a module that does not downsample (no
            branches).
        group_radii: ``{r: radius}`` the ball radius of each group (metres) with a ball
            grouping; empty with nearest grouping.
        feature_norm: (M,) L2 norm of each output point's feature.
        in_channels, out_channels: feature sizes before and after the module.
    """

    in_xyz: torch.Tensor
    out_xyz: torch.Tensor
    sampled_idx: torch.Tensor | None
    knn_edges: torch.Tensor
    nonlocal_edges: torch.Tensor | None
    groups: dict[int, torch.Tensor]
    group_radii: dict[int, float]
    feature_norm: torch.Tensor
    in_channels: int
    out_channels: int

    def in_input_order(self, order: torch.Tensor, in_xyz: torch.Tensor) -> ModuleTrace:
        """This trace of a module that ran on a reordered input, told in the input's order:
        ``order`` (N,) long is the input row of each of the module's input points (the
        model's :func:`ognet.ops.canonical_order`), ``in_xyz`` (N, 3) the input's xyz; every
        index into ``in_xyz`` is mapped through ``order``."""
        def remap(idx):
            return None if idx is None else order[idx]

        return replace(self, in_xyz=in_xyz, sampled_idx=remap(self.sampled_idx),
                       knn_edges=remap(self.knn_edges),
                       nonlocal_edges=remap(self.nonlocal_edges),
                       groups={r: remap(g) for r, g in self.groups.items()})


@dataclass
class ModelTrace:
    """A whole forward pass on one cloud.

    Attributes:
        points: (N, 6) the input cloud (xyz, rgb).
        modules: one :class:`ModuleTrace` per omni-scale module, in order.
        embedding: (512,) the L2-normalised retrieval feature, equal to ``model.extract``'s.
    """

    points: torch.Tensor
    modules: list[ModuleTrace] = field(default_factory=list)
    embedding: torch.Tensor | None = None

    def to_numpy(self) -> dict[str, np.ndarray]:
        """Flatten to ``{name: array}`` for ``np.savez`` (keys like ``module2/knn_edges``)."""
        out = {"points": self.points.numpy(), "embedding": self.embedding.numpy()}
        for i, m in enumerate(self.modules, start=1):
            p = f"module{i}/"
            out[p + "in_xyz"] = m.in_xyz.numpy()
            out[p + "out_xyz"] = m.out_xyz.numpy()
            out[p + "knn_edges"] = m.knn_edges.numpy()
            out[p + "feature_norm"] = m.feature_norm.numpy()
            if m.sampled_idx is not None:
                out[p + "sampled_idx"] = m.sampled_idx.numpy()
            if m.nonlocal_edges is not None:
                out[p + "nonlocal_edges"] = m.nonlocal_edges.numpy()
            for r, g in m.groups.items():
                out[p + f"group_r{r}"] = g.numpy()
                if r in m.group_radii:
                    out[p + f"group_r{r}_radius"] = np.float32(m.group_radii[r])
        return out
