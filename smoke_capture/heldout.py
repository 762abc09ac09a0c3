"""The held-out synthetic validation set: frames no training run ever sees.

Responsible for rendering the project's own validation frames from a seed range reserved for it
(:data:`HELDOUT_SEEDS`; :func:`smoke_capture.synth.write_dataset` refuses those seeds, so no
training change can see them), at the model's square training size and as 640 × 480 stills, smoky
and smoke-free (the smoke-free ones with the generator's usual confusers), and for scoring a
detector on them with the figures of :mod:`smoke_capture.evaluation`.

Known limits: synthetic; it measures generalisation across the renderer's own variation only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from smoke_capture import synth
from smoke_capture.evaluation import FrameTruth, LabelledPlume, Scores, ring_grade, score

HELDOUT_SEEDS = range(9_170_000, 9_180_000)
SIZES: tuple[tuple[int, int], ...] = ((320, 320), (640, 480))


@dataclass(frozen=True, slots=True, eq=False)
class HeldoutFrame:
    image: NDArray[np.uint8]
    truth: FrameTruth
    subset: str  # e.g. "smoky_640x480", "clean_320x320"


def frames(
    n: int, sizes: tuple[tuple[int, int], ...] = SIZES, **spec: object
) -> Iterator[HeldoutFrame]:
    """``n`` smoky and ``n`` smoke-free frames per size; extra ``spec`` fields go to every scene."""
    for k, (w, h) in enumerate(sizes):
        for j, smoky in enumerate((True, False)):
            rng = np.random.default_rng(HELDOUT_SEEDS.start + 100 * k + 10 * j)
            name = f"{'smoky' if smoky else 'clean'}_{w}x{h}"
            for _ in range(n):
                vehicles = None if smoky else int(rng.integers(1, 4))
                sc = synth.render_scene(
                    rng,
                    synth.SceneSpec(width=w, height=h, smoke=smoky, vehicles=vehicles, **spec),  # type: ignore[arg-type]
                )
                yield HeldoutFrame(sc.image, truth_of(sc), name)


def flag_frames(n: int, flag: str, size: tuple[int, int] = (320, 320)) -> Iterator[HeldoutFrame]:
    """``n`` smoky and ``n`` smoke-free frames with one hard condition on (``synth.HARD_FLAGS``,
    or ``night`` / ``vapour``); seeds of their own inside the held-out range."""
    names = [*synth.HARD_FLAGS, "night", "vapour"]
    if flag not in names:
        raise ValueError(f"flag: one of {', '.join(names)}, got {flag!r}")
    k = names.index(flag)
    w, h = size
    for j, smoky in enumerate((True, False)):
        rng = np.random.default_rng(HELDOUT_SEEDS.start + 5000 + 100 * k + 10 * j)
        for _ in range(n):
            vehicles = None if smoky else int(rng.integers(1, 4))
            sc = synth.render_scene(
                rng,
                synth.SceneSpec(
                    width=w,
                    height=h,
                    smoke=smoky,
                    vehicles=vehicles,
                    **{flag: True},
                    **({"vapour": False} if flag != "vapour" else {}),
                ),
            )
            yield HeldoutFrame(sc.image, truth_of(sc), f"{'smoky' if smoky else 'clean'}_{flag}")


def truth_of(sc: synth.Scene) -> FrameTruth:
    plumes = tuple(
        LabelledPlume(b.xyxy, round(5 * a, 2))
        for b, a in zip(sc.smoke_boxes, sc.opacities, strict=True)
    )
    return FrameTruth(plumes, tuple(b.xyxy for b in sc.vehicle_boxes))


def evaluate(detector: object, items: list[HeldoutFrame], conf: float = 0.25) -> dict[str, Scores]:
    """Scores overall and per size (``detector`` must have been loaded with a low confidence floor,
    e.g. 0.01, so AP50 sees the whole curve)."""
    dets = [detector.detect(f.image) for f in items]  # type: ignore[attr-defined]

    def grader(subset: list[int]):
        return lambda i, box: ring_grade(items[subset[i]].image, box, dets[subset[i]])

    out: dict[str, Scores] = {}
    groups: dict[str, list[int]] = {"all": list(range(len(items)))}
    for i, f in enumerate(items):
        groups.setdefault(f.subset.split("_", 1)[1], []).append(i)
    for name, idx in groups.items():
        out[name] = score([(items[i].truth, dets[i]) for i in idx], conf=conf, grade=grader(idx))
    return out
