"""Record MediaPipe's own person pipeline as reference data for our networks and decoding:
test/fixtures/pose/<frame>.npz for the frames of tools/model/pose_frames.py, and
test/fixtures/pose/densify_sha256.json.

Runs in the separate MediaPipe environment (mediapipe 0.10.14 pins protobuf < 5; the main venv
has onnx, which needs protobuf >= 6), with TFLite's Python interpreter for the raw tensors:

    python3.11 -m venv .venv-mp
    .venv-mp/bin/pip install mediapipe==0.10.14 matplotlib ai-edge-litert
    .venv-mp/bin/python -m tools.model.make_pose_fixtures

Per frame, two kinds of reference:
- output level, from MediaPipe's graph itself (`pose_landmark_cpu.binarypb`, the graph of
  mp.solutions.pose, run as mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
  enable_segmentation=True) runs it, with a fresh graph per frame so no filter state carries
  over, and two more of its streams observed: all detections and both ROIs): every detection
  after NMS (score, box, keypoints), the ROI from the first one, the 33 landmarks (x, y, z,
  visibility, presence), the world landmarks, the segmentation mask in frame coordinates
  (float16) and the ROI for the next frame;
- raw tensors (frames in pose_frames.RAW), from the TFLite interpreter MediaPipe's
  InferenceCalculator wraps (ai_edge_litert, XNNPACK as in MediaPipe): the detector's boxes
  and logits for the letterboxed frame, and the landmark model's outputs for the crop of
  MediaPipe's own ROI; inputs built by tools/model/pose_reference.py (the tests build the same
  ones). Probabilities are stored as float16, everything else as float32; the heatmap only
  for the two ROI landmarks (33, 34), except on the first raw frame, which keeps all 39.

densify_sha256.json: SHA-256 of every densified detector constant as the TFLite reference
kernels (no delegate) compute it, so tools/model/tflite_reader.py's DENSIFY decoding is tested
without TFLite.
"""
import argparse
import hashlib
import json
import os
import pathlib

import numpy as np

from tools import paths
from tools.model import pose_frames, pose_reference
from utils import person_roi as pr

FIXTURE_DIR = paths.REPO / "test" / "fixtures" / "pose"
_OUTPUTS = ["pose_landmarks", "pose_world_landmarks", "segmentation_mask", "pose_detections",
            "pose_rect_from_detection", "pose_rect_from_landmarks"]


def _mediapipe_root() -> str:
    import mediapipe
    return os.path.dirname(os.path.dirname(mediapipe.__file__))


def tflite_file(member: str) -> str:
    """A .tflite of the installed wheel (the fixtures use the same files as the graph)."""
    return os.path.join(_mediapipe_root(), "mediapipe", "modules", member)


def pose_graph():
    """MediaPipe's Pose graph (static-image mode, full model, segmentation on) observing all
    detections and both ROIs as well."""
    from mediapipe.framework import calculator_pb2
    from mediapipe.python.solution_base import SolutionBase

    path = os.path.join(_mediapipe_root(), "mediapipe/modules/pose_landmark/"
                                           "pose_landmark_cpu.binarypb")
    with open(path, "rb") as f:
        config = calculator_pb2.CalculatorGraphConfig.FromString(f.read())
    config.output_stream.append("ALL_DETECTIONS:pose_detections")
    return SolutionBase(
        graph_config=config,
        side_inputs={"model_complexity": 1, "smooth_landmarks": False,
                     "enable_segmentation": True, "smooth_segmentation": False,
                     "use_prev_landmarks": False},
        calculator_params={  # what mp.solutions.pose.Pose sets (its defaults)
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5,
            "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__"
            "ThresholdingCalculator.threshold": 0.5},
        outputs=_OUTPUTS)


def _roi(rect) -> np.ndarray:
    return np.array([rect.x_center, rect.y_center, rect.width, rect.height, rect.rotation],
                    np.float32)


