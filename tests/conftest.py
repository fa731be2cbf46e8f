import os
from pathlib import Path

import pytest

# Never touch the Hub in tests: every lookup would retry for ~25 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KHABAR_SHARED", REPO.parent / "shared"))
SEED_TEXT = REPO / "seeds" / "000_777ec913e064ed28.txt"


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (or $KHABAR_SHARED); tests that need it skip cleanly when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a small shared machine: OpenMP threads spinning against each other make
    small matmuls up to ~100x slower, so these tests compute on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
