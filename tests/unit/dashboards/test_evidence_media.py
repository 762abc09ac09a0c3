"""A capture's evidence pictures and clip, drawn by the one widget the vehicle page and the smoke
review share: a picture missing on this machine leaves its place empty, a clip plays in an
expander with its length."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c19"
    "12130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b"
    "080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5"
    "100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c115"
    "52d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a6364"
    "65666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7"
    "b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda000801"
    "01000003f00fbfa28a2800ffd9"
)


def _app(uri: str) -> None:
    from dashboards.widgets import evidence_media

    evidence_media(
        uri,
        (("plume_crop.jpg", "Plume crop"), ("plate_crop.jpg", "Plate crop")),
        "3.25",
    )


def test_pictures_that_exist_and_the_clip_are_drawn(tmp_path: Path) -> None:
    (tmp_path / "plume_crop.jpg").write_bytes(JPEG)  # no plate crop on this machine
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    at = AppTest.from_function(_app, args=(str(tmp_path),)).run()
    assert not at.exception
    assert len(at.columns) == 2
    assert len(at.get("image")) == 1
    assert len(at.columns[0].get("image")) == 1 and len(at.columns[1].get("image")) == 0
    assert [e.label for e in at.expander] == ["视频片段（3.2 秒）"]
    assert len(at.expander[0].get("video")) == 1


def test_nothing_on_this_machine_draws_no_picture_and_no_clip(tmp_path: Path) -> None:
    at = AppTest.from_function(_app, args=(str(tmp_path / "gone"),)).run()
    assert not at.exception
    assert len(at.get("image")) == 0
    assert len(at.expander) == 0
