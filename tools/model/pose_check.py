"""Compare our person networks and decoding with MediaPipe's recorded outputs
(test/fixtures/pose/, written by tools/model/make_pose_fixtures.py).

    python -m tools.model.pose_check [--onnx-dir model] [--frames NAME ...]

prints, per frame and as a maximum over the frames, the largest absolute difference of every
compared quantity, for the PyTorch port (tools/model/pose_nets.py) and the shipped ONNX files:

raw (frames with raw tensors; same input tensor as the TFLite interpreter got):
  det_box     detector box/keypoint regressors, in units of the 224 input (pixels / 224)
  det_score   sigmoid of the detector logits
  lm_xyz      landmark x, y, z, in units of the 256 crop (pixels / 256)
  lm_vis      sigmoid of the visibility and presence logits of the 39 landmarks
  presence    pose presence probability
  world       world landmarks, metres (PyTorch only: not shipped)
  alpha       segmentation probability in the crop
  heatmap     heatmap probabilities (the two ROI landmarks; all 39 where recorded)
  alpha_frac  share of the crop's pixels whose probability is off by more than 1e-3
output level (against MediaPipe's graph on the whole frame):
  n_det       detection count difference (must be 0); dets_score / dets_box / dets_kp over all
  roi         the detection's ROI (centre, size normalised; rotation in radians)
  has_pose    1 where one side finds the person and the other does not
  xy, z       x, y (refined with the heatmap; PyTorch only) and z of the 33 landmarks,
              frame-normalised
  vis         their visibility and presence probabilities
  mask        segmentation mask in frame coordinates: max, mean, and the share of pixels off
              by more than 1e-3 (mask_frac3) and 1e-2 (mask_frac2)
  next_roi    the next frame's ROI from the landmarks
"""
import argparse
import pathlib
from typing import Callable, Dict

import numpy as np

from tools import paths
from tools.model import pose_frames, pose_reference
from utils import person_roi as pr

FIXTURE_DIR = paths.REPO / "test" / "fixtures" / "pose"


def load_fixture(name: str, fixture_dir=FIXTURE_DIR) -> Dict[str, np.ndarray]:
    with np.load(pathlib.Path(fixture_dir) / (name + ".npz")) as f:
        return {k: f[k] for k in f.files}


def fixture_frame(fx: Dict[str, np.ndarray], name: str) -> np.ndarray:
    """The fixture's frame, rebuilt from its source and checked against the recorded SHA-256."""
    frame = pose_frames.frame(name)
    if pose_frames.sha256(frame) != str(fx["frame_sha256"]):
        raise ValueError("frame %s rebuilt from its source differs from the one the fixture "
                         "was recorded on (SHA-256 %s, recorded %s)"
                         % (name, pose_frames.sha256(frame), fx["frame_sha256"]))
    return frame


