"""Parsing of re-id dataset folders into lists of :class:`ReIDItem` (pid, camid, paths).

Four naming conventions sit behind one interface, :func:`load_dataset`:

- ``market1501``: ``bounding_box_train``, ``bounding_box_test``, ``query``; names
  ``PPPP_cCsS_FFFFFF_NN.jpg`` (``0002_c1s1_000451_03.jpg``); pid ``-1`` is junk, pid ``0`` a
  distractor (both only in the gallery).
- ``dukemtmc``: the same three folders, names ``PPPP_cC_fFFFFFFF.jpg`` (``0001_c2_f0046182.jpg``).
- ``cuhk03np``: CUHK03-NP (new protocol) ``{detected,labeled}/`` each with the same three
  folders of ``.png`` crops named ``P_cC_N.png`` (``1_c1_000001.png``, cameras 1-2). Pass the
  ``detected`` / ``labeled`` folder, or the parent (``detected`` is used).
- ``msmt17``: ``train/``, ``test/`` and ``list_{train,val,query,gallery}.txt`` whose lines are
  ``PPPP/PPPP_SSS_CC_DDTTTT_NNNN_X.jpg LABEL`` (camera = third field, pid = ``LABEL``), as
  released (``MSMT17_V1``; ``MSMT17_V2`` uses ``mask_train_v2`` / ``mask_test_v2``); or the
  same names in Market-style folders (pid = first field).

Every folder may hold images (``.jpg``/``.png``) or prepared clouds (``.npz``, written by
``python -m ognet prepare``) or both; an image and a cloud with the same stem are one item.
Camera ids are 0-based (``c1`` -> 0). Training items with pid ``-1`` are dropped and the
remaining pids relabelled to ``0..C-1`` (:attr:`ReIDDataset.num_train_pids`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CLOUD_SUFFIX = ".npz"
SPLIT_FOLDERS = {"train": "bounding_box_train", "gallery": "bounding_box_test", "query": "query"}
FORMATS = ("market1501", "dukemtmc", "cuhk03np", "msmt17")

_MARKET_RE = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)$")
_DUKE_RE = re.compile(r"^(-?\d+)_c(\d+)_f(\d+)$")
_CUHK_RE = re.compile(r"^(-?\d+)_c(\d+)_(\d+)$")
_MSMT_RE = re.compile(r"^(-?\d+)_(\d+)_(\d+)_([0-9a-zA-Z]+)_(\d+)_(\d+)$")
_NAME_RES = {"market1501": _MARKET_RE, "dukemtmc": _DUKE_RE, "cuhk03np": _CUHK_RE,
             "msmt17": _MSMT_RE}
# Which regex group holds the camera (pid is always group 1).
_CAM_GROUP = {"market1501": 2, "dukemtmc": 2, "cuhk03np": 2, "msmt17": 3}


class DatasetLayoutError(ValueError):
    """A dataset folder does not have the expected layout or file names."""


@dataclass(frozen=True)
class ReIDItem:
    """One crop of one person.

    Attributes:
        pid: identity as in the file name (``-1`` junk, ``0`` distractor in Market-1501).
        camid: 0-based camera index.
        image_path: the source image, when present.
        cloud_path: the prepared ``.npz`` cloud, when present.
    """

    pid: int
    camid: int
    image_path: Path | None = None
    cloud_path: Path | None = None

    @property
    def path(self) -> Path:
        """The cloud when there is one, else the image."""
        return self.cloud_path if self.cloud_path is not None else self.image_path

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass
class ReIDDataset:
    """The three splits of one dataset. ``train_labels[i]`` is ``train[i]``'s class 0..C-1."""

    root: Path
    format: str
    train: list[ReIDItem] = field(default_factory=list)
    query: list[ReIDItem] = field(default_factory=list)
    gallery: list[ReIDItem] = field(default_factory=list)

    def __post_init__(self):
        self.train = [it for it in self.train if it.pid >= 0]
        pids = sorted({it.pid for it in self.train})
        self.pid_to_label = {pid: i for i, pid in enumerate(pids)}
        self.train_labels = [self.pid_to_label[it.pid] for it in self.train]

    @property
    def num_train_pids(self) -> int:
        return len(self.pid_to_label)

    def split(self, name: str) -> list[ReIDItem]:
        if name not in ("train", "query", "gallery"):
            raise ValueError(f"unknown split {name!r}; choose train, query or gallery")
        return getattr(self, name)

    def summary(self) -> str:
        """A small table: identities, items and cameras per split."""
        lines = [f"{self.format} at {self.root}", "  split     ids   items  cams"]
        for name in ("train", "query", "gallery"):
            items = self.split(name)
            lines.append(f"  {name:<8}{len({i.pid for i in items}):>5}{len(items):>8}"
                         f"{len({i.camid for i in items}):>6}")
        return "\n".join(lines)


