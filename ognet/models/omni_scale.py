"""The omni-scale module (Section III, Fig. 4 of the paper).

Where the paper is silent the authors' code decides (``layumi/person-reid-3d``:
``model_efficient.py`` ``ModelE_dense`` with the README's flags ``--norm_layer bn2 --gem
--cluster xyzrgb --init 768``, ``pointnet2_modules.py``). Defaults, and why:

- **EdgeConv** (:class:`~ognet.models.layers.EdgeConv`): edge feature ``[h_j - h_i, h_i]``,
  BN on the edge features, a learned mix ``sigmoid(p) max + (1 - sigmoid(p)) mean`` over the
  neighbours (p from 0), LeakyReLU 0.2. As theirs; no option.
- **Grouping** (``grouping="ball"``, default): the authors' receptive fields, balls of
  0.1 / 0.2 / 0.4 m capped at 8 / 16 / 32 members. The members differ from theirs on
  purpose: their CUDA ball query keeps the *first* r points of the ball in memory order (on
  a ball of several hundred points, a slab at one edge of it); ours takes the points at
  evenly spaced distance ranks inside the ball, so they spread over it
  (:func:`ognet.ops.multi_scale_ball_query`, ``members="spread"``). Their rule is the named
  option ``grouping="ball_first"`` (``members="first"``: the first r points in the cloud's
  canonical order, padded with the first; on a lifted crop the 32 members of a 0.4 m ball
  then lie in a slab about 5 cm high at its top, centred 36 cm from the ball's centre); both
  are measured side by side in BENCHMARKS.md ("Faithful in the details").
  ``grouping="nearest"`` (the r nearest points, no radius) is kept as a named option: on a
  4096-point lifted cloud the 32 nearest points lie within about 8 cm of the centre
  (median), so its three scales nearly coincide; it is not the default for that reason.
  Every rule chooses from the geometry alone: the model canonicalises its input
  (:func:`ognet.ops.canonical_order`), so the order of the input points never changes the
  embedding.
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
from ognet.models.config import BALL_MEMBERS
from ognet.models.layers import EdgeConv, GroupBranch
from ognet.models.trace import ModuleTrace


class Groups(NamedTuple):
    """A module's downsampling and groups, from xyz alone.

    Attributes:
        centres: (B, M) FPS indices into N; ``None`` when the module keeps its points.
        centre_xyz: (B, M, 3) the output points' xyz (the input xyz when it keeps them).
        members: one (B, M, r) index tensor into N per branch; empty without branches.
    """

    centres: torch.Tensor | None
    centre_xyz: torch.Tensor
    members: list[torch.Tensor]


class ModuleGeometry(NamedTuple):
    """One module's graph work on xyz alone, each part a ``Future`` (already done when the
    module computes it itself, :meth:`OmniScaleModule.plan`, or being computed ahead on a
    background thread, :func:`plan_ahead`).

    Attributes:
        graph: the (B, N, k) xyz kNN graph, or ``None`` for a non-local module, whose graph
            needs the features.
        groups: the module's :class:`Groups`.
    """

    graph: Future
    groups: Future


def _settle(future: Future, fn, *args):
    """``future``'s result ``fn(*args)`` (or its exception); returns (ok, result)."""
    try:
        result = fn(*args)
    except BaseException as exc:
        future.set_exception(exc)
        return False, None
    future.set_result(result)
    return True, result


