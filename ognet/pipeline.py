"""``ReIDPipeline``: photo (or cloud) -> lifted cloud -> OG-Net trace -> top-k gallery matches.

What the app and scripts call; no UI code. Loads the model, the galleries and the lifting
models once. Several galleries built by the same checkpoint can be held at once (the app's
gallery choice); each query names the one it searches, and is lifted the way that gallery's
clouds were (``GalleryIndex.lifting``).
"""

from __future__ import annotations

import copy
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ognet.gallery import GalleryIndex
from ognet.models import ModelTrace, count_parameters
from ognet.pointcloud import read_point_cloud_file, sample_rows

CLOUD_SUFFIXES = (".ply", ".pcd")
#: Fewer points than this is not a person cloud (a query is refused).
MIN_CLOUD_POINTS = 64
_MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)")


class PipelineError(RuntimeError):
    """The checkpoint or gallery cannot be used (missing, corrupted or mismatched)."""


@dataclass
class Match:
    """One gallery match: ``rank`` 1..k, cosine ``similarity``, identity and camera (1-based),
    the 128x64 thumbnail and the source image path when known; ``confident``: the similarity
    is above the gallery's calibrated threshold (``GalleryIndex.threshold``); ``gallery``: the
    name of the gallery it is item ``index`` of."""

    rank: int
    index: int
    similarity: float
    pid: int
    camid: int
    thumbnail: np.ndarray | None
    image_path: str | None
    confident: bool = False
    gallery: str = ""


@dataclass
class QueryResult:
    """Everything the app shows for one query.

    Attributes:
        cloud: (M, 6) the full cloud (8192 points for a photo).
        foreground: (M,) bool, or None for a cloud file.
        points: (N, 6) the points the model saw (``model.config.num_points`` of them).
        trace: the per-module :class:`ModelTrace`; ``embedding`` (512,) its feature.
        matches: the top-k gallery matches, best first.
        lift: the ``LiftResult`` of a photo (None for a cloud file).
        query_pid: the identity, when the file name says it (Market-1501 style).
        timings: seconds for lifting, features and search.
        name: the query's file name, when known.
        people: the people found in a wide photo (``ognet.lift.PersonBox``, largest first;
            empty for a crop or a cloud); ``person``: the index of the one lifted.
        note: what was done about several people (empty otherwise).
        gallery: the name of the gallery searched (``ReIDPipeline.galleries``).
    """

    cloud: np.ndarray
    foreground: np.ndarray | None
    points: np.ndarray
    trace: ModelTrace
    embedding: np.ndarray
    matches: list[Match]
    lift: object | None = None
    query_pid: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    name: str | None = None
    people: list = field(default_factory=list)
    person: int | None = None
    note: str = ""
    gallery: str = ""

    @property
    def confident(self) -> bool:
        """Whether any match is above its gallery's calibrated threshold."""
        return any(m.confident for m in self.matches)


def gallery_name(path) -> str:
    """The name a gallery file or folder goes by: its folder's name (``assets/campus`` ->
    ``campus``; ``x/index.safetensors`` -> ``x``; ``x/g.safetensors`` -> ``g``)."""
    path = Path(path)
    if path.name == "index.safetensors":
        path = path.parent
    return path.stem if path.suffix == ".safetensors" else path.name


