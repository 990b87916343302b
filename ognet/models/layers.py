"""Building blocks of the omni-scale module, each a short ``nn.Module``.

Features are kept channel-last, ``(B, N, C)``, so gathering neighbours is a plain index.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ognet.ops import group


def max_over_neighbours(x: torch.Tensor) -> torch.Tensor:
    """Max over dim 2 of (B, M, k, C). With autograd on, ``max(dim)`` (its backward scatters
    to the argmax, much cheaper on the CPU than ``amax``'s); without it, ``amax`` (no
    indices to compute: faster inference)."""
    if torch.is_grad_enabled() and x.requires_grad:
        return x.max(dim=2).values
    return x.amax(dim=2)


def batch_norm_last(norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the last dim of (..., C): statistics over every other position."""
    return norm(x.reshape(-1, x.shape[-1])).view_as(x)


def batch_norm_affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as ``y s + shift`` per channel: ``s = gamma / sqrt(var + eps)``,
    ``shift = beta - mu s``. Returns (C,), (C,)."""
    scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
    return scale, norm.bias - norm.running_mean * scale


class EdgeConv(nn.Module):
    """Dynamic graph convolution (DGCNN's EdgeConv) as the authors run it in OG-Net.

    ``e_ij = BN(W [h_j - h_i, h_i] + b)`` on every edge (batch norm over all edges), then a
    learnable mix of max and mean over the k neighbours j of point i, then LeakyReLU 0.2:

        ``h_i' = LeakyReLU(w max_j e_ij + (1 - w) mean_j e_ij)``, ``w = sigmoid(p)``,

    with one scalar ``p`` per EdgeConv (``max_logit``, initialised to 0: an even mix). This is
    the order of the authors' ``--norm_layer bn2 --gem`` model (``model_efficient.py``:
    conv, BatchNorm2d on the edge features, GeM-named max/mean mix, leaky ReLU).

    The linear map on the concatenated edge feature splits as
    ``W [h_j - h_i, h_i] = W_a h_j + (W_b - W_a) h_i``, so it is applied once per point and
    the neighbours' projections are gathered, instead of once per edge (k times fewer
    multiply-adds, the same function and parameters as a 1x1 conv on the edges). In eval mode
    BN is a per-channel affine map, so it is folded into the two projections, and since both
    max and mean commute with adding the centre's term, only the neighbours' term is
    aggregated: ``h_i' = LeakyReLU(mix_j(s W_a h_j) + s ((W_b - W_a) h_i + b - mu) + beta)``
    with ``s = gamma / sqrt(var + eps)``.

    Args:
        in_channels: C_in.
        out_channels: C_out.
    Shapes:
        h: (B, N, C_in), neighbours: (B, N, k) -> (B, N, C_out)
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = in_channels
        self.linear = nn.Linear(2 * in_channels, out_channels)
        self.norm = nn.BatchNorm1d(out_channels)
        self.max_logit = nn.Parameter(torch.zeros(1))

    def mix(self, edges: torch.Tensor) -> torch.Tensor:
        """``sigmoid(p) max_j + (1 - sigmoid(p)) mean_j`` over dim 2 of (B, M, k, C)."""
        w = torch.sigmoid(self.max_logit)
        return w * max_over_neighbours(edges) + (1 - w) * edges.mean(dim=2)

    def forward(self, h: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
        w_neighbour, w_centre = self.linear.weight.split(self.in_channels, dim=1)
        bias = self.linear.bias
        if self.norm.training or not self.norm.track_running_stats:
            per_neighbour = h @ w_neighbour.t()  # (B, N, C_out)
            per_centre = F.linear(h, w_centre - w_neighbour, bias)
            edges = group(per_neighbour, neighbours) + per_centre.unsqueeze(2)  # (B, N, k, C)
            out = self.mix(batch_norm_last(self.norm, edges))
        else:
            scale = self.norm.weight * torch.rsqrt(self.norm.running_var + self.norm.eps)
            per_neighbour = h @ (w_neighbour * scale[:, None]).t()
            per_centre = F.linear(h, (w_centre - w_neighbour) * scale[:, None],
                                  (bias - self.norm.running_mean) * scale + self.norm.bias)
            out = self.mix(group(per_neighbour, neighbours)) + per_centre
        return F.leaky_relu(out, 0.2)


class SqueezeExcite(nn.Module):
    """Squeeze-excitation gate applied per point (as in the authors' grouping MLP).

    ``x * sigmoid(W_2 swish(W_1 x))`` with ``max(1, C // 24)`` squeezed channels.

    Shapes:
        x: (..., C) -> (..., C)
    """

    def __init__(self, channels: int):
        super().__init__()
        squeezed = max(1, channels // 24)
        self.reduce = nn.Linear(channels, squeezed)
        self.expand = nn.Linear(squeezed, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(x))))


