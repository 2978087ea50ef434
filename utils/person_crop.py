"""The person networks' inputs, cut from the NV21 frame by the hardware, and the way back.

hilens.Preprocessor (the device's scaler) crops and resizes NV21, nothing else: it cannot
rotate or pad, and takes only even coordinates, widths 64..1920 and heights 64..1080 inside
the frame (裁剪图片.md, 改变图片尺寸.md). MediaPipe cuts a rotated square around each person
with replicated borders. So:

- `plan_letterbox` / `letterbox_input`: the detector's 224x224 input is the whole frame
  resized (hardware) to fit, on a black border (Y 16, VU 128: exactly -1 after the detector's
  AIPP, as MediaPipe's zero border). The border's top and left are even so that the chroma
  rows line up; the padding fractions that result go to person_detect.remove_letterbox.
- `plan_crop` / `crop_input`: for an ROI (a square turned by its rotation) the hardware
  crops the part of its bounding box inside the frame (even, at least 64 px each way) and
  resizes it so that the ROI's side becomes the model's 256 px. When the ROI is upright
  (or rotation is off) and inside the frame, that resize is the input itself: no CPU work.
  Otherwise one cv2.warpAffine of the small crop (256x256 Y, 128x128 VU pairs) turns it
  upright and replicates its border: about 0.1 ms, against a frame-size warp.
- Every crop carries `to_input`, the affine map frame pixel -> model-input pixel: landmarks
  go back through its inverse (`to_frame`), and the person's mask is pasted into the matte
  through it (`paste_max`), over the ROI's bounding box only.
A crop the hardware refuses (e.g. a frame larger than 1920x1080) is cut by numpy slicing and
OpenCV instead; the caller is told, so it can log once and count.

Coordinates are continuous pixels (pixel i covers [i, i + 1)); `_cv_matrix` converts a map
to OpenCV's pixel-index convention. Python 3.7, numpy and OpenCV only.
"""
import math
from typing import NamedTuple, Optional, Tuple

import cv2
import numpy as np

from utils import nv21
from utils.person_roi import Roi

MIN_SIDE = 64         # Preprocessor: widths and heights in [64, 1920] x [64, 1080], even
MAX_WIDTH = 1920
MAX_HEIGHT = 1080
ROTATION_SNAP = math.radians(10.0)  # turns smaller than this are cropped upright (measured: no loss)


def _even_down(v: float) -> int:
    return int(math.floor(v / 2.0)) * 2


def _even_up(v: float) -> int:
    return int(math.ceil(v / 2.0)) * 2


def _even_round(v: float) -> int:
    return int(round(v / 2.0)) * 2


def _affine_inverse(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


# The same maps as 6-tuples (a, b, c, d, e, f) = [[a, b, c], [d, e, f]] of Python floats: a
# crop plan and a paste are a dozen 2x3 products and inverses, which as numpy calls on
# 2x3 arrays cost ten times the arithmetic (0.34 -> 0.0x ms a plan in the live loop).

def _inverse6(m):
    """The inverse map, computed as cv2.invertAffineTransform computes it."""
    a, b, c, d, e, f = m
    det = a * e - b * d
    det = 1.0 / det if det != 0 else 0.0
    a11, a22, a12, a21 = e * det, a * det, -b * det, -d * det
    return (a11, a12, -a11 * c - a12 * f, a21, a22, -a21 * c - a22 * f)


def _compose6(p, q):
    """The map `p` after `q` (x -> p(q(x)))."""
    return (p[0] * q[0] + p[1] * q[3], p[0] * q[1] + p[1] * q[4], p[0] * q[2] + p[1] * q[5] + p[2],
            p[3] * q[0] + p[4] * q[3], p[3] * q[1] + p[4] * q[4], p[3] * q[2] + p[4] * q[5] + p[5])


def _bounds6(m, size: int) -> Tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1) of the map's image of the square [0, size]^2."""
    xs = (m[2], size * m[0] + m[2], size * m[1] + m[2], size * m[0] + size * m[1] + m[2])
    ys = (m[5], size * m[3] + m[5], size * m[4] + m[5], size * m[3] + size * m[4] + m[5])
    return min(xs), min(ys), max(xs), max(ys)


