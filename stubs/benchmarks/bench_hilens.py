"""Per-frame cost of the simulator's hot paths, and ONNX Runtime thread counts for Model.infer.

    python stubs/benchmarks/bench_hilens.py [--model model/matting.om] [--runs 200]

Without --model a stand-in network is built with onnx.helper (MobileNet-style depthwise-separable
encoder on 1x3x144x256 + prev_alpha, ~the size of MediaPipe's selfie segmenter). Prints a
markdown table of median and 90th-percentile milliseconds (wall clock, so other load on the
machine shows up in p90).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Callable, List

import cv2
import numpy as np

import hilens
from hilens import aipp, nv21

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_AIPP = os.path.join(HERE, "..", "..", "aipp.cfg")


def timeit(fn: Callable[[], object], runs: int) -> List[float]:
    for _ in range(max(3, runs // 10)):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def stand_in_model(path: str, h: int = 144, w: int = 256) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name: str, shape) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name))
        return name

    def conv(x: str, cin: int, cout: int, k: int, stride: int, group: int = 1, act: bool = True) -> str:
        name = "conv%d" % len(nodes)
        wname = weight(name + "_w", (cout, cin // group, k, k))
        bname = weight(name + "_b", (cout,))
        nodes.append(helper.make_node("Conv", [x, wname, bname], [name], kernel_shape=[k, k], strides=[stride] * 2,
                                      pads=[k // 2] * 4, group=group))
        if not act:
            return name
        nodes.append(helper.make_node("Relu", [name], [name + "_r"]))
        return name + "_r"

    nodes.append(helper.make_node("Concat", ["image", "prev_alpha"], ["x0"], axis=1))
    x = conv("x0", 4, 16, 3, 2)
    cin = 16
    for cout, stride in ((24, 2), (24, 1), (40, 2), (40, 1), (80, 2), (80, 1), (96, 1)):
        x = conv(x, cin, cin, 3, stride, group=cin)
        x = conv(x, cin, cout, 1, 1)
        cin = cout
    x = conv(x, cin, 1, 1, 1, act=False)
    scales = numpy_helper.from_array(np.array([1, 1, 16, 16], np.float32), "scales")
    inits.append(scales)
    nodes.append(helper.make_node("Upsample", [x, "scales"], ["up"], mode="linear"))
    nodes.append(helper.make_node("Sigmoid", ["up"], ["alpha"]))
    graph = helper.make_graph(
        nodes, "stand_in",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w]),
         helper.make_tensor_value_info("prev_alpha", TensorProto.FLOAT, [1, 1, h, w])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, h, w])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 7
    onnx.save(model, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an .om path whose .onnx (and aipp.cfg) exist; default: stand-in")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", default="1,2,0",
                        help="HILENS_ORT_THREADS values to compare (0 = ORT default)")
    args = parser.parse_args()
    hilens.init("bench")
    hilens.set_log_level(hilens.WARNING)
    rows = []

    def add(name: str, fn: Callable[[], object], runs: int = args.runs) -> None:
        t = timeit(fn, runs)
        rows.append((name, float(np.median(t)), float(np.percentile(t, 90))))

    rng = np.random.default_rng(0)
    bgr720 = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    bgr1080 = cv2.resize(bgr720, (1920, 1080))
    f720, f1080 = nv21.bgr_to_nv21(bgr720), nv21.bgr_to_nv21(bgr1080)
    pre = hilens.Preprocessor()
    op = aipp.AippOp(aipp.load_aipp_file(REPO_AIPP)[0], (1, 3, 144, 256))
    small = pre.resize(f720, 256, 144, 0)
    buf = np.empty(op.output_shape, np.float32)
    add("AIPP apply 256x144 NV21 (reused buffer)", lambda: op.apply(small, buf))
    add("AIPP apply 256x144 NV21 (new buffer)", lambda: op.apply(small))
    add("Preprocessor.resize 1280x720 -> 256x144", lambda: pre.resize(f720, 256, 144, 0))
    add("Preprocessor.resize 1920x1080 -> 256x144", lambda: pre.resize(f1080, 256, 144, 0))
    add("cvt_color BGR2YUV_NV21 1280x720", lambda: hilens.cvt_color(bgr720, hilens.BGR2YUV_NV21))
    with tempfile.TemporaryDirectory() as tmp:
        disp = hilens.Display(hilens.H264_FILE, os.path.join(tmp, "bench.mp4"))
        add("Display.show 1280x720 (mp4v encode)", lambda: disp.show(f720), runs=min(args.runs, 100))
        disp.close()
        om = args.model
        if om is None:
            om = os.path.join(tmp, "model", "stand_in.om")
            os.makedirs(os.path.dirname(om))
            stand_in_model(om[:-3] + ".onnx")
            with open(os.path.join(tmp, "aipp.cfg"), "w") as f, open(REPO_AIPP) as src:
                f.write(src.read())
        prev = np.zeros(144 * 256, np.float32)
        for threads in args.threads.split(","):
            os.environ["HILENS_ORT_THREADS"] = threads
            model = hilens.Model(om)
            result = model.infer([small, prev])
            if not isinstance(result, list):
                sys.exit("Model.infer returned error code %r: does %s take [NV21 256x144, prev_alpha]?"
                         % (result, om))
            add("Model.infer %s, HILENS_ORT_THREADS=%s" % (os.path.basename(om), threads),
                lambda: model.infer([small, prev]))
    print("| step | median ms | p90 ms |\n|---|---:|---:|")
    for name, med, p90 in rows:
        print("| %s | %.3f | %.3f |" % (name, med, p90))
    print("\n%d runs each; %d CPU cores visible; load average %s" % (
        args.runs, os.cpu_count() or 0, " ".join("%.2f" % v for v in os.getloadavg())), file=sys.stderr)


if __name__ == "__main__":
    main()