def _max(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError("shapes differ: %s vs %s" % (a.shape, b.shape))
    return float(np.abs(a - b).max()) if a.size else 0.0


def compare_raw(fx, frame, detector: Callable, landmark: Callable) -> Dict[str, float]:
    tensor, _ = pose_reference.detector_input(frame)
    boxes, logits = detector(tensor)
    out = {"det_box": _max(boxes / 224.0, fx["raw_det_boxes"] / 224.0),
           "det_score": _max(pr.sigmoid(logits), pr.sigmoid(fx["raw_det_logits"]))}
    if "raw_lm_landmarks" in fx:
        crop, _ = pose_reference.landmark_input(frame, pr.Roi(*fx["roi_detection"].tolist()))
        res = landmark(crop)
        got, want = res["landmarks"].reshape(-1, 5), fx["raw_lm_landmarks"].reshape(-1, 5)
        out["lm_xyz"] = _max(got[:, :3] / 256.0, want[:, :3] / 256.0)
        out["lm_vis"] = _max(pr.sigmoid(got[:, 3:]), pr.sigmoid(want[:, 3:]))
        out["presence"] = _max(np.ravel(res["presence"]), fx["raw_lm_presence"])
        if "world" in res:
            out["world"] = _max(res["world"], fx["raw_lm_world"])
        alpha = np.abs(np.asarray(res["alpha"], np.float64) - fx["raw_lm_alpha"])
        out["alpha"] = float(alpha.max())
        out["alpha_frac"] = float((alpha > 1e-3).mean())
        heat = pr.sigmoid(res["heatmap"])
        out["heatmap"] = _max(heat[list(pr.AUX_LANDMARKS)], fx["raw_lm_aux_heatmap_prob"])
        if "raw_lm_heatmap_prob" in fx and "world" in res:  # the full heatmap (PyTorch only)
            out["heatmap"] = max(out["heatmap"], _max(heat, fx["raw_lm_heatmap_prob"]))
    return out


def _roi_diff(a: pr.Roi, b: np.ndarray) -> float:
    a = np.array(a, np.float64)
    d = np.abs(a - b)
    d[4] = abs((a[4] - b[4] + np.pi) % (2 * np.pi) - np.pi)
    return float(d.max())


def compare_outputs(fx, frame, detector: Callable, landmark: Callable,
                    refines_all: bool = True) -> Dict[str, float]:
    """refines_all: the landmark function returns the whole heatmap (False for the shipped
    segmenter, which has only the two ROI landmarks' channels: body x, y are then not
    compared)."""
    res = pose_reference.run(frame, detector, landmark)
    dets = res["detections"]
    out = {"n_det": float(abs(len(dets.scores) - len(fx["det_scores"])))}
    if out["n_det"]:
        return out
    out["dets_score"] = _max(dets.scores, fx["det_scores"])
    out["dets_box"] = _max(dets.boxes, fx["det_boxes"])
    out["dets_kp"] = _max(dets.keypoints, fx["det_keypoints"])
    if "roi_detection" in fx:
        out["roi"] = _roi_diff(res["roi"], fx["roi_detection"])
    has_pose = "landmarks" in res
    out["has_pose"] = float(has_pose != bool(fx["has_pose"]))
    if has_pose and bool(fx["has_pose"]):
        got, want = res["landmarks"][:pr.NUM_POSE_LANDMARKS], fx["landmarks"]
        if refines_all:  # MediaPipe refines x, y of every landmark with the heatmap
            out["xy"] = _max(got[:, :2], want[:, :2])
        out["z"] = _max(got[:, 2], want[:, 2])
        out["vis"] = _max(got[:, 3:], want[:, 3:])
        diff = np.abs(res["mask"] - fx["mask"].astype(np.float32))
        out["mask"] = float(diff.max())
        out["mask_mean"] = float(diff.mean())
        out["mask_frac3"] = float((diff > 1e-3).mean())
        out["mask_frac2"] = float((diff > 1e-2).mean())
        out["next_roi"] = _roi_diff(res["next_roi"], fx["roi_landmarks"])
    return out


def runners(onnx_dir=None):
    """name -> (detector fn, landmark fn): the PyTorch port, and the ONNX files if present."""
    import torch

    from tools.model.pose_import import load_person_detector, load_person_landmark
    torch.set_num_threads(1)
    found = {"torch": (pose_reference.torch_detector(load_person_detector()),
                       pose_reference.torch_landmark(load_person_landmark()))}
    onnx_dir = pathlib.Path(onnx_dir or paths.REPO / "model")
    det, seg = onnx_dir / "person_detector.onnx", onnx_dir / "person_segmenter.onnx"
    if det.is_file() and seg.is_file():
        found["onnx"] = (pose_reference.onnx_detector(det), pose_reference.onnx_segmenter(seg))
    return found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx-dir", help="folder with person_detector.onnx and "
                                       "person_segmenter.onnx (default: model/)")
    ap.add_argument("--frames", nargs="*", help="only these fixture frames")
    ap.add_argument("--fixtures", default=str(FIXTURE_DIR))
    args = ap.parse_args(argv)
    names = args.frames or list(pose_frames.FRAMES)
    for label, (det, lm) in runners(args.onnx_dir).items():
        refines_all = label == "torch"
        worst: Dict[str, float] = {}
        print("== %s" % label)
        for name in names:
            fx = load_fixture(name, args.fixtures)
            frame = fixture_frame(fx, name)
            row = {}
            if name in pose_frames.RAW:
                row.update(compare_raw(fx, frame, det, lm))
            row.update(compare_outputs(fx, frame, det, lm, refines_all))
            for k, v in row.items():
                worst[k] = max(worst.get(k, 0.0), v)
            print("%-22s %s" % (name, "  ".join("%s %.2g" % kv for kv in row.items())))
        print("%-22s %s" % ("MAX", "  ".join("%s %.2g" % kv for kv in worst.items())))


if __name__ == "__main__":
    main()
