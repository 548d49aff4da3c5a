"""Which heavy modules a fresh interpreter imports to anonymize the shipped astronaut (start-up costs seconds)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ASTRONAUT = Path(__file__).resolve().parents[1] / "samples" / "astronaut.jpg"


def imported_while_anonymizing(method: str, modules: tuple[str, ...]) -> tuple[list[str], list[str | None]]:
    """(the `modules` imported, each face's treatment) after one photo anonymized with `method` in a new process;
    fails unless the photo changed."""
    code = (
        "import sys\n"
        "from deepanon.anonymize.pipeline import Anonymizer\n"
        "from deepanon.photos import read_rgb\n"
        f"anon = Anonymizer(method={method!r}, device='cpu', seed=0)\n"
        f"rgb = read_rgb({str(ASTRONAUT)!r})\n"
        "faces = anon.treat([rgb], anon.detect([rgb]))\n"
        "out = anon.replace_faces([rgb], faces, [anon.face_seeds('a', faces[0])])[0]\n"
        "assert (out != rgb).any()\n"
        f"print(sorted(m for m in {modules!r} if m in sys.modules))\n"
        "print([f.treatment for f in faces[0]])\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, treatments = res.stdout.strip().splitlines()[-2:]
    return ast.literal_eval(loaded), ast.literal_eval(treatments)
