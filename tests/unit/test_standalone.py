"""The project stands alone: no file refers to a sibling folder, and the shipped test data is there."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
# a path that leaves the clone for the old reference pack, in any spelling that was used
OUTSIDE = re.compile(
    r"\.\./shared|/work/shared|parents\[\d\]\.parent\s*/\s*\"shared|\"shared\"\s*/"
)


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    files = [REPO / f for f in out.split("\0") if f]
    return [
        f for f in files if f.is_file() and f.suffix not in {".gz", ".pt", ".onnx", ".png", ".jpg"}
    ]


def test_no_file_refers_outside_the_clone() -> None:
    offenders = []
    for f in _tracked_text_files():
        if f == Path(__file__).resolve():
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{f.relative_to(REPO)}:{n}: {line.strip()[:100]}")
    assert not offenders, "files refer outside the clone:\n" + "\n".join(offenders)


def test_the_pattern_catches_the_old_spellings() -> None:
    sib = "sha" + "red"  # spelled in two parts so that this file does not refer outside itself
    assert OUTSIDE.search(f'REPO / ".." / "{sib}" / "realdata"')
    assert OUTSIDE.search(f"see ../{sib}/domain/rules.md")
    assert OUTSIDE.search(f'Path(__file__).resolve().parents[3].parent / "{sib}/protocols"')
    assert not OUTSIDE.search("streams.warehouse.shared")


def test_shipped_data_is_present_and_readable() -> None:
    for name in ("obd_frames.json", "hj212_packets.json"):
        vectors = json.loads((DATA / "vectors" / name).read_text(encoding="utf-8"))["vectors"]
        assert len(vectors) >= 10 and all("source" in v for v in vectors)
    with gzip.open(DATA / "rsd" / "conox_uk_2012_2013_100k.csv.gz", "rt") as fh:
        header = fh.readline()
        rows = sum(1 for _ in fh)
    assert "Ratio_CO_CO2" in header and rows == 100_000
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in ("obd_frames.json", "hj212_packets.json", "conox_uk_2012_2013_100k.csv.gz"):
        assert name in readme


def test_no_environment_or_link_is_tracked() -> None:
    """A committed `.venv` (or any symbolic link) breaks every other clone's environment."""
    staged = subprocess.run(
        ["git", "ls-files", "-s"], cwd=REPO, capture_output=True, check=True, text=True
    ).stdout.splitlines()
    links = [line.split("\t", 1)[1] for line in staged if line.startswith("120000 ")]
    assert not links, f"symbolic links tracked: {links}"
    assert not [line for line in staged if line.split("\t", 1)[1].startswith(".venv")]
