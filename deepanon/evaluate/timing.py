"""Wall-clock time per pipeline stage, measured from outside the code being timed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

STAGES = ("decode", "detect", "generate", "blend", "encode")


@dataclass
class StageTimer:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add_replace(self, seconds: float, generate_seconds: float) -> None:
        """A replace() call split into the generator's share and the rest (alignment, filters, warping, blending)."""
        self.add("generate", generate_seconds)
        self.add("blend", max(seconds - generate_seconds, 0.0))

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def per_item_ms(self, items: int) -> dict[str, float]:
        return {k: 1000 * v / max(items, 1) for k, v in self.seconds.items()}
