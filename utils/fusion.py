"""When the selfie model runs beside the person stage, and how the two mattes become one.

The person stage (utils.people) finds whole people at any distance; the selfie model is made
for a face within a couple of metres, where the pose detector, which needs to see the body,
may miss the person. In `segmenter: auto` the pipeline asks use_selfie() each frame, then
keep() whether the selfie matte goes into this frame's, and fuse()s the two mattes when so.

The selfie model runs
- when nobody is followed, or the person stage failed (the selfie's turn);
- when a followed face is larger than `closeup` of the frame height (a close-up);
- with `selfie_hold` > 0, whenever the detector looks for newcomers: a second look, for the
  person near the camera the pose detector misses (a profile looking down, hsd/068 of the
  several-people suite, scores at most 0.28 in the detector's views, where 0.5 is needed;
  the selfie model has 93% of her). Its matte is kept only where it holds a region the
  person stage does not follow: more than `selfie_hold` of the frame at alpha >= 0.5
  outside every followed person's ROI (unfollowed()). Then the selfie model runs on every
  frame and its matte is fused, until that region falls below half of `selfie_hold`
  (followed by then, or gone). A look that finds no such region is left out, matte and
  prior: a far person's matte does not take the selfie's haze once every ten frames.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

CLOSEUP = 0.06  # a followed person whose face exceeds this fraction of the frame height
SELFIE_HOLD = 0.02  # the selfie matte outside every followed ROI, as a fraction of the frame


def unfollowed(alpha: np.ndarray, boxes: Sequence[Tuple[float, float, float, float]],
               scratch: np.ndarray) -> float:
    """The fraction of the frame where `alpha` (float32, the selfie model's output, any size
    of the frame's aspect) is >= 0.5 outside every box (frame-normalised x0, y0, x1, y1).
    scratch: uint8 of alpha's shape."""
    h, w = alpha.shape
    cv2.compare(alpha, 0.5, cv2.CMP_GE, dst=scratch)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = max(0, int(x0 * w)), min(w, int(np.ceil(x1 * w)))
        r0, r1 = max(0, int(y0 * h)), min(h, int(np.ceil(y1 * h)))
        if c1 > c0 and r1 > r0:
            scratch[r0:r1, c0:c1] = 0
    return cv2.countNonZero(scratch) / float(alpha.size)


class Fusion(object):
    """The rule above; `holding`: the selfie matte holds a region nobody follows."""

    def __init__(self, closeup: float = CLOSEUP, hold: float = SELFIE_HOLD):
        self.closeup = float(closeup)
        self.hold = float(hold)
        self.holding = False
        self._scratch = None

    def _own_turn(self, person) -> bool:
        return person is None or not person.ok or person.people == 0 or \
            person.face > self.closeup

    def use_selfie(self, person) -> bool:
        """Run the selfie model this frame? `person` is the person stage's PersonResult."""
        if self._own_turn(person):
            return True
        return self.hold > 0 and (self.holding or person.calls.get("detector", 0) > 0)

    def keep(self, alpha: np.ndarray, person) -> bool:
        """The selfie model ran (alpha: its output): does its matte go into this frame's?"""
        if self._own_turn(person):
            self.holding = False
            return True
        if self.hold <= 0:
            return True
        if self._scratch is None or self._scratch.shape != alpha.shape:
            self._scratch = np.empty(alpha.shape, np.uint8)
        area = unfollowed(alpha, person.rois, self._scratch)
        self.holding = area > (0.5 * self.hold if self.holding else self.hold)
        return self.holding

    def reset(self) -> None:
        self.holding = False


def fuse(selfie: np.ndarray, people: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The two mattes (float32, one size) as one: the maximum, so that each keeps what it
    found."""
    return np.maximum(selfie, people, out=out)
