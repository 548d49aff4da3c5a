"""Directions in the generator's style space w for a new face's apparent sex and age.

The generator paints a man as often as a woman, whatever the person; the context (hair, clothes) decides about half of
it and z the rest. benchmarks/attribute_directions.py paints many z into the same held-out photos, reads each new
face's apparent sex (logit of P(male)) and age with dlib's networks, and fits, within photo, the direction in w along
which each moves (ridge regression); `--save` writes them here beside the generator they belong to. The painter moves
a drawn face's w by what it missed of the original's apparent sex and age (anonymize/gan.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepanon.gan.weights import WEIGHTS_DIR

DIRECTIONS_PATH = WEIGHTS_DIR / "attribute_directions.json"
# P(male) is read as a logit, clipped: a sure answer from the network must not ask for an endless move
P_CLIP = 0.01


def logit(p: float | np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of a probability or an array of them, p clipped to [P_CLIP, 1 - P_CLIP]."""
    p = np.clip(np.asarray(p, np.float64), P_CLIP, 1.0 - P_CLIP)
    return np.log(p / (1.0 - p))


@dataclass(frozen=True)
class AttributeSteer:
    """sex: the w direction that raises logit P(male) by 1 per unit; age: the one that adds a year per unit."""

    sex: np.ndarray
    age: np.ndarray

    def offset(self, drawn: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
        """The smallest move in w (float32, (w_dim,)) that changes (P(male), age) from `drawn` to `target`, if the
        two directions act linearly: D^T (D D^T)^-1 (missing logit, missing years)."""
        D = np.stack([self.sex, self.age]).astype(np.float64)
        missing = np.array([float(logit(target[0]) - logit(drawn[0])), float(target[1]) - float(drawn[1])])
        return (D.T @ np.linalg.solve(D @ D.T, missing)).astype(np.float32)

    def to_json(self, generator_sha256: str, truncation: float, notes: dict) -> str:
        return json.dumps(
            {
                "generator_sha256": generator_sha256,
                "truncation": truncation,
                "sex": [round(float(v), 6) for v in self.sex],
                "age": [round(float(v), 6) for v in self.age],
                **notes,
            },
            indent=1,
        )

    @classmethod
    def for_generator(cls, card: dict | None, truncation: float, path: Path = DIRECTIONS_PATH) -> AttributeSteer | None:
        """The directions fitted for the generator `card` describes at this truncation; None if there are none
        (another generator, another truncation: they would move its faces somewhere else)."""
        if card is None or not path.is_file():
            return None
        d = json.loads(path.read_text())
        if d.get("generator_sha256") != card.get("sha256") or not np.isclose(d.get("truncation", -1), truncation):
            return None
        return cls(np.asarray(d["sex"], np.float32), np.asarray(d["age"], np.float32))
