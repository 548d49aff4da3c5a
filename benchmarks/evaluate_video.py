"""Frames/s, frame count/rate/audio kept, coverage, holes, identity stability and time per stage per method on
../shared/data/video/short_hamilton_clip.mp4 (10 s, 275 frames, 640x360).

    python benchmarks/evaluate_video.py [--limit 120] [--methods ...]

The default runs the first 120 frames (a stream copy, audio kept) to stay within about 10 minutes on 2 busy cores.
"""

from __future__ import annotations

from evaluate_common import SHARED, parser, run

if __name__ == "__main__":
    args = parser(__doc__, SHARED / "video" / "short_hamilton_clip.mp4", 120).parse_args()
    run("evaluate-video", "Evaluate: video (benchmarks/evaluate_video.py)", args)
