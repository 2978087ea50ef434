"""What the skill carries from one frame to the next: one object, one owner, one method per event.

TemporalState holds
  - at model size: the prior fed back to the selfie network, its last raw alpha through
    prior_transform();
  - at matte size (the picture of the whole frame the matte is made at: the model size
    with the selfie model alone, larger with the person segmenter, see set_matte_size; in
    frame coordinates, only scaled, whoever made the matte and however many people it
    holds): the matte history, the last matte shown, which the next matte is blended with
    per pixel (utils.history: the weight falls where the picture changed, measured against
    the camera's noise, and where the network is confident), the Y planes of the last
    LOOK_BACK frames it was made from, the noise level, the frames bridged, and the last Y
    plane for the scene-cut test.
FramePipeline is its only caller, with one method per event of a frame:
  set_matte_size(w, h)        a new frame size: the matte's size (forgets the history)
  begin_frame(size, small_y)  a new frame: resets on a size change or a scene cut
  feedback()                  the prior for the model's prev_alpha input
  inference_failed()          the untouched frame is shown: reset
  new_alpha(alpha)            the model's raw alpha becomes the next prior
  no_alpha()                  the selfie model did not run this frame: its prior is stale
  new_matte(matte)            the matte of this frame: blended with the history, kept
Each reset forgets the prior and the matte history together, and returns its reason:
  - the frame size changed (the old alpha no longer lines up with the picture),
  - inference failed (error code, exception, NaN/inf output),
  - a scene cut: the mean absolute difference of the matte-size Y plane between two
    frames is above `scene_cut` (0-255 levels; a few microseconds at 256x144).
The history and the prior are separate: `feedback` switches only the network's
previous-alpha input, `history` (0 off) only the blend of the mattes; the prior is made
from the network's raw alpha, never from the blended matte.
Glitch rule: a frame whose person area collapses (history.collapse) while the picture where
the person was hardly changed, since the last frame and since LOOK_BACK frames ago, shows
the history instead (the maximum of both), for at most `history_bridge` frames in a row;
then the new matte is believed as it is. A person who really goes changes the picture where
they were, and passes at once (also past a network that loses them a frame or two late).
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

from utils import history as history_rules
from utils.upsample import clear, union

LOOK_BACK = 3  # a collapse is a glitch only where the picture is as it was this many frames ago
NOISE_EVERY = 2  # frames between two measures of the noise
NOISE_RATE = 0.2  # how fast the noise estimate follows each measure
# the first measure, at most this (grey levels): a first frame full of motion would read as
# a noisy camera, and an estimate too high makes trails where one too low only smooths less
NOISE_START = 3.0


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


class TemporalState(object):
    """What lasts from frame to frame (see the module docstring). `history` is the weight of
    the previous matte where the picture did not change and the network is unsure (0: no
    matte history), `history_motion` the change of the picture, in noise levels, at which a
    pixel counts as moving (its new matte passes at once; the weight falls from half of
    it), `history_bridge` the frames a collapse with a still picture is bridged (0: never)."""

    def __init__(self, width: int, height: int, decay: float = 0.9, floor: float = 0.2,
                 scene_cut: float = 30.0, history: float = 0.95, history_motion: float = 6.0,
                 history_bridge: int = 3):
        if not 0.0 <= floor < 1.0:
            raise ValueError("prior floor must be in [0, 1), got %r" % (floor,))
        self.width = int(width)
        self.height = int(height)
        self.decay = float(decay)
        self.floor = float(floor)
        self.scene_cut = float(scene_cut)
        self.weight = float(history)
        self.motion = float(history_motion)
        self.bridge = int(history_bridge)
        if self.motion <= 0:
            raise ValueError("history_motion must be > 0, got %r" % (history_motion,))
        self._still_lut = np.empty(256, np.uint8)
        self._still_limit = 0
        self._still_key = None  # what _still_lut was made for
        self.prior = np.zeros((self.height, self.width), np.float32)
        self.has_prior = False
        self.frame_size: Optional[Tuple[int, int]] = None
        self.set_matte_size(self.width, self.height)

    @classmethod
    def from_config(cls, cfg, width: int, height: int) -> "TemporalState":
        """The state a config asks for (its prior_*, scene_cut and history* keys)."""
        return cls(width, height, cfg.prior_decay, cfg.prior_floor, cfg.scene_cut,
                   cfg.history, cfg.history_motion, cfg.history_bridge)

    def set_matte_size(self, width: int, height: int) -> None:
        """The size the matte is made at from now on (the history and the scene-cut Y
        plane start again)."""
        shape = (int(height), int(width))
        self.history = np.zeros(shape, np.float32)  # the last matte shown
        # the box (x0, y0, x1, y1) the last matte (the history) is 0 outside; None: not known
        self.matte_box: Optional[Tuple[int, int, int, int]] = (0, 0, 0, 0)
        # the Y planes of the last LOOK_BACK frames, newest first: [0] the history's. The
        # planes are not copied but passed round: begin_frame writes this frame's into a
        # free buffer (prev_y), new_matte keeps that buffer and frees the oldest
        self._ys = [np.zeros(shape, np.uint8) for _ in range(LOOK_BACK)]
        self._y_free = np.zeros(shape, np.uint8)
        self._y_kept = False  # prev_y is _ys[0] (new_matte kept it): begin_frame writes elsewhere
        self._y_count = 0
        self.history_area = 0  # its person area (pixels of alpha >= 0.5)
        self.prev_y = np.zeros(shape, np.uint8)  # the last frame's Y plane (scene cuts)
        self._change = np.empty(shape, np.uint8)  # the picture's change (in place)
        self._older = np.empty(shape, np.uint8)
        self._still = np.empty(shape, np.uint8)  # where it was still (rules.still_mask)
        self._still8 = np.empty(shape, np.uint8)
        self._alpha8 = np.empty(shape, np.uint8)
        self._mask = np.empty(shape, np.uint8)
        self._scratch8 = np.empty(shape, np.uint8)
        self.has_prev_y = False
        self._forget_history()

    @property
    def history_y(self) -> np.ndarray:
        """The Y plane the history was made from."""
        return self._ys[0]

    def _forget_history(self) -> None:
        self.has_history = False
        self._y_count = 0
        self._frames = 0  # frames blended since the history started
        # the next frame's exposure change is measured against (rules.exposure_reference,
        # made at the end of a frame, when its planes are still in the cache)
        self._reference = None
        self.noise = None  # the camera's noise (grey levels), measured again from here
        self.bridged = 0  # frames bridged in a row

    def reset(self, reason: str) -> str:
        """Forget the prior and the matte history; returns `reason`."""
        self.prior.fill(0.0)
        self.has_prior = False
        self._forget_history()
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
        if self._y_kept:  # the last plane is the history's now: this one goes elsewhere
            self.prev_y, self._y_free = self._y_free, None
            self._y_kept = False
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

    def new_matte(self, matte: np.ndarray, nonzero=None) -> np.ndarray:
        """The matte of this frame (float32 at the matte size, in place): blended with the
        history (utils.history) or, on a collapse with a still picture, bridged with it;
        then kept as the history. Returns `matte`. `nonzero` (x0, y0, x1, y1): a box the
        matte is 0 outside, when the caller knows it (the person stage's pastes): only that
        box is quantised, searched and kept (the same numbers); None: anywhere. Afterwards
        `matte_box` is the box the returned matte is 0 outside (a bridge adds the history's;
        None: not known)."""
        if self.weight <= 0 and self.bridge <= 0:
            self.matte_box = nonzero
            return matte
        rules = history_rules
        y = self.prev_y  # this frame's (begin_frame keeps it)
        still_mask = None
        if self.has_history:
            change = rules.picture_change(y, self._ys[0], self._change, self._change,
                                          reference=self._reference)
            if self._frames % NOISE_EVERY == 0:
                # a camera's noise changes slowly (measured every NOISE_EVERY frames); a
                # frame full of motion (or a repeated frame) moves the estimate little
                level = rules.noise_level(change)
                if self.noise is None:
                    self.noise = min(level, NOISE_START)
                else:  # one measure moves it by at most NOISE_RATE of itself upwards
                    cap = 2.0 * max(self.noise, rules.NOISE_FLOOR)
                    self.noise += NOISE_RATE * (min(level, cap) - self.noise)
                key = (self.motion, max(self.noise, rules.NOISE_FLOOR))
                if key != self._still_key:  # (a clean camera's noise sits at the floor)
                    rules.still_lut(self.motion, self.noise, self._still_lut)
                    self._still_limit = rules.still_limit(self._still_lut)
                    self._still_key = key
            self._frames += 1
        alpha8 = self._alpha8  # (read in the active box only)
        # past the picture's change, the work is done in the box of the non-zero alpha:
        # outside it nothing is blended and nobody is (rules.active_box)
        if nonzero is None:
            box = rules.active_box(rules.quantise(matte, alpha8))
        else:
            x0, y0, x1, y1 = nonzero
            box = rules.active_box(rules.quantise(matte[y0:y1, x0:x1], alpha8[y0:y1, x0:x1])) \
                if x1 > x0 and y1 > y0 else None
            if box is not None:
                box = (slice(box[0].start + y0, box[0].stop + y0),
                       slice(box[1].start + x0, box[1].stop + x0))
        area = 0
        if box is not None:
            # (the person mask in the box of the last still mask, read already and written
            # over next: no other buffer comes into the cache)
            alpha_box = alpha8[box]
            area = cv2.countNonZero(rules.person_mask_of(alpha_box, self._still[box]))
        if self.has_history:
            still_mask = rules.still_mask(change, self._still_limit, self._still)
        # what the next frame's exposure is measured against, while y and the mask are in
        # the cache (calls of one kind together are cheaper with the caches cold)
        self._reference = rules.exposure_reference(y, still_mask)
        if self.has_history:
            lut = self._still_lut
            glitch = False
            if rules.collapse_possible(area, self.history_area, matte.size):
                # a rare frame: the whole person mask and still() map
                mask = rules.person_mask(matte, self._mask)
                still8 = rules.still(change, lut, self._still8)
                glitch = rules.collapse(mask, area, self.history, self.history_area,
                                        still8, self._scratch8)[0]
                if glitch and self._y_count == LOOK_BACK:
                    # a network that lags behind the picture (its prior) loses a person who
                    # left a frame or two after the picture did: the lost area must also look
                    # as it did LOOK_BACK frames ago
                    old = rules.picture_change(y, self._ys[-1], self._scratch8, self._older)
                    rules.still(old, lut, old)
                    glitch = rules.collapse(mask, area, self.history, self.history_area, old,
                                            self._scratch8)[0]
            if glitch and self.bridged < self.bridge:
                np.maximum(matte, self.history, out=matte)
                nonzero = None if nonzero is None or self.matte_box is None else \
                    union(nonzero, self.matte_box)
                area = self.history_area
                self.bridged += 1
            else:
                self.bridged = 0
                # a collapse not bridged (history_bridge 0, or its frames spent) is believed
                # as it is: a blend would hold the person for several frames more
                if self.weight > 0 and not glitch and box is not None:
                    # in place: the change map, the alpha and the history are not needed
                    # in the box any more (the history is the new matte below)
                    change_box = change[box]
                    still8 = rules.still(change_box, lut, change_box)
                    unsure8 = rules.unsure_of(alpha_box, alpha_box)
                    previous = self.history[box]
                    rules.blend(matte[box], previous, still8, unsure8, self.weight, previous)
        if nonzero is None or self.matte_box is None:
            np.copyto(self.history, matte)
        else:  # (the history is 0 outside its box too)
            x0, y0, x1, y1 = nonzero
            np.copyto(self.history[y0:y1, x0:x1], matte[y0:y1, x0:x1])
            clear(self.history, nonzero, self.matte_box)
        self.matte_box = nonzero
        self._keep_y()
        self.history_area = area  # of the new matte before the blend: near enough
        self.has_history = True
        return matte

    def _keep_y(self) -> None:
        """This frame's Y plane (prev_y) becomes the history's, _ys[0]; the oldest is freed."""
        if self._y_kept:  # a second matte for one frame: the plane is kept already
            self._ys.insert(0, self._ys.pop())
            np.copyto(self._ys[0], self.prev_y)
        else:
            self._y_free = self._ys.pop()
            self._ys.insert(0, self.prev_y)
            self._y_kept = True
        self._y_count = min(self._y_count + 1, LOOK_BACK)
