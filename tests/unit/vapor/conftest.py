import json
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "data" / "vectors" / "hj212_packets.json"


def load_vectors() -> list[dict]:
    """The vectors shipped in tests/data (a missing file is a failure, never a skip)."""
    return json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    v = load_vectors()
    assert v, f"no HJ 212 vectors in {VECTORS}"
    return v