def mediapipe_outputs(frame: np.ndarray) -> dict:
    graph = pose_graph()
    try:
        r = graph.process({"image": frame})
    finally:
        graph.close()
    out = {}
    dets = r.pose_detections or []
    out["det_scores"] = np.array([d.score[0] for d in dets], np.float32)
    boxes = []
    for d in dets:
        b = d.location_data.relative_bounding_box
        boxes.append([b.xmin, b.ymin, b.xmin + b.width, b.ymin + b.height])
    out["det_boxes"] = np.array(boxes, np.float32).reshape(-1, 4)
    out["det_keypoints"] = np.array([[[k.x, k.y] for k in d.location_data.relative_keypoints]
                                     for d in dets], np.float32).reshape(-1, 4, 2)
    if r.pose_rect_from_detection is not None:
        out["roi_detection"] = _roi(r.pose_rect_from_detection)
    out["has_pose"] = np.array(r.pose_landmarks is not None)
    if r.pose_landmarks is not None:
        out["landmarks"] = np.array([[p.x, p.y, p.z, p.visibility, p.presence]
                                     for p in r.pose_landmarks.landmark], np.float32)
        out["world"] = np.array([[p.x, p.y, p.z] for p in r.pose_world_landmarks.landmark],
                                np.float32)
        out["mask"] = np.asarray(r.segmentation_mask, np.float32).astype(np.float16)
        out["roi_landmarks"] = _roi(r.pose_rect_from_landmarks)
    return out


def raw_outputs(frame: np.ndarray, roi: np.ndarray, detector, landmark,
                full_heatmap: bool = False) -> dict:
    tensor, _ = pose_reference.detector_input(frame)
    boxes, logits = detector(tensor)
    out = {"raw_det_boxes": boxes.astype(np.float32), "raw_det_logits": logits.astype(np.float32)}
    if roi is not None:
        crop, _ = pose_reference.landmark_input(frame, pr.Roi(*[float(v) for v in roi]))
        res = landmark(crop)
        out.update({"raw_lm_landmarks": res["landmarks"].astype(np.float32),
                    "raw_lm_presence": np.asarray(res["presence"], np.float32).ravel(),
                    "raw_lm_world": res["world"].astype(np.float32),
                    "raw_lm_alpha": res["alpha"].astype(np.float16),
                    "raw_lm_aux_heatmap_prob":
                        pr.sigmoid(res["heatmap"][list(pr.AUX_LANDMARKS)]).astype(np.float16)})
        if full_heatmap:  # 200 kB a frame: one frame has all 39 channels
            out["raw_lm_heatmap_prob"] = pr.sigmoid(res["heatmap"]).astype(np.float16)
    return out


def densify_digests(path: str) -> dict:
    """{tensor name: SHA-256 of its DENSIFY output (float16 bytes)} from TFLite's reference
    kernels (the XNNPACK delegate takes the weights over and leaves these tensors empty)."""
    import tflite
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model = tflite.Model.GetRootAsModel(open(path, "rb").read(), 0)
    sub = model.Subgraphs(0)
    pairs = []
    for i in range(sub.OperatorsLength()):
        op = sub.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == \
                tflite.BuiltinOperator.DENSIFY:
            pairs.append((sub.Tensors(op.Inputs(0)).Name().decode(), op.Outputs(0)))
    it = Interpreter(path, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.
                     BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"],
                  np.zeros(it.get_input_details()[0]["shape"], np.float32))
    it.invoke()
    return {name: hashlib.sha256(np.ascontiguousarray(it.get_tensor(out)).tobytes()).hexdigest()
            for name, out in pairs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", default=str(FIXTURE_DIR))
    ap.add_argument("--frames", nargs="*", help="only these frames (default: all)")
    args = ap.parse_args(argv)
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    det_file = tflite_file("pose_detection/pose_detection.tflite")
    lm_file = tflite_file("pose_landmark/pose_landmark_full.tflite")
    detector = pose_reference.tflite_detector(det_file)
    landmark = pose_reference.tflite_landmark(lm_file)
    for name in args.frames or list(pose_frames.FRAMES):
        frame = pose_frames.frame(name)
        arrays = {"frame_sha256": np.array(pose_frames.sha256(frame)),
                  "frame_shape": np.array(frame.shape)}
        arrays.update(mediapipe_outputs(frame))
        if name in pose_frames.RAW:
            arrays.update(raw_outputs(frame, arrays.get("roi_detection"), detector, landmark,
                                      full_heatmap=name == pose_frames.RAW[0]))
        path = out_dir / (name + ".npz")
        np.savez_compressed(path, **arrays)
        print("%-22s %d detection(s), pose %-5s %7d bytes" % (
            name, len(arrays["det_scores"]), bool(arrays["has_pose"]), path.stat().st_size))
    digests = {"file_sha256": hashlib.sha256(open(det_file, "rb").read()).hexdigest(),
               "tensors": densify_digests(det_file)}
    (out_dir / "densify_sha256.json").write_text(json.dumps(digests, indent=1, sort_keys=True)
                                                 + "\n")


if __name__ == "__main__":
    main()
