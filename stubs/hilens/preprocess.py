"""hilens.cvt_color and hilens.Preprocessor (转换图片颜色格式.md, 改变图片尺寸.md, 裁剪图片.md).

Both check their arguments as the guide documents them and raise ValueError naming the first bad
argument. The device's hardware scaler is emulated with bilinear cv2.resize of the Y plane and of
the interleaved chroma plane (as a 2-channel image), which keeps chroma and luma aligned.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import lifecycle, nv21

RGB2YUV_NV12 = 0
RGB2YUV_NV21 = 1
BGR2YUV_NV12 = 2
BGR2YUV_NV21 = 3
_CODES = {  # code -> (input is BGR, output is NV21)
    RGB2YUV_NV12: (False, False),
    RGB2YUV_NV21: (False, True),
    BGR2YUV_NV12: (True, False),
    BGR2YUV_NV21: (True, True),
}

MIN_SIDE = 64
MAX_WIDTH = 1920
MAX_HEIGHT = 1080


def cvt_color(src: np.ndarray, code: int) -> np.ndarray:
    """RGB/BGR (H, W, 3) uint8 with even H, W -> NV12/NV21 (H*3/2, W) uint8, BT.601 narrow range.
    Raises ValueError naming ``src`` or ``code`` when they are not that."""
    if isinstance(code, bool) or code not in _CODES:
        raise ValueError("cvt_color: code=%r must be hilens.RGB2YUV_NV12, RGB2YUV_NV21, BGR2YUV_NV12 or "
                         "BGR2YUV_NV21" % (code,))
    if not isinstance(src, np.ndarray) or src.dtype != np.uint8 or src.ndim != 3 or src.shape[2] != 3:
        raise ValueError("cvt_color: src must be a uint8 RGB/BGR array of shape (H, W, 3), got %s"
                         % nv21.describe(src))
    h, w = src.shape[:2]
    if h == 0 or w == 0 or h % 2 or w % 2:
        raise ValueError("cvt_color: src is %dx%d; NV12/NV21 need an even, non-zero width and height" % (w, h))
    bgr, to_nv21 = _CODES[code]
    return nv21.from_rgb(np.ascontiguousarray(src), bgr=bgr, nv21=to_nv21)


def _check_int(call: str, name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError("%s: %s=%r must be an int" % (call, name, value))
    if not lo <= value <= hi or value % 2:
        raise ValueError("%s: %s=%d must be even and in [%d, %d]" % (call, name, value, lo, hi))
    return int(value)


def _check_src(call: str, src: object) -> tuple:
    w, h = nv21.frame_size(src, "%s: src" % call)
    if not MIN_SIDE <= w <= MAX_WIDTH or not MIN_SIDE <= h <= MAX_HEIGHT:
        raise ValueError("%s: src is %dx%d; width must be in [%d, %d] and height in [%d, %d]"
                         % (call, w, h, MIN_SIDE, MAX_WIDTH, MIN_SIDE, MAX_HEIGHT))
    return w, h


def _check_t(call: str, t: object) -> bool:
    if isinstance(t, bool) or t not in (0, 1):
        raise ValueError("%s: t=%r must be 0 (NV21 out) or 1 (NV12 out)" % (call, t))
    return t == 1


class Preprocessor:
    """Hardware resize/crop of NV21 pictures (t: 0 -> NV21 out, 1 -> NV12 out)."""

    def __init__(self) -> None:
        lifecycle.warn_if_uninitialised("hilens.Preprocessor")

    def resize(self, src: np.ndarray, w: int, h: int, t: int) -> np.ndarray:
        call = "Preprocessor.resize"
        sw, sh = _check_src(call, src)
        w = _check_int(call, "w", w, MIN_SIDE, MAX_WIDTH)
        h = _check_int(call, "h", h, MIN_SIDE, MAX_HEIGHT)
        to_nv12 = _check_t(call, t)
        out = np.empty((h * 3 // 2, w), np.uint8)
        # Both planes are written in place through views of `out` (no temporaries to copy).
        cv2.resize(src[:sh], (w, h), dst=out[:h], interpolation=cv2.INTER_LINEAR)
        pairs = src[sh:].reshape(sh // 2, sw // 2, 2)
        cv2.resize(pairs, (w // 2, h // 2), dst=out[h:].reshape(h // 2, w // 2, 2), interpolation=cv2.INTER_LINEAR)
        if to_nv12:
            _swap_pairs_inplace(out, h)
        return out

    def crop(self, src: np.ndarray, x: int, y: int, w: int, h: int, t: int) -> np.ndarray:
        call = "Preprocessor.crop"
        sw, sh = _check_src(call, src)
        x = _check_int(call, "x", x, 0, MAX_WIDTH)
        y = _check_int(call, "y", y, 0, MAX_HEIGHT)
        w = _check_int(call, "w", w, MIN_SIDE, MAX_WIDTH)
        h = _check_int(call, "h", h, MIN_SIDE, MAX_HEIGHT)
        to_nv12 = _check_t(call, t)
        if x + w > sw or y + h > sh:
            raise ValueError("%s: region x=%d, y=%d, w=%d, h=%d does not fit the %dx%d src"
                             % (call, x, y, w, h, sw, sh))
        out = np.empty((h * 3 // 2, w), np.uint8)
        out[:h] = src[y:y + h, x:x + w]
        out[h:] = src[sh + y // 2:sh + (y + h) // 2, x:x + w]
        if to_nv12:
            _swap_pairs_inplace(out, h)
        return out


def _swap_pairs_inplace(frame: np.ndarray, h: int) -> None:
    pairs = frame[h:].reshape(-1, 2)
    pairs[:] = pairs[:, ::-1].copy()
