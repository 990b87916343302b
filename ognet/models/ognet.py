"""OG-Net, the Omni-scale Graph Network, and its registered variants."""

from __future__ import annotations

from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from ognet import ops
from ognet.models.config import OGNetConfig
from ognet.models.layers import EdgeConv, GroupBranch, SqueezeExcite
from ognet.models.omni_scale import OmniScaleModule, plan_ahead
from ognet.models.registry import register_model
from ognet.models.trace import ModelTrace

#: Parameter counts reported in the paper (re-id, without the identity classifier), to the
#: digit printed there.
PAPER_PARAMS = {"ognet": 1.95e6, "ognet_small": 1.20e6, "ognet_deep": 2.47e6}

#: Exact parameter counts of the authors' models without the classifier (``model_efficient.py``
#: ``ModelE_dense`` built with the README's training flags, ``proj_output`` removed): OG-Net
#: 1.951738M and OG-Net-Small 1.200833M as their script prints them, OG-Net-Deep 2.4705M
#: (printed to that digit; counting their layers gives 2,470,498).
AUTHORS_PARAMS = {"ognet": 1_951_738, "ognet_small": 1_200_833, "ognet_deep": 2_470_498}


class OGNet(nn.Module):
    """OG-Net: a stack of omni-scale modules and a pooled 512-d embedding.

    Input ``points`` (B, N, 6): xyz builds the graphs, rgb is the first appearance feature.
    Points per stage 4096 -> 768 -> 384 -> 192 -> 96 (``config.stage_points``). The head
    concatenates max- and average-pooling over points, maps them to ``embed_dim`` with a
    linear layer (no bias) and BN: that is the retrieval feature. Training adds dropout and
    the identity classifier (submodule ``classifier``).

    Shapes:
        points: (B, N, 6) -> logits (B, num_classes), or the embedding (B, 512) when
        ``num_classes == 0``.
    """

    def __init__(self, config: OGNetConfig):
        super().__init__()
        self.config = config
        c = config
        self.blocks = nn.ModuleList()
        in_ch = c.in_channels
        last = len(c.channels) - 1
        for i, (out_ch, pts) in enumerate(zip(c.channels, c.stage_points, strict=True)):
            self.blocks.append(OmniScaleModule(
                in_ch, out_ch, pts, k=c.k, edge_convs=c.edge_convs, group_sizes=c.group_sizes,
                radii=c.radii, grouping=c.grouping,
                nonlocal_graph=c.nonlocal_graph and i == last, residual=c.residual,
            ))
            in_ch = out_ch
        self.embedding = nn.Linear(2 * in_ch, c.embed_dim, bias=False)
        self.embedding_norm = nn.BatchNorm1d(c.embed_dim)
        self.dropout = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.embed_dim, c.num_classes) if c.num_classes else None
        self._init_weights()

    def _init_weights(self):
        """The authors' initialisation (``utils.py``: ``weights_init_kaiming``,
        ``weights_init_classifier``, applied in ``model_efficient.py``):

        - the layers that are 1x1 convolutions in their code (EdgeConv's map, each branch's
          two layers and its SE gate): Kaiming normal, fan-in, ReLU gain, N(0, 2 / fan_in)
          (their ``* L ** -0.5`` factor multiplies the returned tensor and is dropped: no
          effect);
        - their ``nn.Linear`` layers (the embedding, OG-Net-Deep's skip projection): Kaiming
          normal, fan-out, N(0, 2 / fan_out);
        - every batch norm: weight N(1, 0.02^2), bias 0;
        - the identity classifier: weight N(0, (1e-6)^2), bias 0: the logits start at 0;
        - every bias 0; the max/mean mix and residual logits 0 (an even mix, as their GeM
          ``p`` and ``p_w``).
        """
        conv_like = {id(layer) for m in self.modules()
                     if isinstance(m, (EdgeConv, GroupBranch, SqueezeExcite))
                     for layer in m.children() if isinstance(layer, nn.Linear)}
        for m in self.modules():
            if isinstance(m, nn.Linear):
                mode = "fan_in" if id(m) in conv_like else "fan_out"
                nn.init.kaiming_normal_(m.weight, a=0, mode=mode, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        if self.classifier is not None:
            nn.init.normal_(self.classifier.weight, std=1e-6)
            nn.init.zeros_(self.classifier.bias)

    def forward_features(self, points: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """(B, N, 6) -> (B, embed_dim) embedding (after BN, not normalised).

        The points are first put in :func:`ognet.ops.canonical_order` (sorted by their
        values), so every later choice (the FPS start and ties, k-NN ties, group members) and
        every float sum is the same however the input rows are ordered: a permutation of the
        input gives the same embedding, bit for bit on one machine. ``record`` (a trace)
        still indexes the first module's input in the caller's order.
        """
        if points.dim() != 3 or points.shape[-1] != 3 + self.config.in_channels:
            raise ValueError(f"points must be (B, N, {3 + self.config.in_channels}), "
                             f"got {tuple(points.shape)}")
        order = ops.canonical_order(points)  # (B, N)
        canonical = ops.gather_points(points, order)
        xyz = canonical[..., :3].contiguous()
        h = canonical[..., 3:].contiguous()
        first = len(record) if record is not None else 0
        plans = plan_ahead(self.blocks, xyz)  # the graph operations, on background threads
        for block, plan in zip(self.blocks, plans, strict=True):
            xyz, h = block(xyz, h, record=record, geometry=plan)
        if record is not None and len(record) > first:
            record[first] = record[first].in_input_order(order[0].cpu(),
                                                         points[0, :, :3].detach().cpu())
        pooled = torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=-1)
        return self.embedding_norm(self.embedding(pooled))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, embed_dim) -> (B, num_classes) identity logits."""
        if self.classifier is None:
            raise RuntimeError("this model has no classifier (num_classes=0)")
        return self.classifier(self.dropout(features))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        features = self.forward_features(points)
        return features if self.classifier is None else self.forward_head(features)

    @torch.no_grad()
    def extract(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 6) -> (B, embed_dim) L2-normalised retrieval features (call ``eval()`` first)."""
        return F.normalize(self.forward_features(points), dim=-1)

    @torch.no_grad()
    def trace(self, points: torch.Tensor) -> ModelTrace:
        """Run one cloud, (N, 6) or (1, N, 6), and record what every module did.

        The recorded embedding is the one :meth:`extract` returns for the same input.
        """
        if points.dim() == 2:
            points = points.unsqueeze(0)
        if points.shape[0] != 1:
            raise ValueError("trace takes one cloud")
        record: list = []
        embedding = F.normalize(self.forward_features(points, record=record), dim=-1)
        return ModelTrace(points=points[0].detach().cpu(), modules=record,
                          embedding=embedding[0].cpu())

    def extra_repr(self) -> str:
        return f"variant={self.config.name}"