def parse_name(name: str, fmt: str) -> tuple[int, int]:
    """``(pid, camid)`` of a file stem under naming convention ``fmt`` (camid 0-based).

    Raises ``DatasetLayoutError`` when the name does not follow the convention.
    """
    m = _NAME_RES[fmt].match(name)
    if m is None:
        raise DatasetLayoutError(f"{name!r} is not a {fmt} file name")
    return int(m.group(1)), int(m.group(_CAM_GROUP[fmt])) - (0 if fmt == "msmt17" else 1)


def _collect(folder: Path) -> dict[str, dict[str, Path]]:
    """stem -> {"image": path, "cloud": path} for the files directly in ``folder``."""
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(folder.iterdir()):
        suffix = p.suffix.lower()
        if not p.is_file() or p.name.startswith("."):
            continue
        if suffix in IMAGE_SUFFIXES:
            found.setdefault(p.stem, {})["image"] = p
        elif suffix == CLOUD_SUFFIX:
            found.setdefault(p.stem, {})["cloud"] = p
    return found


def _item(files: dict[str, Path], pid: int, camid: int) -> ReIDItem:
    return ReIDItem(pid=pid, camid=camid, image_path=files.get("image"),
                    cloud_path=files.get("cloud"))


def parse_folder(folder: str | Path, fmt: str) -> list[ReIDItem]:
    """Items of one split folder (``bounding_box_train`` ...) named after ``fmt``.

    Raises ``DatasetLayoutError`` naming the folder when it is missing, holds no images or
    clouds, or holds a file whose name does not follow ``fmt``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: folder not found")
    items = []
    for stem, files in _collect(folder).items():
        try:
            pid, camid = parse_name(stem, fmt)
        except DatasetLayoutError as e:
            raise DatasetLayoutError(f"{folder}: {e}") from None
        items.append(_item(files, pid, camid))
    if not items:
        raise DatasetLayoutError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) "
                                 f"or prepared clouds ({CLOUD_SUFFIX}) found")
    return items


def _msmt_list(root: Path, list_file: Path, folder: Path) -> list[ReIDItem]:
    items = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DatasetLayoutError(f"{list_file}:{n}: expected 'PATH LABEL', got {line!r}")
        rel, label = parts
        path = folder / rel
        stem = Path(rel).stem
        try:
            _, camid = parse_name(stem, "msmt17")
        except DatasetLayoutError as e:
            raise DatasetLayoutError(f"{list_file}:{n}: {e}") from None
        files = {}
        for suffix in (*IMAGE_SUFFIXES, CLOUD_SUFFIX):
            cand = path.with_suffix(suffix)
            if cand.is_file():
                files["cloud" if suffix == CLOUD_SUFFIX else "image"] = cand
        if not files:
            raise DatasetLayoutError(f"{list_file}:{n}: {path} not found (nor a prepared cloud)")
        items.append(_item(files, int(label), camid))
    return items


def _msmt_folders(root: Path) -> tuple[Path, Path] | None:
    for train, test in (("train", "test"), ("mask_train_v2", "mask_test_v2")):
        if (root / train).is_dir() and (root / test).is_dir():
            return root / train, root / test
    return None


def _has_split_folders(root: Path) -> bool:
    return any((root / f).is_dir() for f in SPLIT_FOLDERS.values())


def detect_format(root: str | Path) -> str:
    """Guess the naming convention of a dataset folder from its layout and first file name."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: dataset folder not found")
    if (root / "list_train.txt").is_file() and _msmt_folders(root):
        return "msmt17"
    if not _has_split_folders(root) and _has_split_folders(root / "detected"):
        return "cuhk03np"
    if not _has_split_folders(root):
        missing = [f for f in SPLIT_FOLDERS.values() if not (root / f).is_dir()]
        raise DatasetLayoutError(
            f"{root}: not a Market-1501-format dataset (missing {', '.join(missing)}); expected "
            "bounding_box_train/, bounding_box_test/, query/ (or MSMT17 list files, or "
            "CUHK03-NP detected/ and labeled/)")
    for split in ("query", "bounding_box_test", "bounding_box_train"):
        if not (root / split).is_dir():
            continue
        for stem in _collect(root / split):
            for fmt in ("market1501", "dukemtmc", "cuhk03np", "msmt17"):
                if _NAME_RES[fmt].match(stem):
                    return fmt
            raise DatasetLayoutError(f"{root / split}: {stem!r} follows no known naming "
                                     "convention (Market-1501, DukeMTMC-reID, CUHK03-NP, MSMT17)")
    raise DatasetLayoutError(f"{root}: no images or prepared clouds found in the split folders")


