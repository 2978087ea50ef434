"""Post-processing of the network's alpha at model size (cheap: 256x144 floats): no state.

Order, each step optional: clean-up -> soft threshold (the matte history, which smooths the
result against the previous frame, is utils.temporal's).
- clean-up (the PP-HumanSeg recipe): threshold the probabilities into confident cores,
  erode them (drops specks), dilate with a larger kernel (grows back past the soft edge),
  and multiply the probabilities by that mask: blobs without a confident core vanish while
  the soft edges of real regions are kept.
- soft threshold: alpha below `low` -> 0, above `high` -> 1, linear in between, so the
  mid-grey haze of an unsure network becomes clean background without a hard edge.
"""
from typing import Optional

import cv2
import numpy as np

from utils.upsample import simd_span, zero_outside


def _ellipse(k):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def cleanup(alpha: np.ndarray, threshold: float, erode_kernel: np.ndarray,
            dilate_kernel: np.ndarray) -> np.ndarray:
    """In place: alpha *= dilate(erode(alpha > threshold)). Returns alpha."""
    cleanup_box(alpha, threshold, erode_kernel, dilate_kernel)
    return alpha


def cleanup_box(alpha: np.ndarray, threshold: float, erode_kernel: np.ndarray,
                dilate_kernel: np.ndarray, mask: Optional[np.ndarray] = None):
    """cleanup(): the mask is uint8 (0/255) so the morphology runs on bytes, not floats,
    and only on the box of the cores grown by both kernels' radii (outside it the mask is
    0, and so is alpha): the same numbers as on the whole alpha. `mask`: a uint8 scratch
    of alpha's shape or None. Returns the box (x0, y0, x1, y1) outside which alpha is 0."""
    h, w = alpha.shape
    mask = cv2.compare(alpha, float(threshold), cv2.CMP_GT, dst=mask)
    x, y, rw, rh = cv2.boundingRect(mask)
    if rw == 0:
        alpha.fill(0.0)
        return 0, 0, 0, 0
    m = erode_kernel.shape[0] // 2 + dilate_kernel.shape[0] // 2
    span = simd_span(x - m, x + rw + m, w)
    if span is None:
        x0, y0, x1, y1 = 0, 0, w, h
    else:
        (x0, x1), y0, y1 = span, max(0, y - m), min(h, y + rh + m)
    box = np.s_[y0:y1, x0:x1]
    # the crop as an image of its own: its border is all 0 (erode: 0 stays 0, whatever
    # the border; dilate: the border value is the minimum)
    core = mask[box]
    cv2.erode(core, erode_kernel, dst=core, borderType=cv2.BORDER_CONSTANT | cv2.BORDER_ISOLATED)
    cv2.dilate(core, dilate_kernel, dst=core,
               borderType=cv2.BORDER_CONSTANT | cv2.BORDER_ISOLATED)
    a = alpha[box]
    cv2.multiply(a, core, dst=a, scale=1.0 / 255.0, dtype=cv2.CV_32F)
    zero_outside(alpha, x0, y0, x1, y1)
    return x0, y0, x1, y1


def soft_threshold(alpha: np.ndarray, low: float, high: float) -> np.ndarray:
    """In place: clamp((alpha - low) / (high - low), 0, 1)."""
    scale = 1.0 / (high - low)
    # one affine pass (OpenCV's multiply/add by a Python scalar are each 5-10x slower)
    cv2.addWeighted(alpha, scale, alpha, 0.0, -low * scale, dst=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


class PostProcessor(object):
    """run(alpha) -> the cleaned matte. Holds only the kernels and an output buffer: what
    it returns depends on this frame's alpha alone."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.erode_kernel = _ellipse(cfg.erode_size)
        self.dilate_kernel = _ellipse(cfg.dilate_size)
        self.out = None

    def run(self, alpha: np.ndarray) -> np.ndarray:
        """alpha: float32 (h, w) in [0, 1] (not modified). Returns the processed alpha in a
        buffer that the next call overwrites."""
        cfg = self.cfg
        if self.out is None or self.out.shape != alpha.shape:
            self.out = np.empty_like(alpha)
            self.mask = np.empty(alpha.shape, np.uint8)
        out = self.out
        np.copyto(out, alpha)
        h, w = out.shape
        x0, y0, x1, y1 = 0, 0, w, h
        if cfg.cleanup:
            x0, y0, x1, y1 = cleanup_box(out, cfg.cleanup_threshold, self.erode_kernel,
                                         self.dilate_kernel, self.mask)
        if cfg.threshold and x1 > x0:  # 0 stays 0
            soft_threshold(out[y0:y1, x0:x1], cfg.threshold_low, cfg.threshold_high)
        return out
