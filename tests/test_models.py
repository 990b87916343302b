"""The OG-Net family: shapes, parameter counts, determinism, order independence, traces,
and a short overfit run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ognet import create_model, list_models, ops
from ognet.models import AUTHORS_PARAMS, PAPER_PARAMS, ModelTrace, count_parameters
from ognet.models.layers import EdgeConv, GroupBranch


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
def test_parameter_count_matches_the_authors(name):
    model = create_model(name, num_classes=751)
    ours = count_parameters(model, include_classifier=False)
    assert ours == AUTHORS_PARAMS[name]
    printed = {"ognet": 1_951_738, "ognet_small": 1_200_833, "ognet_deep": 2_470_500}[name]
    assert abs(ours - printed) / printed < 0.002
    assert abs(ours - PAPER_PARAMS[name]) / PAPER_PARAMS[name] < 0.005
    assert count_parameters(model, include_classifier=True) == ours + 512 * 751 + 751
    # the nearest-point grouping has the same layers
    assert count_parameters(create_model(name, grouping="nearest")) == ours


def test_initialisation_is_the_authors():
    """``weights_init_kaiming`` / ``weights_init_classifier`` of their utils.py: 1x1-conv
    layers N(0, 2 / fan_in), Linear layers N(0, 2 / fan_out), norms N(1, 0.02), the
    classifier N(0, 1e-6), biases 0."""
    torch.manual_seed(0)
    model = create_model("ognet_deep", num_classes=751)
    module = model.blocks[1]
    edge, branch = module.edge_convs[0], module.branches[2]

    def std(w):
        return w.detach().std().item()

    for layer in (edge.linear, branch.linear1, branch.linear2, branch.se.reduce,
                  branch.se.expand):
        fan_in = layer.weight.shape[1]
        assert abs(std(layer.weight) / (2 / fan_in) ** 0.5 - 1) < 0.15, layer
    for layer in (model.embedding, model.blocks[0].skip[0]):
        fan_out = layer.weight.shape[0]
        assert abs(std(layer.weight) / (2 / fan_out) ** 0.5 - 1) < 0.1, layer
    for norm in (edge.norm, branch.norm2, model.embedding_norm):
        assert abs(norm.weight.mean().item() - 1) < 0.01 and 0.015 < std(norm.weight) < 0.025
        assert not norm.bias.any()
    assert 0.5e-6 < std(model.classifier.weight) < 1.5e-6 and not model.classifier.bias.any()
    assert not edge.linear.bias.any() and not branch.se.reduce.bias.any()
    assert model.blocks[0].residual_logit.item() == 0 and edge.max_logit.item() == 0


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
    """The model canonicalises its input: a permutation gives the same embedding, bit for
    bit, and the trace still indexes the input as given (real lifted crops, with their
    ties: tests/test_order_free.py)."""
    torch.manual_seed(0)
    model = create_model("ognet_small").eval()
    x = _cloud(b=2, seed=4)
    a = model.extract(x)
    assert torch.equal(a, model.extract(x))
    perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, model.extract(x[:, perm]))
    t, tp = model.trace(x[0]), model.trace(x[0, perm])
    first, first_p = t.modules[0], tp.modules[0]
    assert torch.equal(first.in_xyz, x[0, :, :3]) and torch.equal(first_p.in_xyz, x[0, perm, :3])
    assert torch.equal(first.in_xyz[first.sampled_idx], first.out_xyz)
    assert torch.equal(perm[first_p.sampled_idx], first.sampled_idx)  # the same input points
    assert torch.equal(perm[first_p.groups[32]], first.groups[32])
    assert torch.equal(perm[first_p.knn_edges], first.knn_edges)


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


@pytest.mark.slow
def test_overfits_a_few_identities():
    """A few identities (distinct clothing colours, random poses): in 10 steps the loss falls
    and every training cloud is classified right, and so are new clouds of the same
    identities (it learned their colours, not the 16 clouds). Evaluated with batch norm's
    statistics re-estimated on the training batch, as the trainer's ``final`` does (after 10
    steps the running averages still lag the weights)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_ids, per_id, n = 4, 4, 512
    palette = rng.random((n_ids, 2, 3))

    def clouds_of_each_identity():
        clouds, labels = [], []
        for pid in range(n_ids):
            for _ in range(per_id):
                xyz = rng.normal(size=(n, 3)) * [0.2, 0.6, 0.1] + rng.normal(scale=0.05, size=3)
                upper = xyz[:, 1:2] > 0
                rgb = np.where(upper, palette[pid, 0], palette[pid, 1])
                rgb = np.clip(rgb + rng.normal(scale=0.05, size=rgb.shape), 0, 1)
                clouds.append(np.concatenate([xyz, rgb], 1))
                labels.append(pid)
        return torch.tensor(np.stack(clouds), dtype=torch.float32), torch.tensor(labels)

    x, y = clouds_of_each_identity()
    new_x, new_y = clouds_of_each_identity()
    model = create_model("ognet_small", num_classes=n_ids, num_points=n,
                         stage_points=(128, 64, 32, 16), dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, amsgrad=True)
    losses = []
    for _ in range(10):
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    torch.optim.swa_utils.update_bn([x], model)
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
        new_acc = (model(new_x).argmax(1) == new_y).float().mean().item()
    assert losses[-1] < 0.5 * losses[0]
    assert acc == 1.0 and new_acc == 1.0, (acc, new_acc)


