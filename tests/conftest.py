"""Shared fixtures: repository paths and the real Market-1501 queries in ../shared."""

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_QUERIES = REPO_ROOT.parent / "shared" / "real-queries"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_queries() -> list[Path]:
    """The four real query crops; skips when ../shared/real-queries is absent (a fresh clone)."""
    paths = sorted(REAL_QUERIES.glob("market1501_query_*.png"))
    if not paths:
        pytest.skip("../shared/real-queries is not present")
    return paths
