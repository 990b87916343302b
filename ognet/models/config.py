"""``OGNetConfig``: everything that defines an OG-Net variant, as a plain dataclass."""

from __future__ import annotations

from dataclasses import dataclass

#: Ways a multi-scale branch chooses its group members (``OGNetConfig.grouping``).
GROUPINGS = ("ball", "ball_first", "nearest")
#: The ball groupings and the member rule of :func:`ognet.ops.multi_scale_ball_query` of each.
BALL_MEMBERS = {"ball": "spread", "ball_first": "first"}


@dataclass
class OGNetConfig:
    """Hyper-parameters of one OG-Net.

    Attributes:
        name: registry name of the variant (``ognet``, ``ognet_small``, ``ognet_deep``).
        channels: output channels of each omni-scale module.
        stage_points: points kept by each module; ``0`` means the module does not downsample
            (OG-Net-Deep's basic module, Fig. 4a). A module downsamples with farthest point
            sampling.
        num_points: points of the input cloud (4096: half of the 8192 lifted points).
        k: neighbours of the dynamic KNN graph of every module's EdgeConv (OG-Net-Deep: 9).
        edge_convs: EdgeConvs per module, the first ``C_in -> C_out``, the others
            ``C_out -> C_out`` (OG-Net-Deep: 2).
        group_sizes: r, members of each group in the multi-scale branches (8, 16, 32). Only
            modules that downsample have branches.
        grouping: how a branch chooses its r members around a sampled point: ``"ball"``
            (default, the authors' receptive field: r points spread over the ball of the
            branch's radius), ``"ball_first"`` (the authors' rule: the first r points of the
            ball in the cloud's canonical order; both :func:`ognet.ops.multi_scale_ball_query`)
            or ``"nearest"`` (the r nearest points; ``radii`` unused).
        radii: ball radius of each branch in metres (the lifted clouds' unit), one per group
            size: the authors' 0.1 / 0.2 / 0.4.
        residual: OG-Net-Deep's learned-weight residual around each module,
            ``h' = w skip + (1 - w) h`` with ``w = sigmoid(q)``, ``q`` learned per module from
            0, and ``skip`` the module's input at its output points, through
            ``LeakyReLU(Linear(.))`` when the channels change.
        nonlocal_graph: build the last module's graph on ``[xyz, features]`` (the non-local
            graph of Table IV) instead of xyz alone.
        embed_dim: size of the retrieval feature.
        dropout: dropout before the identity classifier.
        num_classes: identities of the classifier; ``0`` for no classifier.
        in_channels: appearance channels of the input (rgb).
    """

    name: str = "ognet_small"
    channels: tuple[int, ...] = (48, 96, 192, 384)
    stage_points: tuple[int, ...] = (768, 384, 192, 96)
    num_points: int = 4096
    k: int = 20
    edge_convs: int = 1
    group_sizes: tuple[int, ...] = (8, 16, 32)
    grouping: str = "ball"
    radii: tuple[float, ...] = (0.1, 0.2, 0.4)
    residual: bool = False
    nonlocal_graph: bool = True
    embed_dim: int = 512
    dropout: float = 0.7
    num_classes: int = 0
    in_channels: int = 3

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.stage_points = tuple(int(p) for p in self.stage_points)
        self.group_sizes = tuple(int(r) for r in self.group_sizes)
        self.radii = tuple(float(r) for r in self.radii)
        if len(self.channels) != len(self.stage_points):
            raise ValueError("channels and stage_points must have one entry per module")
        if any(c % 2 for c in self.channels):
            raise ValueError("module channels must be even (branches use c/2 hidden channels)")
        n = self.num_points
        for p in self.stage_points:
            if p > n:
                raise ValueError(f"a module cannot keep {p} of {n} points")
            n = p or n
        if min(self.group_sizes) < 1 or self.k < 1 or self.edge_convs < 1:
            raise ValueError("k, edge_convs and group sizes must be positive")
        if self.grouping not in GROUPINGS:
            raise ValueError(f"grouping must be one of {', '.join(GROUPINGS)}, "
                             f"got {self.grouping!r}")
        if len(self.radii) != len(self.group_sizes) or min(self.radii) <= 0:
            raise ValueError("radii must hold one positive radius per group size")
