import json
from pathlib import Path

import pytest

VECTORS = (
    Path(__file__).resolve().parents[4] / "shared" / "protocols" / "vectors" / "hj212_packets.json"
)


def load_vectors() -> list[dict]:
    if not VECTORS.exists():
        return []
    return json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    v = load_vectors()
    if not v:
        pytest.skip(f"HJ 212 vectors missing: {VECTORS} (shared reference pack not mounted)")
    return v
