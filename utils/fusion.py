"""When the selfie model runs beside the person stage, and how the two mattes become one.

The person stage (utils.people) finds whole people at any distance; the selfie model is made
for a face within a couple of metres, where the pose detector, which needs to see the body,
may miss the person. In `segmenter: auto` the pipeline asks use_selfie() each frame; when the
selfie model ran, close_up() says whether its whole matte joins the people's, else the
pipeline leaves out its regions that are a followed person (drop_followed()) and asks keep()
whether what remains (someone nobody follows) goes into this frame's matte. Joined mattes
are fuse()d: their maximum, so that each keeps what it found.

The selfie model runs
- when nobody is followed, or the person stage failed (the selfie's turn: its whole matte);
- when a followed face is larger than `closeup` of the frame height (a close-up: its whole
  matte; there the selfie model is the better of the two, and the maximum of both is better
  still: close-up photos 0.887 fg IoU, against 0.877 with the selfie model alone and 0.822
  with the person stage alone);
- with `selfie_hold` > 0, whenever the detector looks for newcomers: a second look, for the
  person the pose detector misses (a profile looking down, hsd/068 of the several-people
  suite, scores at most 0.28 in the detector's views, where 0.5 is needed; the selfie model
  has 93% of her) and for members of a group beyond `max_people`. What it adds is its
  matte less the regions that are a followed person, counted outside every followed
  person's ROI (unfollowed()): kept when that is more than `selfie_hold` of the frame at
  alpha >= 0.5. (Inside the ROIs the person stage has looked;
  counted there too, a region the selfie model joins to a followed person that is mostly
  not them held the look: on DAVIS rollerblade the mural beside the skater, 15 frames, IoU
  0.88 -> 0.41.) Then the selfie model runs on every frame, until that falls below half of
  `selfie_hold` (followed by then, or gone). A look that adds nothing is left out, matte
  and prior.
A followed person who is not a close-up is never matted by the selfie model: at that distance
it sees a person as a blob wider than the person with a soft rim, which moves with them and
wavers from frame to frame; joined by the maximum to the person stage's sharper matte it was
most of the static flicker of one-by-one-person-detection.mp4 (0.732e-3 joined, 0.510 with the
person stage alone). model/MODEL.md, "The selfie model's share", has the measurements.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

# a followed person whose face exceeds this fraction of the frame height (0.12 until the
# history came before the threshold: 0.09 then flickered 0.570e-3 on the one-by-one clip,
# 0.481 now; model/MODEL.md, "The history before the threshold")
CLOSEUP = 0.09
SELFIE_HOLD = 0.02  # what the selfie matte adds to the people's, as a fraction of the frame
REGION_LOW = 3  # a selfie region: connected pixels above this (of 255), its faint rim included
FOLLOWED_SHARE = 0.6  # a region is a followed person from this share of its confident pixels


def unfollowed(selfie8: np.ndarray, boxes: Sequence[Tuple[float, float, float, float]],
               scratch: np.ndarray) -> int:
    """The pixels of `selfie8` (uint8, a matte of the frame's aspect) at >= 128 outside
    every box (frame-normalised x0, y0, x1, y1). scratch: uint8 of its shape."""
    h, w = selfie8.shape
    cv2.compare(selfie8, 128, cv2.CMP_GE, dst=scratch)
    for x0, y0, x1, y1 in boxes:
        c0, c1 = max(0, int(x0 * w)), min(w, int(np.ceil(x1 * w)))
        r0, r1 = max(0, int(y0 * h)), min(h, int(np.ceil(y1 * h)))
        if c1 > c0 and r1 > r0:
            scratch[r0:r1, c0:c1] = 0
    return cv2.countNonZero(scratch)


class Fusion(object):
    """The rule above; `holding`: the selfie matte holds a region nobody follows."""

    def __init__(self, closeup: float = CLOSEUP, hold: float = SELFIE_HOLD):
        self.closeup = float(closeup)
        self.hold = float(hold)
        self.holding = False

    def close_up(self, person) -> bool:
        """Does the selfie matte join whole this frame (nobody followed, the person stage
        failed, or a close-up)? Else only what it adds to the people's does."""
        return person is None or not person.ok or person.people == 0 or \
            person.face > self.closeup

    def use_selfie(self, person) -> bool:
        """Run the selfie model this frame? `person` is the person stage's PersonResult."""
        if self.close_up(person):
            return True
        return self.hold > 0 and (self.holding or person.calls.get("detector", 0) > 0)

    def keep(self, added: float) -> bool:
        """The selfie model ran on a frame that is not close_up(): does its matte go into
        this frame's? `added`: the fraction of the frame its matte, less its regions that are
        a followed person, holds at alpha >= 0.5 outside their ROIs. (On a close_up() frame
        its whole matte joins, and reset() ends any hold.)"""
        self.holding = self.hold > 0 and \
            added > (0.5 * self.hold if self.holding else self.hold)
        return self.holding

    def reset(self) -> None:
        self.holding = False


def fuse(selfie: np.ndarray, people: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The two mattes (float32, one size, finite) as one: the maximum, so that each keeps
    what it found. `out` may be either of them, or a box of a larger array (a view)."""
    # (cv2.max: np.maximum's numbers on finite values, about half its time on a box of the
    # matte with the caches cold)
    return cv2.max(selfie, people, dst=out)


def drop_followed(selfie8: np.ndarray, people: np.ndarray, scratch: np.ndarray) -> int:
    """In place: zero the regions of the selfie matte that are a followed person (see the
    top of this file); returns how many. selfie8: uint8 (the selfie matte at matte size,
    0-255), people: float32 of its shape (the people's matte), scratch: uint8 of its shape.
    A region is a connected component of selfie8 > REGION_LOW (its faint rim included: left
    behind, the rim is the haze); it is a followed person when at least FOLLOWED_SHARE of
    its confident pixels (>= 128) are on the people's matte (alpha >= 0.5): a group of three
    with one followed is kept whole (its other members are what the selfie model adds)."""
    if selfie8.size == 0:  # (OpenCV's connectedComponents crashes on an empty array)
        return 0
    cv2.compare(selfie8, REGION_LOW, cv2.CMP_GT, dst=scratch)
    n, labels = cv2.connectedComponents(scratch, connectivity=8, ltype=cv2.CV_16U)
    if n <= 1:
        return 0
    confident = selfie8 >= 128
    area = np.bincount(labels[confident], minlength=n)
    on_people = np.bincount(labels[confident & (people >= 0.5)], minlength=n)
    drop = on_people >= FOLLOWED_SHARE * np.maximum(area, 1)
    drop[0] = False
    if drop.any():
        selfie8[drop[labels]] = 0
    return int(np.count_nonzero(drop))
