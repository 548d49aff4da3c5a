"""Privacy, background, AP ratio, identity and speed per method on WIDER FACE val (../shared/data/wider-val).

    python benchmarks/evaluate_wider.py [--limit 20] [--methods gan,blur,pixelate,deface-blur,deface-mosaic]

The default subset (20 images spread over the events) finishes in about 10 minutes on 2 busy CPU cores.
"""

from __future__ import annotations

from evaluate_common import SHARED, parser, run

if __name__ == "__main__":
    args = parser(__doc__, SHARED / "wider-val", 20).parse_args()
    run("evaluate-wider", "Evaluate: WIDER FACE val (benchmarks/evaluate_wider.py)", args)
