"""``GalleryIndex``: the features of a gallery and what is needed to show its matches.

Stored per item: the L2-normalised feature (float16 on disk), pid, camid, the source image
path, the prepared cloud path (the cloud itself is not stored) and a 128x64 JPEG thumbnail
(so an app can show matches without the dataset). ``search`` is cosine top-k through one of
two backends:

- ``backend="exact"`` (default): a torch matrix product with the features in chunks, on the
  device where the features are.
- ``backend="faiss"``: a FAISS index (``ognet.faiss_search``): ``faiss_index="Flat"``
  (``IndexFlatIP``, exact, the same top-k) or an approximate one for millions of items:
  ``faiss_index="approximate"`` is the recommended ``"IVF{nlist},SQ8"`` for the gallery's
  size (``ognet.faiss_search.approximate_spec``: 8-bit codes, 4 sqrt(N) cells, at most
  4096), searched with ``"nprobe=256"`` and re-ranked over 100 candidates;
  any other FAISS factory string with its ``faiss_params`` works too (see BENCHMARKS.md for
  recall and latency).
  ``rerank=R`` re-scores the approximate index's best R by the exact cosine on the stored
  float16 features and keeps the top k (the compressed codes only shortlist).

On disk (format version 1) an index is one safetensors file (``index.safetensors`` inside the
folder given to :meth:`GalleryIndex.save`, or the ``.safetensors`` path itself): tensors
``features`` (N, D) float16, ``pids`` / ``camids`` (N,) int64, ``thumb_bytes`` (T,) uint8 (all
JPEGs concatenated), ``thumb_offsets`` (N + 1,) int64, and a JSON string in the header
metadata (``ognet_gallery``) with the version, paths and provenance. No pickle anywhere; the
file is written to a temporary name and renamed. A FAISS-backed index also stores its backend
(``search``: backend, index spec, parameters) in the header and, for a trained index, FAISS's
serialisation as ``faiss_index`` (uint8); the float16 features are always kept, so an index
saved with FAISS still loads and searches (exactly, with torch) where FAISS is not
installed, with a :class:`FaissFallbackWarning`. Files without ``search`` are exact.

Two more fields of the header's ``meta`` say how far a match can be trusted and how the
gallery's clouds were made:

- ``calibration`` (:func:`calibrate`): the open-set similarity threshold of this gallery at a
  stated false-match rate, from the gallery's own same- and different-identity similarities,
  with their histograms; computed when the index is built, and at load for older files.
- ``lifting``: the lifting that made the gallery's clouds (``ognet.lift.LIFTINGS``); a query
  must be lifted the same way. Files without it were made by ``"mean_body"``.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

FORMAT = "ognet-gallery"
VERSION = 1
INDEX_FILE = "index.safetensors"
THUMB_SIZE = (128, 64)  # (height, width) of the thumbnails, the re-id crop shape


#: What :meth:`GalleryIndex.load` needs in a file: tensors, and fields of the JSON header.
REQUIRED_ARRAYS = ("features", "pids", "camids", "thumb_bytes", "thumb_offsets")
REQUIRED_FIELDS = ("image_paths", "cloud_paths", "meta")


#: The lifting of galleries whose file does not record one (all made before liftings had names).
LEGACY_LIFTING = "mean_body"
#: The false-match rate at which :func:`calibrate` sets the threshold, unless told otherwise.
FALSE_MATCH_RATE = 0.01


class GalleryError(RuntimeError):
    """A gallery index file is missing, corrupted or of an unknown version."""


class FaissFallbackWarning(UserWarning):
    """A gallery saved with a FAISS backend was loaded without FAISS: searched exactly."""


BACKENDS = ("exact", "faiss")


class SearchResult(NamedTuple):
    """Top-k matches: ``indices`` (Q, k) int64, ``similarities`` (Q, k) float32 cosine,
    ``pids`` (Q, k) int64; ``(k,)`` each for a single ``(D,)`` query. An approximate FAISS
    index may find fewer than k: the rest are index -1, pid -1, similarity -inf."""

    indices: np.ndarray
    similarities: np.ndarray
    pids: np.ndarray


def encode_thumbnail(image: np.ndarray, size: tuple[int, int] = THUMB_SIZE,
                     quality: int = 85) -> bytes:
    """(H, W, 3) uint8 or float in [0, 1] image -> JPEG bytes of a ``size`` (h, w) thumbnail."""
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr).convert("RGB").resize((size[1], size[0]), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def thumbnail_for(item, size: tuple[int, int] = THUMB_SIZE) -> bytes:
    """JPEG thumbnail of a ``ReIDItem``: its image when there is one, else the colors of its
    prepared cloud laid out as the 128x64 crop they were lifted from (one point per pixel,
    row-major; pixels outside the ``mask`` stay black). Empty bytes when neither works."""
    from PIL import Image

    from ognet.pointcloud import LIFTED_POINTS, load_cloud

    if item.image_path is not None and Path(item.image_path).is_file():
        with Image.open(item.image_path) as im:
            return encode_thumbnail(np.asarray(im.convert("RGB")), size)
    if item.cloud_path is not None:
        cloud = load_cloud(item.cloud_path)
        rgb = cloud["points"][:, 3:6]
        mask = cloud["mask"]
        if mask is not None and mask.sum() == len(rgb):
            img = np.zeros((*mask.shape, 3), dtype=np.float32)
            img[mask] = rgb
            return encode_thumbnail(img, size)
        if len(rgb) == LIFTED_POINTS:
            return encode_thumbnail(rgb.reshape(128, 64, 3), size)
    return b""


def best_similarities(features, pids, camids, queries: np.ndarray,
                      chunk_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each gallery item ``q`` in ``queries``, searched against the rest of the gallery:

    - ``same[q]``: its best cosine to an item of its own identity seen by another camera
      (``-inf`` when there is none), i.e. the true match a re-id search should find;
    - ``different[q]``: its best cosine to an item of another identity, i.e. the best match a
      person the gallery does not hold would get, had ``q``'s identity been left out.

    ``pids <= 0`` (Market-1501's junk and distractors) are another identity for every item,
    themselves included. Exact: (Q, N) products in chunks of ``chunk_size`` gallery rows.
    """
    feats = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features)
                            else features).float().cpu()
    pids, camids = torch.as_tensor(np.asarray(pids)), torch.as_tensor(np.asarray(camids))
    q = torch.as_tensor(np.asarray(queries, dtype=np.int64))
    same = torch.full((len(q),), -torch.inf)
    different = torch.full((len(q),), -torch.inf)
    qf, qp, qc = feats[q], pids[q][:, None], camids[q][:, None]
    for start in range(0, len(feats), chunk_size):
        stop = min(start + chunk_size, len(feats))
        sims = qf @ feats[start:stop].T                                   # (Q, n)
        gp, gc = pids[start:stop][None], camids[start:stop][None]
        own = (gp == qp) & (qp > 0)                                       # same identity
        itself = torch.arange(start, stop)[None] == q[:, None]
        same = torch.maximum(same, sims.masked_fill(~(own & (gc != qc)), -torch.inf).amax(1))
        different = torch.maximum(different, sims.masked_fill(own | itself, -torch.inf).amax(1))
    return same.numpy(), different.numpy()


