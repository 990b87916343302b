"""``CircleLoss`` against the paper's formula (Sun et al., "Circle Loss", CVPR 2020, Eq. 6 with
the self-paced weights of Eq. 5 and the margins of Eq. 8), over the pairs the authors' code
forms (every pair i < j of the batch), and the training loss that adds it as they do (divided
by the batch size)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ognet.engine import TrainConfig
from ognet.engine.losses import CircleLoss
from ognet.engine.trainer import training_loss


def paper_circle_loss(features: torch.Tensor, labels: list[int], m: float,
                      gamma: float) -> torch.Tensor:
    """The paper's loss, one pair at a time in float64:

        L = log(1 + sum_j exp(gamma a_n^j (s_n^j - D_n)) * sum_i exp(-gamma a_p^i (s_p^i - D_p)))

    with s the cosine of two different items (i < j), positives of one identity, negatives of
    two; a_p = [1 + m - s_p]_+, a_n = [s_n + m]_+ (O_p = 1 + m, O_n = -m), D_p = 1 - m,
    D_n = m. The weights a are constants in back-propagation (the paper's Sec. 3.1; the
    authors' code detaches them)."""
    f = features.double() / features.double().norm(dim=1, keepdim=True)
    positive, negative = [], []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            s = f[i] @ f[j]
            if labels[i] == labels[j]:
                a = max(1 + m - s.item(), 0.0)
                positive.append(torch.exp(-gamma * a * (s - (1 - m))))
            else:
                a = max(s.item() + m, 0.0)
                negative.append(torch.exp(gamma * a * (s - m)))
    return torch.log1p(sum(negative) * sum(positive))


def batch(seed: int, n: int = 8, dim: int = 16) -> tuple[torch.Tensor, list[int]]:
    """``n`` features, four identities of two items each (a batch of the identity sampler)."""
    features = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    return features, [i // 2 for i in range(n)]


@pytest.mark.parametrize("gamma", [1.0, 8.0, 64.0])
@pytest.mark.parametrize("seed, shift", [(0, 0.0), (1, 0.0), (2, 2.0)])
def test_circle_loss_is_the_papers_value_and_gradient(seed, shift, gamma):
    """Spread features (some negatives below O_n = -m: a_n clamped to 0) and features
    shifted together (every similarity high: large a_n)."""
    features, labels = batch(seed)
    features = features + shift * torch.randn(1, features.shape[1],
                                              generator=torch.Generator().manual_seed(seed + 10))
    f = F.normalize(features, dim=1)
    negatives = (f @ f.t())[torch.tensor(labels)[:, None] != torch.tensor(labels)[None, :]]
    assert (negatives < -0.25).any() == (shift == 0)
    ours = features.clone().requires_grad_(True)
    loss = CircleLoss(margin=0.25, gamma=gamma)(ours, torch.tensor(labels))
    theirs = features.double().clone().requires_grad_(True)
    want = paper_circle_loss(theirs, labels, m=0.25, gamma=gamma)
    assert loss.item() == pytest.approx(want.item(), rel=1e-4, abs=1e-6)
    loss.backward()
    want.backward()
    torch.testing.assert_close(ours.grad.double(), theirs.grad, rtol=1e-3, atol=1e-6)


def test_circle_loss_of_a_separated_batch_in_closed_form():
    """Positives identical (s_p = 1), negatives orthogonal (s_n = 0), m = 0.4, gamma = 32:
    a_p = [1 + m - 1]_+ = m and a_n = [0 + m]_+ = m, so with K = 2 positive and L = 4
    negative pairs ``L = log(1 + L exp(-gamma m^2) K exp(-gamma m^2))``."""
    m, gamma = 0.4, 32.0
    features = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])
    loss = CircleLoss(margin=m, gamma=gamma)(features, torch.tensor([0, 0, 1, 1])).item()
    assert loss == pytest.approx(math.log1p(4 * 2 * math.exp(-2 * gamma * m * m)), rel=1e-5)


def test_a_batch_without_positive_or_negative_pairs_adds_nothing():
    features, _ = batch(0, n=4)
    assert CircleLoss()(features, torch.tensor([0, 1, 2, 3])).item() == 0.0
    assert CircleLoss()(features, torch.tensor([5, 5, 5, 5])).item() == 0.0


def test_the_training_loss_adds_the_circle_loss_over_the_batch_size():
    """The authors' ``train_M.py``: cross-entropy + circle(features, labels) / batch size."""
    features, labels = batch(3)
    logits = torch.randn(len(labels), 4, generator=torch.Generator().manual_seed(4))
    y = torch.tensor(labels)
    config = TrainConfig(data="")
    loss = training_loss(features, logits, y, CircleLoss(config.circle_margin,
                                                         config.circle_gamma), config)
    want = F.cross_entropy(logits.double(), y) + paper_circle_loss(
        features, labels, config.circle_margin, config.circle_gamma) / len(labels)
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    assert training_loss(features, logits, y, None, config).item() == pytest.approx(
        F.cross_entropy(logits, y).item(), rel=1e-6)
