"""The model registry: every smoke model with its card, data and scores; which one is live.

Responsible for

* ``<data>/smoke_capture/models/<version>/`` — the model file(s) (ONNX for the cameras, the ``.pt``
  beside it for further fine-tuning), ``card.md``, ``data.json`` (what it was trained on) and
  ``scores.json`` (figures per evaluation set); ``registry.json`` holds the live version and the
  versions that were live before it (for rollback). Writes are atomic (temp file + rename);
* :func:`promotion` — the rule, pure: a candidate replaces the live model only if it is no worse
  on every figure of every evaluation set both were scored on in the same run
  (:func:`smoke_capture.evaluation.no_worse`);
* :func:`live_model_path` — what the cameras load: the registry's live model, else the shipped one.

``version`` is :func:`smoke_capture.detector.model_version` of the runtime file, the same string
every capture records, so a capture always names the registry entry that graded it.

Known limits: one live model for all cameras; the registry is a folder on one host (copy it with
the data dir).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from smoke_capture.detector import default_model_path, model_version
from smoke_capture.evaluation import no_worse

SHIPPED = "shipped"  # the registry's name for the model in the package when nothing is live
Figures = Mapping[str, float | None]


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class Decision:
    promoted: bool
    candidate: str
    live: str
    worse: tuple[str, ...]  # "<set>:<figure>" where the candidate is worse


def promotion(
    candidate: str,
    live: str,
    candidate_scores: Mapping[str, Figures],
    live_scores: Mapping[str, Figures],
) -> Decision:
    """Promote only if no worse on every figure of every set both were scored on."""
    shared = sorted(set(candidate_scores) & set(live_scores))
    if not shared:
        raise ValidationError(
            "scores", sorted(candidate_scores), "figures on a set both were scored on"
        )
    worse = tuple(f"{s}:{f}" for s in shared for f in no_worse(candidate_scores[s], live_scores[s]))
    return Decision(not worse, candidate, live, worse)


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def under(cls, data_dir: Path) -> Registry:
        return cls(Path(data_dir) / "smoke_capture" / "models")

    # ---- state -----------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        p = self.root / "registry.json"
        if not p.exists():
            return {"live": None, "history": []}
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise ValidationError("registry.json", str(p), "valid JSON") from None

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "model.json").exists())

    def entry(self, version: str) -> dict[str, Any]:
        p = self.root / version / "model.json"
        if not p.exists():
            raise ValidationError(
                "model", version, f"a registered version ({', '.join(self.versions()) or 'none'})"
            )
        return json.loads(p.read_text(encoding="utf-8"))

    def file(self, version: str) -> Path:
        return self.root / version / self.entry(version)["file"]

    @property
    def live(self) -> str | None:
        return self._state()["live"]

    @property
    def history(self) -> list[str]:
        return list(self._state()["history"])

    def scores(self, version: str) -> dict[str, dict[str, float | None]]:
        p = self.root / version / "scores.json"
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}

    # ---- changes ---------------------------------------------------------------------------

    def register(
        self,
        model_file: Path,
        card: str,
        data: Mapping[str, Any],
        now: datetime,
        weights: Path | None = None,
        parent: str | None = None,
    ) -> str:
        """Copy a model (``.onnx`` or ``.pt``, plus optional ``.pt`` weights) in with its card and data
        description; return its version. Registering the same file twice is a no-op."""
        src = Path(model_file)
        if not src.is_file() or src.suffix not in (".onnx", ".pt"):
            raise ValidationError("model_file", str(src), "an existing .onnx or .pt file")
        version = model_version(src)
        folder = self.root / version
        if (folder / "model.json").exists():
            return version
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{src.stem}{src.suffix}"
        shutil.copyfile(src, folder / name)
        files = [name]
        if weights is not None and Path(weights).is_file() and Path(weights) != src:
            shutil.copyfile(weights, folder / f"{src.stem}.pt")
            files.append(f"{src.stem}.pt")
        (folder / "card.md").write_text(card, encoding="utf-8")
        _write_json(folder / "data.json", dict(data))
        _write_json(
            folder / "model.json",
            {
                "version": version,
                "file": name,
                "files": files,
                "registered": now.isoformat(),
                "parent": parent,
            },
        )
        return version

    def record_scores(self, version: str, set_name: str, figures: Figures, now: datetime) -> None:
        self.entry(version)
        scores = self.scores(version)
        scores[set_name] = {**dict(figures), "at": now.isoformat()}  # type: ignore[dict-item]
        _write_json(self.root / version / "scores.json", scores)

    def set_live(self, version: str) -> None:
        self.entry(version)
        st = self._state()
        if st["live"] == version:
            return
        st["history"] = [*st["history"], st["live"] or SHIPPED]
        st["live"] = version
        _write_json(self.root / "registry.json", st)

    def rollback(self) -> str:
        """Return to the model that was live before; its name (``shipped`` for the package's)."""
        st = self._state()
        if not st["history"]:
            raise ValidationError("history", [], "an earlier live model to roll back to")
        prev = st["history"].pop()
        st["live"] = None if prev == SHIPPED else prev
        _write_json(self.root / "registry.json", st)
        return prev

    def pt_for(self, version: str) -> Path | None:
        e = self.entry(version)
        for f in e["files"]:
            if f.endswith(".pt"):
                return self.root / version / f
        return None


def live_model_path(data_dir: Path) -> Path | None:
    """The model the cameras load: the registry's live model, else the shipped one."""
    reg = Registry.under(data_dir)
    v = reg.live
    if v is not None:
        p = reg.file(v)
        if p.exists():
            return p
    return default_model_path()
