"""Person detector decoding: the numpy half of MediaPipe's pose detector.

The network (model/person_detector.onnx, `pose_detection.tflite` of mediapipe 0.10.14) gives,
for 2254 SSD anchors, a score logit and 12 regressors (box centre x, y, width, height, then x, y
of four keypoints, in pixels of its 224x224 input, relative to the anchor centre). This module
turns them into detections in frame coordinates, with the options of MediaPipe's graph
(`mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt` as expanded in the 0.10.14 wheel's
`pose_landmark_cpu.binarypb`; each constant below names its calculator):

1. `ssd_anchors`: SsdAnchorsCalculator (5 layers, strides 8/16/32/32/32, aspect ratio 1 plus
   the interpolated-scale anchor, fixed_anchor_size: only centres matter).
2. `decode`: TensorsToDetectionsCalculator (reverse_output_order: x before y; scales 224;
   sigmoid of the logit clipped to +-100; keep score >= 0.5 and boxes of non-negative size).
3. `weighted_nms`: NonMaxSuppressionCalculator (WEIGHTED, IoU > 0.3 joins a cluster; the
   cluster's boxes and keypoints are averaged with their scores as weights, the score stays
   the best one's).
4. `remove_letterbox`: DetectionLetterboxRemovalCalculator, with the padding of `letterbox`
   (ImageToTensorCalculator, keep_aspect_ratio: the frame is scaled to fit 224x224 and centred
   on black borders).

Keypoints: 0 mid-hip centre, 1 a point whose distance from it gives the full-body size and
whose direction the rotation, 2 mid-shoulder centre, 3 the same for the upper body.
Coordinates are normalised to [0, 1] of the frame (x by width, y by height).
Pure functions on numpy arrays; Python 3.7, numpy only.
"""
from typing import NamedTuple, Tuple

import numpy as np

INPUT_SIZE = 224  # ImageToTensorCalculator output_tensor_width / height
NUM_ANCHORS = 2254
NUM_KEYPOINTS = 4

# SsdAnchorsCalculatorOptions
_ANCHOR_STRIDES = (8, 16, 32, 32, 32)
_ANCHOR_OFFSET = 0.5
_ANCHORS_PER_LAYER = 2  # aspect_ratios: 1.0 plus interpolated_scale_aspect_ratio (default 1.0)

# TensorsToDetectionsCalculatorOptions
_COORD_SCALE = 224.0            # x_scale, y_scale, w_scale, h_scale
SCORE_CLIP = 100.0              # score_clipping_thresh
MIN_SCORE = 0.5                 # min_score_thresh
# NonMaxSuppressionCalculatorOptions
NMS_IOU = 0.3                   # min_suppression_threshold (INTERSECTION_OVER_UNION, WEIGHTED)


class Detections(NamedTuple):
    """K detections: scores (K,), boxes (K, 4) as xmin, ymin, xmax, ymax, keypoints (K, 4, 2)
    as x, y; all float32, normalised to the image they were decoded in."""
    scores: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray


class Letterbox(NamedTuple):
    """How a frame sits in the square detector input: `matrix` (2x3, float64) maps frame pixel
    coordinates to input pixel coordinates (corner-aligned, as MediaPipe's warp), `padding`
    (left, top, right, bottom) is the border of each side as a fraction of the input size."""
    matrix: np.ndarray
    padding: Tuple[float, float, float, float]


def empty() -> Detections:
    return Detections(np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                      np.zeros((0, NUM_KEYPOINTS, 2), np.float32))


def ssd_anchors(input_size: int = INPUT_SIZE) -> np.ndarray:
    """(2254, 2) anchor centres (x, y) in [0, 1], in the network's output order: per layer
    group of equal stride, row-major over the feature map, then the anchors of one cell."""
    centres = []
    layer = 0
    while layer < len(_ANCHOR_STRIDES):
        stride = _ANCHOR_STRIDES[layer]
        same = 0  # layers sharing this stride are merged into one feature map
        while layer + same < len(_ANCHOR_STRIDES) and _ANCHOR_STRIDES[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_size / stride))
        grid = (np.arange(cells, dtype=np.float64) + _ANCHOR_OFFSET) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        xy = np.stack([x.ravel(), y.ravel()], axis=1)
        centres.append(np.repeat(xy, same * _ANCHORS_PER_LAYER, axis=0))
        layer += same
    anchors = np.concatenate(centres).astype(np.float32)
    if len(anchors) != NUM_ANCHORS:
        raise AssertionError("anchor options give %d anchors, the network has %d"
                             % (len(anchors), NUM_ANCHORS))
    return anchors


