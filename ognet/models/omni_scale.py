"""The omni-scale module (Section III, Fig. 4 of the paper).

Where the paper is silent the authors' code decides (``layumi/person-reid-3d``:
``model_efficient.py`` ``ModelE_dense`` with the README's flags ``--norm_layer bn2 --gem
--cluster xyzrgb --init 768``, ``pointnet2_modules.py``). Defaults, and why:

- **EdgeConv** (:class:`~ognet.models.layers.EdgeConv`): edge feature ``[h_j - h_i, h_i]``,
  BN on the edge features, a learned mix ``sigmoid(p) max + (1 - sigmoid(p)) mean`` over the
  neighbours (p from 0), LeakyReLU 0.2. As theirs; no option.
- **Grouping** (``grouping="ball"``, default): the authors' receptive fields, balls of
  0.1 / 0.2 / 0.4 m capped at 8 / 16 / 32 members. The members differ from theirs on
  purpose: their CUDA ball query keeps the *first* r points of the ball in memory order, so
  the group (and the embedding) depends on how the cloud is stored; ours takes the points at
  evenly spaced distance ranks inside the ball (:func:`ognet.ops.multi_scale_ball_query`),
  chosen from the geometry alone, so shuffling the input leaves the embedding unchanged.
  ``grouping="nearest"`` (the r nearest points, no radius) is kept as a named option: on a
  4096-point lifted cloud the 32 nearest points lie within about 6 cm of the centre, so its
  three scales nearly coincide; it is not the default for that reason.
- **Branches**: ``C+3 -> C/2 -> C`` (relative xyz with the features), BN after each linear
  layer, the SE gate after the first BN, ReLU after the second, max over the group; the
  three branches are summed. Only a module that downsamples has branches (in OG-Net-Deep the
  three modules that keep their points are EdgeConvs only), as theirs.
- **OG-Net-Deep**: two EdgeConvs per module with k = 9, and the learned-weight residual
  ``w skip + (1 - w) h``, ``w = sigmoid(q)`` (q from 0), the skip projected by
  ``LeakyReLU(Linear(.))`` where the channels change (the first module included), applied
  after the downsampling (their ``--id_skip 2``). As theirs.
- **Graphs**: the kNN graph includes each point itself; the last module's graph is built on
  ``[xyz, features]`` (their ``--cluster xyzrgb``), rebuilt before each of its EdgeConvs on
  that EdgeConv's input, as theirs.

With these choices the parameter counts without the classifier equal the authors'
(OG-Net 1,951,738, OG-Net-Small 1,200,833, OG-Net-Deep 2,470,498; ``python -m ognet models``).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import torch
from torch import nn

from ognet import ops
from ognet.models.layers import EdgeConv, GroupBranch
from ognet.models.trace import ModuleTrace


class ModuleGeometry(NamedTuple):
    """What :meth:`OmniScaleModule.plan` computes from xyz alone, for one batch.

    Attributes:
        neighbours: (B, N, k) the xyz kNN graph; ``None`` for a non-local module, whose graph
            needs the features.
        centres: (B, M) FPS indices into N; ``None`` when the module keeps its points.
        centre_xyz: (B, M, 3) the output points' xyz (the input xyz when it keeps them).
        members: one (B, M, r) index tensor into N per branch; empty without branches.
    """

    neighbours: torch.Tensor | None
    centres: torch.Tensor | None
    centre_xyz: torch.Tensor
    members: list[torch.Tensor]


def plan_ahead(modules, xyz: torch.Tensor) -> list[Future | None]:
    """Start every module's :meth:`~OmniScaleModule.plan` of ``xyz``, one after the other
    (each module's output points are the next one's input), on a background thread.

    The plans depend on xyz alone, so on the CPU they run while the caller computes the
    dense layers: the graph operations (NumPy, SciPy, Open3D) release the GIL, and a module
    waits only for its own plan (``future.result()``), not the later ones. On other devices
    the kernels are asynchronous already: ``[None, ...]``, each module plans for itself.
    The plans and the result are the same either way.

    Returns:
        one ``Future`` of :class:`ModuleGeometry` per module, or ``None`` per module.
    """
    if xyz.device.type != "cpu":
        return [None] * len(modules)
    futures = [Future() for _ in modules]

    def run():
        points = xyz
        for i, (module, future) in enumerate(zip(modules, futures, strict=True)):
            try:
                geometry = module.plan(points)
            except BaseException as exc:  # every later plan fails with it
                for pending in futures[i:]:
                    pending.set_exception(exc)
                return
            future.set_result(geometry)
            points = geometry.centre_xyz

    if "planner" not in _THREADS:
        _THREADS["planner"] = ThreadPoolExecutor(1, thread_name_prefix="ognet-plan")
    _THREADS["planner"].submit(run)
    return futures


_THREADS: dict[str, ThreadPoolExecutor] = {}  # the planning thread, made on first use
os.register_at_fork(after_in_child=_THREADS.clear)  # a forked child has no threads


class OmniScaleModule(nn.Module):
    """Dynamic graph convolution, then multi-scale grouping, optionally a residual.

    1. A KNN graph (k neighbours) is rebuilt on the module's input xyz — or, for the last
       module, on ``[xyz, features]`` (the non-local graph) — and ``edge_convs`` EdgeConvs
       map ``C_in -> C_out -> ... -> C_out`` channels.
    2. When the module downsamples, farthest point sampling on xyz keeps ``num_points``
       centres, and three branches group members around each centre (balls of ``radii``
       capped at ``group_sizes`` members, or the nearest points) and are summed. A module that
       keeps its points (``num_points == 0``) stops after step 1.
    3. With ``residual``: ``w skip + (1 - w) h``, ``w = sigmoid(q)``, skip the input features
       at the centres (through ``LeakyReLU(Linear)`` when ``C_in != C_out``).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        num_points: centres kept by FPS; 0 keeps all points (no branches).
        k: neighbours of the EdgeConv graph.
        edge_convs: EdgeConvs in a row.
        group_sizes: the grouping rates r.
        radii: ball radius per branch (``grouping == "ball"``).
        grouping: ``"ball"`` or ``"nearest"``.
        nonlocal_graph: build the graphs on ``[xyz, features]``.
        residual: the learned-weight residual.
    Shapes:
        xyz: (B, N, 3), h: (B, N, C_in) -> xyz' (B, M, 3), h' (B, M, C_out)
    """

    def __init__(self, in_channels: int, out_channels: int, num_points: int, k: int = 20,
                 edge_convs: int = 1, group_sizes: tuple[int, ...] = (8, 16, 32),
                 radii: tuple[float, ...] = (0.1, 0.2, 0.4), grouping: str = "ball",
                 nonlocal_graph: bool = False, residual: bool = False):
        super().__init__()
        self.num_points = num_points
        self.k = k
        self.group_sizes = tuple(group_sizes)
        self.radii = tuple(radii)
        self.grouping = grouping
        self.nonlocal_graph = nonlocal_graph
        self.edge_convs = nn.ModuleList(
            EdgeConv(in_channels if i == 0 else out_channels, out_channels)
            for i in range(edge_convs))
        self.branches = nn.ModuleList(GroupBranch(out_channels, r) for r in self.group_sizes
                                      if num_points)
        if residual:
            self.residual_logit = nn.Parameter(torch.zeros(1))
            self.skip = (nn.Identity() if in_channels == out_channels else
                         nn.Sequential(nn.Linear(in_channels, out_channels), nn.LeakyReLU(0.2)))
        else:
            self.residual_logit, self.skip = None, None

    def group_members(self, centre_xyz: torch.Tensor, xyz: torch.Tensor) -> list[torch.Tensor]:
        """Members of each branch's groups: one (B, M, r) index tensor into N per branch."""
        if self.grouping == "ball":
            return ops.multi_scale_ball_query(centre_xyz, xyz, self.radii, self.group_sizes)
        members = ops.knn(centre_xyz, xyz, min(max(self.group_sizes), xyz.shape[1]))
        return [members[..., :r] for r in self.group_sizes]

    def plan(self, xyz: torch.Tensor) -> ModuleGeometry:
        """Everything of this module that depends on the input xyz alone (no features): the
        xyz kNN graph (unless the graph is non-local), the FPS centres and the group members.
        (B, N, 3) -> :class:`ModuleGeometry`."""
        neighbours = None if self.nonlocal_graph else ops.knn_graph(xyz, min(self.k, xyz.shape[1]))
        if not self.num_points:
            return ModuleGeometry(neighbours, None, xyz, [])
        centres = ops.farthest_point_sample(xyz, self.num_points)  # (B, M)
        centre_xyz = ops.gather_points(xyz, centres)
        return ModuleGeometry(neighbours, centres, centre_xyz,
                              self.group_members(centre_xyz, xyz))

    def forward(self, xyz: torch.Tensor, h: torch.Tensor, record: list | None = None,
                geometry: ModuleGeometry | None = None):
        """``geometry``: this module's :meth:`plan` of ``xyz``, when computed ahead."""
        geometry = geometry if geometry is not None else self.plan(xyz)
        k = min(self.k, xyz.shape[1])
        h_in = h
        graphs = []
        for conv in self.edge_convs:
            if self.nonlocal_graph:
                neighbours = ops.knn_graph(torch.cat([xyz, h], dim=-1), k)
            else:
                neighbours = geometry.neighbours  # the same xyz graph for every EdgeConv
            graphs.append(neighbours)
            h = conv(h, neighbours)

        centres, centre_xyz, members = geometry.centres, geometry.centre_xyz, geometry.members
        if self.num_points:
            h = sum(branch(xyz, h, centre_xyz, m)
                    for branch, m in zip(self.branches, members, strict=True))

        if self.residual_logit is not None:
            skip = h_in if centres is None else ops.gather_points(h_in, centres)
            w = torch.sigmoid(self.residual_logit)
            h = w * self.skip(skip) + (1 - w) * h

        if record is not None:
            record.append(self._trace(xyz, centre_xyz, centres, graphs[0], members, h_in, h))
        return centre_xyz, h

    def _trace(self, xyz, centre_xyz, centres, neighbours, members, h_in, out) -> ModuleTrace:
        """Trace of the first cloud of the batch (detached, on the CPU)."""
        def cpu(t):
            return None if t is None else t[0].detach().cpu()

        graph = ops.edge_index(cpu(neighbours))
        xyz_graph = graph if not self.nonlocal_graph else ops.edge_index(
            ops.knn_graph(xyz[:1], min(self.k, xyz.shape[1]))[0].cpu())
        ball = self.grouping == "ball" and bool(members)
        return ModuleTrace(
            in_xyz=cpu(xyz),
            out_xyz=cpu(centre_xyz),
            sampled_idx=cpu(centres),
            knn_edges=xyz_graph,
            nonlocal_edges=graph if self.nonlocal_graph else None,
            groups={r: cpu(m) for r, m in zip(self.group_sizes, members, strict=False)},
            group_radii=({r: rad for r, rad in zip(self.group_sizes, self.radii, strict=True)}
                         if ball else {}),
            feature_norm=cpu(out).norm(dim=-1),
            in_channels=h_in.shape[-1],
            out_channels=out.shape[-1],
        )
