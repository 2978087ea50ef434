"""Alpha from model size to frame size, following the frame's real edges.

`guided` is the fast guided filter (He et al., "Guided Image Filtering" and "Fast Guided
Filter"): the local linear model alpha ~ a*I + b is fitted at model size with the model-size
Y plane as guide I, and only the coefficients a, b are scaled up; at frame size the work is
two float resizes, one multiply and one add with the full-size Y, so hair and shoulder edges
follow Y without any filtering at frame size. `guided_half` applies a, b at half the frame
size (the chroma grid, with Y averaged 2x2) and scales that uint8 alpha up: a quarter of the
float work for edges good to 2 pixels. `bilinear` just scales the alpha.
"""
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
        self.eps = float(eps)
        self.small_size = None
        self.full_size = None
        self.y_half = None

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
        box = lambda src, dst: cv2.boxFilter(src, -1, self.ksize, dst=dst,  # noqa: E731
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
        cv2.add(mII, self.eps, dst=mII)
        a = cv2.divide(mIp, mII, dst=self.a)
        b = cv2.subtract(mp, cv2.multiply(a, mI), dst=self.b)
        box(a, a)
        box(b, b)
        # In Y units: alpha*255 = a*255*I + 255*b = a*Y + 255*b
        cv2.multiply(b, 255.0, dst=b)
        return a, b

    def run(self, alpha, y_small, y_full, out, half=None):
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
        else:
            if y_small.shape != alpha.shape:
                raise ValueError("guide %s and alpha %s must have the model size"
                                 % (y_small.shape, alpha.shape))
            a, b = self.coefficients(alpha, y_small)
            if self.mode == "guided_half":
                if half is None:
                    half = np.empty((H // 2, W // 2), np.uint8)
                self._apply(a, b, self._half_guide(y_full), half)
                return cv2.resize(half, (W, H), dst=out, interpolation=cv2.INTER_LINEAR)
            self._apply(a, b, y_full, out)
        if half is not None:
            # INTER_AREA at exactly 1/2 is the mean of each 2x2 block
            cv2.resize(out, (W // 2, H // 2), dst=half, interpolation=cv2.INTER_AREA)
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
