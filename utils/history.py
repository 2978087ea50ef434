"""The matte history's pixel rules: pure functions on matte-size arrays (no state).

The mattes are the networks' own values, before the soft threshold of what is shown (which
comes after: utils.postprocess). The previous matte is blended into the new one per pixel,
    matte += w * (previous - matte),    w = weight * still * unsure,
so it steadies what the network wavers on without holding back what moved:
- still(): 1 where the picture did not change, falling to 0 where it did. The change is
  picture_change(): |Y - g * Y_prev| at matte size, g the frame's exposure change (the ratio
  of mean Y where the picture was still, so an exposure flicker is not taken for motion),
  averaged over a 3x3 box (one
  noisy pixel is not motion, an edge that moved by a pixel is). It is measured in units of
  the camera's noise, estimated from the frames themselves (noise_level(): the median of the
  same means, which holds while less than half of the picture moves; the caller follows it
  slowly), so a noisy camera is not taken for motion and a clean one still sees a small
  change. still is 1 up to half of `motion` noise levels and 0 from `motion` up.
- unsure(): 1 at alpha 0.5, 0 at alpha 0 and 1: the binary entropy of the new alpha (as
  MediaPipe's segmentation smoothing weighs its blend). Where the network is confident its
  new value passes at once, whatever the history held: a person's leading edge on a
  background of the same brightness (a change the picture hardly shows) is not held back.
  The entropy of the mean of the new and the previous alpha, which also holds a confident
  flip on an unchanged picture, steadied the noisy stills more and lagged behind people
  walking (model/MODEL.md, "Matte history").
- collapse(): a frame whose person area (alpha >= 0.5) falls below half of the history's,
  where less than LOST_MOVING of the lost area shows a changed picture, is a network glitch
  (the person did not go: the picture would have changed where they were). The caller
  bridges it with the history for a few frames, then believes it.
Maps are uint8 (look-up tables through cv2.LUT), the blend float32, on a matte in [0, 1].
What is needed over the whole picture is the change map and where it is still (the next
frame's exposure gain, the noise); the rest works inside active_box(), the box of the pixels
whose alpha rounds to non-zero: outside it unsure() is 0, so the blend leaves the matte as it
is, and nobody is there (on the real clips the box is about a fifth of the matte). With the
caches cold between two frames an OpenCV call costs 10-60 us whatever its size, so the calls
are few, in place, of one kind together (TemporalState.new_matte) and take their arguments by
position (a keyword costs about a microsecond). `python -m tools.bench.bench --history-only`
times the history in the skill's pipeline.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

MAX_GAIN = 0.15  # the exposure change between two frames, at most
BOX = 3  # the picture change is summed over BOX x BOX pixels
NOISE_PERCENTILE = 50  # of the box sums (a sample of them): the typical change of a still pixel
NOISE_STEP = 3  # the sample: every NOISE_STEP-th row and column
SCALE = 4  # the change map is in 1/SCALE grey levels (up to 255 / SCALE: surely motion)
NOISE_FLOOR = 0.75  # grey levels per pixel: a clean camera's change below ~this is no motion
COLLAPSE = 0.5  # the person area falls below this fraction of the history's
MIN_AREA = 0.005  # ... from at least this fraction of the matte (as the dropout detector)
LOST_MOVING = 0.8  # a collapse is a glitch while less than this of the lost area moved


def _entropy_lut() -> np.ndarray:
    a = np.clip(np.arange(256) / 255.0, 1e-6, 1 - 1e-6)
    h = -(a * np.log2(a) + (1 - a) * np.log2(1 - a))
    h[0] = h[255] = 0.0
    return np.round(255 * h / h.max()).astype(np.uint8)


UNSURE_LUT = _entropy_lut()
_LEVELS = np.arange(256, dtype=np.float32)


def still_lut(motion: float, noise: float, out: np.ndarray = None) -> np.ndarray:
    """still() * 255 as a 256-entry uint8 table over a picture_change() value (the mean
    change of a pixel's box, grey levels): 255 up to motion / 2 noise levels, falling
    linearly to 0 at `motion` (> 0) noise levels (`noise` at least NOISE_FLOOR)."""
    unit = max(float(noise), NOISE_FLOOR) * SCALE
    lo, hi = 0.5 * motion * unit, float(motion) * unit
    s = np.clip((hi - _LEVELS) / (hi - lo), 0.0, 1.0)
    if out is None:
        out = np.empty(256, np.uint8)
    np.multiply(s, 255.0, out=s)
    np.rint(s, out=s)
    out[:] = s
    out[255] = 0  # a change of 255 / SCALE levels or more (the map saturates) always moved
    return out


def exposure_reference(y_prev: np.ndarray,
                       still_prev: Optional[np.ndarray] = None) -> Tuple[Optional[np.ndarray], float]:
    """What the next frame's exposure change is measured against: (mask, mean of y_prev
    there). The mask is `still_prev` (non-zero where the picture was still: a still_mask()
    or a still() map) when at least a tenth of it is non-zero (a person coming or going
    moves the whole picture's mean too), else None (the whole picture)."""
    mask = still_prev if still_prev is not None and \
        cv2.countNonZero(still_prev) >= 0.1 * still_prev.size else None
    return mask, cv2.mean(y_prev, mask)[0]


def picture_change(y: np.ndarray, y_prev: np.ndarray, scratch: np.ndarray, out: np.ndarray,
                   still_prev: Optional[np.ndarray] = None,
                   reference: Optional[Tuple[Optional[np.ndarray], float]] = None) -> np.ndarray:
    """out (uint8, the matte size; may be scratch): the mean over a BOX x BOX window of
    |y - g * y_prev| in 1/SCALE grey levels. g is the exposure change: the ratio of the mean
    Y where the picture was still the last time to that of y_prev there (`reference`, an
    exposure_reference(y_prev, still_prev), made here when not given), within
    1 +- MAX_GAIN. y, y_prev, scratch: uint8."""
    mask, m_prev = exposure_reference(y_prev, still_prev) if reference is None else reference
    g = cv2.mean(y, mask)[0] / m_prev if m_prev >= 1.0 else 1.0
    g = min(max(g, 1.0 - MAX_GAIN), 1.0 + MAX_GAIN)
    cv2.convertScaleAbs(y_prev, scratch, g)
    cv2.absdiff(y, scratch, scratch)
    # (min(SCALE * d, 255) in one pass, exact for every d: a cv2.LUT pass cost twice as
    # much in the live loop, 0.042 -> 0.018 ms at 384x216)
    cv2.convertScaleAbs(scratch, scratch, SCALE)
    cv2.boxFilter(scratch, -1, (BOX, BOX), out, (-1, -1), True, cv2.BORDER_REPLICATE)
    return out


def noise_level(change: np.ndarray) -> float:
    """The camera's noise in grey levels per pixel, from a picture_change() map: the
    NOISE_PERCENTILE-th percentile of a sample of its box means."""
    sample = change[::NOISE_STEP, ::NOISE_STEP].ravel()
    need = NOISE_PERCENTILE / 100.0 * sample.size
    total = 0
    k = 0
    # the percentile is a low value: the first few bins of the histogram, added up in
    # Python (numpy's cumsum and searchsorted cost more than that)
    for k, n in enumerate(np.bincount(sample, minlength=256).tolist()):
        total += n
        if total >= need:
            break
    else:
        k = 256
    return float(k) / SCALE


def still(change: np.ndarray, lut: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8): still() * 255 of a picture_change() map through a still_lut()."""
    return cv2.LUT(change, lut, out)


def still_limit(lut: np.ndarray) -> int:
    """The change from which a still_lut() is 0: still() > 0 exactly below it (the table
    does not increase, so its non-zero entries come first)."""
    return int(np.count_nonzero(lut))


def still_mask(change: np.ndarray, limit: int, out: np.ndarray) -> np.ndarray:
    """out (uint8 0/255): 255 where still() > 0, i.e. change < still_limit() (one threshold
    over the whole map instead of a look-up: the next frame's exposure gain needs only this)."""
    cv2.threshold(change, limit - 1, 255, cv2.THRESH_BINARY_INV, out)
    return out


def quantise(matte: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8): a float32 matte in [0, 1] as 0-255 (rounded)."""
    return cv2.convertScaleAbs(matte, out, 255.0)


def active_box(alpha8: np.ndarray) -> Optional[Tuple[slice, slice]]:
    """(rows, columns): the smallest box holding every non-zero pixel of a quantise()d matte,
    None when there is none. Outside it unsure() is 0 (the blend keeps the new matte) and
    alpha < 0.5 (no person)."""
    x, y, w, h = cv2.boundingRect(alpha8)
    if not w:
        return None
    return slice(y, y + h), slice(x, x + w)


def unsure(matte: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8): unsure() * 255 of a float32 matte in [0, 1]."""
    return unsure_of(quantise(matte, out), out)


def unsure_of(alpha8: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8): unsure() * 255 of a quantise()d matte."""
    return cv2.LUT(alpha8, UNSURE_LUT, out)


def weight_map(still8: np.ndarray, unsure8: np.ndarray, weight: float,
               out: np.ndarray) -> np.ndarray:
    """out (uint8): 255 * weight * still * unsure, the share of the previous matte."""
    return cv2.multiply(still8, unsure8, out, weight / 255.0)


def blend(matte: np.ndarray, previous: np.ndarray, still8: np.ndarray, unsure8: np.ndarray,
          weight: float, scratch: np.ndarray) -> np.ndarray:
    """In place: matte += w8 / 255 * (previous - matte), w8 the weight_map() of still8 and
    unsure8 (written over unsure8). float32 mattes; scratch float32 of their shape,
    `previous` itself when it is not needed afterwards."""
    cv2.subtract(previous, matte, scratch)
    w8 = weight_map(still8, unsure8, weight, unsure8)  # (the two multiplies together:
    cv2.multiply(scratch, w8, scratch, 1.0 / 255.0, cv2.CV_32F)  # cheaper with the caches
    cv2.add(matte, scratch, matte)  # cold, see the top of this file)
    return matte


def person_mask(matte: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8 0/255): alpha >= 0.5."""
    return cv2.compare(matte, 0.5, cv2.CMP_GE, dst=out)


def person_mask_of(alpha8: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out (uint8 0/255): person_mask() of a quantise()d matte in [0, 1], the same pixels
    (quantise() is monotone and maps 0.5 to 128, the float below it to 127), from uint8."""
    cv2.threshold(alpha8, 127, 255, cv2.THRESH_BINARY, out)
    return out


def collapse_possible(area: int, history_area: int, size: int) -> bool:
    """Whether collapse() can find a glitch: the person area (of a matte of `size` pixels)
    fell below COLLAPSE of the history's, which was at least MIN_AREA of the matte. Only then
    are the maps it reads (the whole person mask and still() map) needed."""
    return history_area >= MIN_AREA * size and area < COLLAPSE * history_area


def collapse(mask: np.ndarray, area: int, history: np.ndarray, history_area: int,
             still8: np.ndarray, scratch: np.ndarray) -> Tuple[bool, float]:
    """(glitch, share of the lost area that moved) of this frame's person mask (uint8 0/255,
    `area` pixels set) against the history's matte (float32; `history_area` pixels >= 0.5)
    and the still() map: glitch when the person area fell below COLLAPSE of the history's
    (at least MIN_AREA of the matte, collapse_possible()) and less than LOST_MOVING of the
    area lost shows a changed picture. scratch: uint8 of the mask's shape. The history's
    mask is made only for a collapse (a rare frame)."""
    if not collapse_possible(area, history_area, mask.size):
        return False, 0.0
    lost = person_mask(history, scratch)
    cv2.subtract(lost, mask, dst=lost)  # in the history's person, not in this frame's
    n_lost = cv2.countNonZero(lost)
    if not n_lost:
        return False, 0.0
    moved = cv2.countNonZero(cv2.bitwise_and(lost, cv2.compare(still8, 128, cv2.CMP_LT)))
    share = moved / float(n_lost)
    return share < LOST_MOVING, share