class GroupBranch(nn.Module):
    """One of the three multi-scale branches: group, two linear layers, SE, group max pool.

    For each output point i with group members j (the r points chosen in its ball, or its r
    nearest points; see :func:`ognet.ops.multi_scale_ball_query`):
    ``max_j ReLU(BN(W_2 SE(BN(W_1 [xyz_j - xyz_i, h_j]))))``.
    Following the authors' implementation the hidden width is C/2, BN follows each linear
    layer, the SE gate sits after the first BN and ReLU after the second.

    As in :class:`EdgeConv`, ``W_1 [xyz_j - xyz_i, h_j] = (W_x xyz_j + W_h h_j) - W_x xyz_i``
    is computed per point and gathered. In eval mode each BN is the affine map
    ``s y + (beta - s mu)``, ``s = gamma / sqrt(var + eps)``, folded into the linear layer
    before it (the first one's shift into the centre's term), so no BN runs on the
    (B, M, r, C) group tensors; the second shift and the ReLU commute with the max and are
    applied after it.

    Args:
        channels: C, the module's channels (input and output of the branch).
        group_size: r, the grouping rate.
    Shapes:
        xyz: (B, N, 3), h: (B, N, C), centre_xyz: (B, M, 3), members: (B, M, r) -> (B, M, C)
    """

    def __init__(self, channels: int, group_size: int):
        super().__init__()
        hidden = channels // 2
        self.group_size = group_size
        self.linear1 = nn.Linear(3 + channels, hidden, bias=False)
        self.norm1 = nn.BatchNorm1d(hidden)
        self.se = SqueezeExcite(hidden)
        self.linear2 = nn.Linear(hidden, channels, bias=False)
        self.norm2 = nn.BatchNorm1d(channels)

    def forward(self, xyz, h, centre_xyz, members):
        points = torch.cat([xyz, h], dim=-1)  # (B, N, 3 + C)
        if self.norm1.training or not self.norm1.track_running_stats:
            w_xyz = self.linear1.weight[:, :3]
            per_point = self.linear1(points)  # (B, N, hidden)
            x = group(per_point, members) - (centre_xyz @ w_xyz.t()).unsqueeze(2)  # (B,M,r,hid)
            x = self.se(batch_norm_last(self.norm1, x))
            x = F.relu(batch_norm_last(self.norm2, self.linear2(x)))
        else:
            scale1, shift1 = batch_norm_affine(self.norm1)
            w1 = self.linear1.weight * scale1[:, None]
            centre = F.linear(centre_xyz, w1[:, :3], -shift1)  # s W_x xyz_i - shift
            x = self.se(group(points @ w1.t(), members) - centre.unsqueeze(2))
            scale2, shift2 = batch_norm_affine(self.norm2)
            # max_j ReLU(y_j + shift) = ReLU(max_j y_j + shift): ReLU and adding a constant
            # are non-decreasing, so both move after the max, onto r times fewer values.
            x = max_over_neighbours(x @ (self.linear2.weight * scale2[:, None]).t())
            return F.relu(x + shift2)
        return max_over_neighbours(x)
