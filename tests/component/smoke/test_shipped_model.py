"""The shipped model, fully offline: loads and detects on synthetic frames with no network attempt
(through ultralytics with torch, and through ONNX Runtime), and ``emwatch smoke score`` on stills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from smoke_capture import synth
from smoke_capture.detector import MODELS_DIR, default_model_path

pytestmark = [pytest.mark.component]


def test_the_model_is_shipped() -> None:
    """The repository holds its model: a missing file is a failure, not a skip."""
    assert default_model_path() is not None, "no model in smoke_capture/models/"


REPO = Path(__file__).resolve().parents[3]

PROBE = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []
    def hook(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
            attempts.append(f"{event} {args[1] if len(args) > 1 else args}"[:120])
            raise OSError("network disabled in this test")
    sys.addaudithook(hook)
    import numpy as np
    from smoke_capture import synth
    from smoke_capture.detector import load_detector
    rng = np.random.default_rng(4)
    frames = [synth.render_scene(rng, synth.SceneSpec(smoke=True)).image for _ in range(3)]
    out = {}
    for name in sys.argv[1:]:
        det = load_detector(name, threads=1)
        out[name] = [[(d.cls, round(d.confidence, 3)) for d in det.detect(f)] for f in frames]
    print(json.dumps({"attempts": attempts, "results": out}))
    """
)


def test_shipped_model_runs_offline_with_no_network_attempt(tmp_path):
    pt, onnx = MODELS_DIR / "smoke_yolov8n.pt", MODELS_DIR / "smoke_yolov8n.onnx"
    assert pt.exists() and onnx.exists()
    assert pt.stat().st_size < 8_000_000 and onnx.stat().st_size < 16_000_000
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("YOLO_", "ULTRALYTICS_", "EMW_YOLO"))
    }
    env.update(
        HOME=str(tmp_path),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        OMP_NUM_THREADS="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(pt), str(onnx)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    res_pt, res_onnx = report["results"][str(pt)], report["results"][str(onnx)]
    # both runtimes find the same objects on the same frames
    for a, b in zip(res_pt, res_onnx, strict=True):
        assert sorted(c for c, _ in a) == sorted(c for c, _ in b)
    assert any(cls == "smoke" for frame in res_onnx for cls, _ in frame)
    assert any(cls == "vehicle" for frame in res_onnx for cls, _ in frame)
    assert (tmp_path / "cache" / "emwatch" / "ultralytics" / "Ultralytics" / "Arial.ttf").exists()


def test_score_cli_json_lines_and_unreadable_image(tmp_path, capsys):
    from streams.cli import main

    rng = np.random.default_rng(12)
    for i in range(2):
        sc = synth.render_scene(
            rng, synth.SceneSpec(smoke=True, vehicles=1, night=False, fog=False)
        )
        cv2.imwrite(str(tmp_path / f"frame_{i}.jpg"), sc.image)
    (tmp_path / "frame_1b.jpg").write_bytes(b"\xff\xd8broken")
    rc = main(["smoke", "score", str(tmp_path), "--json", "--threads", "1"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.count("\n") == 1 and "frame_1b.jpg" in err and "unreadable" in err
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert [Path(x["path"]).name for x in lines] == ["frame_0.jpg", "frame_1.jpg"]
    dets = [d for x in lines for d in x["detections"]]
    assert dets, "the model found nothing on two smoky frames"
    for d in dets:
        assert (
            d["class"] in ("vehicle", "smoke") and len(d["box"]) == 4 and 0 <= d["confidence"] <= 1
        )
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320
        if d["class"] == "smoke":
            assert d["ringelmann"] is None or (
                0 <= d["ringelmann"] <= 5 and round(d["ringelmann"], 1) == d["ringelmann"]
            )
            assert 0 <= d["ringelmann_confidence"] <= 1
    rc = main(
        ["smoke", "score", str(tmp_path / "frame_0.jpg"), "--model", str(tmp_path / "frame_0.jpg")]
    )
    assert rc == 2
    assert "unknown model format" in capsys.readouterr().err