def scores_from_logits(logits: np.ndarray) -> np.ndarray:
    """sigmoid(clip(logit, -100, 100)), as TensorsToDetectionsCalculator does."""
    z = np.clip(np.asarray(logits, np.float32), -SCORE_CLIP, SCORE_CLIP)
    with np.errstate(over="ignore"):  # exp(100) is inf in float32, as in the calculator: 0
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_logits: np.ndarray, anchors: np.ndarray,
           min_score: float = MIN_SCORE) -> Detections:
    """Detections (in input coordinates, [0, 1]) of the anchors scoring at least `min_score`.

    raw_boxes: 2254 x 12 (any shape with that many values), raw_logits: 2254 values."""
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(NUM_ANCHORS, 12)
    logits = np.asarray(raw_logits, np.float32).reshape(NUM_ANCHORS)
    # score >= min_score  <=>  logit >= logit(min_score): only the candidates get a sigmoid
    keep = np.flatnonzero(logits >= np.float32(np.log(min_score / (1.0 - min_score))))
    scores = scores_from_logits(logits[keep])
    ok = scores >= np.float32(min_score)
    keep, scores = keep[ok], scores[ok]
    raw, centre = raw_boxes[keep], anchors[keep]
    scale = np.float32(_COORD_SCALE)
    xy = raw[:, 0:2] / scale + centre
    half = raw[:, 2:4] / scale / np.float32(2.0)
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    keypoints = raw[:, 4:12].reshape(-1, NUM_KEYPOINTS, 2) / scale + centre[:, None, :]
    size_ok = (half[:, 0] >= 0) & (half[:, 1] >= 0)  # the calculator drops negative sizes
    return Detections(scores[size_ok], boxes[size_ok].astype(np.float32),
                      keypoints[size_ok].astype(np.float32))


def iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Row i: the intersection over union of boxes[i] (xmin, ymin, xmax, ymax) with each of
    `boxes`; float32 operations, every pair in one set of numpy calls."""
    b = np.asarray(boxes)
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    w = np.minimum(x1[:, None], x1) - np.maximum(x0[:, None], x0)
    h = np.minimum(y1[:, None], y1) - np.maximum(y0[:, None], y0)
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    area = (x1 - x0) * (y1 - y0)
    union = area[:, None] + area - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(dets: Detections, iou_threshold: float = NMS_IOU) -> Detections:
    """MediaPipe's weighted non-maximum suppression, best score first. (The overlaps of
    every pair at once: a pass per cluster was a dozen numpy calls on a few numbers.)"""
    order = np.argsort(-dets.scores, kind="stable")
    scores, boxes, kps = [], [], []
    overlaps = iou_matrix(dets.boxes) > iou_threshold if order.size else None
    while order.size:
        best = order[0]
        overlap = overlaps[best, order]
        cluster, order = order[overlap], order[~overlap]
        if cluster.size == 0:
            # a degenerate box overlaps nothing, not even itself: MediaPipe keeps it as it is
            # and stops there (nothing was removed, so its loop would not advance)
            scores.append(dets.scores[best])
            boxes.append(dets.boxes[best])
            kps.append(dets.keypoints[best])
            break
        w = dets.scores[cluster]
        total = w.sum()
        scores.append(dets.scores[best])
        boxes.append((dets.boxes[cluster] * w[:, None]).sum(axis=0) / total)
        kps.append((dets.keypoints[cluster] * w[:, None, None]).sum(axis=0) / total)
    if not scores:
        return empty()
    return Detections(np.asarray(scores, np.float32), np.asarray(boxes, np.float32),
                      np.asarray(kps, np.float32))


def letterbox(frame_w: int, frame_h: int, size: int = INPUT_SIZE) -> Letterbox:
    """Where a frame goes in the square `size` input: scaled to fit, centred, black borders
    (ImageToTensorCalculator with keep_aspect_ratio and BORDER_ZERO)."""
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError("frame size must be positive, got %dx%d" % (frame_w, frame_h))
    side = float(max(frame_w, frame_h))
    s = size / side
    # the square region of side `side` centred on the frame maps onto the input
    tx = (side - frame_w) / 2.0 * s
    ty = (side - frame_h) / 2.0 * s
    matrix = np.array([[s, 0.0, tx], [0.0, s, ty]])
    pad_x = (1.0 - frame_w / side) / 2.0
    pad_y = (1.0 - frame_h / side) / 2.0
    return Letterbox(matrix, (pad_x, pad_y, pad_x, pad_y))


def remove_letterbox(dets: Detections, padding: Tuple[float, float, float, float]
                     ) -> Detections:
    """Detections from input coordinates to frame coordinates (both normalised)."""
    left, top, right, bottom = (np.float32(p) for p in padding)
    sx, sy = np.float32(1.0) - left - right, np.float32(1.0) - top - bottom
    shift = np.array([left, top], np.float32)
    scale = np.array([sx, sy], np.float32)
    boxes = ((dets.boxes.reshape(-1, 2, 2) - shift) / scale).reshape(-1, 4)
    return Detections(dets.scores, boxes.astype(np.float32),
                      ((dets.keypoints - shift) / scale).astype(np.float32))


def detect(raw_boxes: np.ndarray, raw_logits: np.ndarray, anchors: np.ndarray,
           padding: Tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
           min_score: float = MIN_SCORE, iou_threshold: float = NMS_IOU) -> Detections:
    """The whole decoding: anchors -> scored boxes -> weighted NMS -> frame coordinates."""
    return remove_letterbox(weighted_nms(decode(raw_boxes, raw_logits, anchors, min_score),
                                         iou_threshold), padding)
