"""The OG-Net family: shapes, parameter counts, determinism, order independence, traces,
and a short overfit run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ognet import create_model, list_models
from ognet.models import PAPER_PARAMS, ModelTrace, count_parameters


def _cloud(b=2, n=4096, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randn(b, n, 3, generator=g) * torch.tensor([0.25, 0.8, 0.15])
    rgb = torch.rand(b, n, 3, generator=g)
    return torch.cat([xyz, rgb], dim=-1)


def test_registry_lists_the_three_variants():
    assert list_models() == ["ognet", "ognet_deep", "ognet_small"]
    with pytest.raises(ValueError, match="unknown model"):
        create_model("ognet_huge")


@pytest.mark.parametrize("name", ["ognet", "ognet_small", "ognet_deep"])
def test_parameter_count_matches_paper(name):
    model = create_model(name, num_classes=751)
    ours = count_parameters(model, include_classifier=False)
    assert abs(ours - PAPER_PARAMS[name]) / PAPER_PARAMS[name] < 0.10
    assert count_parameters(model, include_classifier=True) == ours + 512 * 751 + 751


@pytest.mark.parametrize("name", ["ognet", "ognet_small", "ognet_deep"])
def test_shapes_train_and_eval(name):
    model = create_model(name, num_classes=10)
    x = _cloud()
    logits = model(x)
    assert logits.shape == (2, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    feats = model.extract(x)
    assert feats.shape == (2, 512)
    assert torch.allclose(feats.norm(dim=1), torch.ones(2), atol=1e-5)
    assert create_model(name)(x).shape == (2, 512)  # no classifier: the embedding


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(B, N, 6\)"):
        create_model("ognet_small")(torch.zeros(2, 100, 3))


def test_eval_is_deterministic_and_order_independent():
    torch.manual_seed(0)
    model = create_model("ognet_small").eval()
    x = _cloud(b=1, seed=4)
    a = model.extract(x)
    assert torch.equal(a, model.extract(x))
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(9))
    b = model.extract(x[:, perm])
    assert (a - b).abs().max().item() < 1e-4


def test_trace_matches_extract_and_describes_every_module():
    torch.manual_seed(0)
    model = create_model("ognet_small").eval()
    x = _cloud(b=1, seed=2)
    trace = model.trace(x[0])
    assert isinstance(trace, ModelTrace)
    assert torch.allclose(trace.embedding, model.extract(x)[0], atol=1e-6)
    assert len(trace.modules) == 4
    n_in = 4096
    for i, (m, n_out, c) in enumerate(zip(trace.modules, (768, 384, 192, 96),
                                          (48, 96, 192, 384), strict=True)):
        assert m.in_xyz.shape == (n_in, 3) and m.out_xyz.shape == (n_out, 3)
        assert m.sampled_idx.shape == (n_out,)
        assert torch.equal(m.in_xyz[m.sampled_idx], m.out_xyz)
        assert m.knn_edges.shape == (2, n_in * 20) and int(m.knn_edges.max()) < n_in
        assert {r: g.shape for r, g in m.groups.items()} == {8: (n_out, 8), 16: (n_out, 16),
                                                             32: (n_out, 32)}
        assert m.feature_norm.shape == (n_out,) and m.out_channels == c
        assert (m.nonlocal_edges is not None) == (i == 3)
        n_in = n_out
    # The non-local graph links points that are far apart in space, unlike the xyz graph.
    last = trace.modules[-1]
    def edge_length(e):
        return (last.in_xyz[e[0]] - last.in_xyz[e[1]]).norm(dim=1).mean()
    assert edge_length(last.nonlocal_edges) > edge_length(last.knn_edges)
    flat = trace.to_numpy()
    assert flat["module4/group_r32"].shape == (96, 32) and "module4/nonlocal_edges" in flat


def test_deep_variant_keeps_points_in_its_basic_modules():
    model = create_model("ognet_deep").eval()
    trace = model.trace(_cloud(b=1)[0])
    assert [m.out_xyz.shape[0] for m in trace.modules] == [768, 384, 384, 192, 192, 96, 96]
    assert [m.sampled_idx is None for m in trace.modules] == [False, False, True, False, True,
                                                              False, True]


def test_overfits_a_few_identities():
    """A few identities (distinct clothing colours, random poses): loss falls, train acc 100%."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_ids, per_id, n = 4, 4, 512
    palette = rng.random((n_ids, 2, 3))
    clouds, labels = [], []
    for pid in range(n_ids):
        for _ in range(per_id):
            xyz = rng.normal(size=(n, 3)) * [0.2, 0.6, 0.1] + rng.normal(scale=0.05, size=3)
            upper = xyz[:, 1:2] > 0
            rgb = np.where(upper, palette[pid, 0], palette[pid, 1])
            rgb = np.clip(rgb + rng.normal(scale=0.05, size=rgb.shape), 0, 1)
            clouds.append(np.concatenate([xyz, rgb], 1))
            labels.append(pid)
    x = torch.tensor(np.stack(clouds), dtype=torch.float32)
    y = torch.tensor(labels)
    model = create_model("ognet_small", num_classes=n_ids, num_points=n,
                         stage_points=(128, 64, 32, 16), dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, amsgrad=True)
    losses = []
    for _ in range(40):
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert losses[-1] < 0.5 * losses[0]
    assert acc == 1.0
