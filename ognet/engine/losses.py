"""Losses: identity cross-entropy (in ``torch``) and the pair-wise circle loss (Sun et al.)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CircleLoss(nn.Module):
    """Pair-wise circle loss on a batch of embeddings (CVPR 2020, Eq. 4), as an auxiliary loss.

    Shapes: ``features`` (B, D) (normalised inside), ``labels`` (B,) -> scalar. Batches need
    positive pairs (use the identity sampler); a batch without any returns 0.
    """

    def __init__(self, margin: float = 0.25, gamma: float = 64.0):
        super().__init__()
        self.margin = margin
        self.gamma = gamma

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        f = F.normalize(features.float(), dim=1)
        sim = f @ f.t()
        same = labels[:, None] == labels[None, :]
        upper = torch.triu(torch.ones_like(same), diagonal=1)
        sp = sim[same & upper]
        sn = sim[~same & upper]
        if sp.numel() == 0 or sn.numel() == 0:
            return sim.new_zeros(())
        m, g = self.margin, self.gamma
        ap = torch.clamp_min(1 + m - sp.detach(), 0)
        an = torch.clamp_min(sn.detach() + m, 0)
        logit_p = -ap * (sp - (1 - m)) * g
        logit_n = an * (sn - m) * g
        return F.softplus(torch.logsumexp(logit_n, 0) + torch.logsumexp(logit_p, 0))
