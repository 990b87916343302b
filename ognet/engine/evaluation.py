"""Feature extraction and query/gallery evaluation of a model.

Test-time feature: by default one pass, ``normalize(f(x))`` (what the app and the gallery
index use). ``scales=(1.0, 1.1)`` is the authors' ``test_M.py`` feature:
``normalize(f(x) + f(x with xyz * 1.1))``, the embeddings summed before normalising.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ognet.engine.checkpoint import CheckpointError, checkpoint_paths, read_checkpoint_meta
from ognet.metrics import AP_MODES, cosine_distance, rank_metrics, summarize

#: The authors' test-time scales (``test_M.py``): the cloud and the cloud scaled by 1.1.
AUTHORS_TEST_SCALES = (1.0, 1.1)


def check_not_test_selected(path) -> dict:
    """The checkpoint's JSON, or :class:`CheckpointError` when it was chosen on the test split.

    ognet before this check wrote ``best`` as the epoch with the best *test* mAP; such a
    checkpoint has no ``selection`` field. Reporting its test figures would report the
    selection, not the model. Checkpoints written now say how they were chosen (``final``,
    ``last`` or ``best_val``, see ``ognet.engine.trainer.SELECTION``); none uses the test split.
    """
    meta = read_checkpoint_meta(path)
    if meta.get("selection") is None and checkpoint_paths(path)[0].stem.startswith("best"):
        raise CheckpointError(
            f"{checkpoint_paths(path)[0]} was chosen by its mAP on the test split; its test "
            "figures are not an honest result. Evaluate the run's final.safetensors (or "
            "last.safetensors), or retrain with --val-identities N to select on held-out "
            "training identities")
    return meta


#: The autocast dtype of each ``amp`` mode (``ognet.engine.config.AMP_MODES``; ``None``:
#: float32, no autocast).
AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def embed(model: torch.nn.Module, points: torch.Tensor,
          scales: tuple[float, ...] = (1.0,)) -> torch.Tensor:
    """(B, N, 6) points -> (B, D) L2-normalised ``normalize(sum_s f(points with xyz * s))``.

    ``f`` is ``model.forward_features`` (the embedding before normalisation); with one scale
    of 1.0 this is ``model.extract``.
    """
    total = None
    for s in scales:
        x = points
        if s != 1.0:
            x = points.clone()
            x[..., :3] *= s
        f = model.forward_features(x).float()
        total = f if total is None else total + f
    return torch.nn.functional.normalize(total, dim=-1)


@torch.no_grad()
def extract_features(model: torch.nn.Module, dataset, batch_size: int = 64,
                     device: torch.device | str = "cpu", workers: int = 0,
                     desc: str | None = None, progress: bool = True,
                     scales: tuple[float, ...] = (1.0,), amp: str = "off") -> np.ndarray:
    """Embed a ``PointCloudDataset`` (see :func:`embed`); returns (N, D) float32, unit rows.

    The model is put in eval mode and runs in float32, or under autocast to ``amp``'s dtype
    (``bf16`` or ``fp16``, :data:`AMP_DTYPES`).
    """
    dtype = AMP_DTYPES[amp]
    device = torch.device(device)
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    chunks = []
    for batch in tqdm(loader, desc=desc or "extract", leave=False, disable=not progress):
        points = batch["points"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            feats = embed(model, points, scales)
        chunks.append(torch.nn.functional.normalize(feats.float(), dim=1).cpu())
    if not chunks:
        return np.zeros((0, getattr(model.config, "embed_dim", 512)), dtype=np.float32)
    return torch.cat(chunks).numpy()


def evaluate_retrieval(model: torch.nn.Module, query_dataset, gallery_dataset,
                       batch_size: int = 64, device: torch.device | str = "cpu",
                       workers: int = 0, progress: bool = True, ap_mode: str = "trapezoid",
                       scales: tuple[float, ...] = (1.0,), amp: str = "off") -> dict:
    """Rank-1/5/10 and mAP (percent) of ``model`` on a query / gallery pair of datasets.

    Args:
        ap_mode: ``trapezoid`` (Market-1501's evaluation code) or ``step``
            (see :func:`ognet.metrics.rank_metrics`).
        scales: test-time scales of the feature (:data:`AUTHORS_TEST_SCALES` for theirs).
        amp: ``off`` (float32), ``bf16`` or ``fp16`` (:func:`extract_features`).

    Returns the summary plus ``cmc`` (list, fractions), ``ap_mode``, ``mAP_by_mode`` (the mAP
    under every AP definition, percent), ``scales``, timings in seconds (``extract_s``,
    ``match_s``) and sizes (``num_query``, ``num_gallery``).
    """
    t0 = time.perf_counter()
    kw = {"batch_size": batch_size, "device": device, "workers": workers,
          "progress": progress, "scales": tuple(scales), "amp": amp}
    qf = extract_features(model, query_dataset, desc="query", **kw)
    gf = extract_features(model, gallery_dataset, desc="gallery", **kw)
    t1 = time.perf_counter()
    distmat = cosine_distance(qf, gf)
    ids = (query_dataset.pids, gallery_dataset.pids, query_dataset.camids,
           gallery_dataset.camids)
    cmc, mAP = rank_metrics(distmat, *ids, ap_mode=ap_mode)
    by_mode = {mode: 100 * rank_metrics(distmat, *ids, max_rank=1, ap_mode=mode)[1]
               for mode in AP_MODES if mode != ap_mode}
    by_mode[ap_mode] = 100 * mAP
    t2 = time.perf_counter()
    return {**summarize(cmc, mAP), "cmc": cmc.tolist(), "ap_mode": ap_mode,
            "mAP_by_mode": by_mode, "scales": list(scales), "amp": amp, "extract_s": t1 - t0,
            "match_s": t2 - t1, "num_query": len(query_dataset),
            "num_gallery": len(gallery_dataset)}