def attach_images(items: list[ReIDItem], root: Path, image_root: Path) -> list[ReIDItem]:
    """Give cloud-only items the source image of the same relative path under ``image_root``
    (a prepared tree mirrors its source tree), when that image exists."""
    out = []
    for it in items:
        if it.image_path is None and it.cloud_path is not None:
            try:
                rel = it.cloud_path.relative_to(root)
            except ValueError:
                rel = None
            for suffix in IMAGE_SUFFIXES if rel is not None else ():
                cand = (image_root / rel).with_suffix(suffix)
                if cand.is_file():
                    it = ReIDItem(it.pid, it.camid, image_path=cand, cloud_path=it.cloud_path)
                    break
        out.append(it)
    return out


def load_dataset(root: str | Path, fmt: str = "auto",
                 splits: tuple[str, ...] = ("train", "query", "gallery"),
                 image_root: str | Path | None = None) -> ReIDDataset:
    """Parse a dataset folder into a :class:`ReIDDataset`.

    Args:
        root: the dataset folder (the one holding ``bounding_box_train`` ...).
        fmt: ``auto`` or one of :data:`FORMATS`.
        splits: the splits to read; the others stay empty (``evaluate`` needs no train split).
        image_root: the source image tree of a prepared (cloud-only) tree; items get the image
            at the same relative path (for thumbnails and display).
    """
    root = Path(root)
    if image_root is not None:
        data = load_dataset(root, fmt, splits)
        image_root = Path(image_root)
        if not image_root.is_dir():
            raise DatasetLayoutError(f"{image_root}: image folder not found")
        for name in splits:
            setattr(data, name, attach_images(data.split(name), root, image_root))
        return data
    unknown = set(splits) - set(SPLIT_FOLDERS)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; choose train, query, gallery")
    fmt = detect_format(root) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose auto or {', '.join(FORMATS)}")
    base = root
    if fmt == "cuhk03np" and not _has_split_folders(root) and _has_split_folders(root / "detected"):
        base = root / "detected"
    if fmt == "msmt17" and (root / "list_train.txt").is_file():
        folders = _msmt_folders(root)
        if folders is None:
            raise DatasetLayoutError(f"{root}: MSMT17 list files without train/ and test/ folders")
        train_dir, test_dir = folders
        lists = {"train": ["list_train.txt", "list_val.txt"], "query": ["list_query.txt"],
                 "gallery": ["list_gallery.txt"]}
        parsed = {}
        for name in splits:
            if not (root / lists[name][0]).is_file():
                raise DatasetLayoutError(f"{root}: {lists[name][0]} not found")
            folder = train_dir if name == "train" else test_dir
            parsed[name] = [it for f in lists[name] if (root / f).is_file()
                            for it in _msmt_list(root, root / f, folder)]
        return ReIDDataset(root=root, format=fmt, **parsed)
    parsed = {name: parse_folder(base / SPLIT_FOLDERS[name], fmt) for name in splits}
    return ReIDDataset(root=root, format=fmt, **parsed)


def hold_out_identities(data: ReIDDataset, num_ids: int,
                        seed: int = 0) -> tuple[ReIDDataset, list[ReIDItem], list[ReIDItem]]:
    """Split ``num_ids`` training identities off as a validation split for model selection
    (Market-1501 has none, and the test split must never choose a checkpoint).

    The held-out identities are chosen at random (``seed``) among those seen by two or more
    cameras; for each of them one image per camera (the first by name) becomes a query and
    the rest gallery, as in Market-1501's own query/gallery split.

    Returns:
        ``(train, val_query, val_gallery)``: ``train`` a new :class:`ReIDDataset` without the
        held-out identities (relabelled 0..C-1), the two validation lists.

    Raises:
        ValueError: fewer than ``num_ids`` identities have two cameras, or none would be left
            to train on.
    """
    cams: dict[int, set[int]] = {}
    for it in data.train:
        cams.setdefault(it.pid, set()).add(it.camid)
    candidates = sorted(pid for pid, c in cams.items() if len(c) >= 2)
    if num_ids > len(candidates) or num_ids >= len(cams):
        raise ValueError(f"cannot hold out {num_ids} identities: {len(candidates)} of the "
                         f"{len(cams)} training identities have images from two cameras")
    held = set(np.random.default_rng(seed).choice(candidates, size=num_ids,
                                                  replace=False).tolist())
    query, gallery, first_seen = [], [], set()
    for it in sorted((it for it in data.train if it.pid in held), key=lambda i: i.name):
        if (it.pid, it.camid) in first_seen:
            gallery.append(it)
        else:
            first_seen.add((it.pid, it.camid))
            query.append(it)
    train = ReIDDataset(root=data.root, format=data.format,
                        train=[it for it in data.train if it.pid not in held],
                        query=data.query, gallery=data.gallery)
    return train, query, gallery
