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
import cv2
import numpy as np


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
        out = self.out
        np.copyto(out, alpha)
        if cfg.cleanup:
            cleanup(out, cfg.cleanup_threshold, self.erode_kernel, self.dilate_kernel)
        if cfg.threshold:
            soft_threshold(out, cfg.threshold_low, cfg.threshold_high)
        return out
