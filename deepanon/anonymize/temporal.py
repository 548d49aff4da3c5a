"""Video: a painted face that stays steady from frame to frame.

The generator paints every frame afresh from a context that moves, so even with one identity per track (one z) the
new face shimmers. Each track's painted crop lives in the generator's aligned space (landmarks at fixed places), so
consecutive crops of one track can simply be averaged there: an exponential moving average over the frames.
"""

from __future__ import annotations

import numpy as np

# Weight of the newly painted crop: 0.5 halves frame-to-frame changes; a head turning still catches up within a
# few frames (the old crops' weight falls as 0.5^k).
DEFAULT_NEW_WEIGHT = 0.5


class PaintHistory:
    """The last painted crop of each track of ONE video; frames must be given in order."""

    def __init__(self, new_weight: float = DEFAULT_NEW_WEIGHT) -> None:
        if not 0.0 < new_weight <= 1.0:
            raise ValueError("new_weight must be in (0, 1]")
        self.new_weight = new_weight
        self.frames_seen = 0  # index of the next frame to be painted
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # track id -> (frame index, smoothed crop)
        # track id -> (the candidate its new face was chosen from, its move in w or None) (GanPainter): one identity
        # for the whole video
        self.candidates: dict[int, tuple[int, np.ndarray | None]] = {}

    def smooth(self, frame: int, track_id: int | None, crop: np.ndarray) -> np.ndarray:
        """The crop to use for this track in this frame (frame = absolute index in the video).

        Blended with the track's crop of the frame before, if it was painted there; a face that left and came back
        starts afresh (its old crop may show another pose).
        """
        if track_id is None:
            return crop
        prev = self._last.get(track_id)
        if prev is not None and prev[0] == frame - 1:
            crop = self.new_weight * crop + (1.0 - self.new_weight) * prev[1]
        self._last[track_id] = (frame, crop)
        return crop

    def end_frames(self, n: int) -> None:
        """n more frames are done: forget tracks that were not painted in the last of them."""
        self.frames_seen += n
        last = self.frames_seen - 1
        self._last = {t: v for t, v in self._last.items() if v[0] == last}