def calibrate(features, pids, camids, false_match_rate: float = FALSE_MATCH_RATE,
              max_queries: int = 2000, bins: int = 30, seed: int = 0) -> dict:
    """The open-set threshold of a gallery, from its own similarities (:func:`best_similarities`
    of every item, or of a seeded sample of ``max_queries``).

    A query of a person the gallery does not hold still gets a best match; how high its
    similarity goes is measured on the gallery itself: each item, its identity left out,
    is such a stranger (``different``). The threshold is set so that at most
    ``false_match_rate`` of them have a best match *above* it: a top match above the
    threshold is "confident". ``true_match_rate`` is the share of items whose best match of
    their own identity in another camera (``same``) is above it. The decision is about the
    best match over the whole gallery (open-set identification), not one pair: a per-pair
    rate would pass almost every stranger in a gallery of hundreds.

    Returns a JSON-able dict: ``false_match_rate``, ``threshold``, ``true_match_rate``,
    ``queries`` (items used), ``same_identity`` (items with another camera of their identity),
    and the histograms ``edges`` (bins + 1), ``same``, ``different`` (counts per bin).
    """
    if not 0 < false_match_rate < 1:
        raise ValueError(f"false_match_rate must be in (0, 1), got {false_match_rate}")
    n = len(pids)
    if n < 2:
        raise ValueError("a gallery of fewer than 2 items cannot be calibrated")
    queries = np.arange(n) if n <= max_queries else np.sort(
        np.random.default_rng(seed).choice(n, max_queries, replace=False))
    same, different = best_similarities(features, pids, camids, queries)
    different = different[np.isfinite(different)]
    if not len(different):
        raise ValueError("a gallery of one identity cannot be calibrated")
    same = same[np.isfinite(same)]
    # at most floor(rate * n) strangers above: the threshold is the next-highest value
    ranked = np.sort(different)[::-1]
    threshold = float(ranked[min(int(false_match_rate * len(ranked)), len(ranked) - 1)])
    values = np.concatenate([same, different])
    lo, hi = float(np.floor(values.min() * 50) / 50), float(np.ceil(values.max() * 50) / 50)
    edges = np.linspace(lo, max(hi, lo + 0.02), bins + 1)
    return {"false_match_rate": float(false_match_rate), "threshold": round(threshold, 6),
            "true_match_rate": round(float((same > threshold).mean()), 6) if len(same)
            else None,
            "queries": int(len(queries)), "same_identity": int(len(same)),
            "edges": np.round(edges, 6).tolist(),
            "same": np.histogram(same, edges)[0].tolist(),
            "different": np.histogram(different, edges)[0].tolist()}


