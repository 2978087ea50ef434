"""YUV420 semi-planar (NV21/NV12) helpers shared by video, display, cvt_color and Preprocessor.

Layout of an NV21 frame of W x H pixels: a uint8 array of shape (H*3/2, W); rows [0, H) are Y,
rows [H, H*3/2) hold interleaved V,U pairs (U,V for NV12), one pair per 2x2 pixel block.

RGB -> YUV uses BT.601 narrow range (Y 16..235, U/V 16..240): the matrix of OpenCV's
COLOR_BGR2YUV_I420, inverted by COLOR_YUV2BGR_NV21 and by the repo's aipp.cfg. Unlike OpenCV's
I420 conversion, which takes each block's chroma from its top-left pixel only, the chroma here is
the mean of the 2x2 block, as camera ISPs and video encoders filter before subsampling.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

# Studio-swing BT.601 in floating point (the reference the fast path below is checked against):
# Y = 16 + 219/255 (Kr R + Kg G + Kb B), U = 128 + 224/255 (B - Y')/1.772, V = 128 + 224/255 (R - Y')/1.402.
KR, KG, KB = 0.299, 0.587, 0.114
Y_ROW = np.array([KR, KG, KB]) * 219.0 / 255.0
U_ROW = np.array([-KR, -KG, 1.0 - KB]) / (2.0 * (1.0 - KB)) * 224.0 / 255.0
V_ROW = np.array([1.0 - KR, -KG, -KB]) / (2.0 * (1.0 - KR)) * 224.0 / 255.0


def _chroma_matrix(bgr: bool, nv21: bool) -> np.ndarray:
    """2x4 affine matrix for cv2.transform: input pixel -> the (first, second) chroma byte."""
    rows = np.array([V_ROW, U_ROW] if nv21 else [U_ROW, V_ROW])
    if bgr:
        rows = rows[:, ::-1]
    return np.hstack([rows, [[128.0], [128.0]]]).astype(np.float32)


_CHROMA = {(bgr, nv): _chroma_matrix(bgr, nv) for bgr in (False, True) for nv in (False, True)}


def from_rgb(img: np.ndarray, bgr: bool, nv21: bool) -> np.ndarray:
    """(H, W, 3) uint8 RGB/BGR with even H, W -> (H*3/2, W) NV21 (or NV12). No argument checks.

    Luma is OpenCV's integer BT.601 (its I420 chroma is discarded). Chroma is the 2x2 block mean
    (INTER_AREA, within 0.5 of exact) through the float matrix above, rounded: within 1 level of
    the exact value, and a round trip through COLOR_YUV2BGR_NV21 stays within 2 levels."""
    h, w = img.shape[:2]
    out = np.empty((h * 3 // 2, w), np.uint8)
    out[:h] = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420 if bgr else cv2.COLOR_RGB2YUV_I420)[:h]
    half = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    out[h:] = cv2.transform(half, _CHROMA[(bgr, nv21)]).reshape(h // 2, w)
    return out


def bgr_to_nv21(img: np.ndarray) -> np.ndarray:
    return from_rgb(img, bgr=True, nv21=True)


def nv21_to_bgr(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_NV21)


def swap_chroma(frame: np.ndarray, h: int) -> np.ndarray:
    """NV21 <-> NV12: a copy with each V,U pair swapped."""
    out = frame.copy()
    out[h:, 0::2] = frame[h:, 1::2]
    out[h:, 1::2] = frame[h:, 0::2]
    return out


def even_crop(img: np.ndarray) -> np.ndarray:
    """Drop the last row/column of an odd-sized picture (YUV420 needs even sizes)."""
    h, w = img.shape[:2]
    return img[: h - h % 2, : w - w % 2]


def describe(obj: object) -> str:
    """Short description of a would-be frame for error messages."""
    if isinstance(obj, np.ndarray):
        return "%s array of shape %s" % (obj.dtype, obj.shape)
    return type(obj).__name__


def frame_size(frame: object, what: str) -> Tuple[int, int]:
    """(W, H) of an NV21/NV12 frame; ValueError naming ``what`` when it is not one."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 2:
        hint = " (a BGR/RGB picture? convert it with hilens.cvt_color)" if (
            isinstance(frame, np.ndarray) and frame.ndim == 3) else ""
        raise ValueError("%s must be an NV21 uint8 array of shape (H*3/2, W), got %s%s"
                         % (what, describe(frame), hint))
    rows, w = frame.shape
    if rows % 3 != 0:
        raise ValueError("%s has %d rows, not H*3/2 for an NV21 frame" % (what, rows))
    h = rows * 2 // 3
    if h % 2 or w % 2:
        raise ValueError("%s is %dx%d; NV21 width and height must be even" % (what, w, h))
    return w, h
