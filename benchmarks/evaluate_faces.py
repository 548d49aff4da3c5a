"""Identity distance, Frechet distance and landmark shift per method on held-out face photos.

    python benchmarks/evaluate_faces.py [--limit 120] [--data FOLDER]

By default the photos are the validation split of ../shared/data/lfw-single and utkface (the hash-fixed split
`deepanon prepare` never trains on), linked into /tmp/deepanon-validation. One face per photo; dlib HOG boxes on the
originals stand in for ground truth.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from evaluate_common import SHARED, parser, run

from deepanon.evaluate.refind import validation_photos

SOURCES = ("lfw-single", "utkface")


def link_validation(folder: Path, per_source: int = 0) -> Path:
    """A folder of symlinks to the validation photos of SOURCES (per_source of each: spread; 0: all), named
    source/file."""
    for src in SOURCES:
        (folder / src).mkdir(parents=True, exist_ok=True)
        for p in validation_photos([SHARED / src], per_source):
            (folder / src / p.name).symlink_to(p.resolve())
    return folder


if __name__ == "__main__":
    default = Path(tempfile.gettempdir()) / "deepanon-validation"
    args = parser(__doc__, default, 120).parse_args()
    if args.data == default:
        shutil.rmtree(default, ignore_errors=True)
        link_validation(default)
    run("evaluate-faces", "Evaluate: held-out face photos (benchmarks/evaluate_faces.py)", args)
