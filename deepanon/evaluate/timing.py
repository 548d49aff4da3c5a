"""Wall-clock time per pipeline stage, measured from outside the code being timed."""

from __future__ import annotations

from dataclasses import dataclass

from deepanon.timing import StageTimer as _Timer

STAGES = ("decode", "detect", "generate", "blend", "encode")


@dataclass
class StageTimer(_Timer):
    """The evaluation's: the replace stage split into generation and blending, per-item milliseconds."""

    def add_replace(self, seconds: float, generate_seconds: float) -> None:
        """A replace() call split into the generator's share and the rest (alignment, filters, warping, blending)."""
        self.add("generate", generate_seconds)
        self.add("blend", max(seconds - generate_seconds, 0.0))

    def per_item_ms(self, items: int) -> dict[str, float]:
        return {k: 1000 * v / max(items, 1) for k, v in self.seconds.items()}