def parse_market_name(name: str | None) -> tuple[int, int] | None:
    """``(pid, camid)`` from a Market-1501-style file name (``0002_c1s1_000451_03.jpg``)."""
    if not name:
        return None
    m = _MARKET_NAME.match(Path(name).name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise PipelineError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(device)


class ReIDPipeline:
    """Model + galleries + lifting, loaded once.

    Args:
        checkpoint: ``.safetensors`` checkpoint (its ``.json`` beside it).
        gallery: a ``GalleryIndex`` file or folder, or a mapping ``name -> file or folder``
            of several (the first is the default; a single one is named by
            :func:`gallery_name`). Each must be built by this checkpoint and with a known
            lifting.
        device: ``auto`` (the GPU when there is one), ``cpu`` or ``cuda``.
        body_model_dir: official SMPL files for the lifting (default: the free body).

    Attributes:
        galleries: ``name -> GalleryIndex``; ``gallery_name``: the one this pipeline
            searches (:meth:`using` gives the pipeline of another, sharing everything else).
    """

    def __init__(self, checkpoint, gallery, device: str = "auto",
                 body_model_dir: str | None = None):
        from ognet.engine.checkpoint import CheckpointError, load_model
        from ognet.lift import LIFTINGS

        self.device = resolve_device(device)
        try:
            self.model = load_model(checkpoint, device=self.device)
        except CheckpointError as exc:
            raise PipelineError(f"checkpoint: {exc}") from exc
        self.checkpoint = Path(checkpoint)
        meta = getattr(self.model, "checkpoint_meta", {})
        if not meta.get("background", True):
            raise PipelineError(f"checkpoint {checkpoint} was trained on the person's points "
                                f"only (`train --no-background`, a study arm); the app feeds "
                                f"whole clouds, background included: use a checkpoint "
                                f"trained with it")
        self.z_zero = bool(meta.get("z_zero", False))
        paths = dict(gallery) if isinstance(gallery, dict) else {gallery_name(gallery): gallery}
        if not paths:
            raise PipelineError("no gallery given")
        self.galleries = {name: self._load_gallery(path, LIFTINGS)
                          for name, path in paths.items()}
        self.gallery_name = next(iter(self.galleries))
        self.body_model_dir = body_model_dir
        # shared by every pipeline of :meth:`using`: one lifter per lifting, one view per
        # gallery (the explanations cache per pipeline object)
        self._lifters: dict[str, object] = {}
        self._lifters_lock = threading.Lock()
        self._views = {self.gallery_name: self}

    def _load_gallery(self, path, liftings) -> GalleryIndex:
        from ognet.gallery import GalleryError

        try:
            index = GalleryIndex.load(path, device=self.device)
            index.check_model(self.model.config.embed_dim, self.model.config.num_points,
                              self.z_zero, self.model.config.name)
        except (GalleryError, OSError) as exc:
            raise PipelineError(f"gallery {path}: {exc}") from exc
        if index.lifting not in liftings:
            raise PipelineError(f"gallery {path}: made by the lifting {index.lifting!r}, which "
                                f"this ognet does not have (it has {', '.join(liftings)})")
        return index

    @property
    def gallery(self) -> GalleryIndex:
        """The gallery this pipeline searches."""
        return self.galleries[self.gallery_name]

    def using(self, name: str | None) -> ReIDPipeline:
        """The pipeline that searches gallery ``name`` (None: this one), sharing the model,
        the galleries and the lifters; the same object for the same name."""
        if name is None or name == self.gallery_name:
            return self
        if name not in self.galleries:
            raise ValueError(f"unknown gallery {name!r}; one of {', '.join(self.galleries)}")
        if name not in self._views:
            view = copy.copy(self)
            view.gallery_name = name
            self._views[name] = view
        return self._views[name]

    @property
    def lifter(self):
        """The ``Lifter`` of this gallery's lifting (made on first use, then shared)."""
        lifting = self.gallery.lifting
        with self._lifters_lock:
            if lifting not in self._lifters:
                from ognet.lift import Lifter

                self._lifters[lifting] = Lifter(self.body_model_dir, lifting=lifting)
            return self._lifters[lifting]

    def describe(self) -> dict:
        """What is loaded, for a header: variant, parameters, device, this gallery (size,
        identities, lifting, threshold), body model; ``galleries``: every gallery's."""
        dev = (torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
               else "CPU")
        return {
            "variant": self.model.config.name,
            "parameters": count_parameters(self.model),
            "input_points": self.model.config.num_points,
            "device": dev,
            "gallery": self.gallery_name,
            "gallery_size": len(self.gallery),
            "gallery_identities": len(np.unique(self.gallery.pids)),
            "body_model": self.lifter.body.source,
            "checkpoint": self.checkpoint.name,
            "galleries": {name: {"size": len(g), "identities": len(np.unique(g.pids)),
                                 "lifting": g.lifting, "threshold": g.threshold}
                          for name, g in self.galleries.items()},
        }

    def warm_up(self) -> None:
        """Run one synthetic query so the first user request is as fast as the others (with
        every lifting the galleries need; their calibrations are read or computed too; and,
        for the ``"person"`` lifting, the population its build is placed in, about a second:
        ``ognet.lift.build.describe_build``)."""
        grey_figure = np.zeros((128, 64, 3), dtype=np.uint8)
        grey_figure[20:120, 22:42] = 180
        for name in self.galleries:
            view = self.using(name)
            lift = view.lifter(grey_figure)
            _ = view.gallery.calibration
            if lift.lifting == "person" and self.body_model_dir is None:
                from ognet.lift.build import describe_build

                describe_build(lift.betas)
        self.embed(np.random.default_rng(0).random((8192, 6)).astype(np.float32))

    def model_rows(self, cloud: np.ndarray, num_points: int | None = None) -> np.ndarray:
        """(num_points,) rows of ``cloud`` (M, 6) that the model sees (default: the model's
        ``num_points``): ``sample_rows`` mode ``stride`` of its float32 values, as in
        evaluation."""
        return sample_rows(np.asarray(cloud, dtype=np.float32),
                           num_points or self.model.config.num_points, mode="stride")

    def model_points(self, cloud: np.ndarray, num_points: int | None = None) -> np.ndarray:
        """(M, 6) cloud -> the (N, 6) float32 points the model sees (:meth:`model_rows`); a
        checkpoint trained as the 2D control (``z_zero``) sees them with z = 0."""
        points = np.asarray(cloud, dtype=np.float32)
        points = points[self.model_rows(points, num_points)]
        if self.z_zero:  # a 2D-control checkpoint was trained (and must be fed) with z = 0
            points[:, 2] = 0.0
        return points

    def embed(self, cloud: np.ndarray) -> tuple[np.ndarray, ModelTrace]:
        """(M, 6) cloud -> (the N points the model saw (:meth:`model_points`), its trace)."""
        points = self.model_points(cloud)
        with torch.no_grad():
            trace = self.model.trace(torch.from_numpy(points).to(self.device))
        return points, trace

    def explain(self, result: QueryResult, rank: int, with_match: bool = True):
        """Why match ``rank`` (1..k) of ``result`` matched: the similarity split exactly over
        points and body parts (``ognet.explain.explain_match``), in the gallery it searched."""
        from ognet.explain import explain_match

        return explain_match(self.using(result.gallery or None), result, rank,
                             with_match=with_match)

    def what_if(self, result: QueryResult, variation: str, value=None):
        """``result`` re-run under one variation (``ognet.whatif``) in the gallery it
        searched; ``result`` is unchanged."""
        from ognet.whatif import what_if

        return what_if(self.using(result.gallery or None), result, variation, value)

    def search(self, embedding: np.ndarray, k: int = 5) -> list[Match]:
        """The top-k of this gallery, each marked ``confident`` when above its threshold."""
        hits = self.gallery.search(torch.as_tensor(embedding), k=k)
        threshold = self.gallery.threshold
        out = []
        for rank, (i, sim, pid) in enumerate(zip(hits.indices, hits.similarities, hits.pids,
                                                 strict=True), start=1):
            i = int(i)
            paths = self.gallery.image_paths
            out.append(Match(rank=rank, index=i, similarity=float(sim), pid=int(pid),
                             camid=int(self.gallery.camids[i]) + 1,
                             thumbnail=self.gallery.thumbnail(i),
                             image_path=str(paths[i]) if paths is not None and paths[i] else None,
                             confident=threshold is not None and float(sim) > threshold,
                             gallery=self.gallery_name))
        return out

    def match_cloud(self, match: Match) -> np.ndarray:
        """The (N, 6) cloud of a gallery match: its prepared cloud when the gallery has one,
        else its source photo (or its thumbnail) lifted. Raises ``ValueError`` when the
        gallery keeps none of them."""
        return self.match_cloud_parts(match)[0]

    def match_cloud_parts(self, match: Match):
        """:meth:`match_cloud` with what is known of its points: ``(cloud (N, 6), parts (N,)
        int8 body part or -1 (``LiftResult.parts``) or None, foreground (N,) bool or None)``.
        A lifted photo or thumbnail knows both; a prepared cloud its person mask at most."""
        from ognet.pointcloud import load_cloud

        path = self.gallery.cloud_paths[match.index]
        if path and Path(path).is_file():
            prepared = load_cloud(path)
            mask = prepared["mask"]
            cloud = prepared["points"]
            fits = mask is not None and mask.size == len(cloud)
            return cloud, None, mask.reshape(-1).astype(bool) if fits else None
        if match.image_path and Path(match.image_path).is_file():
            lift = self.lifter(match.image_path)
        elif match.thumbnail is not None:
            lift = self.lifter(match.thumbnail)
        else:
            raise ValueError("the gallery stores no cloud, image or thumbnail for it")
        return lift.points, lift.parts, lift.foreground.reshape(-1)

    def person_crop(self, source, person: int | None = None):
        """The part of a photo to lift: ``(image, people, index, note)``.

        A wide photo (``ognet.lift.is_wide``) is searched for people; with any found, the
        crop of ``people[person]`` is lifted (default: the largest, ``0``) and ``note`` says
        how many were found and which one was taken. A crop-shaped photo, or one where no
        one is found, is lifted whole (``people`` empty, ``index`` None).
        """
        from ognet.lift import LiftError, crop_person, is_wide, load_image

        image = load_image(source)
        people = self.lifter.find_people(image) if is_wide(image.size) else []
        if person is not None and not 0 <= person < len(people):
            raise LiftError(f"There is no person #{person + 1}: {len(people)} found in the "
                            "photo.")
        if not people:
            return image, [], None, ""
        index = person or 0
        if len(people) == 1:
            note = "1 person found in the wide photo: lifted their crop."
        else:
            which = "the largest" if index == 0 else f"#{index + 1}"
            note = (f"{len(people)} people found in the photo: lifted {which}; pick another "
                    "to search for them.")
        return crop_person(image, people[index]), people, index, note

    def run(self, source, name: str | None = None, k: int = 5, progress=None,
            person: int | None = None, gallery: str | None = None) -> QueryResult:
        """Query with a photo (path, bytes, PIL image, array) or a ``.ply``/``.pcd`` path.

        A wide photo with several people lifts one of them (``person``, 0-based, default the
        largest; :meth:`person_crop`). ``gallery``: the name of the gallery to search (default
        this pipeline's); the photo is lifted with that gallery's lifting.
        ``progress(fraction, desc)`` is called between the stages when given. Raises
        ``ognet.lift.LiftError`` (photos; ``NoPersonError`` when no person is seen) or
        ``ValueError`` (clouds, an unknown gallery) for unusable input.
        """
        if gallery is not None and gallery != self.gallery_name:
            return self.using(gallery).run(source, name=name, k=k, progress=progress,
                                           person=person)

        def report(f, desc):
            if progress is not None:
                progress(f, desc=desc)

        timings = {}
        name = name or (str(source) if isinstance(source, (str, Path)) else None)
        t0 = time.perf_counter()
        lift, people, index, note = None, [], None, ""
        if name and Path(name).suffix.lower() in CLOUD_SUFFIXES:
            report(0.1, "reading the point cloud")
            cloud, foreground = read_point_cloud_file(source), None
        else:
            report(0.05, "looking for people")
            image, people, index, note = self.person_crop(source, person)
            report(0.1, "lifting the photo to 3D")
            lift = self.lifter(image, require_person=True)
            cloud, foreground = lift.points, lift.foreground.reshape(-1)
        if len(cloud) < MIN_CLOUD_POINTS:
            raise ValueError(f"{Path(name).name if name else 'the cloud'}: only {len(cloud)} "
                             "points; a person cloud needs thousands.")
        timings["lifting"] = time.perf_counter() - t0

        report(0.55, "OG-Net features")
        t0 = time.perf_counter()
        points, trace = self.embed(cloud)
        timings["features"] = time.perf_counter() - t0

        report(0.85, "searching the gallery")
        t0 = time.perf_counter()
        embedding = trace.embedding.numpy()
        matches = self.search(embedding, k=k)
        timings["search"] = time.perf_counter() - t0
        parsed = parse_market_name(name)
        return QueryResult(cloud=cloud, foreground=foreground, points=points, trace=trace,
                           embedding=embedding, matches=matches, lift=lift,
                           query_pid=parsed[0] if parsed else None, timings=timings,
                           name=Path(name).name if name else None, people=people,
                           person=index, note=note, gallery=self.gallery_name)


def export_query(result: QueryResult, folder, stem: str | None = None) -> list[Path]:
    """Write a query's cloud (``_cloud.ply``), embedding (``_embedding.npy``, (512,)) and
    per-module traces (``_trace.npz``, keys of ``ModelTrace.to_numpy``) into ``folder``."""
    from ognet.pointcloud import save_ply

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(result.name or "query").stem or "query"
    paths = [folder / f"{stem}_cloud.ply", folder / f"{stem}_embedding.npy",
             folder / f"{stem}_trace.npz"]
    save_ply(paths[0], result.cloud)
    np.save(paths[1], result.embedding)
    np.savez_compressed(paths[2], **result.trace.to_numpy())
    return paths