class GalleryIndex:
    """Gallery features + metadata with cosine top-k search (exact torch product, or FAISS).

    Args (besides the attributes below):
        backend: ``"exact"`` (torch) or ``"faiss"``.
        faiss_index: FAISS index factory string for ``backend="faiss"`` (``"Flat"``: exact),
            or ``"approximate"``: the recommended compressed index for the gallery's size
            (``ognet.faiss_search.approximate_spec``; ``faiss_index`` then holds its spec).
        faiss_params: FAISS search parameters (``"nprobe=32"``, ``"efSearch=128"``);
            ``None``: those of the ``"approximate"`` preset, else none.
        train_size: rows (a random subsample) an IVF / PQ index is trained on (the
            ``"approximate"`` preset takes at least 39 per cell).
        rerank: with FAISS, re-score its best ``rerank`` candidates by the exact cosine on
            the stored features (0: FAISS's own scores; for compressed indexes); ``None``:
            the ``"approximate"`` preset's (100), else 0.

    Attributes:
        features: (N, D) torch tensor, float16 (the storage type); L2-normalised rows.
        pids, camids: (N,) int64 numpy arrays.
        image_paths, cloud_paths: (N,) lists of str ("" when unknown).
        thumbnails: (N,) list of JPEG bytes (``b""`` when none).
        meta: provenance (checkpoint, dataset, created), ``lifting`` and ``calibration``
            (see :attr:`lifting`, :attr:`calibration`), saved with the index.
        backend, faiss_index, faiss_params, rerank: the search backend in use.
    """

    def __init__(self, features, pids, camids, image_paths=None, cloud_paths=None,
                 thumbnails=None, meta: dict | None = None, backend: str = "exact",
                 faiss_index: str = "Flat", faiss_params: str | None = None,
                 train_size: int = 200_000, rerank: int | None = None):
        feats = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features)
                                else features)
        if feats.dim() != 2:
            raise ValueError(f"features must be (N, D), got {tuple(feats.shape)}")
        n = feats.shape[0]
        self.features = feats.to(torch.float16)
        self.pids = np.asarray(pids, dtype=np.int64).reshape(-1)
        self.camids = np.asarray(camids, dtype=np.int64).reshape(-1)
        self.image_paths = [str(p) if p else "" for p in (image_paths or [""] * n)]
        self.cloud_paths = [str(p) if p else "" for p in (cloud_paths or [""] * n)]
        self.thumbnails = list(thumbnails) if thumbnails is not None else [b""] * n
        for name, seq in (("pids", self.pids), ("camids", self.camids),
                          ("image_paths", self.image_paths), ("cloud_paths", self.cloud_paths),
                          ("thumbnails", self.thumbnails)):
            if len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} entries for {n} features")
        self.meta = dict(meta or {})
        self._compute: torch.Tensor | None = None
        self.backend, self.faiss_index, self.faiss_params, self.rerank = "exact", "", "", 0
        self._faiss = None
        self.set_backend(backend, faiss_index, faiss_params, train_size, rerank)

    def __len__(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def lifting(self) -> str:
        """The lifting that made the gallery's clouds (``meta["lifting"]``; files without it
        were made by :data:`LEGACY_LIFTING`). A query must be lifted the same way."""
        return str(self.meta.get("lifting") or LEGACY_LIFTING)

    @property
    def calibration(self) -> dict | None:
        """The open-set threshold of :func:`calibrate` (``meta["calibration"]``), computed
        when the index is built; for a file without it, computed here on first use (marked
        ``"at": "load"``) and kept in ``meta``, so :meth:`save` stores it. None for a
        gallery that cannot be calibrated (a single identity: no stranger to measure)."""
        if "calibration" not in self.meta:
            try:
                self.meta["calibration"] = {**calibrate(self.features, self.pids, self.camids),
                                            "at": "load"}
            except ValueError:
                return None
        return self.meta["calibration"]

    @property
    def threshold(self) -> float | None:
        """A match is confident when its similarity is above this (:attr:`calibration`);
        None when the gallery has no calibration."""
        return None if self.calibration is None else float(self.calibration["threshold"])

    def set_backend(self, backend: str, faiss_index: str = "Flat",
                    faiss_params: str | None = None, train_size: int = 200_000,
                    rerank: int | None = None, _faiss=None) -> GalleryIndex:
        """Search with ``backend`` from now on; builds (and trains) the FAISS index here
        (``_faiss``: an index already built for these features, its ``faiss_params`` set).

        Raises ``ValueError`` for an unknown backend and ``ognet.faiss_search.FaissMissing``
        when FAISS is asked for but not installed. Returns self.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "exact":
            self.backend, self.faiss_index, self.faiss_params, self._faiss = "exact", "", "", None
            self.rerank = 0
            return self
        from ognet import faiss_search

        if faiss_index == faiss_search.APPROXIMATE:
            faiss_index = faiss_search.approximate_spec(len(self))
            train_size = max(train_size, faiss_search.MIN_ROWS_PER_CELL
                             * faiss_search.approximate_cells(len(self)))
            faiss_params = (faiss_search.APPROXIMATE_PARAMS if faiss_params is None
                            else faiss_params)
            rerank = faiss_search.APPROXIMATE_RERANK if rerank is None else rerank
        faiss_params = faiss_params or ""
        rerank = int(rerank or 0)
        if rerank < 0:
            raise ValueError(f"rerank must be >= 0, got {rerank}")
        if _faiss is not None:
            faiss_search.set_params(_faiss, faiss_params)
        else:
            feats = self.features.cpu()
            chunks = (feats[s:s + 262144] for s in range(0, len(feats), 262144))
            _faiss = faiss_search.build_index(
                chunks, self.dim, faiss_index, params=faiss_params,
                train_sample=lambda: faiss_search.sample_rows(feats.numpy(), train_size))
        self.backend, self.faiss_index, self.faiss_params = "faiss", faiss_index, faiss_params
        self._faiss, self.rerank = _faiss, int(rerank)
        return self

    def to(self, device: str | torch.device) -> GalleryIndex:
        """Move the features (and the search cache) to ``device``; returns self."""
        self.features = self.features.to(device)
        self._compute = None
        return self

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, model: torch.nn.Module, dataset, batch_size: int = 64,
              device: str | torch.device | None = None, thumbnails: bool = True,
              workers: int = 0, progress: bool = True, meta: dict | None = None,
              lifting: str = LEGACY_LIFTING, false_match_rate: float = FALSE_MATCH_RATE,
              **backend) -> GalleryIndex:
        """Extract features of every item of a ``PointCloudDataset`` with ``model.extract``,
        and calibrate the open-set threshold (:func:`calibrate`) on them.

        Args:
            model: a trained OG-Net (put in eval mode here).
            dataset: ``ognet.data.PointCloudDataset`` in evaluation mode (``train=False``).
            thumbnails: make a JPEG thumbnail per item (from its image, else its cloud).
            lifting: the lifting that made the dataset's clouds (stored: :attr:`lifting`).
            false_match_rate: of the calibrated threshold.
            backend: ``backend=``, ``faiss_index=``, ``faiss_params=``, ``train_size=``,
                ``rerank=`` of the constructor.
        """
        from tqdm import tqdm

        from ognet.engine.checkpoint import resolve_device
        from ognet.engine.evaluation import extract_features

        device = resolve_device(device)
        model = model.to(device).eval()
        feats = extract_features(model, dataset, batch_size=batch_size, device=device,
                                 workers=workers, desc="index", progress=progress)
        items = dataset.items
        thumbs = [thumbnail_for(it) for it in tqdm(items, desc="thumbnails", leave=False,
                                                   disable=not progress)] if thumbnails \
            else None
        pids, camids = [it.pid for it in items], [it.camid for it in items]
        info = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "z_zero": bool(getattr(dataset, "z_zero", False)),
                "num_points": int(getattr(dataset, "num_points", 0)), "lifting": lifting,
                **(meta or {})}
        index = cls(feats, pids, camids, [it.image_path for it in items],
                    [it.cloud_path for it in items], thumbs, meta=info, **backend)
        try:
            index.meta["calibration"] = {**calibrate(index.features, index.pids, index.camids,
                                                     false_match_rate), "at": "index"}
        except ValueError:  # a single identity: nothing to calibrate against
            pass
        return index

    # ------------------------------------------------------------------ search
    def _compute_features(self) -> torch.Tensor:
        """The features in the dtype used for the product: float32 on CPU (no fast float16
        matmul there), float16 on CUDA. Cached."""
        if self._compute is None:
            dtype = torch.float32 if self.device.type == "cpu" else torch.float16
            self._compute = self.features.to(dtype)
        return self._compute

    @torch.no_grad()
    def search(self, query, k: int = 5, chunk_size: int = 262144) -> SearchResult:
        """Cosine top-k of ``query`` (Q, D) or (D,) (normalised here) over the gallery.

        Exact backend: gallery rows are scanned in chunks of ``chunk_size``; the per-chunk
        top-k are merged. FAISS backend: one ``index.search``. Returns a
        :class:`SearchResult` of numpy arrays, (Q, k) or (k,) for a 1-D query; ``k`` is
        capped at the gallery size.
        """
        q = torch.as_tensor(np.asarray(query) if not torch.is_tensor(query) else query)
        single = q.dim() == 1
        q = q.reshape(1, -1) if single else q
        if q.dim() != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query must be (Q, {self.dim}) or ({self.dim},), got "
                             f"{tuple(q.shape)}")
        if len(self) == 0:
            raise ValueError("the gallery is empty")
        k = min(k, len(self))
        if self._faiss is not None:
            from ognet import faiss_search

            qn = torch.nn.functional.normalize(q.float(), dim=1)
            sim, idx = faiss_search.search(self._faiss, qn, max(k, min(self.rerank, len(self))))
            sim[idx < 0] = -np.inf
            if self.rerank:        # exact cosine of the shortlist: (Q, R, D) x (Q, D)
                # numpy, one thread: a few hundred thousand products, and no hand-over
                # between FAISS's and torch's OpenMP thread pools (slow on loaded cores)
                cand = self.features.cpu().numpy()[np.maximum(idx, 0)].astype(np.float32)
                exact = np.einsum("qrd,qd->qr", cand, qn.cpu().numpy())
                exact[idx < 0] = -np.inf
                order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
                sim = np.take_along_axis(exact, order, 1)
                idx = np.take_along_axis(idx, order, 1)
            pid = np.where(idx < 0, -1, self.pids[np.maximum(idx, 0)])
            if single:
                return SearchResult(idx[0], sim[0], pid[0])
            return SearchResult(idx, sim, pid)
        feats = self._compute_features()
        q = torch.nn.functional.normalize(q.to(self.device, torch.float32), dim=1).to(
            feats.dtype)
        best_s = best_i = None
        for start in range(0, len(self), chunk_size):
            sims = (q @ feats[start:start + chunk_size].T).float()
            s, i = torch.topk(sims, min(k, sims.shape[1]), dim=1, sorted=True)
            i = i + start
            if best_s is None:
                best_s, best_i = s, i
            else:
                s, i = torch.cat([best_s, s], 1), torch.cat([best_i, i], 1)
                best_s, pos = torch.topk(s, k, dim=1, sorted=True)
                best_i = torch.gather(i, 1, pos)
        idx = best_i.cpu().numpy().astype(np.int64)
        sim = best_s.cpu().numpy().astype(np.float32)
        pid = self.pids[idx]
        if single:
            return SearchResult(idx[0], sim[0], pid[0])
        return SearchResult(idx, sim, pid)

    # ------------------------------------------------------------------ thumbnails
    def thumbnail(self, i: int) -> np.ndarray | None:
        """Item ``i``'s thumbnail as an (H, W, 3) uint8 array, or ``None``."""
        from PIL import Image

        data = self.thumbnails[i]
        if not data:
            return None
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))

    # ------------------------------------------------------------------ I/O
    @staticmethod
    def _file(path: str | os.PathLike) -> Path:
        p = Path(path)
        return p if p.suffix == ".safetensors" else p / INDEX_FILE

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index (a folder, or a ``.safetensors`` file) atomically; returns the file.
        Its :attr:`calibration` is stored with it (computed first when there is none yet)."""
        from safetensors.numpy import save_file

        _ = self.calibration  # computed into meta when missing

        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        lengths = np.array([len(t) for t in self.thumbnails], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        blob = np.frombuffer(b"".join(self.thumbnails), dtype=np.uint8).copy()
        arrays = {"features": self.features.cpu().numpy().astype(np.float16),
                  "pids": self.pids, "camids": self.camids,
                  "thumb_bytes": blob if len(blob) else np.zeros(0, dtype=np.uint8),
                  "thumb_offsets": offsets}
        if self.backend == "faiss" and self.faiss_index != "Flat":  # Flat: rebuilt on load
            from ognet import faiss_search

            arrays["faiss_index"] = faiss_search.serialize(self._faiss)
        header = {"format": FORMAT, "version": VERSION, "count": len(self), "dim": self.dim,
                  "thumb_size": list(THUMB_SIZE), "image_paths": self.image_paths,
                  "cloud_paths": self.cloud_paths, "meta": self.meta,
                  "search": {"backend": self.backend, "faiss_index": self.faiss_index,
                             "faiss_params": self.faiss_params, "rerank": self.rerank}}
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(arrays, tmp, metadata={"ognet_gallery": json.dumps(header)})
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def check_model(self, embed_dim: int, num_points: int, z_zero: bool,
                    model: str | None = None) -> None:
        """Raise :class:`GalleryError` when the gallery was built for another checkpoint:
        another feature width, point count, z = 0 setting (2D control) or variant, as far as
        its ``meta`` records them (older indexes without a field are not checked on it)."""
        problems = []
        if self.dim != embed_dim:
            problems.append(f"{self.dim}-d features, the checkpoint makes {embed_dim}-d ones")
        built = int(self.meta.get("num_points") or 0)
        if built and built != num_points:
            problems.append(f"{built}-point clouds, the checkpoint reads {num_points}")
        if "z_zero" in self.meta and bool(self.meta["z_zero"]) != bool(z_zero):
            problems.append("clouds with z = 0 (2D control), the checkpoint reads 3D ones"
                            if self.meta["z_zero"] else
                            "3D clouds, the checkpoint is a 2D control (z = 0)")
        variant = self.meta.get("model")
        if variant and model and variant != model:
            problems.append(f"variant {variant}, the checkpoint is {model}")
        if problems:
            raise GalleryError("built by another checkpoint (" + "; ".join(problems) + "): "
                               "rebuild it with python -m ognet index --checkpoint ...")

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> GalleryIndex:
        """Read an index written by :meth:`save` (folder or file); features go to ``device``.

        A FAISS-backed index is restored with its backend; without FAISS installed it
        searches exactly (torch) and warns with :class:`FaissFallbackWarning`.
        """
        from safetensors import SafetensorError, safe_open

        file = cls._file(path)
        if not file.is_file():
            raise GalleryError(f"{file}: gallery index not found")
        try:
            with safe_open(str(file), framework="numpy") as f:
                header = json.loads((f.metadata() or {}).get("ognet_gallery", "null"))
                arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as e:
            raise GalleryError(f"{file}: corrupted gallery index ({e})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise GalleryError(f"{file}: not an ognet gallery index")
        if header.get("version") != VERSION:
            raise GalleryError(f"{file}: gallery format version {header.get('version')}, this "
                               f"ognet reads version {VERSION}")
        missing = ([k for k in REQUIRED_ARRAYS if k not in arrays]
                   + [k for k in REQUIRED_FIELDS if k not in header])
        if missing:
            raise GalleryError(f"{file}: gallery index without {', '.join(missing)} (rebuild "
                               "it with python -m ognet index)")
        offsets = arrays["thumb_offsets"]
        blob = arrays["thumb_bytes"].tobytes()
        thumbs = [blob[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        try:
            index = cls(torch.from_numpy(arrays["features"]), arrays["pids"], arrays["camids"],
                        header["image_paths"], header["cloud_paths"], thumbs,
                        meta=header["meta"])
        except (ValueError, TypeError) as e:
            raise GalleryError(f"{file}: inconsistent gallery index ({e})") from None
        search = header.get("search") or {"backend": "exact"}
        if search.get("backend") == "faiss":
            from ognet import faiss_search

            spec, params = search.get("faiss_index", "Flat"), search.get("faiss_params", "")
            try:
                trained = None
                if "faiss_index" in arrays:
                    trained = faiss_search.deserialize(arrays["faiss_index"], params)
                    if trained.ntotal != len(index):
                        raise GalleryError(f"{file}: the FAISS index holds {trained.ntotal} "
                                           f"vectors for {len(index)} items")
                index.set_backend("faiss", spec, params, rerank=int(search.get("rerank", 0)),
                                  _faiss=trained)
            except (RuntimeError, ValueError) as exc:  # FAISS's own errors are RuntimeError
                if isinstance(exc, GalleryError):
                    raise
                raise GalleryError(f"{file}: unusable FAISS index {spec!r} ({exc})") from None
            except faiss_search.FaissMissing as exc:
                warnings.warn(f"{file}: saved with the FAISS index {spec!r}, but {exc}; "
                              "searching exactly with torch instead", FaissFallbackWarning,
                              stacklevel=2)
        return index.to(device)
