"""Post-processing of the matte: pure functions and kernels, no state.

Two steps, each optional, on either side of the matte history (utils.temporal):
- clean-up of the selfie network's alpha at model size (the PP-HumanSeg recipe): threshold
  the probabilities into confident cores, erode them (drops specks), dilate with a larger
  kernel (grows back past the soft edge), and multiply the probabilities by that mask:
  blobs without a confident core vanish while the soft edges of real regions are kept;
- soft threshold of the matte after the history: alpha below `low` -> 0, above `high` -> 1,
  linear in between, so the mid-grey haze of an unsure network becomes clean background
  without a hard edge. After the history, not before: the history blends the networks' own
  values (as MediaPipe's segmentation smoothing blends the raw mask), where the threshold
  has not yet stretched their noise by 1 / (high - low) nor pushed a wavering value onto
  the confident 0 or 1 that the history passes unblended. Noisy still portraits: temporal
  error 9.31e-3 -> 8.42e-3; static flicker of the real clips 0.546e-3 -> 0.467e-3 (one-by-one
  0.520 -> 0.449); DAVIS IoU 0.8594 -> 0.8499 (model/MODEL.md, "Matte history").
"""
from typing import Optional, Tuple

import cv2
import numpy as np

from utils.upsample import simd_span


def _ellipse(k):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def cleanup(alpha: np.ndarray, threshold: float, erode_kernel: np.ndarray,
            dilate_kernel: np.ndarray) -> np.ndarray:
    """In place: alpha *= dilate(erode(alpha > threshold)). The mask is uint8 (0/255) so
    the morphology runs on bytes, not floats."""
    mask = cv2.compare(alpha, float(threshold), cv2.CMP_GT)
    mask = cv2.erode(mask, erode_kernel)
    mask = cv2.dilate(mask, dilate_kernel)
    cv2.multiply(alpha, mask, dst=alpha, scale=1.0 / 255.0, dtype=cv2.CV_32F)
    return alpha


def soft_threshold(alpha: np.ndarray, low: float, high: float) -> np.ndarray:
    """In place: clamp((alpha - low) / (high - low), 0, 1)."""
    scale = 1.0 / (high - low)
    # one affine pass (OpenCV's multiply/add by a Python scalar are each 5-10x slower)
    cv2.addWeighted(alpha, scale, alpha, 0.0, -low * scale, dst=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


class PostProcessor(object):
    """run(alpha) -> the cleaned selfie alpha; threshold(matte, box) -> the matte shown.
    Holds only the kernels and an output buffer: what it returns depends on this frame's
    values alone."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.erode_kernel = _ellipse(cfg.erode_size)
        self.dilate_kernel = _ellipse(cfg.dilate_size)
        self.out = None

    def run(self, alpha: np.ndarray) -> np.ndarray:
        """The clean-up (when on) of the selfie alpha: float32 (h, w) in [0, 1] (not
        modified). Returns it in a buffer that the next call overwrites."""
        cfg = self.cfg
        if self.out is None or self.out.shape != alpha.shape:
            self.out = np.empty_like(alpha)
        out = self.out
        np.copyto(out, alpha)
        if cfg.cleanup:
            cleanup(out, cfg.cleanup_threshold, self.erode_kernel, self.dilate_kernel)
        return out

    def threshold(self, matte: np.ndarray, box: Optional[Tuple[int, int, int, int]] = None
                  ) -> np.ndarray:
        """In place, when on: the soft threshold of the matte after the history. `box`
        (x0, y0, x1, y1): the matte is 0 outside it (0 stays 0 there); only that box is
        thresholded, widened to whole SIMD blocks of its rows so that the numbers are those
        of the whole matte. None: the whole matte."""
        cfg = self.cfg
        if not cfg.threshold:
            return matte
        area = matte
        if box is not None:
            x0, y0, x1, y1 = box
            if x1 <= x0 or y1 <= y0:
                return matte
            span = simd_span(x0, x1, matte.shape[1])
            if span is not None:
                area = matte[y0:y1, span[0]:span[1]]
        soft_threshold(area, cfg.threshold_low, cfg.threshold_high)
        return matte
