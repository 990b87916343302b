"""Feature extraction and query/gallery evaluation of a model."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ognet.metrics import cosine_distance, rank_metrics, summarize


@torch.no_grad()
def extract_features(model: torch.nn.Module, dataset, batch_size: int = 64,
                     device: torch.device | str = "cpu", workers: int = 0,
                     desc: str | None = None, progress: bool = True) -> np.ndarray:
    """Run ``model.extract`` over a ``PointCloudDataset``; returns (N, D) float32 L2-normalised.

    The model is put in eval mode; CUDA runs under float16 autocast.
    """
    device = torch.device(device)
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=device.type == "cuda")
    chunks = []
    for batch in tqdm(loader, desc=desc or "extract", leave=False, disable=not progress):
        points = batch["points"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            feats = model.extract(points)
        chunks.append(torch.nn.functional.normalize(feats.float(), dim=1).cpu())
    if not chunks:
        return np.zeros((0, getattr(model.config, "embed_dim", 512)), dtype=np.float32)
    return torch.cat(chunks).numpy()


def evaluate_retrieval(model: torch.nn.Module, query_dataset, gallery_dataset,
                       batch_size: int = 64, device: torch.device | str = "cpu",
                       workers: int = 0, progress: bool = True) -> dict:
    """Rank-1/5/10 and mAP (percent) of ``model`` on a query / gallery pair of datasets.

    Returns the summary plus ``cmc`` (list, fractions) and timings in seconds
    (``extract_s``, ``match_s``) and sizes (``num_query``, ``num_gallery``).
    """
    t0 = time.perf_counter()
    qf = extract_features(model, query_dataset, batch_size, device, workers, "query", progress)
    gf = extract_features(model, gallery_dataset, batch_size, device, workers, "gallery",
                          progress)
    t1 = time.perf_counter()
    distmat = cosine_distance(qf, gf)
    cmc, mAP = rank_metrics(distmat, query_dataset.pids, gallery_dataset.pids,
                            query_dataset.camids, gallery_dataset.camids)
    t2 = time.perf_counter()
    return {**summarize(cmc, mAP), "cmc": cmc.tolist(), "extract_s": t1 - t0,
            "match_s": t2 - t1, "num_query": len(query_dataset),
            "num_gallery": len(gallery_dataset)}
