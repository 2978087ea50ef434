"""What the skill carries from one frame to the next: one object, one owner, one method per event.

TemporalState holds
  - at model size: the prior fed back to the selfie network, its last raw alpha through
    prior_transform();
  - at matte size (the picture of the whole frame the matte is made at: the model size
    with the selfie model alone, larger with the person segmenter, see set_matte_size):
    the matte history, the last post-processed matte, which the next matte is smoothed
    against (a later, per-pixel history lives here too: it is in frame coordinates, only
    scaled), and the last Y plane at that size, for the scene-cut test.
FramePipeline is its only caller, with one method per event of a frame:
  set_matte_size(w, h)        a new frame size: the matte's size (forgets the history)
  begin_frame(size, small_y)  a new frame: resets on a size change or a scene cut
  feedback()                  the prior for the model's prev_alpha input
  inference_failed()          the untouched frame is shown: reset
  new_alpha(alpha)            the model's raw alpha becomes the next prior
  no_alpha()                  the selfie model did not run this frame: its prior is stale
  new_matte(matte)            the post-processed matte: smoothed against the history, kept
Each reset forgets the prior and the matte history together, and returns its reason:
  - the frame size changed (the old alpha no longer lines up with the picture),
  - inference failed (error code, exception, NaN/inf output),
  - a scene cut: the mean absolute difference of the matte-size Y plane between two
    frames is above `scene_cut` (0-255 levels; a few microseconds at 256x144).
No-ghost rule: the prior is never the raw last alpha but
    prior = clamp((decay * alpha - floor) / (1 - floor), 0, 1)
so a region the image no longer supports loses confidence on every frame and is cut to 0
once below the floor. Even a model that only echoes its prior clears: with decay 0.9 and
floor 0.2 a full-confidence ghost goes 1 -> 0.875 -> 0.73 -> 0.58 -> 0.4 -> 0.2 -> 0 in six
frames, while a person the network still sees is re-confirmed every frame.
"""
from typing import Optional, Tuple

import cv2
import numpy as np


def prior_transform(alpha: np.ndarray, decay: float, floor: float,
                    out: Optional[np.ndarray] = None) -> np.ndarray:
    """The prior the network gets from an alpha in [0, 1]:
    clamp((decay * alpha - floor) / (1 - floor), 0, 1) as float32.

    The one definition: the skill, the evaluation and the training tools call this function,
    so what is measured and trained is the prior the skill feeds. `alpha` is an array of any
    shape (a frame, or a batch N x 1 x H x W; float32, else converted); `out` a C-contiguous
    float32 array of that shape to write into, or None for a new one."""
    if not 0.0 <= floor < 1.0:
        raise ValueError("prior floor must be in [0, 1), got %r" % (floor,))
    a = np.asarray(alpha, np.float32)
    if out is None:
        out = np.empty(a.shape, np.float32)
    if out.shape != a.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError("prior output must be C-contiguous float32 of shape %s, got %s %s"
                         % (a.shape, out.dtype, out.shape))
    # OpenCV works on 2-D arrays: any other shape as rows of its last axis (a view of `out`)
    shape2 = a.shape if a.ndim == 2 else (-1, a.shape[-1] if a.ndim else 1)
    dst = out.reshape(shape2)
    src = a.reshape(shape2)
    scale = decay / (1.0 - floor)
    offset = -floor / (1.0 - floor)
    # one affine pass (OpenCV's multiply/add by a Python scalar are each 5-10x slower)
    cv2.addWeighted(src, scale, src, 0.0, offset, dst=dst)
    np.clip(dst, 0.0, 1.0, out=dst)
    return out


def smooth(matte: np.ndarray, prev: np.ndarray, weight: float, motion: float,
           scratch: np.ndarray) -> np.ndarray:
    """In place: where |matte - prev| < motion, matte -= weight * (matte - prev). Changes
    smaller than `motion` (flicker) move only part of the way from the previous matte;
    larger ones (real motion) pass at once, so there is no trailing."""
    d = cv2.subtract(matte, prev, dst=scratch)
    still = np.abs(d) < motion
    d *= still
    matte -= weight * d
    return matte


class TemporalState(object):
    def __init__(self, width: int, height: int, decay: float = 0.9, floor: float = 0.2,
                 scene_cut: float = 30.0, smoothing: float = 0.5, smoothing_motion: float = 0.25):
        if not 0.0 <= floor < 1.0:
            raise ValueError("prior floor must be in [0, 1), got %r" % (floor,))
        self.width = int(width)
        self.height = int(height)
        self.decay = float(decay)
        self.floor = float(floor)
        self.scene_cut = float(scene_cut)
        self.smoothing = float(smoothing)
        self.smoothing_motion = float(smoothing_motion)
        self.prior = np.zeros((self.height, self.width), np.float32)
        self.has_prior = False
        self.frame_size: Optional[Tuple[int, int]] = None
        self.set_matte_size(self.width, self.height)

    def set_matte_size(self, width: int, height: int) -> None:
        """The size the matte is made at from now on (the history and the scene-cut Y
        plane start again)."""
        shape = (int(height), int(width))
        self.history = np.zeros(shape, np.float32)  # the last matte (when smoothing is on)
        self.prev_y = np.zeros(shape, np.uint8)
        self._scratch = np.empty(shape, np.float32)
        self.has_history = False
        self.has_prev_y = False

    def reset(self, reason: str) -> str:
        """Forget the prior and the matte history; returns `reason`."""
        self.prior.fill(0.0)
        self.has_prior = False
        self.has_history = False
        return reason

    def begin_frame(self, frame_size: Tuple[int, int], small_y: np.ndarray) -> Optional[str]:
        """Check a new frame against the reset rules; returns the reset reason or None."""
        if small_y.shape != self.prev_y.shape:
            raise ValueError("matte-size Y plane %s does not match the matte size %s"
                             % (small_y.shape, self.prev_y.shape))
        reason = None
        if self.frame_size is not None and tuple(frame_size) != self.frame_size:
            reason = "frame size changed"
        elif self.has_prev_y:
            diff = cv2.mean(cv2.absdiff(small_y, self.prev_y))[0]
            if self.scene_cut > 0 and diff > self.scene_cut:
                reason = "scene cut"
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        np.copyto(self.prev_y, small_y)
        self.has_prev_y = True
        return None if reason is None else self.reset(reason)

    def feedback(self) -> np.ndarray:
        """The prior for the model's prev_alpha input: (H, W) float32, zeros = no prior."""
        return self.prior

    def inference_failed(self) -> str:
        """The frame is shown untouched: start again without a prior; returns the reason."""
        return self.reset("inference failed")

    def new_alpha(self, alpha: np.ndarray) -> None:
        """The raw model alpha of this frame becomes the next prior (decayed, floored)."""
        prior_transform(alpha, self.decay, self.floor, out=self.prior)
        self.has_prior = True

    def no_alpha(self) -> None:
        """The selfie model did not run this frame: the next time it runs it starts without
        a prior (the last one is of another moment)."""
        if self.has_prior:
            self.prior.fill(0.0)
            self.has_prior = False

    def new_matte(self, matte: np.ndarray) -> np.ndarray:
        """The post-processed matte of this frame, in place: smoothed against the history
        (when `smoothing` > 0), then kept as the history. Returns `matte`."""
        if self.smoothing <= 0:
            return matte
        if self.has_history:
            smooth(matte, self.history, self.smoothing, self.smoothing_motion, self._scratch)
        np.copyto(self.history, matte)
        self.has_history = True
        return matte
