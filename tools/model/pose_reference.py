"""The person pipeline on RGB frames, MediaPipe's way, around any implementation of the two
networks: how the reference fixtures were fed and how the tests and `--check` replay them.

It prepares the network inputs exactly as MediaPipe's ImageToTensorCalculator does on the CPU
(the ROI's corners mapped onto the tensor with cv2.warpPerspective, INTER_LINEAR, uint8, then
scaled: detector [-1, 1] with a black letterbox, landmark model [0, 1] with replicated borders)
and decodes the outputs with the skill's own utils/person_detect.py and utils/person_roi.py.

A detector function maps a 1x224x224x3 NHWC float32 tensor to (boxes 2254x12, logits 2254);
a landmark function maps a 1x256x256x3 tensor to a dict with "landmarks" (195), "presence"
(probability), "alpha" (256x256 probability), "heatmap" (39x64x64 logits) and optionally
"world" (117). `tflite_*`, `torch_*` and `onnx_*` below make them.

numpy, OpenCV and the utils modules at import time: the MediaPipe venv imports this too.
"""
from typing import Callable, Dict

import numpy as np

from utils import person_detect as pd
from utils import person_roi as pr

DETECTOR_SIZE = pd.INPUT_SIZE
LANDMARK_SIZE = pr.LANDMARK_INPUT


def detector_input(frame: np.ndarray):
    """(1x224x224x3 float32 in [-1, 1], letterbox padding) for an RGB uint8 frame."""
    h, w = frame.shape[:2]
    matrix, padding = pr.crop_transform(pr.frame_roi(), w, h, DETECTOR_SIZE, DETECTOR_SIZE)
    image = pr.crop(frame, matrix, DETECTOR_SIZE, DETECTOR_SIZE, border="zero")
    tensor = image.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return tensor[None], padding


def landmark_input(frame: np.ndarray, roi: pr.Roi):
    """(1x256x256x3 float32 in [0, 1], padding) of the crop of `roi` in an RGB uint8 frame."""
    h, w = frame.shape[:2]
    matrix, padding = pr.crop_transform(roi, w, h, LANDMARK_SIZE, LANDMARK_SIZE)
    image = pr.crop(frame, matrix, LANDMARK_SIZE, LANDMARK_SIZE, border="replicate")
    return (image.astype(np.float32) * np.float32(1.0 / 255.0))[None], padding


def run(frame: np.ndarray, detector: Callable, landmark: Callable,
        roi: pr.Roi = None) -> Dict[str, object]:
    """One static-image pass (MediaPipe Pose with static_image_mode): detections, the first
    one's ROI, and (when the landmark model finds the person, presence >= 0.5) landmarks,
    mask and next ROI. With `roi`, the landmark stage uses that ROI instead of the detection's
    (to replay MediaPipe's own ROI)."""
    h, w = frame.shape[:2]
    tensor, padding = detector_input(frame)
    boxes, logits = detector(tensor)
    dets = pd.detect(boxes, logits, pd.ssd_anchors(), padding)
    out = {"detections": dets}
    if roi is None:
        if not len(dets.scores):
            return out
        roi = pr.detection_roi(dets.keypoints[0], w, h)
    out["roi"] = roi
    crop, crop_padding = landmark_input(frame, roi)
    res = landmark(crop)
    out["presence"] = float(np.asarray(res["presence"]).ravel()[0])
    if out["presence"] < 0.5:   # ThresholdingCalculator threshold (min_tracking_confidence)
        return out
    lms = pr.decode_landmarks(res["landmarks"], res["heatmap"])
    lms = pr.project_landmarks(lms, roi, crop_padding)
    out["landmarks"] = lms
    out["mask"] = pr.mask_to_frame(np.asarray(res["alpha"], np.float32).reshape(
        LANDMARK_SIZE, LANDMARK_SIZE), roi, w, h)
    out["next_roi"] = pr.landmarks_roi(lms, w, h)
    return out


# ------------------------------------------------------------------ network runners

def torch_detector(net):
    import torch

    def run_net(tensor):
        with torch.no_grad():
            boxes, logits = net(torch.from_numpy(tensor).permute(0, 3, 1, 2))
        return boxes[0].numpy(), logits[0, :, 0].numpy()
    return run_net


def torch_landmark(net):
    """For a PersonLandmarkNet (all outputs)."""
    import torch

    def run_net(tensor):
        with torch.no_grad():
            lms, presence, seg, heatmap, world = net(torch.from_numpy(tensor).permute(0, 3, 1, 2))
        return {"landmarks": lms[0].numpy(), "presence": presence[0].numpy(),
                "alpha": torch.sigmoid(seg)[0, 0].numpy(), "heatmap": heatmap[0].numpy(),
                "world": world[0].numpy()}
    return run_net


def _ort_session(path, threads=1):
    from hilens.onnxrt import import_onnxruntime  # no telemetry (stubs/README.md)
    ort = import_onnxruntime()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def onnx_detector(path):
    sess = _ort_session(path)

    def run_net(tensor):
        boxes, logits = sess.run(["boxes", "logits"],
                                 {"image": np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))})
        return boxes[0], logits[0, :, 0]
    return run_net


def onnx_segmenter(path):
    """For model/person_segmenter.onnx: the heatmap holds only the two ROI landmarks, so only
    they are refined (the others keep their regressed x, y)."""
    sess = _ort_session(path)

    def run_net(tensor):
        alpha, lms, presence, aux = sess.run(
            ["alpha", "landmarks", "presence", "aux_heatmap"],
            {"image": np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))})
        heatmap = np.full((39,) + aux.shape[2:], -100.0, np.float32)  # nothing to refine
        heatmap[list(pr.AUX_LANDMARKS)] = aux[0]
        return {"landmarks": lms[0], "presence": presence[0], "alpha": alpha[0, 0],
                "heatmap": heatmap}
    return run_net


def tflite_detector(path):
    from ai_edge_litert.interpreter import Interpreter  # MediaPipe venv only

    it = Interpreter(str(path))
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    boxes_i, logits_i = [o["index"] for o in it.get_output_details()]

    def run_net(tensor):
        it.set_tensor(inp, np.ascontiguousarray(tensor, np.float32))
        it.invoke()
        return it.get_tensor(boxes_i)[0].copy(), it.get_tensor(logits_i)[0, :, 0].copy()
    return run_net


def tflite_landmark(path):
    from ai_edge_litert.interpreter import Interpreter  # MediaPipe venv only

    it = Interpreter(str(path))
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    outs = [o["index"] for o in it.get_output_details()]

    def run_net(tensor):
        it.set_tensor(inp, np.ascontiguousarray(tensor, np.float32))
        it.invoke()
        lms, presence, seg, heatmap, world = (it.get_tensor(i).copy() for i in outs)
        return {"landmarks": lms[0], "presence": presence[0],
                "alpha": pr.sigmoid(seg[0, :, :, 0]), "heatmap": heatmap[0].transpose(2, 0, 1),
                "world": world[0]}
    return run_net
