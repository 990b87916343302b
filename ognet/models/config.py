"""``OGNetConfig``: everything that defines an OG-Net variant, as a plain dataclass."""

from __future__ import annotations

from dataclasses import dataclass


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
        k: neighbours of the dynamic KNN graph of every module's EdgeConv.
        group_sizes: neighbours grouped around each sampled point in the three branches.
        shortcut: add a short-cut (projected when channels change) around each module.
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
    group_sizes: tuple[int, ...] = (8, 16, 32)
    shortcut: bool = False
    nonlocal_graph: bool = True
    embed_dim: int = 512
    dropout: float = 0.7
    num_classes: int = 0
    in_channels: int = 3

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.stage_points = tuple(int(p) for p in self.stage_points)
        self.group_sizes = tuple(int(r) for r in self.group_sizes)
        if len(self.channels) != len(self.stage_points):
            raise ValueError("channels and stage_points must have one entry per module")
        if any(c % 2 for c in self.channels):
            raise ValueError("module channels must be even (branches use c/2 hidden channels)")
        n = self.num_points
        for p in self.stage_points:
            if p > n:
                raise ValueError(f"a module cannot keep {p} of {n} points")
            n = p or n
        if min(self.group_sizes) < 1 or self.k < 1:
            raise ValueError("k and group sizes must be positive")
