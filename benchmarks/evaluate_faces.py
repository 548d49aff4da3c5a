"""Identity distance, Frechet distance and landmark shift per method on LFW photos (../shared/data/lfw-single).

    python benchmarks/evaluate_faces.py [--limit 60]

One face per photo; dlib HOG boxes on the originals stand in for ground truth.
"""

from __future__ import annotations

from evaluate_common import SHARED, parser, run

if __name__ == "__main__":
    args = parser(__doc__, SHARED / "lfw-single", 60).parse_args()
    run("evaluate-faces", "Evaluate: LFW faces (benchmarks/evaluate_faces.py)", args)
