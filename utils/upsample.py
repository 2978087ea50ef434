"""Alpha from model size to frame size, following the frame's real edges.

`guided` is the fast guided filter (He et al., "Guided Image Filtering" and "Fast Guided
Filter"): the local linear model alpha ~ a*I + b is fitted at model size with the model-size
Y plane as guide I, and only the coefficients a, b are scaled up; at frame size the work is
two float resizes, one multiply and one add with the full-size Y, so hair and shoulder edges
follow Y without any filtering at frame size. `guided_half` applies a, b at half the frame
size (the chroma grid, with Y averaged 2x2) and scales that uint8 alpha up: a quarter of the
float work for edges good to 2 pixels. `bilinear` just scales the alpha.

Where the alpha is 0 the output is 0 (the guided filter's a and b are exactly 0 wherever the
alpha's window is all 0), and a person fills a third to a half of the matte: so the work is
done on the box of non-zero alpha only, with the margins that make it exact (`resize_box`,
`Upsampler.coefficients`), and the rest of the output is zeroed.
"""
import math
from typing import Optional, Tuple

import cv2
import numpy as np

_INV255 = 1.0 / 255.0
SIMD_COLUMNS = 16  # float32 lanes of the widest vector OpenCV uses on a PC (AVX-512)
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
        # guided (full size) and bilinear: (x0, y0, x1, y1) of the last output outside which
        # it is 0
        self.written = None
        # bilinear: (out, its shape, half, their boxes) of the last run: both are 0 outside
        # the boxes until someone else writes into them (forget())
        self.kept = None

    def _setup_small(self, w, h):
        self.small_size = (w, h)
        f = lambda: np.empty((h, w), np.float32)  # noqa: E731
        self.I, self.II, self.Ip, self.mp = f(), f(), f(), f()
        self.a, self.b = f(), f()
        self.alpha8 = np.empty((h, w), np.uint8)
        self.nonzero8 = np.empty((h, w), np.uint8)

    def _setup_full(self, w, h):
        self.full_size = (w, h)
        self.A = np.empty((h, w), np.float32)
        self.B = np.empty((h, w), np.float32)

    def coefficients(self, alpha, y_small):
        """Guided-filter coefficients (A, B) at model size such that alpha*255 ~ A*Y + B.

        Only on the box of non-zero alpha grown by three radii (the two box means of the
        filter and the guide's window around them); A and B are 0 outside it, exactly
        what the whole-frame filter gives there. `self.ab_rect` (x, y, w, h) is where they
        may be non-zero (the box grown by two radii)."""
        h, w = alpha.shape
        if self.small_size != (w, h):
            self._setup_small(w, h)
        a_full, b_full = self.a, self.b
        x, y, rw, rh = cv2.boundingRect(cv2.compare(alpha, 0.0, cv2.CMP_NE,
                                                    dst=self.nonzero8))
        if rw == 0:
            a_full.fill(0.0)
            b_full.fill(0.0)
            self.ab_rect = (0, 0, 0, 0)
            return a_full, b_full
        r = self.ksize[0] // 2
        span = simd_span(x - 3 * r, x + rw + 3 * r, w)
        if span is None:
            x0, y0, x1, y1 = 0, 0, w, h
        else:
            (x0, x1), y0, y1 = span, max(0, y - 3 * r), min(h, y + rh + 3 * r)
        ax0, ay0 = max(0, x - 2 * r), max(0, y - 2 * r)
        self.ab_rect = (ax0, ay0, min(w, x + rw + 2 * r) - ax0, min(h, y + rh + 2 * r) - ay0)
        crop = np.s_[y0:y1, x0:x1]
        alpha, y_small = alpha[crop], y_small[crop]
        # The box mean as two 1-D passes: a third faster than boxFilter on float32. The
        # crop is filtered as an image of its own: reflected at its edges, where every
        # window of the alpha is 0, and so are a and b, as on the whole picture
        k = self.box_kernel
        border = cv2.BORDER_REFLECT | cv2.BORDER_ISOLATED
        box = lambda src, dst: cv2.sepFilter2D(src, -1, k, k, dst=dst,  # noqa: E731
                                               borderType=border)
        # six buffers, the box means in place, no temporaries (less memory to bring in)
        I, II, Ip = self.I[crop], self.II[crop], self.Ip[crop]
        a, b, mp = a_full[crop], b_full[crop], self.mp[crop]
        np.multiply(y_small, np.float32(_INV255), out=I)
        cv2.multiply(I, I, dst=II)
        cv2.multiply(I, alpha, dst=Ip)
        mI, mp, mII, mIp = box(I, I), box(alpha, mp), box(II, II), box(Ip, Ip)
        # var = E[I^2] - E[I]^2 ; cov = E[Ip] - E[I]E[p]
        cv2.subtract(mII, cv2.multiply(mI, mI, dst=a), dst=mII)
        cv2.subtract(mIp, cv2.multiply(mI, mp, dst=b), dst=mIp)
        # x*k + c as addWeighted: OpenCV's multiply/add by a Python scalar is 5-10x slower
        cv2.addWeighted(mII, 1.0, mII, 0.0, self.eps, dst=mII)
        cv2.divide(mIp, mII, dst=a)
        cv2.subtract(mp, cv2.multiply(a, mI, dst=II), dst=b)
        box(a, a)
        box(b, b)
        # In Y units: alpha*255 = a*255*I + 255*b = a*Y + 255*b
        cv2.addWeighted(b, 255.0, b, 0.0, 0.0, dst=b)
        clear(a_full, (x0, y0, x1, y1))
        clear(b_full, (x0, y0, x1, y1))
        return a_full, b_full

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
            # round(alpha * 255), alpha >= 0: one pass (the float32 product, then rounded,
            # as a multiply and a conversion give it: 5 million values alike, each rounding
            # step +-2000 ulps among them)
            cv2.convertScaleAbs(alpha, dst=self.alpha8, alpha=255.0)
            rect = cv2.boundingRect(self.alpha8)
            # the last run's boxes, when it wrote these very buffers: only what they
            # covered is zeroed again (half a frame of zeros at 1280x720 otherwise)
            # (the very arrays, kept: no other array can take their memory)
            kept = self.kept
            last = kept[3] if kept is not None and kept[0] is out and kept[2] is half and \
                kept[1] == out.shape else (None, None)
            written = resize_box(self.alpha8, out, rect, last=last[0])
            self.written = written
            self.box = scaled_box(rect, w, h, W, H)
            half_written = None if half is None else half_box(out, half, written, last[1])
            self.kept = (out, out.shape, half, (written, half_written))
            return out
        else:
            self.box = None
            if y_small.shape != alpha.shape:
                raise ValueError("guide %s and alpha %s must have the model size"
                                 % (y_small.shape, alpha.shape))
            a, b = self.coefficients(alpha, y_small)
            if self.mode == "guided_half":
                if half is None:
                    half = np.empty((H // 2, W // 2), np.uint8)
                self._apply(a, b, self._half_guide(y_full), half, self.ab_rect)
                return self._upscale2(half, out)
            self.written = self._apply(a, b, y_full, out, self.ab_rect)
        if half is not None:
            # INTER_AREA at exactly 1/2 is the mean of each 2x2 block
            cv2.resize(out, (W // 2, H // 2), dst=half, interpolation=cv2.INTER_AREA)
        return out

    def forget(self) -> None:
        """The output buffers were written by someone else: zero them whole again."""
        self.kept = None

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

    def _apply(self, a, b, guide, out, rect=None):
        """out = a*guide + b at the guide's size, with a, b scaled up from model size;
        `rect` (x, y, w, h): where a and b may be non-zero (None: anywhere). Returns the
        box (x0, y0, x1, y1) of out outside which it is 0."""
        H, W = guide.shape
        if self.full_size != (W, H):
            self._setup_full(W, H)
        if rect is None:
            rect = (0, 0) + a.shape[::-1]
        x0, y0, x1, y1 = resize_box(a, self.A, rect, zero=False)
        resize_box(b, self.B, rect, zero=False)
        clear(out, (x0, y0, x1, y1))
        box = np.s_[y0:y1, x0:x1]
        A = self.A[box]
        cv2.multiply(A, guide[box], dst=A, dtype=cv2.CV_32F)
        # float -> uint8 with rounding and saturation in one call
        cv2.add(A, self.B[box], dst=out[box], dtype=cv2.CV_8U)
        return x0, y0, x1, y1


def simd_span(lo: int, hi: int, n: int) -> Optional[Tuple[int, int]]:
    """[lo, hi) clipped to [0, n) and widened so that OpenCV computes a crop of these
    columns as it computes them in the whole rows of n: OpenCV's SIMD loops do the last
    (length mod SIMD_COLUMNS) values of a row (or of a whole continuous array) another
    way, an ulp apart, which a division (the guided filter's a = cov / var) can make
    visible. So the span is a whole number of SIMD_COLUMNS wide, or ends where the row
    ends and starts on a multiple of SIMD_COLUMNS. None when n is not a multiple of
    SIMD_COLUMNS: the rows of such a picture do not start on the SIMD blocks of the whole
    (continuous) array, and no crop of it, not even of whole rows, is computed the same."""
    if n % SIMD_COLUMNS:
        return None
    x0, x1 = max(0, lo), min(n, hi)
    x1 = x0 + -(-(x1 - x0) // SIMD_COLUMNS) * SIMD_COLUMNS
    if x1 >= n:
        x0, x1 = x0 // SIMD_COLUMNS * SIMD_COLUMNS, n
    return x0, x1


def difference(a, b):
    """The slices (rows, columns) that cover box a (x0, y0, x1, y1) but not box b (which
    may be empty): at most four."""
    ax0, ay0, ax1, ay1 = a
    if ax1 <= ax0 or ay1 <= ay0:
        return []
    bx0, by0, bx1, by1 = b
    if bx1 <= bx0 or by1 <= by0 or bx1 <= ax0 or ax1 <= bx0 or by1 <= ay0 or ay1 <= by0:
        return [np.s_[ay0:ay1, ax0:ax1]]  # no overlap: all of a
    top, bottom = max(ay0, by0), min(ay1, by1)
    left, right = max(ax0, bx0), min(ax1, bx1)
    return [np.s_[ay0:top, ax0:ax1], np.s_[bottom:ay1, ax0:ax1], np.s_[top:bottom, ax0:left],
            np.s_[top:bottom, right:ax1]]


def union(a, b):
    """The box (x0, y0, x1, y1) holding boxes a and b; an empty one (x1 <= x0 or
    y1 <= y0) adds nothing."""
    if a[2] <= a[0] or a[3] <= a[1]:
        return b
    if b[2] <= b[0] or b[3] <= b[1]:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def clear(a: np.ndarray, keep, region=None) -> None:
    """a = 0 over box `region` (x0, y0, x1, y1; None: all of a) but not in box `keep`."""
    for part in difference(region or (0, 0, a.shape[1], a.shape[0]), keep):
        a[part] = 0


_BOX_EXACT = {}  # (n, N, dtype, axis) -> (source grid, output grid) or None
GRID_SPANS = 128  # at most this many grid steps along an axis (few checks, little margin)
CHECK_LINES = 32  # random lines of the once-per-size check (2 miss a wrong weight)


def _grid(n: int, big: int) -> Tuple[int, int]:
    """(source step, output step) of the grid on which a resize n -> big maps whole source
    pixels onto whole output pixels (multiples of n / gcd(n, big)), coarsened to at most
    GRID_SPANS steps."""
    g = math.gcd(n, big)
    q, p = n // g, big // g
    k = max(1, -(-n // (q * GRID_SPANS)))
    return q * k, p * k


def _box_grid(n: int, big: int, dtype, axis: int) -> Optional[Tuple[int, int]]:
    """The _grid of a resize n -> big along `axis` (1 the columns, 0 the rows) when
    OpenCV's bilinear resize of a span that starts or ends on it gives, on every pixel
    whose samples lie inside the span, what the whole resize gives there; else None. It
    does where the sample positions are far from a rounding step of OpenCV's fixed-point
    weights (384 -> 1280, 288 -> 640, 216 -> 480: exact), not always (uint8 384 -> 854,
    427 / 192: 1 level at a few columns). Checked once per size pair and dtype, on
    CHECK_LINES random lines, at every start and end on the grid."""
    key = (n, big, np.dtype(dtype).str, axis)
    if key not in _BOX_EXACT:
        step, out_step = _grid(n, big)
        rng = np.random.RandomState(n * 7919 + big)
        lines = (rng.randint(0, 256, (CHECK_LINES, n)) if np.dtype(dtype) == np.uint8
                 else rng.uniform(-2.0, 2.0, (CHECK_LINES, n))).astype(dtype)

        def resize(a, m):  # along the axis only
            if axis == 1:
                return cv2.resize(np.ascontiguousarray(a), (m, CHECK_LINES),
                                  interpolation=cv2.INTER_LINEAR)
            return cv2.resize(np.ascontiguousarray(a.T), (CHECK_LINES, m),
                              interpolation=cv2.INTER_LINEAR).T
        full = resize(lines, big)
        m = -(-big // n) + 1  # output pixels of one source pixel, and one more
        exact = True
        for s in range(step, n, step):
            S = s * out_step // step
            tail, head = resize(lines[:, s:], big - S), resize(lines[:, :s], S)
            # the pixels a source pixel away from the cut (their samples are inside)
            if not (np.array_equal(tail[:, m:], full[:, S + m:])
                    and np.array_equal(head[:, :max(0, S - m)], full[:, :max(0, S - m)])):
                exact = False
                break
        _BOX_EXACT[key] = (step, out_step) if exact else None
    return _BOX_EXACT[key]


def _aligned_span(lo: int, hi: int, n: int, big: int, grid):
    """The source span [s0, s1) of [0, n) around [lo, hi) whose ends are on the `grid`
    (_box_grid), and the output span it maps onto; the whole of both without a grid."""
    if grid is None:
        return 0, n, 0, big
    step, out_step = grid
    k0, k1 = max(0, lo) // step, -(-min(n, hi) // step)
    return k0 * step, min(n, k1 * step), k0 * out_step, min(big, k1 * out_step)


def resize_box(src: np.ndarray, out: np.ndarray, rect, zero: bool = True, last=None):
    """out = cv2.resize(src, out's size, INTER_LINEAR) for a 2-D src that is 0 outside
    `rect` (x, y, w, h), resizing only the part that can be non-zero: the source box around
    rect, grown by a pixel of its zeros and to whole output pixels of the scale (multiples
    of 3 source pixels at 384 -> 1280), is resized on its own into the output box it maps
    onto; the rest of out is zeroed when `zero` (only what the box `last` (x0, y0, x1, y1)
    covered, when out is known to be 0 outside it). Where OpenCV's resize of such a box gives,
    pixel for pixel, what the whole resize gives (_box_grid, per axis; every sample
    outside the box is one of its zeros), the output is the whole resize's exactly.
    Returns the output box (x0, y0, x1, y1)."""
    h, w = src.shape
    H, W = out.shape
    x, y, rw, rh = rect
    if rw <= 0 or rh <= 0:
        if zero:
            clear(out, (0, 0, 0, 0), last)
        return 0, 0, 0, 0
    sx0, sx1, x0, x1 = _aligned_span(x - 1, x + rw + 1, w, W, _box_grid(w, W, src.dtype, 1))
    sy0, sy1, y0, y1 = _aligned_span(y - 1, y + rh + 1, h, H, _box_grid(h, H, src.dtype, 0))
    if (x1 - x0) * (y1 - y0) > 0.9 * W * H:  # nearly all of it: the plain call
        cv2.resize(src, (W, H), dst=out, interpolation=cv2.INTER_LINEAR)
        return 0, 0, W, H
    if zero:
        clear(out, (x0, y0, x1, y1), last)
    cv2.resize(src[sy0:sy1, sx0:sx1], (x1 - x0, y1 - y0), dst=out[y0:y1, x0:x1],
               interpolation=cv2.INTER_LINEAR)
    return x0, y0, x1, y1


def half_box(full: np.ndarray, half: np.ndarray, box, last=None):
    """half = the mean of each 2x2 block of `full` (H, W), when full is 0 outside `box`
    (x0, y0, x1, y1): only the blocks that meet the box are averaged, the rest zeroed (only
    what the half box `last` covered, when half is known to be 0 outside it). Returns the
    box of half outside which it is 0."""
    x0, y0, x1, y1 = box
    hx0, hy0, hx1, hy1 = x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2
    if hx1 <= hx0 or hy1 <= hy0:
        hx0 = hy0 = hx1 = hy1 = 0
    clear(half, (hx0, hy0, hx1, hy1), last)
    if hx1 > hx0 and hy1 > hy0:
        # INTER_AREA at exactly 1/2 is the mean of each 2x2 block
        cv2.resize(full[2 * hy0:2 * hy1, 2 * hx0:2 * hx1], (hx1 - hx0, hy1 - hy0),
                   dst=half[hy0:hy1, hx0:hx1], interpolation=cv2.INTER_AREA)
    return hx0, hy0, hx1, hy1


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
