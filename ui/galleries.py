"""The galleries the page offers, what their people are, and what the page says about them.

The app holds every gallery of its checkpoint (``ReIDPipeline.galleries``): the ones passed
with ``--gallery`` (the first is the default) and, with the shipped checkpoint, the shipped
synthetic and campus galleries. Each is described to the user by what its people are:
``synthetic`` (rendered figures) or ``real`` (photographs), from the index's ``meta["people"]``
or, for the shipped files, from where they are. A query is known to be synthetic when it is
one of the synthetic example photos (by content); anything else a user drops is taken as a
real photo. The page says so whenever a query's kind and the gallery's people differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ognet.assets import (
    CAMPUS_DIR,
    CAMPUS_EXAMPLES,
    DEFAULT_CHECKPOINT,
    DEFAULT_GALLERY,
    EXAMPLES_DIR,
)
from ognet.pipeline import gallery_name

#: What the shipped galleries and example folders hold.
SHIPPED_PEOPLE = {DEFAULT_GALLERY.resolve(): "synthetic", CAMPUS_DIR.resolve(): "real"}
SHIPPED_EXAMPLES = {EXAMPLES_DIR.resolve(): "synthetic", CAMPUS_EXAMPLES.resolve(): "real"}
#: How the page names a gallery's people.
PEOPLE_WORDS = {"synthetic": "synthetic people (rendered figures)",
                "real": "real people (photographs)"}


def gallery_paths(args) -> dict[str, str]:
    """``name -> path`` of the galleries to load, the default first: every ``--gallery``,
    then the shipped ones when the checkpoint is the shipped one (they are its features)."""
    paths = [Path(p) for p in args.gallery]
    if Path(args.checkpoint).resolve() == DEFAULT_CHECKPOINT.resolve():
        paths += [p for p in (DEFAULT_GALLERY, CAMPUS_DIR) if (p / "index.safetensors").exists()]
    out: dict[str, str] = {}
    seen = set()
    for p in paths:
        key = _folder(p)
        if key in seen:
            continue
        seen.add(key)
        name = {DEFAULT_GALLERY.resolve(): "synthetic",
                CAMPUS_DIR.resolve(): "campus"}.get(key) or gallery_name(p)
        while name in out:
            name += "+"
        out[name] = str(p)
    return out


def _folder(path) -> Path:
    path = Path(path).resolve()
    return path.parent if path.name == "index.safetensors" else path


@dataclass
class GalleryInfo:
    """What the page shows about a gallery."""

    name: str
    people: str | None       # "synthetic", "real" or None (not recorded)
    size: int
    identities: int
    calibration: dict | None

    @property
    def label(self) -> str:
        """The gallery menu's entry: name, people, size."""
        kind = {"synthetic": "synthetic", "real": "real"}.get(self.people, "")
        return (f"{self.name}" + (f" ({kind})" if kind and kind not in self.name else "")
                + f" · {self.size} images, {self.identities} people")

    @property
    def line(self) -> str:
        """One line naming the gallery beside the matches."""
        people = PEOPLE_WORDS.get(self.people, "people")
        return f"**{self.name}**: {self.size} images of {self.identities} {people}."


def describe(pipe, paths: dict[str, str]) -> dict[str, GalleryInfo]:
    """``name -> GalleryInfo`` of every gallery of the pipeline, in its order; ``paths``: where
    each was loaded from (:func:`gallery_paths`)."""
    import numpy as np

    out = {}
    for name, index in pipe.galleries.items():
        source = _folder(paths[name]) if name in paths else None
        people = index.meta.get("people") or SHIPPED_PEOPLE.get(source)
        out[name] = GalleryInfo(name, people, len(index), len(np.unique(index.pids)),
                                index.calibration)
    return out


def example_folders(args) -> list[tuple[str | None, list[str]]]:
    """``(kind, photos)`` of each ``--examples`` folder with photos: kind ``synthetic`` or
    ``real`` for the shipped folders, None for others."""
    out = []
    for folder in args.examples:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        photos = sorted(str(p) for p in folder.iterdir()
                        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
        if photos:
            out.append((SHIPPED_EXAMPLES.get(folder.resolve()), photos))
    return out


def digest(path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


class QueryKinds:
    """Tells a synthetic example photo (by content) from any other query."""

    def __init__(self, folders: list[tuple[str | None, list[str]]]):
        self.kinds = {digest(p): kind for kind, photos in folders if kind for p in photos}

    def __call__(self, path, name: str | None = None) -> str:
        """``"synthetic"``, ``"real"`` (an example), ``"cloud"`` (a .ply / .pcd) or
        ``"photo"`` (a user's photo: taken as real)."""
        from ognet.pipeline import CLOUD_SUFFIXES

        if Path(name or path).suffix.lower() in CLOUD_SUFFIXES:
            return "cloud"
        try:
            return self.kinds.get(digest(path), "photo")
        except OSError:
            return "photo"


def notice(query_kind: str, info: GalleryInfo) -> str:
    """What the page must say when a query's kind and the gallery's people differ (empty
    when they agree or are not known)."""
    if info.people == "synthetic" and query_kind in ("real", "photo"):
        return ("⚠️ **A real photo among synthetic people**: these matches are rendered "
                "figures, never this person. Choose a real gallery (campus) to search for "
                "them.")
    if info.people == "synthetic" and query_kind == "cloud":
        return ("⚠️ A cloud file searched among **synthetic people**: unless it was lifted "
                "from one, its matches cannot be the same person.")
    if info.people == "real" and query_kind == "synthetic":
        return ("⚠️ **A synthetic person searched among real people**: none of them is this "
                "figure.")
    return ""


def confidence_line(result, info: GalleryInfo) -> str:
    """Whether any match is confident, against the gallery's calibrated threshold."""
    c = info.calibration
    if c is None:
        return "This gallery has too few identities to calibrate a threshold."
    rate = f"{c['false_match_rate']:.0%} false matches"
    best = result.matches[0].similarity
    confident = sum(m.confident for m in result.matches)
    if not confident:
        return (f"**No confident match**: best {best:.2f}, threshold {c['threshold']:.2f} "
                f"({rate}). The person may not be in this gallery.")
    return (f"**{confident} confident match{'es' if confident > 1 else ''}** (✓): above "
            f"{c['threshold']:.2f} ({rate}).")
