"""Post-processing of the network's alpha at model size (cheap: 256x144 floats).

Order, each step optional: clean-up -> soft threshold -> temporal smoothing.
- clean-up (the PP-HumanSeg recipe): threshold the probabilities into confident cores,
  erode them (drops specks), dilate with a larger kernel (grows back past the soft edge),
  and multiply the probabilities by that mask: blobs without a confident core vanish while
  the soft edges of real regions are kept.
- soft threshold: alpha below `low` -> 0, above `high` -> 1, linear in between, so the
  mid-grey haze of an unsure network becomes clean background without a hard edge.
- smoothing: changes smaller than `motion` (flicker) move only part of the way from the
  previous output; larger changes (real motion) pass at once, so there is no trailing.
"""
import cv2
import numpy as np


def _ellipse(k):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


def cleanup(alpha, threshold, erode_kernel, dilate_kernel):
    """In place: alpha *= dilate(erode(alpha > threshold)). The mask is uint8 (0/255) so
    the morphology runs on bytes, not floats."""
    mask = cv2.compare(alpha, float(threshold), cv2.CMP_GT)
    mask = cv2.erode(mask, erode_kernel)
    mask = cv2.dilate(mask, dilate_kernel)
    cv2.multiply(alpha, mask, dst=alpha, scale=1.0 / 255.0, dtype=cv2.CV_32F)
    return alpha


def soft_threshold(alpha, low, high):
    """In place: clamp((alpha - low) / (high - low), 0, 1)."""
    scale = 1.0 / (high - low)
    # one affine pass (OpenCV's multiply/add by a Python scalar are each 5-10x slower)
    cv2.addWeighted(alpha, scale, alpha, 0.0, -low * scale, dst=alpha)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


def smooth(alpha, prev, weight, motion, scratch):
    """In place: where |alpha - prev| < motion, alpha -= weight * (alpha - prev)."""
    d = cv2.subtract(alpha, prev, dst=scratch)
    still = np.abs(d) < motion
    d *= still
    alpha -= weight * d
    return alpha


class PostProcessor(object):
    def __init__(self, cfg):
        self.cfg = cfg
        self.erode_kernel = _ellipse(cfg.erode_size)
        self.dilate_kernel = _ellipse(cfg.dilate_size)
        self.out = None
        self.scratch = None

    def run(self, alpha, state):
        """alpha: float32 (h, w) in [0, 1] (not modified). state: TemporalState, whose
        smoothing history is read and updated. Returns the processed alpha (reused)."""
        cfg = self.cfg
        if self.out is None or self.out.shape != alpha.shape:
            self.out = np.empty_like(alpha)
            self.scratch = np.empty_like(alpha)
        out = self.out
        np.copyto(out, alpha)
        if cfg.cleanup:
            cleanup(out, cfg.cleanup_threshold, self.erode_kernel, self.dilate_kernel)
        if cfg.threshold:
            soft_threshold(out, cfg.threshold_low, cfg.threshold_high)
        if cfg.smoothing > 0:
            if state.has_smoothed and state.smoothed.shape == out.shape:
                smooth(out, state.smoothed, cfg.smoothing, cfg.smoothing_motion, self.scratch)
            np.copyto(state.smoothed, out)
            state.has_smoothed = True
        return out