def test_edge_conv_mixes_max_and_mean_and_learns_the_mix():
    torch.manual_seed(0)
    conv = EdgeConv(6, 16)
    h = torch.randn(2, 50, 6)
    neighbours = torch.randint(0, 50, (2, 50, 5))
    out = conv(h, neighbours)
    out.pow(2).sum().backward()
    assert conv.max_logit.item() == 0.0 and conv.max_logit.grad is not None
    assert conv.max_logit.grad.abs().item() > 0
    # The definition: BN over all edges of W [h_j - h_i, h_i] + b, an even max/mean mix at
    # p = 0, LeakyReLU 0.2; in eval mode (BN folded into the per-point projections) as well.
    for _ in range(3):
        conv(h, neighbours)  # running statistics away from their initial values
    with torch.no_grad():
        conv.norm.weight.uniform_(-1.5, 1.5)  # negative scales too: folding must handle them
        conv.max_logit.fill_(0.7)
    for train in (True, False):
        conv.train(train)
        centre = h.unsqueeze(2).expand(-1, -1, 5, -1)
        edges = conv.linear(torch.cat([h[torch.arange(2)[:, None, None], neighbours] - centre,
                                       centre], dim=-1))
        edges = conv.norm(edges.reshape(-1, 16)).view(2, 50, 5, 16)
        w = torch.sigmoid(torch.tensor(0.7))
        want = F.leaky_relu(w * edges.amax(2) + (1 - w) * edges.mean(2), 0.2)
        assert torch.allclose(conv(h, neighbours), want, atol=1e-5), train


def test_ball_grouping_is_the_default_and_nearest_an_option():
    model = create_model("ognet_small").eval()
    assert model.config.grouping == "ball" and model.config.radii == (0.1, 0.2, 0.4)
    x = _cloud(b=1, seed=5)
    ball = model.trace(x[0])
    nearest = create_model("ognet_small", grouping="nearest")
    nearest.load_state_dict(model.state_dict())
    near = nearest.eval().trace(x[0])
    first, first_near = ball.modules[0], near.modules[0]
    assert first.group_radii == {8: 0.1, 16: 0.2, 32: 0.4} and first_near.group_radii == {}
    for r, radius in first.group_radii.items():
        d = (first.in_xyz[first.groups[r]] - first.out_xyz[:, None]).norm(dim=-1)
        d_near = (first.in_xyz[first_near.groups[r]] - first.out_xyz[:, None]).norm(dim=-1)
        assert (d <= radius + 1e-6).all()
        # Spread over the ball, not packed at the centre: where the ball holds at least r
        # points (in this sparse random cloud most small balls hold only their centre).
        full = ((first.in_xyz[None] - first.out_xyz[:, None]).norm(dim=-1) <= radius).sum(1) >= r
        assert full.any()
        assert d[full].mean() > d_near[full].mean()
    assert not torch.allclose(ball.embedding, near.embedding)
    # The authors' rule: the first members in canonical order, inside the same balls.
    authors = create_model("ognet_small", grouping="ball_first")
    authors.load_state_dict(model.state_dict())
    by_index = authors.eval().trace(x[0]).modules[0]
    assert by_index.group_radii == first.group_radii
    for r, radius in first.group_radii.items():
        d = (first.in_xyz[by_index.groups[r]] - first.out_xyz[:, None]).norm(dim=-1)
        assert (d < radius).all()
        assert not torch.equal(by_index.groups[r], first.groups[r])
    with pytest.raises(ValueError, match="grouping must be one of"):
        create_model("ognet_small", grouping="radius")
    with pytest.raises(ValueError, match="one positive radius per group size"):
        create_model("ognet_small", radii=(0.1, 0.2))


