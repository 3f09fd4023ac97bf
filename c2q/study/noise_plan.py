"""Which arms a cell of the noise question (c2q.study.noisy) trains: a leaf, so its report imports no training."""

from __future__ import annotations

from c2q.study.arms import Arm, map_arms
from c2q.study.config import StudyParams

GROUP = "noise"  # the `group` of every noise cell's records


def noise_arms(p: StudyParams, seed: int) -> list[Arm]:
    """Every arm of a noise cell: per noise student, the map's tuned baseline and distillation, no control."""
    as_map = p.model_copy(update={"students": p.noise.students,
                                  "controls": p.controls.model_copy(update={"students": []})})
    return map_arms(as_map, str(p.noise.size), seed)
