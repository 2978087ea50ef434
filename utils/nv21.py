"""NV21 frames: shape checks, plane views and conversions.

An NV21 frame of W x H pixels is one uint8 array of shape (H*3/2, W): the Y plane (H, W)
followed by an interleaved V,U plane of (H/2, W) bytes, i.e. (H/2, W/2) pairs. Both W and
H must be even, which is why odd sizes are rejected here with an error naming the size
instead of being cropped silently. Every stage takes the planes apart with planes() and
vu_pairs(), so the layout arithmetic is written once, here.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

# Black in the narrow-range BT.601 YUV that the camera and OpenCV use.
BLACK_Y = 16
NEUTRAL_UV = 128


def nv21_size(frame, what: str = "frame") -> Tuple[int, int]:
    """(W, H) of an NV21 array; ValueError that names the shape when it cannot be NV21."""
    if not isinstance(frame, np.ndarray):
        raise ValueError("%s must be a numpy array, got %s" % (what, type(frame).__name__))
    if frame.dtype != np.uint8 or frame.ndim != 2:
        raise ValueError("%s must be NV21 uint8 of shape (H*3/2, W), got %s %s"
                         % (what, frame.dtype, frame.shape))
    rows, w = frame.shape
    if rows % 3 != 0:
        raise ValueError("%s has %d rows, not H*3/2 for any H: not an NV21 frame"
                         % (what, rows))
    h = rows * 2 // 3
    if w % 2 or h % 2 or w == 0 or h == 0:
        raise ValueError("%s is %dx%d: NV21 needs an even, non-zero width and height"
                         % (what, w, h))
    return w, h


def bgr_size(frame, what: str = "frame") -> Tuple[int, int]:
    """(W, H) of a BGR array that can become NV21 (even sizes), else ValueError."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        raise ValueError("%s must be BGR uint8 of shape (H, W, 3), got %s"
                         % (what, getattr(frame, "shape", type(frame).__name__)))
    h, w = frame.shape[:2]
    if w % 2 or h % 2 or w == 0 or h == 0:
        raise ValueError("%s is %dx%d: NV21 needs an even, non-zero width and height"
                         % (what, w, h))
    return w, h


def frame_size(frame, what: str = "frame") -> Tuple[int, int]:
    """(W, H) of an NV21 (2-D) or BGR (3-D) frame."""
    if isinstance(frame, np.ndarray) and frame.ndim == 3:
        return bgr_size(frame, what)
    return nv21_size(frame, what)


def planes(frame: np.ndarray, what: str = "frame") -> Tuple[np.ndarray, np.ndarray]:
    """(Y (H, W), VU (H/2, W)) views into an NV21 frame."""
    w, h = nv21_size(frame, what)
    return frame[:h], frame[h:]


def vu_pairs(frame: np.ndarray, what: str = "frame") -> np.ndarray:
    """The VU plane as an (H/2, W/2, 2) array: channel 0 is V, channel 1 is U. A view, so
    writes reach the frame, when the frame is C-contiguous (every buffer the skill makes
    and every camera frame is); numpy copies otherwise, so write only into such buffers."""
    w, h = nv21_size(frame, what)
    return frame[h:].reshape(h // 2, w // 2, 2)


def empty(w: int, h: int) -> np.ndarray:
    return np.empty((h * 3 // 2, w), np.uint8)


def bgr_to_nv21(bgr: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """BGR (H, W, 3) -> NV21 (H*3/2, W), BT.601 narrow range like the camera."""
    w, h = bgr_size(bgr, "BGR image")
    if out is None:
        out = empty(w, h)
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    y, _ = planes(out, "NV21 output")
    y[:] = i420[:h]
    q = (h // 2) * (w // 2)
    chroma = i420[h:].reshape(-1)
    u = chroma[:q].reshape(h // 2, w // 2)
    v = chroma[q:].reshape(h // 2, w // 2)
    pairs = vu_pairs(out)
    pairs[:, :, 0] = v
    pairs[:, :, 1] = u
    return out


def as_nv21(frame, what: str = "frame") -> np.ndarray:
    """An NV21 frame as it is; a BGR frame (UVC camera) converted once."""
    if isinstance(frame, np.ndarray) and frame.ndim == 3:
        return bgr_to_nv21(frame)
    nv21_size(frame, what)
    return frame


def solid(w: int, h: int, bgr, out: Optional[np.ndarray] = None) -> np.ndarray:
    """A frame of one colour (B, G, R) in NV21."""
    px = bgr_to_nv21(np.full((2, 2, 3), bgr, np.uint8))
    if out is None:
        out = empty(w, h)
    y, _ = planes(out, "NV21 output")
    y[:] = px[0, 0]
    pairs = vu_pairs(out)
    pairs[:, :, 0] = px[2, 0]
    pairs[:, :, 1] = px[2, 1]
    return out


def resize(src: np.ndarray, w: int, h: int, out: Optional[np.ndarray] = None,
           interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """NV21 resize with OpenCV: Y as one plane, the VU pairs as a 2-channel image.

    The same job as hilens.Preprocessor.resize; used where the hardware resizer does not
    apply (sizes outside its range, output letterboxing on a PC)."""
    sw, sh = nv21_size(src, "resize source")
    if w % 2 or h % 2 or w <= 0 or h <= 0:
        raise ValueError("resize target %dx%d: NV21 needs an even, non-zero width and height"
                         % (w, h))
    if out is None:
        out = empty(w, h)
    if (sw, sh) == (w, h):
        np.copyto(out, src)
        return out
    src_y, _ = planes(src)
    out_y, _ = planes(out, "resize output")
    cv2.resize(src_y, (w, h), dst=out_y, interpolation=interpolation)
    cv2.resize(vu_pairs(src), (w // 2, h // 2), dst=vu_pairs(out), interpolation=interpolation)
    return out


def fill_black(frame: np.ndarray) -> np.ndarray:
    y, vu = planes(frame)
    y[:] = BLACK_Y
    vu[:] = NEUTRAL_UV
    return frame
