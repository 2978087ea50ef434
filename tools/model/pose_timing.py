"""Time the person models under ONNX Runtime (CPU) and the numpy decoding around them.

    python -m tools.model.pose_timing [--runs 50] [--threads 1]

prints a table: median and 90th-percentile milliseconds per call of model/person_detector.onnx
and model/person_segmenter.onnx (session options as the simulator's: sequential, the given
intra-op threads), of the selfie model for comparison, and of the decoding steps the skill runs
per call (detector: anchors decode + weighted NMS + letterbox removal; segmenter: landmark
decoding with the two ROI landmarks refined, next ROI, mask pasted into a 1280x720 frame).
Inputs are the fixture frames' real tensors. Run it on a quiet machine; compare ratios.
"""
import argparse
import time

import numpy as np

from tools import paths
from tools.model import pose_check, pose_reference
from utils import person_detect as pd
from utils import person_roi as pr


def _session(path, threads):
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _time(fn, runs):
    fn()  # warm-up
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), float(np.percentile(times, 90))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    model = paths.REPO / "model"
    fx = pose_check.load_fixture("davis_swing_15")
    frame = pose_check.fixture_frame(fx, "davis_swing_15")
    det_in, padding = pose_reference.detector_input(frame)
    roi = pr.Roi(*fx["roi_detection"].tolist())
    seg_in, _ = pose_reference.landmark_input(frame, roi)
    det = _session(model / "person_detector.onnx", args.threads)
    seg = _session(model / "person_segmenter.onnx", args.threads)
    selfie = _session(model / "selfie_landscape.onnx", args.threads)
    det_x = np.ascontiguousarray(det_in.transpose(0, 3, 1, 2))
    seg_x = np.ascontiguousarray(seg_in.transpose(0, 3, 1, 2))
    selfie_x = np.random.default_rng(0).random((1, 3, 144, 256), dtype=np.float32)
    boxes, logits = det.run(None, {"image": det_x})
    alpha, lms, presence, aux = seg.run(None, {"image": seg_x})
    anchors = pd.ssd_anchors()

    def decode_detector():
        return pd.detect(boxes, logits, anchors, padding)

    def decode_segmenter():
        out = pr.decode_landmarks(lms)
        out[list(pr.AUX_LANDMARKS), :2] = pr.refine_from_heatmap(
            out[list(pr.AUX_LANDMARKS), :2], aux[0])
        out = pr.project_landmarks(out, roi)
        pr.landmarks_roi(out, 1280, 720)
        return pr.mask_to_frame(alpha[0, 0], roi, 1280, 720)

    rows = [
        ("person_detector.onnx (224x224)", lambda: det.run(None, {"image": det_x})),
        ("person_segmenter.onnx (256x256)", lambda: seg.run(None, {"image": seg_x})),
        ("selfie_landscape.onnx (256x144), for scale",
         lambda: selfie.run(None, {"image": selfie_x})),
        ("decode detections (numpy)", decode_detector),
        ("decode landmarks + next ROI + paste mask 1280x720", decode_segmenter),
    ]
    print("ONNX Runtime, %d intra-op thread(s), %d runs after 2 warm-up calls; frame %s"
          % (args.threads, args.runs, "davis_swing_15"))
    print("%-50s %10s %10s" % ("step", "median ms", "p90 ms"))
    for name, fn in rows:
        med, p90 = _time(fn, args.runs)
        print("%-50s %10.2f %10.2f" % (name, med, p90))


if __name__ == "__main__":
    main()