def count_parameters(model: nn.Module, include_classifier: bool = False) -> int:
    """Trainable parameters, without the identity classifier unless asked (as the paper counts)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if p.requires_grad and (include_classifier or not name.startswith("classifier.")))


#: Config fields of the model before it followed the authors' EdgeConv (BN on the edges,
#: max/mean mix), ball grouping and learned residual; every config saved then has them.
EARLIER_FIELDS = ("shortcut",)


def _build(defaults: OGNetConfig, num_classes: int, overrides: dict) -> OGNet:
    earlier = [f for f in EARLIER_FIELDS if f in overrides]
    if earlier:
        # Its weights were trained for another function (BN after a max-only aggregation),
        # so rebuilding today's model from them would give a different, untrained model.
        raise ValueError(f"config field {earlier[0]!r} comes from an earlier OG-Net (before "
                         "the authors' EdgeConv and ball grouping); its checkpoints cannot "
                         "be loaded by this version: retrain with `python -m ognet train`")
    return OGNet(OGNetConfig(**{**asdict(defaults), **overrides, "num_classes": num_classes}))


@register_model
def ognet(num_classes: int = 0, **overrides) -> OGNet:
    """OG-Net: channels 64-128-256-512 (1.95M parameters in the paper)."""
    return _build(OGNetConfig(name="ognet", channels=(64, 128, 256, 512)), num_classes, overrides)


@register_model
def ognet_small(num_classes: int = 0, **overrides) -> OGNet:
    """OG-Net-Small: channels 48-96-192-384 (1.20M parameters in the paper)."""
    return _build(OGNetConfig(name="ognet_small", channels=(48, 96, 192, 384)), num_classes,
                  overrides)


@register_model
def ognet_deep(num_classes: int = 0, **overrides) -> OGNet:
    """OG-Net-Deep: seven modules 48-96-96-192-192-384-384, two EdgeConvs each with k = 9,
    and the learned-weight residual (2.47M in the paper).

    The modules that keep the channel count do not downsample and have no multi-scale
    branches (the basic module of Fig. 4a): branches sit in the four downsampling modules.
    """
    return _build(OGNetConfig(name="ognet_deep", channels=(48, 96, 96, 192, 192, 384, 384),
                              stage_points=(768, 384, 0, 192, 0, 96, 0), k=9, edge_convs=2,
                              residual=True),
                  num_classes, overrides)
