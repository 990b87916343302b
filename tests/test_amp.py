"""Precision (issue 25, point 2): float32 by default, as the authors train; ``--amp bf16|fp16``
a named option; graph distances float32 in every mode."""

import pytest
import torch

from ognet import create_model
from ognet.cli import build_parser
from ognet.engine import TrainConfig
from ognet.engine.distributed import TrainForward
from ognet.engine.trainer import grad_scaler, training_step

SMALL = {"num_points": 1024, "stage_points": (192, 96, 48, 24), "channels": (12, 24, 48, 96)}


def _cloud(b=2, n=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randn(b, n, 3, generator=g) * torch.tensor([0.25, 0.8, 0.15])
    return torch.cat([xyz, torch.rand(b, n, 3, generator=g)], dim=-1)


def test_float32_is_the_default_and_amp_a_named_option():
    assert TrainConfig().amp == "off"
    assert TrainConfig(amp="bf16").amp == "bf16" and TrainConfig(amp=False).amp == "off"
    with pytest.raises(ValueError, match="amp: true is no longer a setting"):
        TrainConfig(amp=True)
    with pytest.raises(ValueError, match="amp must be one of off, bf16, fp16"):
        TrainConfig(amp="fp8")
    parser = build_parser()
    assert parser.parse_args(["train", "--data", "d"]).amp is None  # the config's: off
    assert parser.parse_args(["train", "--data", "d", "--amp", "bf16"]).amp == "bf16"
    assert parser.parse_args(["evaluate", "--checkpoint", "c", "--data", "d"]).amp == "off"
    assert parser.parse_args(["evaluate", "--checkpoint", "c", "--data", "d", "--amp",
                              "fp16"]).amp == "fp16"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--data", "d", "--amp", "yes"])
    assert grad_scaler(TrainConfig(amp="fp16"), torch.device("cpu")).is_enabled()
    assert not grad_scaler(TrainConfig(amp="bf16"), torch.device("cpu")).is_enabled()
    assert not grad_scaler(TrainConfig(), torch.device("cpu")).is_enabled()


def test_mixed_precision_leaves_every_neighbourhood_as_in_float32():
    """Under bfloat16 autocast the layers change a little, the graphs not at all: FPS, the
    xyz k-NN graphs and the groups of every module are the float32 ones."""
    torch.manual_seed(0)
    model = create_model("ognet_small", **SMALL).eval()
    x = _cloud(b=1)
    reference = model.trace(x[0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model.trace(x[0])
    for a, b in zip(reference.modules, mixed.modules, strict=True):
        assert torch.equal(a.sampled_idx, b.sampled_idx)
        assert torch.equal(a.knn_edges, b.knn_edges)
        assert all(torch.equal(a.groups[r], b.groups[r]) for r in a.groups)
    assert float((reference.embedding * mixed.embedding).sum()) > 0.99
    assert not torch.equal(reference.embedding, mixed.embedding)  # the layers did run in bf16


@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_a_training_step_in_each_precision(amp):
    torch.manual_seed(0)
    model = create_model("ognet_small", num_classes=4, **SMALL).train()
    config = TrainConfig(amp=amp)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = model.embedding.weight.detach().clone()
    loss, logits = training_step(TrainForward(model), _cloud(b=4), torch.arange(4), optimizer,
                                 grad_scaler(config, torch.device("cpu")), None, config)
    assert torch.isfinite(loss) and logits.shape == (4, 4)
    assert model.embedding.weight.dtype == torch.float32
    assert not torch.equal(before, model.embedding.weight)