def _matrix(m) -> np.ndarray:
    return np.array(m, np.float64).reshape(2, 3)


def _cv_matrix(m: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """A continuous-pixel map as OpenCV's index map (pixel centres at integers), on a grid
    `scale` times the pixel grid (0.5 for the chroma planes of NV21)."""
    a = m[:, :2]
    t = m[:, 2] * scale
    return np.hstack([a, (t + a.dot([0.5, 0.5]) - 0.5)[:, None]])


# -- the detector's input -----------------------------------------------------------------

class LetterboxPlan(NamedTuple):
    """The frame resized to w x h at (left, top) of the square input of side `size`;
    `padding` (left, top, right, bottom fractions) for person_detect.remove_letterbox."""
    w: int
    h: int
    left: int
    top: int
    size: int
    padding: Tuple[float, float, float, float]


def plan_letterbox(frame_w: int, frame_h: int, size: int = 224) -> LetterboxPlan:
    if frame_w <= 0 or frame_h <= 0:
        raise ValueError("frame size must be positive, got %dx%d" % (frame_w, frame_h))
    scale = float(size) / max(frame_w, frame_h)
    w = min(size, max(MIN_SIDE, _even_round(frame_w * scale)))
    h = min(size, max(MIN_SIDE, _even_round(frame_h * scale)))
    left, top = _even_down((size - w) / 2.0), _even_down((size - h) / 2.0)
    s = float(size)
    return LetterboxPlan(w, h, left, top, size,
                         (left / s, top / s, (size - left - w) / s, (size - top - h) / s))


def letterbox_input(frame: np.ndarray, plan: LetterboxPlan, pre, out: np.ndarray) -> bool:
    """Writes the detector input into `out` (NV21 size x size, black around the picture).
    `pre` is a hilens.Preprocessor (None: OpenCV only). Returns True when the hardware
    refused and OpenCV resized instead."""
    small, refused = _resize(frame, plan.w, plan.h, pre)
    if (plan.w, plan.h) != (plan.size, plan.size):
        nv21.fill_black(out)
    y, _ = nv21.planes(out)
    vu = nv21.vu_pairs(out)
    sy, _ = nv21.planes(small)
    y[plan.top:plan.top + plan.h, plan.left:plan.left + plan.w] = sy
    vu[plan.top // 2:(plan.top + plan.h) // 2, plan.left // 2:(plan.left + plan.w) // 2] = \
        nv21.vu_pairs(small)
    return refused


def black_square(size: int) -> np.ndarray:
    return nv21.fill_black(nv21.empty(size, size))


class DetectorView(NamedTuple):
    """A region (x, y, w, h, even, inside the frame) of the frame that one detector pass
    looks at, and how it sits in the detector's input."""
    x: int
    y: int
    w: int
    h: int
    plan: LetterboxPlan


def detector_views(frame_w: int, frame_h: int, size: int = 224):
    """What the detector looks at, one view per pass: the whole frame, then (for a frame
    wider or taller than 4:3) squares of its short side at both ends and in the middle.
    The detector finds people by their heads: in the whole 16:9 frame letterboxed to 224
    a person at 0.45 of the height has a face of a few pixels; a square view shows them
    1.8 times as large."""
    views = [DetectorView(0, 0, frame_w, frame_h, plan_letterbox(frame_w, frame_h, size))]
    side = min(frame_w, frame_h)
    long_side = max(frame_w, frame_h)
    if side < MIN_SIDE or long_side < side * 4 // 3:
        return views
    ends = [0, _even_down((long_side - side) / 2.0), long_side - side]
    for start in ends:
        x, y = (start, 0) if frame_w >= frame_h else (0, start)
        views.append(DetectorView(x, y, side, side, plan_letterbox(side, side, size)))
    return views


def _crop(frame: np.ndarray, x: int, y: int, w: int, h: int, pre):
    """(NV21 region, the hardware refused): the hardware's crop, numpy's when it refuses or
    there is no Preprocessor."""
    if pre is not None:
        try:
            return np.asarray(pre.crop(frame, x, y, w, h, 0)), False
        except ValueError:
            return _software_crop(frame, x, y, w, h), True
    return _software_crop(frame, x, y, w, h), False


def view_input(frame: np.ndarray, view: DetectorView, pre, out: np.ndarray) -> bool:
    """The detector input of one view (see letterbox_input); True when the hardware
    refused a call and OpenCV did it."""
    fw, fh = nv21.nv21_size(frame)
    if (view.x, view.y, view.w, view.h) == (0, 0, fw, fh):
        return letterbox_input(frame, view.plan, pre, out)
    region, refused = _crop(frame, view.x, view.y, view.w, view.h, pre)
    return letterbox_input(region, view.plan, None if refused else pre, out) or refused


def fits_view(keypoints: np.ndarray, view: DetectorView, scale: float,
              room: float = 2.0) -> np.ndarray:
    """(K,) bool: the detections (keypoints K x 4 x 2, view-normalised) whose body ROI (a
    square of side 2 * scale * |kp1 - kp0|, person_roi.detection_roi) is no larger than
    `room` times the view. The square views are there to find people too small for the
    whole frame's view; a body larger than the square may be a guess from a piece of one
    (one-by-one-person-detection.mp4: hair at the left square's edge read as a person lying
    across the floor, an ROI 2.9 frame heights tall that segmented the floor for four
    frames), or a bust close to the camera that only a square view finds (with `room` 1
    the walk suite's near walkers lost 0.024 standing IoU, 0.9531 -> 0.9289; with 2 they
    keep it, 0.9519)."""
    d = (keypoints[:, 1] - keypoints[:, 0]) * np.array([view.w, view.h], np.float32)
    side = 2.0 * scale * np.sqrt((d * d).sum(axis=1))
    return side <= room * max(view.w, view.h)


def view_to_frame(points: np.ndarray, view: DetectorView, frame_w: int,
                  frame_h: int) -> np.ndarray:
    """View-normalised x, y (..., 2) -> frame-normalised."""
    p = np.asarray(points, np.float32)
    scale = np.array([view.w / float(frame_w), view.h / float(frame_h)], np.float32)
    shift = np.array([view.x / float(frame_w), view.y / float(frame_h)], np.float32)
    return p * scale + shift


# -- the segmenter's input ----------------------------------------------------------------

class CropPlan(NamedTuple):
    """How one ROI becomes a size x size model input. The hardware crops (x, y, w, h) from
    the frame and resizes that to rw x rh; `warp` (2x3, continuous pixels, resized crop ->
    input) is None when the crop is upright: the resize, with a replicated border of `pad`
    pixels, is the input. `to_input` maps frame pixels to
    input pixels; `bounds` is the frame region the input shows (x0, y0, x1, y1 in pixels,
    may reach outside the frame)."""
    x: int
    y: int
    w: int
    h: int
    rw: int
    rh: int
    size: int
    warp: Optional[np.ndarray]
    to_input: np.ndarray
    bounds: Tuple[float, float, float, float]
    pad: Tuple[int, int, int, int]  # upright: the border (left, top, right, bottom)


def _roi_to_frame6(roi: Roi, frame_w: int, frame_h: int, size: int, rotate: bool = True):
    w, h = roi.width * frame_w, roi.height * frame_h
    theta = roi.rotation if rotate else 0.0
    c, s = math.cos(theta), math.sin(theta)
    a, b, d, e = c * w / size, -s * h / size, s * w / size, c * h / size
    half = size / 2.0
    return (a, b, roi.x_center * frame_w - (a * half + b * half),
            d, e, roi.y_center * frame_h - (d * half + e * half))


def _span(lo: float, hi: float, limit: int) -> Optional[Tuple[int, int]]:
    """[lo, hi) clipped to [0, limit), widened to even ends and to at least MIN_SIDE (kept
    inside when the frame allows); None when nothing of it is inside."""
    a, b = max(0.0, lo), min(float(limit), hi)
    if b - a < 1.0:
        return None
    a, b = _even_down(a), min(limit, _even_up(b))
    if b - a < MIN_SIDE:
        grow = MIN_SIDE - (b - a)
        a -= _even_up(grow / 2.0)
        b = a + MIN_SIDE
        if a < 0:
            a, b = 0, MIN_SIDE
        if b > limit:
            a, b = max(0, limit - MIN_SIDE), limit
    return a, b


def _upright(x0: int, y0: int, x1: int, y1: int, bounds, size: int):
    """(rw, rh, pad, to_input) when the upright square `bounds` is the hardware region
    resized to rw x rh with an even border of pad = (left, top, right, bottom) pixels
    around it; None when the region reaches out of the square or the resize would be under
    the hardware's 64 px."""
    bx0, by0, bx1, by1 = bounds
    kx, ky = size / (bx1 - bx0), size / (by1 - by0)

    def border(v):
        e = _even_round(v)
        return 0 if -2 <= e <= 0 else e  # the even region may reach a pixel over
    pad = (border((x0 - bx0) * kx), border((y0 - by0) * ky), border((bx1 - x1) * kx),
           border((by1 - y1) * ky))
    rw, rh = size - pad[0] - pad[2], size - pad[1] - pad[3]
    if min(pad) < 0 or rw < MIN_SIDE or rh < MIN_SIDE:
        return None
    sx, sy = rw / float(x1 - x0), rh / float(y1 - y0)
    return rw, rh, pad, (sx, 0.0, pad[0] - x0 * sx, 0.0, sy, pad[1] - y0 * sy)


def plan_crop(roi: Roi, frame_w: int, frame_h: int, size: int = 256, rotate: bool = True,
              snap: float = ROTATION_SNAP) -> Optional[CropPlan]:
    """The hardware crop for an ROI, or None when the ROI does not overlap the frame.
    A rotation under `snap` radians (or any, with rotate False) is taken as upright: the
    crop is then the hardware's alone, with a replicated border where the ROI leaves the
    frame (cv2.copyMakeBorder, a few microseconds); a turned crop costs one CPU warp."""
    theta = roi.rotation if rotate else 0.0
    upright = abs(math.atan2(math.sin(theta), math.cos(theta))) < snap
    to_frame = _roi_to_frame6(roi, frame_w, frame_h, size, rotate and not upright)
    bounds = _bounds6(to_frame, size)
    xs = _span(bounds[0], bounds[2], frame_w)
    ys = _span(bounds[1], bounds[3], frame_h)
    if xs is None or ys is None:
        return None
    (x0, x1), (y0, y1) = xs, ys
    w, h = x1 - x0, y1 - y0
    if upright:
        fit = _upright(x0, y0, x1, y1, bounds, size)
        if fit is not None:
            rw, rh, pad, to_input = fit
            shown = _bounds6(_inverse6(to_input), size)
            return CropPlan(x0, y0, w, h, rw, rh, size, None, _matrix(to_input), shown, pad)
    # Resize so that the ROI's side is `size` pixels, then turn / pad on the CPU.
    side = max(roi.width * frame_w, roi.height * frame_h)
    k = size / max(side, 1e-6)
    rw = min(MAX_WIDTH, max(MIN_SIDE, _even_round(w * k)))
    rh = min(MAX_HEIGHT, max(MIN_SIDE, _even_round(h * k)))
    to_resized = (rw / float(w), 0.0, -x0 * rw / float(w), 0.0, rh / float(h),
                  -y0 * rh / float(h))
    to_input = _inverse6(to_frame)
    warp = _compose6(to_input, _inverse6(to_resized))
    return CropPlan(x0, y0, w, h, rw, rh, size, _matrix(warp), _matrix(to_input), bounds,
                    (0, 0, 0, 0))


def _software_crop(frame: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    fy, fvu = nv21.planes(frame)
    out = nv21.empty(w, h)
    oy, ovu = nv21.planes(out)
    oy[:] = fy[y:y + h, x:x + w]
    ovu[:] = fvu[y // 2:(y + h) // 2, x:x + w]
    return out


def _resize(src: np.ndarray, w: int, h: int, pre) -> Tuple[np.ndarray, bool]:
    """(src resized to w x h, whether the hardware refused and OpenCV did it)."""
    sw, sh = nv21.nv21_size(src)
    if (sw, sh) == (w, h):
        return src, False
    if pre is not None:
        try:
            return np.asarray(pre.resize(src, w, h, 0)), False
        except ValueError:
            return nv21.resize(src, w, h), True
    return nv21.resize(src, w, h), False


def crop_input(frame: np.ndarray, plan: CropPlan, pre, out: np.ndarray) -> bool:
    """Writes the model input of `plan` into `out` (NV21 size x size). `pre` is a
    hilens.Preprocessor (None: numpy and OpenCV only). Returns True when the hardware
    refused a call and numpy/OpenCV did it instead."""
    crop, refused = _crop(frame, plan.x, plan.y, plan.w, plan.h, pre)
    resized, refused_resize = _resize(crop, plan.rw, plan.rh, None if refused else pre)
    refused = refused or refused_resize
    if plan.warp is None:
        left, top, right, bottom = plan.pad
        if not (left or top or right or bottom):
            np.copyto(out, resized.reshape(out.shape))
            return refused
        ry, _ = nv21.planes(resized)
        cv2.copyMakeBorder(ry, top, bottom, left, right, cv2.BORDER_REPLICATE,
                           dst=nv21.planes(out)[0])
        cv2.copyMakeBorder(nv21.vu_pairs(resized), top // 2, bottom // 2, left // 2,
                           right // 2, cv2.BORDER_REPLICATE, dst=nv21.vu_pairs(out))
        return refused
    s = plan.size
    oy, _ = nv21.planes(out)
    ry, _ = nv21.planes(resized)
    cv2.warpAffine(ry, _cv_matrix(plan.warp), (s, s), dst=oy, flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    cv2.warpAffine(nv21.vu_pairs(resized), _cv_matrix(plan.warp, 0.5), (s // 2, s // 2),
                   dst=nv21.vu_pairs(out), flags=cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return refused


# -- back to the frame ----------------------------------------------------------------------

def to_frame(points: np.ndarray, to_input: np.ndarray) -> np.ndarray:
    """Input pixels (N x 2) -> frame pixels."""
    inv = _affine_inverse(to_input)
    p = np.asarray(points, np.float64)
    return p.dot(inv[:, :2].T) + inv[:, 2]


class PasteBuffers(object):
    """paste_max's scratch arrays, kept by its caller from call to call: a fresh array
    each call is fresh memory to fault in and bring into the cache (in the live loop, after
    a model call, that costs more than the work on it)."""

    def __init__(self):
        self.above = np.empty((0, 0), np.uint8)
        self.warped = np.empty((0, 0), np.float32)

    def get(self, mask_shape, canvas_shape):
        if self.above.shape != tuple(mask_shape):
            self.above = np.empty(mask_shape, np.uint8)
        if self.warped.shape != tuple(canvas_shape):
            self.warped = np.empty(canvas_shape, np.float32)
        return self.above, self.warped


def paste_max(mask: np.ndarray, plan: CropPlan, frame_w: int, frame_h: int,
              canvas: np.ndarray, floor: float = 0.0,
              buffers: Optional[PasteBuffers] = None) -> Optional[Tuple[int, int, int, int]]:
    """canvas = max(canvas, the input-size `mask` seen in frame coordinates), with the
    canvas a float32 (ch, cw) picture of the whole frame at its own scale. Only the region
    the crop shows is touched, and of it only the box around the mask's values above
    `floor`: a caller that soft-thresholds the canvas at `floor` (everything at or below it
    becomes 0) passes it, and the float warp covers the person rather than the whole ROI
    (a standing person fills about half of the ROI's square). Bilinear sampling of values
    at or below `floor` cannot exceed it, so outside that box the canvas is as if pasted.
    Returns the canvas box (x0, y0, x1, y1) written, None when nothing was. `buffers`: a
    PasteBuffers the caller keeps (None: new arrays)."""
    ch, cw = canvas.shape
    sx, sy = cw / float(frame_w), ch / float(frame_h)
    x0 = max(0, int(math.floor(plan.bounds[0] * sx)))
    y0 = max(0, int(math.floor(plan.bounds[1] * sy)))
    x1 = min(cw, int(math.ceil(plan.bounds[2] * sx)))
    y1 = min(ch, int(math.ceil(plan.bounds[3] * sy)))
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.ascontiguousarray(mask, np.float32)
    # canvas pixel -> frame pixel -> input pixel
    canvas_to_input = _compose6(tuple(plan.to_input.ravel().tolist()),
                                (1.0 / sx, 0.0, 0.0, 0.0, 1.0 / sy, 0.0))
    above, warped = (buffers or PasteBuffers()).get(mask.shape, canvas.shape)
    mx, my, mw, mh = cv2.boundingRect(cv2.compare(mask, float(floor), cv2.CMP_GT, above))
    if mw == 0:
        return None  # nothing above the floor
    if mw < mask.shape[1] or mh < mask.shape[0]:
        # the input points whose bilinear neighbours reach the box (pixel centres at
        # integers: mx - 1 < u < mx + mw), as continuous pixels, seen in the canvas; the
        # canvas pixels whose centres fall in there (and one more on each side)
        lo_x, lo_y, hi_x, hi_y = mx - 0.5, my - 0.5, mx + mw + 0.5, my + mh + 0.5
        i = _inverse6(canvas_to_input)
        cx = [u * i[0] + v * i[1] + i[2] - 0.5 for u, v in ((lo_x, lo_y), (hi_x, lo_y),
                                                           (lo_x, hi_y), (hi_x, hi_y))]
        cy = [u * i[3] + v * i[4] + i[5] - 0.5 for u, v in ((lo_x, lo_y), (hi_x, lo_y),
                                                           (lo_x, hi_y), (hi_x, hi_y))]
        x0 = max(x0, int(math.floor(min(cx))) - 1)
        y0 = max(y0, int(math.floor(min(cy))) - 1)
        x1 = min(x1, int(math.ceil(max(cx))) + 2)
        y1 = min(y1, int(math.ceil(max(cy))) + 2)
        if x1 <= x0 or y1 <= y0:
            return None
    # shifted to the region's origin, in OpenCV's pixel-index convention
    a, b, c, d, e, f = _compose6(canvas_to_input, (1.0, 0.0, x0, 0.0, 1.0, y0))
    m = np.array([[a, b, c + (a * 0.5 + b * 0.5) - 0.5], [d, e, f + (d * 0.5 + e * 0.5) - 0.5]])
    region = canvas[y0:y1, x0:x1]
    warped = warped[:y1 - y0, :x1 - x0]
    cv2.warpAffine(mask, m, (x1 - x0, y1 - y0), warped,
                   cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_CONSTANT, 0)
    # (cv2.max: the same maximum as np.maximum on finite values, the mask's are checked,
    # in half the time on a strided box in the live loop)
    cv2.max(region, warped, dst=region)
    return x0, y0, x1, y1
