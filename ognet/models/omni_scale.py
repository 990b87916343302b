"""The omni-scale module (Section III, Fig. 4 of the paper)."""

from __future__ import annotations

import torch
from torch import nn

from ognet import ops
from ognet.models.layers import EdgeConv, GroupBranch
from ognet.models.trace import ModuleTrace


class OmniScaleModule(nn.Module):
    """Dynamic graph convolution, then multi-scale grouping, optionally a short-cut.

    1. A KNN graph (k neighbours) is rebuilt on the module's input xyz — or, for the last
       module, on ``[xyz, features]`` (the non-local graph) — and EdgeConv maps
       ``C_in -> C_out`` channels (the channel doubling of a downsampling stage).
    2. When the module downsamples, farthest point sampling on xyz keeps ``num_points``
       centres; otherwise (OG-Net-Deep's basic module) every point is a centre.
    3. Three branches group the ``r = 8, 16, 32`` nearest input points of each centre and are
       summed.
    4. With ``shortcut``, the input features at the centres (projected by a linear layer when
       ``C_in != C_out``) are added.

    Choices the paper leaves open, taken from the authors' repository
    (``layumi/person-reid-3d``, ``model_efficient.py`` / ``pointnet2_modules.py``): EdgeConv's
    edge feature is ``[h_j - h_i, h_i]``; the branches are ``C+3 -> C/2 -> C`` with the SE gate
    after the first BN; branches are fused by addition. One deliberate difference: groups are
    the r *nearest* neighbours instead of a radius ball query capped at r points, which makes
    the module independent of the input order (the ball query keeps the first r points in
    memory order) and free of the radius hyper-parameters (0.1/0.2/0.4).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        num_points: centres kept by FPS; 0 keeps all points.
        k: neighbours of the EdgeConv graph.
        group_sizes: the grouping rates r.
        nonlocal_graph: build the graph on ``[xyz, features]``.
        shortcut: add the (projected) input.
    Shapes:
        xyz: (B, N, 3), h: (B, N, C_in) -> xyz' (B, M, 3), h' (B, M, C_out)
    """

    def __init__(self, in_channels: int, out_channels: int, num_points: int, k: int = 20,
                 group_sizes: tuple[int, ...] = (8, 16, 32), nonlocal_graph: bool = False,
                 shortcut: bool = False):
        super().__init__()
        self.num_points = num_points
        self.k = k
        self.group_sizes = tuple(group_sizes)
        self.nonlocal_graph = nonlocal_graph
        self.edge_conv = EdgeConv(in_channels, out_channels)
        self.branches = nn.ModuleList(GroupBranch(out_channels, r) for r in self.group_sizes)
        if not shortcut:
            self.shortcut = None
        elif in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Linear(in_channels, out_channels)

    def forward(self, xyz: torch.Tensor, h: torch.Tensor, record: list | None = None):
        graph_space = torch.cat([xyz, h], dim=-1) if self.nonlocal_graph else xyz
        neighbours = ops.knn_graph(graph_space, min(self.k, xyz.shape[1]))
        h_in, h = h, self.edge_conv(h, neighbours)

        if self.num_points:
            centres = ops.farthest_point_sample(xyz, self.num_points)  # (B, M)
            centre_xyz = ops.gather_points(xyz, centres)
        else:
            centres, centre_xyz = None, xyz
        members = ops.knn(centre_xyz, xyz, min(max(self.group_sizes), xyz.shape[1]))
        out = sum(branch(xyz, h, centre_xyz, members[..., : branch.group_size])
                  for branch in self.branches)

        if self.shortcut is not None:
            skip = h_in if centres is None else ops.gather_points(h_in, centres)
            out = out + self.shortcut(skip)

        if record is not None:
            record.append(self._trace(xyz, centre_xyz, centres, neighbours, members, h_in, out))
        return centre_xyz, out

    def _trace(self, xyz, centre_xyz, centres, neighbours, members, h_in, out) -> ModuleTrace:
        """Trace of the first cloud of the batch (detached, on the CPU)."""
        def cpu(t):
            return None if t is None else t[0].detach().cpu()

        graph = ops.edge_index(cpu(neighbours))
        xyz_graph = graph if not self.nonlocal_graph else ops.edge_index(
            ops.knn_graph(xyz[:1], min(self.k, xyz.shape[1]))[0].cpu())
        return ModuleTrace(
            in_xyz=cpu(xyz),
            out_xyz=cpu(centre_xyz),
            sampled_idx=cpu(centres),
            knn_edges=xyz_graph,
            nonlocal_edges=graph if self.nonlocal_graph else None,
            groups={r: cpu(members[..., :r]) for r in self.group_sizes},
            feature_norm=cpu(out).norm(dim=-1),
            in_channels=h_in.shape[-1],
            out_channels=out.shape[-1],
        )