def test_embedding_is_translation_invariant():
    """Graphs, sampling and groups depend on relative positions only; features see relative
    xyz. A shift by whole metres changes the embedding by float rounding only."""
    torch.manual_seed(0)
    model = create_model("ognet_small").eval()
    x = _cloud(b=1, seed=6)
    shifted = x.clone()
    shifted[..., :3] += torch.tensor([1.0, -2.0, 0.5])
    assert (model.extract(x) - model.extract(shifted)).abs().max().item() < 1e-3


def test_deep_variant_is_the_authors():
    model = create_model("ognet_deep")
    c = model.config
    assert (c.k, c.edge_convs, c.residual) == (9, 2, True)
    assert [len(b.edge_convs) for b in model.blocks] == [2] * 7
    assert [len(b.branches) for b in model.blocks] == [3, 3, 0, 3, 0, 3, 0]
    logits = model.train()(torch.cat([_cloud(b=2, n=2048)], 0))
    logits.sum().backward()
    for block in model.blocks:  # the residual weights and every mix learn
        assert block.residual_logit.grad.abs().item() > 0
        assert all(conv.max_logit.grad.abs().item() > 0 for conv in block.edge_convs)


def test_checkpoint_of_the_earlier_model_is_a_clear_error(tmp_path):
    """A checkpoint saved before the authors' EdgeConv (no mix parameter, no grouping fields in
    its config) cannot be rebuilt faithfully: loading it says so instead of guessing."""
    import json

    from safetensors.torch import load_file, save_file

    from ognet.engine import CheckpointError, load_model, save_checkpoint

    path = save_checkpoint(tmp_path / "old.safetensors", create_model("ognet_small"))
    state = {k: v for k, v in load_file(str(path)).items() if "max_logit" not in k}
    save_file(state, str(path))
    meta = json.loads(path.with_suffix(".json").read_text())
    for key in ("grouping", "radii", "edge_convs", "residual"):
        meta["model"].pop(key)
    meta["model"]["shortcut"] = False
    meta.pop("weights_sha256")
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="earlier OG-Net.*retrain"):
        load_model(path, device="cpu")


def test_group_branch_folds_batch_norm_in_eval_mode():
    """In eval mode the branch folds both BNs into its linear layers: the same function as
    ``max_j ReLU(BN(W_2 SE(BN(W_1 [xyz_j - xyz_i, h_j]))))`` with the running statistics."""
    torch.manual_seed(0)
    branch = GroupBranch(16, 4)
    xyz, h = torch.randn(2, 30, 3), torch.randn(2, 30, 16)
    centres = xyz[:, :10]
    members = torch.randint(0, 30, (2, 10, 4))
    for _ in range(3):
        branch(xyz, h, centres, members)  # running statistics away from their initial values
    with torch.no_grad():
        branch.norm1.weight.uniform_(-1.5, 1.5)  # negative scales too
        branch.norm2.bias.uniform_(-0.5, 0.5)
    branch.eval()
    batch = torch.arange(2)[:, None, None]
    x = torch.cat([xyz[batch, members] - centres.unsqueeze(2), h[batch, members]], dim=-1)
    x = branch.se(branch.norm1(branch.linear1(x).reshape(-1, 8)).view(2, 10, 4, 8))
    want = F.relu(branch.norm2(branch.linear2(x).reshape(-1, 16)).view(2, 10, 4, 16)).amax(2)
    with torch.no_grad():
        assert torch.allclose(branch(xyz, h, centres, members), want, atol=1e-5)


@pytest.mark.parametrize("name", ["ognet_small", "ognet_deep"])
def test_geometry_planned_ahead_equals_each_module_planning_its_own(name):
    """``forward_features`` computes every module's xyz-only graph work on a background
    thread (``plan_ahead``); the embedding is bit for bit the one of running the modules one
    after the other on the canonicalised cloud, each planning for itself."""
    model = create_model(name).eval()
    cloud = _cloud(b=1, n=2048)
    with torch.no_grad():
        ahead = model.forward_features(cloud)
        canonical = ops.gather_points(cloud, ops.canonical_order(cloud))
        xyz, h = canonical[..., :3].contiguous(), canonical[..., 3:].contiguous()
        for block in model.blocks:
            xyz, h = block(xyz, h)
        inline = model.embedding_norm(model.embedding(torch.cat([h.amax(1), h.mean(1)], -1)))
    assert torch.equal(ahead, inline)


def test_a_failing_plan_reaches_the_caller(monkeypatch):
    """An error in the planning thread is raised by the forward pass, not lost."""
    model = create_model("ognet_small").eval()

    def broken(*_args, **_kwargs):
        raise RuntimeError("no neighbours today")

    monkeypatch.setattr("ognet.ops.farthest_point_sample", broken)
    with torch.no_grad(), pytest.raises(RuntimeError, match="no neighbours today"):
        model.forward_features(_cloud(b=1, n=1024))
