"""Person regions of interest and the person segmenter's outputs: the numpy half of MediaPipe's
pose landmark graph (mediapipe 0.10.14, `pose_landmark_cpu.binarypb` of the wheel, expanded).

- `detection_roi`: a detection's keypoints 0 (hip centre) and 1 (size/rotation point) -> the
  rotated square crop around the person (AlignmentPointsRectsCalculator: centre = keypoint 0,
  side = 2 x their distance, rotation so that 0 -> 1 points up; RectTransformationCalculator:
  square_long, scale 1.25). `landmarks_roi` does the same from the segmenter's auxiliary
  landmarks 33 and 34 for the next frame (pose_landmarks_to_roi: LandmarksToDetection then the
  same two calculators).
- `crop_transform`: the 3x3 matrix from frame pixels to crop pixels that ImageToTensorCalculator
  warps with (cv2.warpPerspective, INTER_LINEAR; keep_aspect_ratio pads the ROI to the crop's
  aspect ratio first and returns that padding).
- `decode_landmarks`, `refine_from_heatmap`, `project_landmarks`: TensorsToLandmarksCalculator
  (x, y, z / 256, sigmoid visibility and presence), RefineLandmarksFromHeatmapCalculator
  (min confidence 0.5: x, y = sigmoid-weighted mean of the heatmap around them; the window is
  9x9: the graph config says kernel_size 7, but MediaPipe 0.10.14's landmarks are reproduced
  only with 9 - all 462 landmarks of the 14 reference frames within 3e-4, against 277 with 7),
  LandmarkLetterboxRemoval + LandmarkProjectionCalculator (crop -> frame, normalised).
- `mask_to_frame`: the crop's person probability pasted into frame coordinates
  (WarpAffineCalculator with the inverse of the crop matrix, INTER_LINEAR, zero border).

A Roi is normalised like MediaPipe's NormalizedRect: centre and size as fractions of the frame
width (x) and height (y), rotation in radians (clockwise in image coordinates).
Pure functions on numpy arrays; Python 3.7, numpy and OpenCV only.
"""
import math
from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np

LANDMARK_INPUT = 256      # TensorsToLandmarksCalculator input_image_width / height
HEATMAP_KERNEL = 9        # see refine_from_heatmap: what MediaPipe 0.10.14 computes
HEATMAP_MIN_CONFIDENCE = 0.5  # its min_confidence_to_refine (proto default)
ROI_SCALE = 1.25          # RectTransformationCalculator scale_x / scale_y (0.10.14)
TARGET_ANGLE = math.pi / 2.0  # rotation_vector_target_angle_degrees: 90
AUX_LANDMARKS = (33, 34)  # SplitNormalizedLandmarkList range 33..35: the next ROI's points
NUM_POSE_LANDMARKS = 33   # landmarks 0..32 are the body; 33..38 are auxiliary
HOLD_SHIFT = 0.015  # settle(): the dead band of the ROI's centre, of its side
HOLD_GROW = 0.03  # ... of its side's length
HOLD_TURN = math.radians(2.0)  # ... of its rotation

Padding = Tuple[float, float, float, float]  # left, top, right, bottom (fractions)


class Roi(NamedTuple):
    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float = 0.0


def frame_roi() -> Roi:
    """The whole frame (what ImageToTensorCalculator uses without a NORM_RECT input)."""
    return Roi(0.5, 0.5, 1.0, 1.0, 0.0)


def normalize_radians(angle: float) -> float:
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def alignment_roi(centre: np.ndarray, scale_point: np.ndarray, frame_w: int, frame_h: int,
                  scale: float = ROI_SCALE) -> Roi:
    """Rotated square ROI centred on `centre` whose half-side is its distance to
    `scale_point` (both normalised x, y), turned so that centre -> scale_point points up,
    then enlarged by `scale` (RectTransformation with square_long)."""
    x0, y0 = float(centre[0]) * frame_w, float(centre[1]) * frame_h
    x1, y1 = float(scale_point[0]) * frame_w, float(scale_point[1]) * frame_h
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(x0 / frame_w, y0 / frame_h, side / frame_w * scale, side / frame_h * scale,
               rotation)


def detection_roi(keypoints: np.ndarray, frame_w: int, frame_h: int,
                  scale: float = ROI_SCALE) -> Roi:
    """Crop ROI of one detection from its keypoints (4 x 2, frame-normalised)."""
    return alignment_roi(keypoints[0], keypoints[1], frame_w, frame_h, scale)


def landmarks_roi(landmarks: np.ndarray, frame_w: int, frame_h: int,
                  scale: float = ROI_SCALE) -> Roi:
    """Next frame's ROI from frame-normalised landmarks (39 x >= 2, or just the two auxiliary
    ones, 2 x >= 2)."""
    aux = landmarks[list(AUX_LANDMARKS)] if len(landmarks) > 2 else landmarks
    return alignment_roi(aux[0], aux[1], frame_w, frame_h, scale)