def plan_ahead(modules, xyz: torch.Tensor) -> list[ModuleGeometry | None]:
    """Start every module's graph work on ``xyz`` on two background threads.

    The graphs and groups depend on xyz alone, so on the CPU they run while the caller
    computes the dense layers: the graph operations (NumPy, SciPy, Open3D) release the GIL,
    and a module waits only for the part it needs next (``geometry.graph.result()`` before
    its EdgeConvs, ``geometry.groups.result()`` before its branches). The first module's kNN
    graph has a thread of its own, so its EdgeConv starts while its FPS and ball query run;
    every later part follows on the other thread in order (each module's output points are
    the next one's input). On other devices the kernels are asynchronous already: ``[None,
    ...]``, each module plans for itself. The results are the same either way.

    Returns:
        one :class:`ModuleGeometry` per module, or ``None`` per module.
    """
    if xyz.device.type != "cpu":
        return [None] * len(modules)
    plans = [ModuleGeometry(Future(), Future()) for _ in modules]

    def chain():
        points = xyz
        for i, (module, plan) in enumerate(zip(modules, plans, strict=True)):
            ok = i == 0 or _settle(plan.graph, module.plan_graph, points)[0]
            ok, groups = _settle(plan.groups, module.plan_groups, points) if ok else (False, None)
            if not ok:  # every later part fails with the same error
                exc = (plan.groups if plan.groups.done() else plan.graph).exception()
                for later in plans[i:]:
                    for part in later:  # (the first graph is the other thread's to settle)
                        if part is not plans[0].graph and not part.done():
                            part.set_exception(exc)
                return
            points = groups.centre_xyz

    if "planner" not in _THREADS:
        _THREADS["planner"] = ThreadPoolExecutor(2, thread_name_prefix="ognet-plan")
    _THREADS["planner"].submit(_settle, plans[0].graph, modules[0].plan_graph, xyz)
    _THREADS["planner"].submit(chain)
    return plans


_THREADS: dict[str, ThreadPoolExecutor] = {}  # the planning threads, made on first use
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
        radii: ball radius per branch (ball groupings).
        grouping: ``"ball"`` (members spread over the ball), ``"ball_first"`` (the authors'
            first r members) or ``"nearest"``.
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
        if self.grouping in BALL_MEMBERS:
            return ops.multi_scale_ball_query(centre_xyz, xyz, self.radii, self.group_sizes,
                                              members=BALL_MEMBERS[self.grouping])
        members = ops.knn(centre_xyz, xyz, min(max(self.group_sizes), xyz.shape[1]))
        return [members[..., :r] for r in self.group_sizes]

    def plan_graph(self, xyz: torch.Tensor) -> torch.Tensor | None:
        """The xyz kNN graph (B, N, k) of the EdgeConvs; ``None`` for a non-local module."""
        return None if self.nonlocal_graph else ops.knn_graph(xyz, min(self.k, xyz.shape[1]))

    def plan_groups(self, xyz: torch.Tensor) -> Groups:
        """The FPS centres and each branch's group members of (B, N, 3) xyz."""
        if not self.num_points:
            return Groups(None, xyz, [])
        centres = ops.farthest_point_sample(xyz, self.num_points)  # (B, M)
        centre_xyz = ops.gather_points(xyz, centres)
        return Groups(centres, centre_xyz, self.group_members(centre_xyz, xyz))

    def plan(self, xyz: torch.Tensor) -> ModuleGeometry:
        """Everything of this module that depends on the input xyz alone (no features),
        computed now: the xyz kNN graph and the groups."""
        graph, groups = Future(), Future()
        graph.set_result(self.plan_graph(xyz))
        groups.set_result(self.plan_groups(xyz))
        return ModuleGeometry(graph, groups)

    def forward(self, xyz: torch.Tensor, h: torch.Tensor, record: list | None = None,
                geometry: ModuleGeometry | None = None):
        """``geometry``: this module's graph work on ``xyz``, when computed ahead
        (:func:`plan_ahead`); computed here otherwise."""
        geometry = geometry if geometry is not None else self.plan(xyz)
        k = min(self.k, xyz.shape[1])
        h_in = h
        graphs = []
        for conv in self.edge_convs:
            if self.nonlocal_graph:
                neighbours = ops.knn_graph(torch.cat([xyz, h], dim=-1), k)
            else:
                neighbours = geometry.graph.result()  # the same xyz graph for every EdgeConv
            graphs.append(neighbours)
            h = conv(h, neighbours)

        centres, centre_xyz, members = geometry.groups.result()
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
        ball = self.grouping in BALL_MEMBERS and bool(members)
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
