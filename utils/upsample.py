"""Alpha from model size to frame size, following the frame's real edges.

`guided` is the fast guided filter (He et al., "Guided Image Filtering" and "Fast Guided
Filter"): the local linear model alpha ~ a*I + b is fitted at model size with the model-size
Y plane as guide I, and only the coefficients a, b are scaled up; at frame size the work is
two float resizes, one multiply and one add with the full-size Y, so hair and shoulder edges
follow Y without any filtering at frame size. `guided_half` applies a, b at half the frame
size (the chroma grid, with Y averaged 2x2) and scales that uint8 alpha up: a quarter of the
float work for edges good to 2 pixels. `bilinear` just scales the alpha.
"""
import math
from typing import Optional

import cv2
import numpy as np

_INV255 = 1.0 / 255.0
MODES = ("guided", "guided_half", "bilinear")


class Upsampler(object):
    def __init__(self, mode="guided", radius=2, eps=5e-4):
        if mode not in MODES:
            raise ValueError("upsample mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.mode = mode
        self.ksize = (2 * int(radius) + 1, 2 * int(radius) + 1)
        self.box_kernel = np.full(self.ksize[0], 1.0 / self.ksize[0], np.float32)
        self.eps = float(eps)
        self.small_size = None
        self.full_size = None
        self.y_half = None
        self.up2_size = None
        # bilinear: (x0, y0, x1, y1), even, of the last output outside which it is 0 (the
        # compositor copies the background there); None: not known
        self.box = None

    def _setup_small(self, w, h):
        self.small_size = (w, h)
        f = lambda: np.empty((h, w), np.float32)  # noqa: E731
        self.I, self.II, self.Ip = f(), f(), f()
        self.mI, self.mp, self.mII, self.mIp = f(), f(), f(), f()
        self.a, self.b = f(), f()
        self.alpha8 = np.empty((h, w), np.uint8)

    def _setup_full(self, w, h):
        self.full_size = (w, h)
        self.A = np.empty((h, w), np.float32)
        self.B = np.empty((h, w), np.float32)

    def coefficients(self, alpha, y_small):
        """Guided-filter coefficients (A, B) at model size such that alpha*255 ~ A*Y + B."""
        h, w = alpha.shape
        if self.small_size != (w, h):
            self._setup_small(w, h)
        # The box mean as two 1-D passes: a third faster than boxFilter on float32.
        k = self.box_kernel
        box = lambda src, dst: cv2.sepFilter2D(src, -1, k, k, dst=dst,  # noqa: E731
                                               borderType=cv2.BORDER_REFLECT)
        I = self.I
        np.multiply(y_small, np.float32(_INV255), out=I)
        cv2.multiply(I, I, dst=self.II)
        cv2.multiply(I, alpha, dst=self.Ip)
        mI, mp, mII, mIp = box(I, self.mI), box(alpha, self.mp), box(self.II, self.mII), \
            box(self.Ip, self.mIp)
        # var = E[I^2] - E[I]^2 ; cov = E[Ip] - E[I]E[p]   (reusing buffers in place)
        cv2.subtract(mII, cv2.multiply(mI, mI), dst=mII)
        cv2.subtract(mIp, cv2.multiply(mI, mp), dst=mIp)
        # x*k + c as addWeighted: OpenCV's multiply/add by a Python scalar is 5-10x slower
        cv2.addWeighted(mII, 1.0, mII, 0.0, self.eps, dst=mII)
        a = cv2.divide(mIp, mII, dst=self.a)
        b = cv2.subtract(mp, cv2.multiply(a, mI), dst=self.b)
        box(a, a)
        box(b, b)
        # In Y units: alpha*255 = a*255*I + 255*b = a*Y + 255*b
        cv2.addWeighted(b, 255.0, b, 0.0, 0.0, dst=b)
        return a, b

    def run(self, alpha: np.ndarray, y_small: np.ndarray, y_full: np.ndarray, out: np.ndarray,
            half: Optional[np.ndarray] = None) -> np.ndarray:
        """alpha: float32 (h, w) in [0, 1]; y_small: uint8 (h, w) guide at model size;
        y_full: uint8 (H, W); out: uint8 (H, W) written and returned. `half` (H/2, W/2)
        uint8, when given, receives the alpha at chroma resolution (each 2x2 block)."""
        H, W = y_full.shape
        if self.mode == "bilinear":
            h, w = alpha.shape
            if self.small_size != (w, h):
                self._setup_small(w, h)
            np.multiply(alpha, 255.0, out=self.a)
            cv2.convertScaleAbs(self.a, dst=self.alpha8)  # alpha >= 0 here
            cv2.resize(self.alpha8, (W, H), dst=out, interpolation=cv2.INTER_LINEAR)
            self.box = scaled_box(cv2.boundingRect(self.alpha8), w, h, W, H)
        else:
            self.box = None
            if y_small.shape != alpha.shape:
                raise ValueError("guide %s and alpha %s must have the model size"
                                 % (y_small.shape, alpha.shape))
            a, b = self.coefficients(alpha, y_small)
            if self.mode == "guided_half":
                if half is None:
                    half = np.empty((H // 2, W // 2), np.uint8)
                self._apply(a, b, self._half_guide(y_full), half)
                return self._upscale2(half, out)
            self._apply(a, b, y_full, out)
        if half is not None:
            # INTER_AREA at exactly 1/2 is the mean of each 2x2 block
            cv2.resize(out, (W // 2, H // 2), dst=half, interpolation=cv2.INTER_AREA)
        return out

    def _upscale2(self, src, out):
        """Bilinear 2x of uint8 src (h, w) into out (2h, 2w), pixel centres aligned and edges
        replicated like cv2.resize: along each axis an output pixel is 3/4 of its nearer and
        1/4 of its farther source neighbour. Four weighted sums of shifted views (rounded after
        each axis, so within one level of the exact value; cv2.resize's fixed point is within
        0.63) take about half the time of cv2.resize, which handles any scale."""
        h, w = src.shape
        if not out.flags.c_contiguous:  # the row-pair view below needs one block of memory
            return cv2.resize(src, (2 * w, 2 * h), dst=out, interpolation=cv2.INTER_LINEAR)
        if self.up2_size != (w, h):
            self.up2_size = (w, h)
            self.up2_pad = np.empty((h + 2, w + 2), np.uint8)
            self.up2_even = np.empty((h + 2, w), np.uint8)
            self.up2_odd = np.empty((h + 2, w), np.uint8)
            self.up2_rows = np.empty((h + 2, 2 * w), np.uint8)
        pad = self.up2_pad
        cv2.copyMakeBorder(src, 1, 1, 1, 1, cv2.BORDER_REPLICATE, dst=pad)
        mid = pad[:, 1:-1]
        cv2.addWeighted(mid, 0.75, pad[:, :-2], 0.25, 0.0, dst=self.up2_even)
        cv2.addWeighted(mid, 0.75, pad[:, 2:], 0.25, 0.0, dst=self.up2_odd)
        rows = self.up2_rows  # each source row widened: even, odd, even, odd, ...
        cv2.merge([self.up2_even, self.up2_odd], dst=rows.reshape(h + 2, w, 2))
        pairs = out.reshape(h, 2, 2 * w)  # output rows 2i and 2i+1 as two strided planes
        cv2.addWeighted(rows[1:-1], 0.75, rows[:-2], 0.25, 0.0, dst=pairs[:, 0, :])
        cv2.addWeighted(rows[1:-1], 0.75, rows[2:], 0.25, 0.0, dst=pairs[:, 1, :])
        return out

    def _half_guide(self, y_full):
        H, W = y_full.shape
        if self.y_half is None or self.y_half.shape != (H // 2, W // 2):
            self.y_half = np.empty((H // 2, W // 2), np.uint8)
        return cv2.resize(y_full, (W // 2, H // 2), dst=self.y_half,
                          interpolation=cv2.INTER_AREA)

    def _apply(self, a, b, guide, out):
        """out = a*guide + b at the guide's size, with a, b scaled up from model size."""
        H, W = guide.shape
        if self.full_size != (W, H):
            self._setup_full(W, H)
        cv2.resize(a, (W, H), dst=self.A, interpolation=cv2.INTER_LINEAR)
        cv2.resize(b, (W, H), dst=self.B, interpolation=cv2.INTER_LINEAR)
        cv2.multiply(self.A, guide, dst=self.A, dtype=cv2.CV_32F)
        # float -> uint8 with rounding and saturation in one call
        cv2.add(self.A, self.B, dst=out, dtype=cv2.CV_8U)
        return out


def scaled_box(rect, w: int, h: int, W: int, H: int):
    """The box (x0, y0, x1, y1), even, of a w x h picture's non-zero `rect` (x, y, rw, rh)
    once resized bilinearly to W x H: an output pixel samples the two source pixels around
    (x + 0.5) * w / W - 0.5, so one source pixel of margin on each side holds every output
    pixel that can be non-zero. (0, 0, 0, 0) when the rect is empty."""
    x, y, rw, rh = rect
    if rw == 0 or rh == 0:
        return 0, 0, 0, 0
    sx, sy = W / float(w), H / float(h)
    x0 = max(0, int(math.floor((x - 1) * sx)) - 1)
    y0 = max(0, int(math.floor((y - 1) * sy)) - 1)
    x1 = min(W, int(math.ceil((x + rw + 1) * sx)) + 1)
    y1 = min(H, int(math.ceil((y + rh + 1) * sy)) + 1)
    return x0 - x0 % 2, y0 - y0 % 2, min(W, x1 + x1 % 2), min(H, y1 + y1 % 2)