def settle(previous: Roi, new: Roi, frame_w: int, frame_h: int, shift: float = HOLD_SHIFT,
           grow: float = HOLD_GROW, turn: float = HOLD_TURN) -> Roi:
    """The ROI to crop next: `previous` while `new` is within the dead band of it (centre
    moved less than `shift` of the side, side changed by less than `grow` of it, turned by
    less than `turn` radians), else `new`. The landmarks of a person standing still jitter
    by a pixel or two from frame to frame; a crop that follows them moves the whole matte's
    edge with them. Held, the crop is the same and so is the matte where the picture is;
    the body still fills the ROI (it has a quarter of margin), and a person who moves by
    more than the band is followed at once (a dead band, not a low-pass filter: no lag).
    An ROI across the frame's left or right edge always follows: someone leaving is cut by
    the edge, and a held crop cost the walk suite's leaving phase 0.021 IoU (0.818 -> 0.797)."""
    side = max(previous.width * frame_w, previous.height * frame_h, 1e-6)
    new_side = max(new.width * frame_w, new.height * frame_h)
    dx = (new.x_center - previous.x_center) * frame_w
    dy = (new.y_center - previous.y_center) * frame_h
    turned = abs(normalize_radians(new.rotation - previous.rotation))
    half = 0.5 * max(previous.width, new.width)
    inside = half <= new.x_center <= 1.0 - half  # not crossing the left or right edge
    if inside and dx * dx + dy * dy < (shift * side) ** 2 and abs(new_side - side) < grow * side \
            and turned < turn:
        return previous
    return new


def pad_roi(width: float, height: float, out_w: int, out_h: int) -> Tuple[float, float, Padding]:
    """ROI size (pixels) grown to the output's aspect ratio, and the padding that adds
    (ImageToTensorCalculator's keep_aspect_ratio)."""
    tensor_aspect = out_h / float(out_w)
    roi_aspect = height / width
    if tensor_aspect > roi_aspect:
        pad = (1.0 - roi_aspect / tensor_aspect) / 2.0
        return width, width * tensor_aspect, (0.0, pad, 0.0, pad)
    pad = (1.0 - tensor_aspect / roi_aspect) / 2.0
    return height / tensor_aspect, height, (pad, 0.0, pad, 0.0)


def _roi_pixels(roi: Roi, frame_w: int, frame_h: int, out_w: int, out_h: int,
                keep_aspect: bool):
    w, h = roi.width * frame_w, roi.height * frame_h
    padding = (0.0, 0.0, 0.0, 0.0)
    if keep_aspect:
        w, h, padding = pad_roi(w, h, out_w, out_h)
    return roi.x_center * frame_w, roi.y_center * frame_h, w, h, padding


def crop_transform(roi: Roi, frame_w: int, frame_h: int, out_w: int, out_h: int,
                   keep_aspect: bool = True) -> Tuple[np.ndarray, Padding]:
    """(3x3 float32 matrix frame pixel -> crop pixel, padding) of ImageToTensorCalculator:
    the ROI's corners (cv2.boxPoints) go to the crop's corners."""
    cx, cy, w, h, padding = _roi_pixels(roi, frame_w, frame_h, out_w, out_h, keep_aspect)
    corners = cv2.boxPoints(((cx, cy), (w, h), roi.rotation * 180.0 / math.pi))
    dst = np.array([[0, out_h], [0, 0], [out_w, 0], [out_w, out_h]], np.float32)
    return cv2.getPerspectiveTransform(corners.astype(np.float32), dst), padding


def crop(image: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int,
         border: str = "replicate") -> np.ndarray:
    """The crop itself (uint8 in, uint8 out), as the calculator warps it on the CPU.
    border: "replicate" (the landmark model) or "zero" (the detector's letterbox)."""
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.warpPerspective(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                               borderMode=mode)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in float32, as a new array. |x| > 88 would overflow exp in float32
    (the result is 0 or 1 there anyway): clipped. In place on one copy: on the 9x9 heatmap
    windows np.clip alone cost more than the arithmetic."""
    z = np.maximum(np.asarray(x, np.float32), np.float32(-88.0))
    np.minimum(z, np.float32(88.0), out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += np.float32(1.0)
    np.divide(np.float32(1.0), z, out=z)
    return z


_INDEX = np.arange(1024)  # column and row indices for refine_from_heatmap's windows


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """x, y (K x 2, crop-normalised) replaced by the sigmoid-weighted mean position of the
    heatmap logits (K x Hh x Wh, one channel per point) in a kernel x kernel window around
    each point, where the window's highest confidence reaches `min_confidence`."""
    out = np.array(xy, np.float32, copy=True)
    _, hm_h, hm_w = heatmap.shape
    half = (kernel - 1) // 2
    w32, h32 = np.float32(hm_w), np.float32(hm_h)
    index = _INDEX if max(hm_w, hm_h) <= len(_INDEX) else np.arange(max(hm_w, hm_h))
    for k in range(len(out)):
        col = int(np.float32(out[k, 0]) * w32)  # C++ cast: truncation
        row = int(np.float32(out[k, 1]) * h32)
        if col < 0 or col >= hm_w or row < 0 or row >= hm_h:
            continue
        r0, r1 = max(0, row - half), min(hm_h, row + half + 1)
        c0, c1 = max(0, col - half), min(hm_w, col + half + 1)
        conf = sigmoid(heatmap[k, r0:r1, c0:c1])
        total = conf.sum(dtype=np.float32)
        if conf.max() >= min_confidence and total > 0:
            # the column and row indices broadcast (the products of np.mgrid's grids,
            # without making them)
            out[k, 0] = (index[c0:c1] * conf).sum(dtype=np.float32) / w32 / total
            out[k, 1] = (index[r0:r1, None] * conf).sum(dtype=np.float32) / h32 / total
    return out


