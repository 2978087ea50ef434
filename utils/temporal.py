"""The temporal prior fed back to the network, and the rules that throw it away.

One small object holds, at model size: the prior (last alpha, transformed as below), the
last model-size Y plane (for the scene-cut test), the last post-processed alpha (for
smoothing) and counters. The prior is reset
  - when the frame size changes (the old alpha no longer lines up with the picture),
  - after a failed inference (error code, exception, NaN/inf output),
  - on a scene cut: the mean absolute difference of the model-size Y plane between two
    frames is above `scene_cut` (0-255 levels; a few microseconds at 256x144).
No-ghost rule: the prior is never the raw last alpha but
    prior = clamp((decay * alpha - floor) / (1 - floor), 0, 1)
so a region the image no longer supports loses confidence on every frame and is cut to 0
once below the floor. Even a model that only echoes its prior clears: with decay 0.9 and
floor 0.2 a full-confidence ghost goes 1 -> 0.875 -> 0.73 -> 0.58 -> 0.4 -> 0.2 -> 0 in six
frames, while a person the network still sees is re-confirmed every frame.
"""
import cv2
import numpy as np


class TemporalState(object):
    def __init__(self, width, height, decay=0.9, floor=0.2, scene_cut=30.0):
        if not 0.0 <= floor < 1.0:
            raise ValueError("prior floor must be in [0, 1), got %r" % (floor,))
        self.width = int(width)
        self.height = int(height)
        self.decay = float(decay)
        self.floor = float(floor)
        self.scene_cut = float(scene_cut)
        shape = (self.height, self.width)
        self.prior = np.zeros(shape, np.float32)
        self.prev_y = np.zeros(shape, np.uint8)
        self.smoothed = np.zeros(shape, np.float32)
        self.has_prior = False
        self.has_prev_y = False
        self.has_smoothed = False
        self.frame_size = None
        self.last_diff = 0.0
        self.resets = {}

    def reset(self, reason):
        """Forget the prior and the smoothing history; count why."""
        self.prior.fill(0.0)
        self.has_prior = False
        self.has_smoothed = False
        self.resets[reason] = self.resets.get(reason, 0) + 1

    def begin_frame(self, frame_size, small_y):
        """Check a new frame against the reset rules; returns the reset reason or None."""
        if small_y.shape != self.prior.shape:
            raise ValueError("model-size Y plane %s does not match the prior %s"
                             % (small_y.shape, self.prior.shape))
        reason = None
        if self.frame_size is not None and tuple(frame_size) != self.frame_size:
            reason = "frame size changed"
        elif self.has_prev_y:
            self.last_diff = cv2.mean(cv2.absdiff(small_y, self.prev_y))[0]
            if self.scene_cut > 0 and self.last_diff > self.scene_cut:
                reason = "scene cut"
        self.frame_size = tuple(frame_size)
        np.copyto(self.prev_y, small_y)
        self.has_prev_y = True
        if reason is not None:
            self.reset(reason)
        return reason

    def feedback(self):
        """The prior for the model's prev_alpha input: (H, W) float32, zeros = no prior."""
        return self.prior

    def update(self, alpha):
        """Take the raw model alpha of this frame as the next prior (decayed, floored)."""
        scale = self.decay / (1.0 - self.floor)
        offset = -self.floor / (1.0 - self.floor)
        # one affine pass (OpenCV's multiply/add by a Python scalar are each 5-10x slower)
        cv2.addWeighted(alpha, scale, alpha, 0.0, offset, dst=self.prior)
        np.clip(self.prior, 0.0, 1.0, out=self.prior)
        self.has_prior = True