def landmarks_xy(raw: np.ndarray, size: int = LANDMARK_INPUT, columns: int = 2) -> np.ndarray:
    """x, y (and z with `columns` 3) of raw landmarks (N x 5, or flat) normalised by the
    crop size: decode_landmarks without the visibility and presence sigmoids."""
    return np.asarray(raw, np.float32).reshape(-1, 5)[:, :columns] / np.float32(size)


def decode_landmarks(raw: np.ndarray, heatmap: Optional[np.ndarray] = None,
                     size: int = LANDMARK_INPUT) -> np.ndarray:
    """39 x 5 landmarks in the crop: x, y, z normalised by the crop size, visibility and
    presence as probabilities; x, y refined with the heatmap logits (39 x 64 x 64) if given."""
    r = np.asarray(raw, np.float32).reshape(-1, 5)
    out = np.empty_like(r)
    out[:, :3] = landmarks_xy(r, size, 3)
    out[:, 3:] = sigmoid(r[:, 3:])
    if heatmap is not None:
        out[:, :2] = refine_from_heatmap(out[:, :2], np.asarray(heatmap).reshape(
            len(out), -1, np.asarray(heatmap).shape[-1]))
    return out


def project_landmarks(landmarks: np.ndarray, roi: Roi,
                      padding: Padding = (0.0, 0.0, 0.0, 0.0)) -> np.ndarray:
    """Crop-normalised landmarks (N x >= 3: x, y, z, ...) -> frame-normalised ones; z is
    scaled like x (by the ROI width). Columns after z are copied."""
    out = np.array(landmarks, np.float32, copy=True)
    left, top, right, bottom = padding
    sx, sy = 1.0 - left - right, 1.0 - top - bottom
    x = (out[:, 0] - left) / sx - 0.5
    y = (out[:, 1] - top) / sy - 0.5
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    out[:, 0] = (c * x - s * y) * roi.width + roi.x_center
    out[:, 1] = (s * x + c * y) * roi.height + roi.y_center
    out[:, 2] = out[:, 2] / sx * roi.width
    return out


def crop_to_frame_matrix(roi: Roi, frame_w: int, frame_h: int, out_w: int, out_h: int,
                         keep_aspect: bool = True) -> np.ndarray:
    """2x3 affine matrix frame pixel -> crop pixel, the form WarpAffineCalculator uses with
    WARP_INVERSE_MAP to paste a crop-size map back into the frame (it is the inverse of
    MediaPipe's crop-normalised -> frame-normalised matrix, scaled to pixels)."""
    cx, cy, w, h, _ = _roi_pixels(roi, frame_w, frame_h, out_w, out_h, keep_aspect)
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    # crop-normalised (u, v) -> frame pixels: centre + R(rotation) ((u - .5) w, (v - .5) h)
    forward = np.array([[w * c, -h * s, cx - 0.5 * w * c + 0.5 * h * s],
                        [w * s, h * c, cy - 0.5 * w * s - 0.5 * h * c],
                        [0.0, 0.0, 1.0]])
    to_crop = np.diag([float(out_w), float(out_h), 1.0]).dot(np.linalg.inv(forward))
    return to_crop[:2]


def mask_to_frame(mask: np.ndarray, roi: Roi, frame_w: int, frame_h: int,
                  keep_aspect: bool = True) -> np.ndarray:
    """A crop-size probability map (H x W float32) in frame coordinates (frame_h x frame_w),
    zero outside the ROI."""
    mask = np.ascontiguousarray(mask, np.float32)
    h, w = mask.shape
    matrix = crop_to_frame_matrix(roi, frame_w, frame_h, w, h, keep_aspect).astype(np.float32)
    return cv2.warpAffine(mask, matrix, (frame_w, frame_h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
